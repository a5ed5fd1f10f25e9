/* Polls the export's progress and fills the bar; the download button waits for "ready". */
(function () {
  "use strict";
  var box = document.querySelector("[data-export-progress]");
  if (!box) return;
  var bar = box.querySelector("progress");
  var text = box.querySelector("[data-progress-text]");
  var button = box.querySelector("[data-download-button]");
  var url = box.getAttribute("data-progress-url");
  button.disabled = true;
  button.setAttribute("aria-disabled", "true");

  function show(data) {
    bar.value = data.percent;
    bar.textContent = data.percent + " %";
    text.textContent = data.label + " — " + data.percent + " %";
    if (data.ready) {
      button.disabled = false;
      button.removeAttribute("aria-disabled");
    }
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (!data) { window.setTimeout(poll, 5000); return; }
        show(data);
        if (!data.done) window.setTimeout(poll, 1500);
      })
      .catch(function () { window.setTimeout(poll, 5000); });
  }
  poll();
  // Once the download has started the link is spent; say so instead of inviting a retry.
  button.form.addEventListener("submit", function () {
    window.setTimeout(function () { button.disabled = true; }, 0);
  });
})();
