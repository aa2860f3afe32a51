// Models and scenarios: watch a run's job, then open its comparison; draw the comparison chart.
// Served from /static (the pages' CSP allows no inline script); pages work without it.
"use strict";

function watchJob(box) {
  const url = box.dataset.statusUrl;
  const status = document.getElementById("job-status");
  const bar = document.getElementById("job-progress");
  const count = document.getElementById("job-count");
  const tick = async () => {
    let job;
    try {
      const r = await fetch(url, { credentials: "same-origin", headers: { accept: "application/json" } });
      if (!r.ok) { window.location.reload(); return; }
      job = await r.json();
    } catch (e) {
      window.setTimeout(tick, 2000);
      return;
    }
    status.textContent = job.status;
    status.className = "status status-" + job.status;
    bar.value = job.progress;
    bar.textContent = Math.round(job.progress * 100) + "%";
    count.textContent = job.done + " of " + (job.total || "?") + " replications";
    if (job.status === "done" && job.next) { window.location.assign(job.next); return; }
    if (job.status === "failed" || job.status === "cancelled") { window.location.reload(); return; }
    window.setTimeout(tick, 700);
  };
  if (box.dataset.status === "queued" || box.dataset.status === "running") { window.setTimeout(tick, 300); }
}

// Long measure names wrap onto lines of about `width` characters (narrow screens keep a plot).
function wrapLabel(text, width) {
  const lines = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line && (line + " " + word).length > width) { lines.push(line); line = word; }
    else { line = line ? line + " " + word : word; }
  }
  if (line) { lines.push(line); }
  return lines.join("<br>");
}

function drawComparison(el, data) {
  if (typeof Plotly === "undefined") { return; }
  const colours = ["#0b5cad", "#b35900", "#1e6b32", "#6a3d9a", "#a4161a"];
  const traces = data.traces.map((t, i) => ({
    type: "scatter", mode: "markers", name: t.name, x: t.x, y: t.y.map((y) => wrapLabel(y, el.clientWidth < 600 ? 16 : 30)), orientation: "h",
    marker: { size: 10, color: colours[i % colours.length] },
    error_x: { type: "data", array: t.error, visible: true, thickness: 2, width: 6 },
    hovertemplate: "%{y}<br>%{x:.2f}% ± %{error_x.array:.2f}%<extra>" + t.name + "</extra>",
  }));
  const rows = new Set(data.traces.flatMap((t) => t.y)).size;
  // The container sets the size (Plotly's responsive mode fills it): one band per measure.
  el.style.height = Math.max(300, 110 + rows * 36 * Math.max(1, data.traces.length * 0.7)) + "px";
  const layout = {
    autosize: true,
    margin: { l: 10, r: 10, t: 40, b: 50 },
    showlegend: true,
    xaxis: { title: { text: "change from baseline, % of its mean (95% CI)" }, zeroline: true, zerolinewidth: 2, zerolinecolor: "#1b1f24" },
    yaxis: { automargin: true, autorange: "reversed" },
    legend: { orientation: "h", x: 0, y: 1.02, yanchor: "bottom" },
    font: { family: "system-ui, sans-serif", size: 13 },
  };
  Plotly.newPlot(el, traces, layout, { responsive: true, displaylogo: false, displayModeBar: false });
}

document.addEventListener("DOMContentLoaded", () => {
  const box = document.getElementById("job-watch");
  if (box) { watchJob(box); }
  const chart = document.getElementById("comparison-chart");
  const data = document.getElementById("comparison-data");
  if (chart && data) { drawComparison(chart, JSON.parse(data.textContent)); }
});
