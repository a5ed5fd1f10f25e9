/*
 * Draws the dashboard charts from the JSON the page carries (json_script; no inline
 * script). The same figures are in the accessible tables next to each chart.
 */
(function () {
  "use strict";
  if (!window.Chart) return;
  var reduced = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
    var source = document.getElementById(canvas.getAttribute("data-chart"));
    if (!source) return;
    var data = JSON.parse(source.textContent);
    new window.Chart(canvas, {
      type: canvas.getAttribute("data-type") || "bar",
      data: {
        labels: data.map(function (row) { return row[0]; }),
        datasets: [{ label: canvas.getAttribute("aria-label"), data: data.map(function (row) { return row[1]; }),
                     backgroundColor: "#1f4e5f", borderColor: "#1f4e5f" }]
      },
      options: { animation: reduced ? false : undefined, plugins: { legend: { display: false } },
                 scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } }
    });
  });
})();
