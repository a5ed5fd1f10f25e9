/*
 * Quick exit, after the GOV.UK "Exit this page" component: the button, a hidden
 * link for screen readers, or Shift pressed three times within 5 seconds. The
 * page is blanked at once (so nothing stays on screen while the next page loads),
 * the server is asked to forget the session, and the location is *replaced* so
 * the back button does not return here.
 */
(function () {
  "use strict";
  var body = document.body;
  var exitUrl = body.getAttribute("data-exit-url") || "https://www.aemet.es/";
  var endpoint = body.getAttribute("data-exit-endpoint");
  var exiting = false;

  function exitNow() {
    if (exiting) return;
    exiting = true;
    document.documentElement.classList.add("exiting");
    document.title = "";
    try {
      if (endpoint && navigator.sendBeacon) navigator.sendBeacon(endpoint);
    } catch (e) { /* leaving matters more than telling the server */ }
    window.location.replace(exitUrl);
  }

  document.addEventListener("click", function (event) {
    var target = event.target.closest ? event.target.closest("[data-quick-exit]") : null;
    if (target) {
      event.preventDefault();
      exitNow();
    }
  });

  var presses = [];
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Shift" || event.repeat) return;
    var now = Date.now();
    presses = presses.filter(function (t) { return now - t < 5000; });
    presses.push(now);
    if (presses.length >= 3) exitNow();
  });

  // Error summaries take focus so screen readers announce them first.
  var summary = document.querySelector("[data-error-summary]");
  if (summary) summary.focus();
})();
