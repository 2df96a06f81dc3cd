/* The reports page's charts (templates/agent/reports.html). Everything comes from the
   #report-data json_script payload: series of numbers and labels already translated on
   the server. Chart.js draws text on the canvas, so no user text ever becomes HTML.
   When every chart is drawn, <body data-charts="ready">. */
(function () {
  "use strict";

  const COLORS = {
    bot: "#16a34a",
    human: "#f59e0b",
    accent: "#2563eb",
    accentSoft: "rgba(37, 99, 235, 0.18)",
    violet: "#7c3aed",
    grid: "#e5e7eb",
    text: "#374151",
  };

  function readData() {
    const node = document.getElementById("report-data");
    return node ? JSON.parse(node.textContent) : null;
  }

  function baseOptions(extra) {
    return Object.assign(
      {
        responsive: true,
        maintainAspectRatio: false,
        // Drawn once, at once: no animation to wait for (tests, screenshots, printing).
        animation: false,
        interaction: { mode: "index", intersect: false },
        plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } },
      },
      extra || {},
    );
  }

  function draw(id, config) {
    const canvas = document.getElementById(id);
    if (!canvas || !window.Chart) return null;
    return new window.Chart(canvas, config);
  }

  function conversationsChart(data) {
    const labels = data.labels;
    return draw("chart-conversations", {
      type: "bar",
      data: {
        labels: data.days,
        datasets: [
          {
            label: labels.botResolved,
            data: data.conversations.botResolved,
            backgroundColor: COLORS.bot,
            stack: "conversations",
          },
          {
            label: labels.humanNeeded,
            data: data.conversations.humanNeeded,
            backgroundColor: COLORS.human,
            stack: "conversations",
          },
        ],
      },
      options: baseOptions({
        scales: {
          x: { stacked: true, grid: { display: false } },
          y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } },
        },
      }),
    });
  }

  function deflectionChart(data) {
    return draw("chart-deflection", {
      type: "line",
      data: {
        labels: data.days,
        datasets: [
          {
            label: data.labels.deflection,
            data: data.deflection,
            borderColor: COLORS.bot,
            backgroundColor: "rgba(22, 163, 74, 0.12)",
            fill: true,
            tension: 0.25,
            pointRadius: 2,
          },
        ],
      },
      options: baseOptions({
        scales: { y: { min: 0, max: 100, ticks: { callback: (value) => value + "%" } } },
      }),
    });
  }

  function escalationsChart(data) {
    return draw("chart-escalations", {
      type: "bar",
      data: {
        labels: data.escalations.labels,
        datasets: [
          {
            label: data.labels.humanNeeded,
            data: data.escalations.counts,
            backgroundColor: COLORS.human,
          },
        ],
      },
      options: baseOptions({
        indexAxis: "y",
        interaction: { mode: "nearest", intersect: true },
        plugins: { legend: { display: false } },
        scales: { x: { beginAtZero: true, ticks: { precision: 0 } } },
      }),
    });
  }

  function firstResponseChart(data) {
    const labels = data.labels;
    const series = data.firstResponse;
    const line = (label, values, color, axis, dashed) => ({
      label: label,
      data: values,
      borderColor: color,
      backgroundColor: color,
      borderDash: dashed ? [6, 4] : [],
      yAxisID: axis,
      spanGaps: true,
      tension: 0.2,
      pointRadius: 2,
    });
    return draw("chart-first-response", {
      type: "line",
      data: {
        labels: data.days,
        datasets: [
          line(labels.botMedian, series.botMedian, COLORS.bot, "y", false),
          line(labels.botP90, series.botP90, COLORS.bot, "y", true),
          line(labels.humanMedian, series.humanMedian, COLORS.accent, "y1", false),
          line(labels.humanP90, series.humanP90, COLORS.accent, "y1", true),
        ],
      },
      options: baseOptions({
        scales: {
          y: { beginAtZero: true, position: "left", title: { display: true, text: labels.botAxis } },
          y1: {
            beginAtZero: true,
            position: "right",
            grid: { drawOnChartArea: false },
            title: { display: true, text: labels.humanAxis },
          },
        },
      }),
    });
  }

  function csatChart(data) {
    const labels = data.labels;
    return draw("chart-csat", {
      type: "bar",
      data: {
        labels: data.days,
        datasets: [
          {
            type: "line",
            label: labels.csatAverage,
            data: data.csat.average,
            borderColor: COLORS.violet,
            backgroundColor: COLORS.violet,
            yAxisID: "y",
            spanGaps: true,
            tension: 0.2,
            pointRadius: 3,
            order: 0,
          },
          {
            type: "bar",
            label: labels.csatCount,
            data: data.csat.count,
            backgroundColor: COLORS.accentSoft,
            yAxisID: "y1",
            order: 1,
          },
        ],
      },
      options: baseOptions({
        scales: {
          y: { min: 1, max: 5, position: "left", ticks: { stepSize: 1 } },
          y1: {
            beginAtZero: true,
            position: "right",
            grid: { drawOnChartArea: false },
            ticks: { precision: 0 },
          },
        },
      }),
    });
  }

  function start() {
    const data = readData();
    if (!data || !window.Chart) return;
    window.Chart.defaults.color = COLORS.text;
    window.Chart.defaults.borderColor = COLORS.grid;
    window.Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    [conversationsChart, deflectionChart, escalationsChart, firstResponseChart, csatChart].forEach(
      (build) => build(data),
    );
    document.body.dataset.charts = "ready";
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
