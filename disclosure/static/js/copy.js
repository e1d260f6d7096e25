// A "Copy" button for a value shown once (a bundle's passphrase). Without script, or where the browser refuses
// clipboard access, the button stays hidden and the value can be selected and copied by hand.
(function () {
  "use strict";
  var button = document.getElementById("copy-passphrase");
  if (!button || !navigator.clipboard) { return; }
  var source = document.querySelector(".passphrase");
  var status = document.getElementById("copy-status");
  button.hidden = false;
  button.addEventListener("click", function () {
    navigator.clipboard.writeText(source.textContent.trim()).then(
      function () { status.textContent = "Copied."; },
      function () { status.textContent = "The browser did not allow copying: select the passphrase and copy it."; }
    );
  });
}());
