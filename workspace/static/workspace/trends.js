/* Trend charts of the patient chart (workspace/templates/workspace/chart.html).
 * Data comes from the page's <script type="application/json" id="chart-data"> (json_script):
 * no inline script, nothing from another host. Each chart: the normal band (low..ULN, shaded),
 * the 3x ULN line for ALT/AST (dashed red), the values (flagged points red) and a grey vertical
 * line where a dose changed, was held, restarted or stopped. The table under each chart has the
 * same values for readers without JavaScript. */
(function () {
  "use strict";
  var source = document.getElementById("chart-data");
  if (!source || typeof window.Chart === "undefined") {
    return;
  }
  var series = JSON.parse(source.textContent);
  var dayFormat = new Intl.DateTimeFormat("en-GB", { day: "numeric", month: "short", year: "numeric" });
  var RED = "rgb(186, 33, 33)";
  var BAND = "rgba(46, 160, 67, 0.18)";

  var markerPlugin = {
    id: "doseMarkers",
    afterDatasetsDraw: function (chart, args, options) {
      var markers = options.markers || [];
      var x = chart.scales.x;
      var area = chart.chartArea;
      var ctx = chart.ctx;
      ctx.save();
      ctx.strokeStyle = "rgba(90, 90, 90, 0.7)";
      ctx.fillStyle = "rgb(60, 60, 60)";
      ctx.font = "10px sans-serif";
      ctx.setLineDash([2, 3]);
      markers.forEach(function (m) {
        if (m.t < x.min || m.t > x.max) {
          return;
        }
        var px = x.getPixelForValue(m.t);
        ctx.beginPath();
        ctx.moveTo(px, area.top);
        ctx.lineTo(px, area.bottom);
        ctx.stroke();
        ctx.fillText(m.label, px + 2, area.top + 10);
      });
      ctx.restore();
    },
    afterRender: function (chart) {
      chart.canvas.dataset.drawn = "1";
    }
  };

  series.forEach(function (s) {
    var canvas = document.getElementById(s.id);
    if (!canvas || !s.points.length) {
      return;
    }
    var pts = s.points;
    var hasBand = pts.some(function (p) { return p.high !== null; });
    var datasets = [];
    if (hasBand) {
      datasets.push({
        label: "upper limit of normal",
        data: pts.map(function (p) { return { x: p.t, y: p.high }; }),
        borderColor: "rgba(46, 160, 67, 0.6)",
        borderWidth: 1,
        pointRadius: 0,
        fill: false,
        stepped: "middle",
        order: 3
      });
      datasets.push({
        label: "lower limit",
        data: pts.map(function (p) { return { x: p.t, y: p.low === null ? 0 : p.low }; }),
        borderColor: "rgba(46, 160, 67, 0.3)",
        borderWidth: 1,
        pointRadius: 0,
        backgroundColor: BAND,
        fill: "-1",
        stepped: "middle",
        order: 4
      });
    }
    if (s.uln_multiple) {
      datasets.push({
        label: "3× ULN",
        data: pts.map(function (p) { return { x: p.t, y: p.x3 }; }),
        borderColor: RED,
        borderDash: [6, 4],
        borderWidth: 1.5,
        pointRadius: 0,
        fill: false,
        stepped: "middle",
        order: 2
      });
    }
    datasets.push({
      label: s.name + " (" + s.unit + ")",
      data: pts.map(function (p) { return { x: p.t, y: p.y, v: p.v, d: p.d, flag: p.flag }; }),
      borderColor: "rgb(33, 85, 140)",
      borderWidth: 2,
      pointRadius: pts.map(function (p) { return p.flag && p.flag !== "?" ? 4 : 2.5; }),
      pointBackgroundColor: pts.map(function (p) { return p.flag && p.flag !== "?" ? RED : "rgb(33, 85, 140)"; }),
      pointBorderColor: pts.map(function (p) { return p.flag && p.flag !== "?" ? RED : "rgb(33, 85, 140)"; }),
      fill: false,
      order: 1
    });
    canvas.dataset.band = hasBand ? "1" : "0";
    new window.Chart(canvas, {
      type: "line",
      data: { datasets: datasets },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        parsing: true,
        interaction: { mode: "nearest", intersect: false },
        scales: {
          x: {
            type: "linear",
            ticks: { maxTicksLimit: 6, callback: function (v) { return dayFormat.format(new Date(v)); } }
          },
          y: { beginAtZero: true, title: { display: true, text: s.unit } }
        },
        plugins: {
          legend: { display: false },
          doseMarkers: { markers: s.markers },
          tooltip: {
            filter: function (item) { return item.datasetIndex === datasets.length - 1; },
            callbacks: {
              title: function (items) { return items.length ? items[0].raw.d : ""; },
              label: function (item) {
                var r = item.raw;
                return s.name + " " + r.v + " " + s.unit + (r.flag ? " (" + r.flag + ")" : "");
              }
            }
          }
        }
      },
      plugins: [markerPlugin]
    });
  });
})();
