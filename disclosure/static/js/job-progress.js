// Follows a job's progress on its page without reloading it: polls the job's status and updates the bar, the
// state and the note; once the job has ended, offers to show the outcome. Without script the page refreshes itself.
(function () {
  "use strict";
  var box = document.getElementById("job");
  if (!box || !box.dataset.statusUrl || box.dataset.finished === "true") { return; }
  var bar = document.getElementById("job-progress");
  var percent = document.getElementById("job-percent");
  var state = document.getElementById("job-state");
  var note = document.getElementById("job-note");
  var error = document.getElementById("job-error");
  var reload = document.getElementById("job-reload");
  function poll() {
    fetch(box.dataset.statusUrl, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) {
        if (!response.ok) { throw new Error(String(response.status)); }
        return response.json();
      })
      .then(function (job) {
        bar.value = job.progress;
        percent.textContent = job.progress + "%";
        state.textContent = job.label;
        note.textContent = job.note;
        if (job.finished) {
          box.dataset.finished = "true";
          if (job.error) { error.textContent = job.error; error.hidden = false; }
          reload.hidden = false;
          return;
        }
        window.setTimeout(poll, 1500);
      })
      .catch(function () { window.setTimeout(poll, 5000); });
  }
  window.setTimeout(poll, 1000);
}());
