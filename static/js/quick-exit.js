/*
 * Quick exit, after the GOV.UK "Exit this page" component: the button, a hidden
 * link for screen readers, or Shift pressed three times on its own within 5
 * seconds. The page is blanked at once (so nothing stays on screen while the next
 * page loads), the server is asked to forget the session, and the location is
 * *replaced* so the back button does not return here.
 *
 * Only a Shift pressed and released with no other key in between counts, and any
 * other key starts the count again: typing "Mi hija Ana me lo dijo. Luego Juan"
 * uses Shift as a modifier for each capital and never adds up to an exit. The
 * shortcut stays on in text fields on purpose — a parent is most likely to be
 * typing when someone walks in — but keys that belong to an input method's
 * composition (isComposing, or the 229 "Process" key) are ignored and reset the
 * count, so composing accents or other scripts never exits either.
 */
(function () {
  "use strict";
  var body = document.body;
  var exitUrl = body.getAttribute("data-exit-url") || "https://www.aemet.es/";
  var endpoint = body.getAttribute("data-exit-endpoint");
  var exiting = false;
  var PRESSES_NEEDED = 3;
  var WINDOW_MS = 5000;

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
  // True from a Shift going down until it comes up, unless another key went down
  // meanwhile (Shift used as a modifier) — then the release does not count.
  var bareShift = false;

  function composing(event) {
    return event.isComposing || event.keyCode === 229;
  }

  document.addEventListener("keydown", function (event) {
    if (composing(event) || event.key !== "Shift") {
      presses = [];
      bareShift = false;
      return;
    }
    if (!event.repeat) bareShift = true;
  }, true);

  document.addEventListener("keyup", function (event) {
    if (event.key !== "Shift") return;
    var counts = bareShift && !composing(event);
    bareShift = false;
    if (!counts) {
      presses = [];
      return;
    }
    var now = Date.now();
    presses = presses.filter(function (t) { return now - t < WINDOW_MS; });
    presses.push(now);
    if (presses.length >= PRESSES_NEEDED) exitNow();
  }, true);

  // Error summaries take focus so screen readers announce them first.
  var summary = document.querySelector("[data-error-summary]");
  if (summary) summary.focus();
})();
