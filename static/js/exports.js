// Export page: while the export is being prepared, ask the API for its progress every few seconds
// and reload the page once it is ready or failed (the page then shows the download or the reason).
(function () {
  "use strict";
  var box = document.getElementById("export-status");
  if (!box) { return; }
  var status = box.getAttribute("data-status");
  if (status !== "pending" && status !== "running") { return; }
  var api = box.getAttribute("data-api");
  var bar = box.querySelector("progress");
  var label = box.querySelector(".status-label");
  var stage = box.querySelector(".stage");
  // The status line is a live region: write it only when it changes, or a screen reader repeats it every poll.
  function write(node, text) {
    if (node && node.textContent !== text) { node.textContent = text; }
  }
  function poll() {
    fetch(api, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (!data) { return; }
        if (data.status !== "pending" && data.status !== "running") { window.location.reload(); return; }
        if (bar) { bar.value = data.progress; bar.textContent = data.progress + "%"; }
        write(label, data.status_label);
        write(stage, " — " + data.stage_label);
        window.setTimeout(poll, 3000);
      })
      .catch(function () { window.setTimeout(poll, 10000); });
  }
  window.setTimeout(poll, 3000);
}());
