// The Exchange tab's live charts, under its table: per exchange, used weight against the limit with the 429
// and 418 answers marked, requests/s, WebSocket messages/s and event latency p95, from GET exchange/history
// every 2 s while the tab is shown. Plain SVG: no library, nothing fetched from elsewhere.
(() => {
  "use strict";
  const SVG = "http://www.w3.org/2000/svg";
  const W = 560, H = 210, L = 58, R = 12, T = 30, B = 26;  // T: room for the marks above the plot
  const COLORS = { used: "#2e7dd7", sent: "#8a8f98", rps: "#2e7dd7", msgs: "#1a9e6c", p95: "#c4561c",
                   limit: "#d32f2f", m429: "#f29900", m418: "#b00020" };

  function el(name, attrs, parent) {
    const node = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (parent) parent.appendChild(node);
    return node;
  }

  // The y axis: a round step (1, 2, 2.5 or 5 times a power of ten) and the first multiple of it above `v`.
  function axis(v) {
    const raw = (v > 0 ? v : 1) / 4;
    const p = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * p).find((m) => m >= raw);
    return { step, top: step * Math.max(1, Math.ceil((v > 0 ? v : 1) / step)) };
  }

  function clock(t) { return new Date(t * 1000).toLocaleTimeString([], { hour12: false }); }

  function fmt(v) { return v == null ? "-" : (Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(1)); }

  // One chart: `series` [{key, label, color, values, dash}], optional `limit` (a horizontal line) and `marks`
  // [{label, color, values}] (counts per point, drawn as triangles along the top where non-zero).
  function chart(title, t, series, limit, marks) {
    const box = document.createElement("figure");
    box.className = "exchange-chart";
    box.style.cssText = "margin:0;min-width:0";
    const caption = document.createElement("figcaption");
    caption.style.cssText = "font-size:0.9rem;margin:0 0 4px 0";
    caption.textContent = title;
    box.appendChild(caption);
    const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, width: "100%", role: "img", "aria-label": title,
                            style: "color:inherit;font:11px sans-serif" }, box);
    const values = series.flatMap((s) => s.values).filter((v) => v != null);
    const { step, top } = axis(Math.max(0, ...values, limit ? limit.value * 1.05 : 0));
    const t0 = t[0], t1 = t[t.length - 1], span = Math.max(t1 - t0, 1);
    const x = (ti) => L + ((ti - t0) / span) * (W - L - R);
    const y = (v) => H - B - (v / top) * (H - T - B);
    for (let i = 0; i * step <= top * 1.0001; i++) {
      const v = i * step;
      el("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: "currentColor", "stroke-opacity": 0.15 }, svg);
      el("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end", fill: "currentColor" }, svg).textContent = String(+v.toFixed(2));
    }
    for (const [ti, anchor] of [[t0, "start"], [t1, "end"]]) {
      el("text", { x: x(ti), y: H - 8, "text-anchor": anchor, fill: "currentColor" }, svg).textContent = clock(ti);
    }
    if (limit) {
      el("line", { class: "limit", x1: L, x2: W - R, y1: y(limit.value), y2: y(limit.value), stroke: COLORS.limit,
                   "stroke-dasharray": "6 4", "stroke-width": 1.5 }, svg);
      el("text", { x: W - R, y: y(limit.value) - 4, "text-anchor": "end", fill: COLORS.limit }, svg)
        .textContent = limit.label;
    }
    for (const s of series) {
      const all = s.values.map((v, i) => (v == null ? null : [x(t[i]), y(v), v, t[i]]));
      const pts = all.filter(Boolean);
      if (!pts.length) continue;
      // a gap where an interval has no value (no events for a p95): the line breaks, it does not bridge
      const d = all.map((p, i) => (p ? `${i && all[i - 1] ? "L" : "M"}${p[0].toFixed(1)},${p[1].toFixed(1)}` : ""))
        .join("");
      el("path", { class: `series series-${s.key}`, "data-points": pts.length, fill: "none", stroke: s.color,
                   "stroke-width": 2, "stroke-dasharray": s.dash || "none", d }, svg);
      for (const p of pts) {  // hover: the value and its time
        const dot = el("circle", { cx: p[0], cy: p[1], r: 3, fill: s.color, "fill-opacity": pts.length > 60 ? 0 : 1 },
                       svg);
        el("title", {}, dot).textContent = `${s.label}: ${fmt(p[2])} at ${clock(p[3])}`;
      }
    }
    for (const [row, m] of (marks || []).entries()) {
      m.values.forEach((n, i) => {
        if (!n) return;
        const cx = x(t[i]), cy = 9 + row * 10;
        const mark = el("path", { class: `mark mark-${m.key}`, fill: m.color,
                                  d: `M${cx - 5},${cy - 5}L${cx + 5},${cy - 5}L${cx},${cy + 3}Z` }, svg);
        el("title", {}, mark).textContent = `${n} × ${m.label} at ${clock(t[i])}`;
      });
    }
    const legend = document.createElement("div");
    legend.className = "exchange-chart-legend";
    legend.style.cssText = "font-size:0.8rem;display:flex;flex-wrap:wrap;gap:12px";
    const items = [...series.map((s) => [s.label, s.color, s.dash ? "dashed" : "solid"]),
                   ...(limit ? [[limit.label, COLORS.limit, "dashed"]] : []),
                   ...(marks || []).map((m) => [`▼ ${m.label}`, m.color, null])];
    for (const [label, color, line] of items) {
      const item = document.createElement("span");
      item.textContent = line ? ` ${label}` : label;
      item.style.color = line ? "inherit" : color;
      if (line) {
        const swatch = document.createElement("span");
        swatch.style.cssText = `display:inline-block;width:18px;border-top:2px ${line} ${color};vertical-align:middle`;
        item.prepend(swatch);
      }
      legend.appendChild(item);
    }
    box.appendChild(legend);
    return box;
  }

  function render(container, data) {
    container.replaceChildren();
    const heading = document.createElement("p");
    heading.style.cssText = "font-size:0.85rem;opacity:0.8;margin:8px 0";
    heading.textContent = data.interval_s == null
      ? "Charts: waiting for the first seconds of a run."
      : `Charts: the last minutes of the run, one point per ${data.interval_s} s. Rates and 429/418 counts are per `
        + `point; event latency is the ${data.latency}; used weight is the exchange's own count (highest in `
        + "the interval) and the weight sent in its window (our estimate).";
    container.appendChild(heading);
    for (const x of data.exchanges) {
      const section = document.createElement("section");
      section.className = "exchange-charts-of";
      section.dataset.exchange = x.exchange;
      section.style.cssText = "margin:8px 0 20px 0";
      const name = document.createElement("h3");
      name.style.cssText = "font-size:1rem;margin:4px 0";
      name.textContent = x.exchange;
      section.appendChild(name);
      const grid = document.createElement("div");
      grid.style.cssText = "display:grid;grid-template-columns:repeat(auto-fit,minmax(520px,1fr));gap:16px";
      const per = x.weight_window_s ? ` per ${x.weight_window_s} s` : "";
      const limit = x.weight_limit ? { value: x.weight_limit, label: `limit ${x.weight_limit}${per}` } : null;
      const marks = [{ key: "429", label: "429 rate limited", color: COLORS.m429, values: x.rate_limited },
                     { key: "418", label: "418 banned", color: COLORS.m418, values: x.banned }];
      const weighs = limit || [...x.used_weight, ...x.sent_weight_per_window].some((v) => v != null);
      if (weighs) {  // an exchange without request weights (a plain request count) has no weight chart
        grid.append(chart(`Used weight${per}`, x.t, [
          { key: "used", label: "used (exchange's count)", color: COLORS.used, values: x.used_weight },
          { key: "sent", label: "sent (our estimate)", color: COLORS.sent, values: x.sent_weight_per_window,
            dash: "4 3" }], limit, marks));
      }
      grid.append(
        chart("Requests/s", x.t, [{ key: "rps", label: "requests/s", color: COLORS.rps, values: x.requests_per_s }],
              null, marks),
        chart("WebSocket messages/s", x.t,
              [{ key: "msgs", label: "messages/s", color: COLORS.msgs, values: x.ws_messages_per_s }]),
        chart("Event latency p95 per interval (ms)", x.t,
              [{ key: "p95", label: "p95 (ms)", color: COLORS.p95, values: x.event_latency_p95_ms }]));
      section.appendChild(grid);
      container.appendChild(section);
    }
  }

  function exchangeTable() {
    return [...document.querySelectorAll("table")].find((table) =>
      [...table.querySelectorAll("thead th")].some((th) => th.textContent.trim() === "Used weight / limit"));
  }

  let busy = false;
  async function tick() {
    const table = exchangeTable();
    if (!table || busy) return;
    const anchor = table.closest(".MuiTableContainer-root") || table;
    let container = document.getElementById("exchange-charts");
    if (!container || container.previousElementSibling !== anchor) {
      if (container) container.remove();
      container = document.createElement("div");
      container.id = "exchange-charts";
      anchor.after(container);
    }
    busy = true;
    try {
      const response = await fetch("exchange/history", { credentials: "same-origin" });
      if (response.ok) render(container, await response.json());
    } catch (e) {
      container.textContent = "Charts: the history could not be read.";
    } finally {
      busy = false;
    }
  }

  setInterval(tick, 2000);
  document.addEventListener("click", () => setTimeout(tick, 100));  // on switching to the tab
})();
