/* Greyscale toggle for a revealed evidence image: less vivid, easier on the viewer. */
(function () {
  "use strict";
  var button = document.querySelector("[data-greyscale-toggle]");
  var image = document.querySelector("[data-evidence-image]");
  if (!button || !image) return;
  button.addEventListener("click", function () {
    var on = image.classList.toggle("greyscale");
    button.setAttribute("aria-pressed", on ? "true" : "false");
  });
})();
