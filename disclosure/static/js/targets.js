// Target rows on the intake form and on Edit facts. Without script, "Add another target" posts the form back and
// the page comes again with one more blank row; a target is removed by clearing its kind and identifier. With
// script, the same button adds a blank row in the page, and each row gets a "Remove" button. Row names keep their
// numbers (the server reads any set of them); only the labels people hear are renumbered.
(function () {
  "use strict";
  var table = document.getElementById("target-rows");
  var add = document.getElementById("add_target");
  if (!table || !add || !table.tBodies.length) { return; }
  var body = table.tBodies[0];
  var status = document.getElementById("target-rows-status");
  var most = parseInt(table.getAttribute("data-max-rows"), 10) || 200;
  var ROW = /^targets-(\d+)-/;

  function rows() { return Array.prototype.slice.call(body.rows); }

  function say(text) { if (status) { status.textContent = text; } }

  function indexOf(row) {
    var control = row.querySelector("[name^='targets-']");
    var found = control ? ROW.exec(control.name) : null;
    return found ? parseInt(found[1], 10) : -1;
  }

  function renumber() {
    rows().forEach(function (row, position) {
      var number = position + 1;
      Array.prototype.forEach.call(row.querySelectorAll("[data-label]"), function (control) {
        control.setAttribute("aria-label", control.getAttribute("data-label") + " (row " + number + ")");
      });
      var hidden = row.querySelector(".remove-target .sr-only");
      if (hidden) { hidden.textContent = " target " + number; }
    });
  }

  function clear(row) {
    Array.prototype.forEach.call(row.querySelectorAll("input, select"), function (control) {
      if (control.tagName === "SELECT") { control.selectedIndex = 0; } else { control.value = ""; }
      control.removeAttribute("aria-invalid");
      control.removeAttribute("autofocus");
    });
    Array.prototype.forEach.call(row.querySelectorAll("ul.errors"), function (list) {
      list.parentNode.removeChild(list);
    });
  }

  function firstControl(row) { return row.querySelector("select, input"); }

  function wire(row) {
    var remove = row.querySelector(".remove-target");
    if (!remove) { return; }
    remove.hidden = false;
    remove.addEventListener("click", function () {
      var all = rows();
      var position = all.indexOf(row);
      if (all.length === 1) {
        clear(row);
        firstControl(row).focus();
      } else {
        body.removeChild(row);
        var next = rows()[Math.min(position, rows().length - 1)];
        firstControl(next).focus();
      }
      renumber();
      say("Target removed; " + rows().length + (rows().length === 1 ? " row" : " rows") + " left.");
    });
  }

  add.addEventListener("click", function (event) {
    event.preventDefault();
    var all = rows();
    if (all.length >= most) {
      say("This form takes at most " + most + " targets.");
      return;
    }
    var index = Math.max.apply(null, all.map(indexOf).concat([-1])) + 1;
    var row = all[all.length - 1].cloneNode(true);
    Array.prototype.forEach.call(row.querySelectorAll("[id], [name]"), function (element) {
      if (element.id) { element.id = element.id.replace(/targets-\d+-/, "targets-" + index + "-"); }
      if (element.name) { element.name = element.name.replace(ROW, "targets-" + index + "-"); }
    });
    clear(row);
    body.appendChild(row);
    wire(row);
    renumber();
    firstControl(row).focus();
    say("Row " + rows().length + " added.");
  });

  rows().forEach(wire);
}());
