// Draws the admin UI's charts with uPlot (static/uplot) from the JSON block
// of each <figure data-chart>, which chart.go lays out: one time axis (x, in
// Unix seconds, from..to), one or more charts of series over it, reference
// lines (refs: training figures, thresholds) and marks (activations, alerts,
// drift reports). Times are UTC, as everywhere in the UI. Without this
// script the figure's caption, list of marks and table say the same.
(() => {
  "use strict";
  if (typeof uPlot === "undefined") {
    return;
  }

  const palette = ["#1f5fbf", "#c2410c", "#1d7a46", "#7b3fb0", "#0e7490", "#9a6200", "#b3261e", "#51606f"];
  const refStyle = { training: ["#3b4655", [6, 4]], threshold: ["#b3261e", [2, 3]] };
  const markColor = { activation: "#1d7a46", alert: "#b3261e", drift: "#9a6200" };
  const axisFont = "11px system-ui, sans-serif";
  const tickNumber = new Intl.NumberFormat("en-US", { maximumFractionDigits: 3 });

  // Time ticks in 24-hour UTC, on minute, hour, day, month and year
  // boundaries; the second line names the day (or year) where it changes.
  const timeTicks = [
    [3600 * 24 * 365, "{YYYY}", null, null, null, null, null, null, 1],
    [3600 * 24 * 28, "{MMM}", "\n{YYYY}", null, null, null, null, null, 1],
    [3600 * 24, "{MMM} {D}", "\n{YYYY}", null, null, null, null, null, 1],
    [3600, "{HH}:{mm}", "\n{YYYY}-{MM}-{DD}", null, "\n{MMM} {D}", null, null, null, 1],
    [60, "{HH}:{mm}", "\n{YYYY}-{MM}-{DD}", null, "\n{MMM} {D}", null, null, null, 1],
    [1, ":{ss}", "\n{YYYY}-{MM}-{DD} {HH}:{mm}", null, "\n{MMM} {D} {HH}:{mm}", null, "\n{HH}:{mm}", null, 1],
  ];
  // Small charts have no room for the second line.
  const smallTimeTicks = timeTicks.map((t) => t.map((v, i) => (i >= 2 && i <= 7 ? null : v)));
  // Whole steps for counts.
  const countIncrs = [];
  for (let e = 1; e <= 1e9; e *= 10) {
    countIncrs.push(e, 2 * e, 5 * e);
  }

  // fmt formats a value as chartValue in chart.go does.
  const fmt = (unit, v) => {
    if (v == null) {
      return "—";
    }
    switch (unit) {
      case "%":
        return (100 * v).toFixed(1) + " %";
      case "ms":
        return v.toFixed(v >= 100 ? 0 : 1) + " ms";
      case "count":
        return Math.round(v).toLocaleString("en-US");
    }
    return Math.abs(v) >= 1000 ? v.toFixed(0) : v.toFixed(3);
  };

  // tick formats an axis value: round numbers, with the unit.
  const tick = (unit, v) => {
    if (unit === "%") {
      return tickNumber.format(100 * v) + " %";
    }
    return tickNumber.format(v) + (unit === "ms" ? " ms" : "");
  };

  // isolated lists the values with no neighbour, which draw no line: uPlot
  // hides points where they are dense, but these must still show.
  const isolated = (values) => {
    const out = values.flatMap((v, i) => (v != null && values[i - 1] == null && values[i + 1] == null ? [i] : []));
    return out.length ? out : null;
  };

  const utc = (ts) => new Date(ts * 1000).toISOString().slice(0, 16).replace("T", " ") + " UTC";

  // yRange fits the data and the reference lines; shares stay within 0..1
  // and counts start at 0.
  const yRange = (unit, refs) => (u, min, max) => {
    for (const r of refs) {
      min = min == null ? r.value : Math.min(min, r.value);
      max = max == null ? r.value : Math.max(max, r.value);
    }
    if (min == null) {
      return [0, 1];
    }
    if (unit === "count") {
      min = 0;
    }
    const range = uPlot.rangeNum(min, max, 0.1, true);
    if (unit === "ratio" || unit === "%") {
      range[0] = Math.max(0, range[0]);
      range[1] = Math.min(1, range[1]);
    }
    return range;
  };

  // overlay draws the reference lines, each labelled, and the marks.
  const overlay = (chart, marks) => ({
    hooks: {
      draw: [
        (u) => {
          const ctx = u.ctx;
          const { left, top, width, height } = u.bbox;
          const px = uPlot.pxRatio;
          ctx.save();
          ctx.beginPath();
          ctx.rect(left, top, width, height);
          ctx.clip();
          ctx.lineWidth = px;
          ctx.font = Math.round(11 * px) + "px system-ui, sans-serif";
          (chart.refs || []).forEach((r, i) => {
            const [color, dash] = refStyle[r.kind] || refStyle.training;
            const y = Math.round(u.valToPos(r.value, "y", true)) + 0.5;
            ctx.strokeStyle = ctx.fillStyle = color;
            ctx.setLineDash(dash.map((d) => d * px));
            ctx.beginPath();
            ctx.moveTo(left, y);
            ctx.lineTo(left + width, y);
            ctx.stroke();
            // Labels alternate between the right and the left end, so two
            // close lines keep both legible.
            const above = y - top > 14 * px;
            ctx.textBaseline = above ? "bottom" : "top";
            ctx.textAlign = i % 2 ? "left" : "right";
            const x = i % 2 ? left + 4 * px : left + width - 4 * px;
            ctx.fillText(r.label + " " + fmt(chart.unit, r.value), x, above ? y - 2 * px : y + 2 * px);
          });
          ctx.setLineDash([3 * px, 3 * px]);
          for (const m of marks) {
            const x = Math.round(u.valToPos(m.at, "x", true)) + 0.5;
            ctx.strokeStyle = ctx.fillStyle = markColor[m.kind] || "#51606f";
            ctx.beginPath();
            ctx.moveTo(x, top);
            ctx.lineTo(x, top + height);
            ctx.stroke();
            ctx.beginPath();
            ctx.moveTo(x - 4 * px, top);
            ctx.lineTo(x + 4 * px, top);
            ctx.lineTo(x, top + 6 * px);
            ctx.fill();
          }
          ctx.restore();
        },
      ],
    },
  });

  const drawn = [];

  const plot = (fig, el, data, chart) => {
    const small = data.small;
    const height = small ? 150 : 320;
    const series = [{ label: "Time", value: (u, ts) => (ts == null ? "—" : utc(ts)) }];
    chart.series.forEach((s, i) => {
      const lone = isolated(s.values);
      series.push({
        label: s.label,
        stroke: palette[i % palette.length],
        width: small ? 1.5 : 2,
        spanGaps: false,
        points: { size: small ? 4 : 6, filter: (u, si, show) => (show ? null : lone) },
        value: (u, v) => fmt(chart.unit, v),
      });
    });
    const y = { font: axisFont, size: small ? 52 : 72, values: (u, splits) => splits.map((v) => tick(chart.unit, v)) };
    if (chart.unit === "count") {
      y.incrs = countIncrs;
    }
    const opts = {
      width: Math.max(160, el.clientWidth),
      height,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),
      scales: { x: { time: true, range: () => [data.from, data.to] }, y: { range: yRange(chart.unit, chart.refs || []) } },
      series,
      axes: [{ font: axisFont, size: small ? 28 : 44, space: small ? 50 : 80, values: small ? smallTimeTicks : timeTicks }, y],
      legend: { live: true },
      cursor: { sync: { key: fig.id } },
      plugins: [overlay(chart, data.marks || [])],
    };
    const u = new uPlot(opts, [data.x, ...chart.series.map((s) => s.values)], el);
    el.dataset.points = String(chart.series.reduce((n, s) => n + s.values.filter((v) => v != null).length, 0));
    drawn.push({ u, el, height });
  };

  for (const fig of document.querySelectorAll("figure[data-chart]")) {
    const block = fig.querySelector("script.tchart-data");
    if (!block) {
      continue;
    }
    const data = JSON.parse(block.textContent);
    for (const el of fig.querySelectorAll(".tchart-plot")) {
      plot(fig, el, data, data.charts[Number(el.dataset.chartIndex)]);
    }
    fig.classList.add("tchart-drawn");
  }

  let frame = 0;
  window.addEventListener("resize", () => {
    cancelAnimationFrame(frame);
    frame = requestAnimationFrame(() => {
      for (const d of drawn) {
        d.u.setSize({ width: Math.max(160, d.el.clientWidth), height: d.height });
      }
    });
  });
})();
