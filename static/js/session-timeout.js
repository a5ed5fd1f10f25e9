/*
 * Warns a family two minutes before their idle session ends, then leaves for the
 * sign-in page when it has (the server has already forgotten it by then).
 */
(function () {
  "use strict";
  var box = document.querySelector("[data-session-timeout]");
  if (!box) return;
  var seconds = parseInt(box.getAttribute("data-session-timeout"), 10);
  if (!seconds) return;
  window.setTimeout(function () { box.hidden = false; }, Math.max(seconds - 120, 0) * 1000);
  window.setTimeout(function () {
    window.location.replace(box.getAttribute("data-session-end-url"));
  }, seconds * 1000);
})();
