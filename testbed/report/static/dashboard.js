/* The run's page, live or finished: every panel drawn with Plotly from one model (see
 * testbed/report/page.py). A finished run's model is inside the page; a live page gets a
 * snapshot from the dashboard's event stream, then deltas (rows appended, tables replaced,
 * latest values), and redraws what changed at most every RENDER_EVERY_MS.
 *
 * A year of 15-minute intervals is 35,040 points per series: each time series is drawn as a
 * min-max envelope of the zoomed range (two points per pixel column: every peak stays
 * visible), recomputed on zoom from the full arrays, with WebGL traces (scattergl). */
(function () {
  "use strict";

  const RENDER_EVERY_MS = 500;
  const LOG_LINES = 40;
  const ALARM_ROWS = 200;
  const COLORS = {
    price: "#1f4e79", bid: "#2e86c1", offer: "#e67e22", traded: "#27ae60", granted: "#1e8449",
    delivered: "#34495e", curtailed: "#e74c3c", sold: "#f1c40f", bought: "#5dade2",
    voltage: "#8e44ad", loading: "#16a085", limit: "#c0392b", baseline: "#7f8c8d",
    neutral: "#2980b9", unbalance: "#d35400",
  };
  const PHASES = ["a", "b", "c"];
  const PHASE_COLORS = { a: "#8b4513", b: "#222222", c: "#95a5a6", abc: "#8e44ad" };  // IEC 60445
  const PHASE_FILLS = { a: "rgba(139,69,19,0.15)", b: "rgba(34,34,34,0.15)", c: "rgba(149,165,166,0.2)" };
  const INTERVALS = "intervals.csv", HOMES = "homes.csv", MEASUREMENTS = "measurements.csv",
    SETPOINTS = "setpoints.csv", STEPS = "steps.csv", BLOCKS = "blocks.csv",
    ALARMS = "alarms.csv", BUSES = "buses.csv", LINES = "lines.csv";
  const DRAWN_INTERVAL_COLUMNS = new Set([
    "interval_start", "clearing_price", "bid_kwh", "offer_kwh", "traded_kwh", "granted_kwh",
    "curtailed_kwh", "delivered_kwh", "vm_min_pu", "vm_max_pu", "max_line_loading_percent",
    ...["a", "b", "c"].flatMap((p) => [`vm_min_${p}_pu`, `vm_max_${p}_pu`]),
    "vuf_max_percent", "neutral_loading_max_percent"]);

  const page = { model: null, charts: [], boxes: [], timings: {}, errors: [], renders: 0 };
  window.dashboard = page;
  window.addEventListener("error", (e) => page.errors.push(String(e.message)));

  // -- small helpers ------------------------------------------------------------------------

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v; else node.setAttribute(k, v);
    }
    for (const c of children) {
      if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
    }
    return node;
  }
  const table = (name) => (page.model.tables || {})[name] || null;
  const column = (name, col) => { const t = table(name); return t ? t[col] || null : null; };
  const rows = (name) => { const t = table(name); const k = t && Object.keys(t)[0]; return k ? t[k].length : 0; };
  const label = (file, col) => {
    const spec = page.model.schema.files[file] || [];
    const found = spec.find((c) => c[0] === col);
    return found ? found[2] : col;
  };
  const kind = (file, col) => {
    const found = (page.model.schema.files[file] || []).find((c) => c[0] === col);
    return found ? found[1] : null;
  };
  const last = (values) => {
    if (!values) return null;
    for (let i = values.length - 1; i >= 0; i--) if (values[i] !== null) return values[i];
    return null;
  };
  const fmt = (v, digits) => {
    if (v === null || v === undefined) return "-";
    if (typeof v === "boolean") return v ? "yes" : "no";
    if (typeof v === "number") {
      if (Number.isInteger(v)) return v.toLocaleString("en");
      return v.toLocaleString("en", { maximumSignificantDigits: digits || 6 });
    }
    if (Array.isArray(v)) return v.map((x) => fmt(x, digits)).join(" / ");
    if (typeof v === "object") return JSON.stringify(v);
    return String(v);
  };
  const startMs = () => page.model.run.start_ms || 0;
  const runClock = (seconds) => seconds.map((s) => (s === null ? null : startMs() + 1000 * s));

  // -- decimation: min-max envelope over the visible range ----------------------------------

  function lowerBound(xs, x) {
    let lo = 0, hi = xs.length;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (xs[mid] < x) lo = mid + 1; else hi = mid; }
    return lo;
  }

  /* Two points (the lowest and the highest, in time order) per bucket of the visible range;
   * a bucket with no value leaves a gap. xs must be ascending. */
  function envelope(xs, ys, range, buckets) {
    let i0 = 0, i1 = xs.length;
    if (range) {
      i0 = Math.max(0, lowerBound(xs, range[0]) - 1);
      i1 = Math.min(xs.length, lowerBound(xs, range[1]) + 1);
    }
    const n = i1 - i0;
    if (n <= 2 * buckets) return { x: xs.slice(i0, i1), y: ys.slice(i0, i1) };
    const ox = [], oy = [], size = n / buckets;
    for (let b = 0; b < buckets; b++) {
      const s = i0 + Math.floor(b * size), e = i0 + Math.floor((b + 1) * size);
      let lo = -1, hi = -1;
      for (let i = s; i < e; i++) {
        const v = ys[i];
        if (v === null || v !== v) continue;
        if (lo < 0 || v < ys[lo]) lo = i;
        if (hi < 0 || v > ys[hi]) hi = i;
      }
      if (lo < 0) { ox.push(xs[s]); oy.push(null); continue; }
      const [a, c] = lo <= hi ? [lo, hi] : [hi, lo];
      ox.push(xs[a], xs[c]); oy.push(ys[a], ys[c]);
    }
    return { x: ox, y: oy };
  }

  /* A time-series trace, decimated for the chart's width and zoom. */
  function series(chart, xs, ys, style) {
    const buckets = Math.max(200, chart.div.clientWidth || 800);
    const d = envelope(xs, ys, chart.xrange, buckets);
    return Object.assign({ type: "scatter", mode: "lines", x: d.x, y: d.y }, style);
  }

  /* A per-interval series: each value held over its interval, the last one to its end. */
  function intervalSeries(chart, xs, ys, style) {
    const trace = series(chart, xs, ys, Object.assign({ line: {} }, style));
    const n = trace.x.length, step = 1000 * (page.model.run.interval_s || 900);
    if (n && trace.x[n - 1] === xs[xs.length - 1]) {
      trace.x = trace.x.concat([trace.x[n - 1] + step]);
      trace.y = trace.y.concat([trace.y[n - 1]]);
    }
    trace.line = Object.assign({ shape: "hv" }, trace.line);
    return trace;
  }

  function limitLine(xs, value, name) {
    if (value === null || value === undefined || !xs || !xs.length) return null;
    return { type: "scatter", mode: "lines", x: [xs[0], xs[xs.length - 1]], y: [value, value],
      name: name, line: { color: COLORS.limit, dash: "dash", width: 1 }, hoverinfo: "skip" };
  }

  // -- charts and boxes ---------------------------------------------------------------------

  /* A chart redrawn when a table it uses (or the latest values: "latest") changes. */
  function chart(panel, id, title, uses, build, opts) {
    const div = el("div", { id: id, class: "chart" + ((opts && opts.wide) ? " wide" : "") });
    const note = el("p", { class: "note" });
    const box = el("figure", {}, el("figcaption", {}, title), div, note);
    panel.append(box);
    const c = { id, div, note, box, uses: new Set(uses), build, xrange: null, drawn: false,
      timeAxis: !(opts && opts.timeAxis === false) };
    page.charts.push(c);
    return c;
  }

  /* An HTML block redrawn like a chart. */
  function block(panel, id, title, uses, build) {
    const body = el("div", { id: id, class: "block" });
    panel.append(el("figure", { class: "wide" }, el("figcaption", {}, title), body));
    page.boxes.push({ body, uses: new Set(uses), build });
  }

  const BASE_LAYOUT = {
    margin: { l: 60, r: 20, t: 10, b: 40 }, height: 280, uirevision: "keep",
    hovermode: "x", legend: { orientation: "h", y: -0.2 }, font: { size: 11 },
    paper_bgcolor: "#fff", plot_bgcolor: "#fff",
  };

  function draw(c) {
    const t0 = performance.now();
    drawChart(c);
    (page.timings.charts = page.timings.charts || {})[c.id] = performance.now() - t0;
  }

  function drawChart(c) {
    let made;
    try {
      made = c.build(c);
    } catch (err) {
      page.errors.push(String(err && err.stack || err));
      made = null;
    }
    if (!made || typeof made === "string") {
      c.note.textContent = made || "no data yet";
      c.div.style.display = "none";
      return;
    }
    c.note.textContent = made.note || "";
    c.div.style.display = "";
    const layout = Object.assign({}, BASE_LAYOUT, made.layout || {});
    if (c.timeAxis) {
      layout.xaxis = Object.assign({ type: "date", gridcolor: "#eee" }, layout.xaxis || {});
      if (c.xrange) layout.xaxis.range = c.xrange.slice();
    }
    layout.yaxis = Object.assign({ gridcolor: "#eee", zeroline: false }, layout.yaxis || {});
    Plotly.react(c.div, made.data, layout, { responsive: true, displaylogo: false });
    if (!c.drawn) {
      c.drawn = true;
      if (c.timeAxis) c.div.on("plotly_relayout", (ev) => zoomed(c, ev));
    }
  }

  function toMs(v) {
    if (typeof v === "number") return v;
    return new Date(String(v).replace(" ", "T") + (String(v).includes("Z") ? "" : "Z")).getTime();
  }

  function zoomed(c, ev) {
    let range;
    if (ev["xaxis.autorange"]) range = null;
    else if ("xaxis.range[0]" in ev) range = [toMs(ev["xaxis.range[0]"]), toMs(ev["xaxis.range[1]"])];
    else if (ev["xaxis.range"]) range = ev["xaxis.range"].map(toMs);
    else return;
    const t0 = performance.now();
    c.xrange = range;
    draw(c);
    page.timings.lastZoomMs = performance.now() - t0;
  }

  // -- the panels -----------------------------------------------------------------------------

  function section(root, id, title) {
    const s = el("section", { id: id }, el("h2", {}, title));
    const grid = el("div", { class: "grid" });
    s.append(grid);
    root.append(s);
    return grid;
  }

  function kpis(root) {
    const strip = el("div", { class: "kpis", id: "kpis" });
    root.append(strip);
    const items = [
      ["kpi-status", "status", () => page.model.latest.status || "-"],
      ["kpi-interval", "interval", () => {
        const k = page.model.latest.k;
        const n = page.model.run.intervals;
        return k === undefined || k === null ? `${fmt(rows(INTERVALS))} settled` : `${k + 1} of ${fmt(n)}`;
      }],
      ["kpi-price", "clearing price per kWh", () => fmt(
        page.model.latest.price !== undefined ? page.model.latest.price
          : last(column(INTERVALS, "clearing_price")))],
      ["kpi-height", "ledger height", () => fmt(
        (page.model.latest.ledger || {}).height ?? last(column(BLOCKS, "height"))
          ?? page.model.summary.blocks)],
      ["kpi-commit", "last commit (ms)", () => fmt(
        (page.model.latest.ledger || {}).commit_ms ?? last(column(BLOCKS, "commit_ms")), 3)],
      ["kpi-voltage", "bus voltage (pu)", () => {
        const g = page.model.latest.grid;
        if (g) return `${fmt(g.vm_min_pu, 4)} to ${fmt(g.vm_max_pu, 4)}`;
        const s = page.model.summary;
        return s.vm_min_pu === undefined ? "-" : `${fmt(s.vm_min_pu, 4)} to ${fmt(s.vm_max_pu, 4)}`;
      }],
      ["kpi-loading", "highest line loading (%)", () => fmt(
        (page.model.latest.grid || {}).max_line_loading_percent
          ?? page.model.summary.max_line_loading_percent, 4)],
      ["kpi-alarms", "alarms", () => fmt(rows(ALARMS))],
    ];
    for (const [id, name] of items) {
      strip.append(el("div", { class: "kpi" }, el("span", { class: "name" }, name),
        el("span", { class: "value", id: id }, "-")));
    }
    page.boxes.push({ uses: new Set(["*"]), build: () => {
      for (const [id, , value] of items) document.getElementById(id).textContent = value();
    } });
  }

  function marketPanel(root) {
    const p = section(root, "market", "Market");
    chart(p, "market-price", "Clearing price per interval", [INTERVALS], (c) => {
      const x = column(INTERVALS, "interval_start");
      if (!x) return null;
      return { data: [intervalSeries(c, x, column(INTERVALS, "clearing_price"),
        { name: label(INTERVALS, "clearing_price"), line: { color: COLORS.price, shape: "hv" } })],
        layout: { yaxis: { title: { text: "per kWh" } }, showlegend: false } };
    });
    chart(p, "market-volumes", "Bids, offers, trades and deliveries", [INTERVALS], (c) => {
      const x = column(INTERVALS, "interval_start");
      if (!x) return null;
      const data = [];
      for (const [col, color, dash] of [["bid_kwh", COLORS.bid, "dot"],
        ["offer_kwh", COLORS.offer, "dot"], ["traded_kwh", COLORS.traded],
        ["granted_kwh", COLORS.granted], ["delivered_kwh", COLORS.delivered],
        ["curtailed_kwh", COLORS.curtailed]]) {
        const y = column(INTERVALS, col);
        if (y) data.push(intervalSeries(c, x, y, { name: label(INTERVALS, col), line: { color, dash, shape: "hv" } }));
      }
      return { data, layout: { yaxis: { title: { text: "kWh per interval" } } } };
    });
    chart(p, "market-book", "The last order book (bids and offers)", ["latest"], () => {
      const book = page.model.latest.orders;
      if (!book) return page.model.mode === "live" ? "no orders yet" : "order books are shown live";
      const curve = (orders, descending) => {
        const sorted = orders.slice().sort((a, b) => descending ? b[1] - a[1] : a[1] - b[1]);
        const x = [0], y = [sorted.length ? sorted[0][1] : null];
        let sum = 0;
        for (const [kwh, price] of sorted) { sum += kwh; x.push(sum); y.push(price); }
        return { x, y };
      };
      const bids = curve(book.bids, true), offers = curve(book.offers, false);
      return { data: [
        { type: "scatter", mode: "lines", x: bids.x, y: bids.y, name: "bids (demand)", line: { shape: "vh", color: COLORS.bid } },
        { type: "scatter", mode: "lines", x: offers.x, y: offers.y, name: "offers (supply)", line: { shape: "vh", color: COLORS.offer } },
      ], layout: { xaxis: { title: { text: `kWh, interval ${book.k + 1}` } }, yaxis: { title: { text: "price per kWh" } } } };
    }, { timeAxis: false });
    block(p, "market-cut", "Trades the grid curtailed or rejected, by limiting element", ["curtailment"], () => {
      const cut = page.model.curtailment;
      if (!cut || !cut.trades) return el("p", { class: "note" }, "no trades yet");
      if (!cut.cut) return el("p", { class: "note" }, `none: all ${fmt(cut.trades)} trades were accepted in full`);
      const t = el("table", {}, el("tr", {}, ...["constraint", "element", "curtailed", "rejected",
        "kWh not granted", "worst value", "limit"].map((h) => el("th", {}, h))));
      for (const e of cut.elements.slice(0, 15)) {
        t.append(el("tr", {}, el("td", {}, e.kind), el("td", {}, e.element),
          ...[e.curtailed, e.rejected, e.lost_kwh, e.worst_value, e.limit].map((v) => el("td", { class: "num" }, fmt(v, 4)))));
      }
      return el("div", {}, el("p", {}, `${fmt(cut.cut)} of ${fmt(cut.trades)} trades cut; top ${Math.min(15, cut.elements.length)} of ${cut.elements.length} limiting elements by energy not granted.`), t);
    });
  }

  const homeCount = () => Math.max((page.model.run.homes || []).length, rows(HOMES));
  const manyHomes = () => homeCount() > page.model.schema.homes.per_home_max;

  function homesPanel(root) {
    if (manyHomes()) { homesSpreadPanel(root); return; }
    const p = section(root, "homes", "Homes");
    const names = () => column(HOMES, "home");
    const physical = () => column(HOMES, "physical") || [];
    const ticks = () => names().map((n, i) => (physical()[i] ? `<b>${n} ◆</b>` : n));
    chart(p, "homes-energy", "Energy sold (up) and bought (down) per home; ◆ physical", [HOMES], () => {
      if (!names()) return null;
      const data = [];
      for (const [col, sign, color] of [["sold_kwh", 1, COLORS.sold], ["bought_kwh", -1, COLORS.bought],
        ["delivered_sold_kwh", 1, "#b7950b"], ["delivered_bought_kwh", -1, "#21618c"]]) {
        const y = column(HOMES, col);
        if (y) data.push({ type: "bar", x: ticks(), y: y.map((v) => v === null ? null : sign * v), name: label(HOMES, col), marker: { color } });
      }
      return { data, layout: { barmode: "overlay", yaxis: { title: { text: "kWh" } } } };
    }, { timeAxis: false, wide: true });
    chart(p, "homes-balance", "Each home's balance: net payment received", [HOMES], () => {
      const y = column(HOMES, "net_payment");
      if (!names() || !y) return null;
      return { data: [{ type: "bar", x: ticks(), y, name: label(HOMES, "net_payment"),
        marker: { color: y.map((v) => (v >= 0 ? COLORS.traded : COLORS.curtailed)) } }],
        layout: { yaxis: { title: { text: label(HOMES, "net_payment") } } } };
    }, { timeAxis: false, wide: true });
    for (const [col, base] of page.model.schema.baseline_pairs[HOMES] || []) {
      chart(p, `homes-${col}`, `${label(HOMES, col)}: with and without the market`, [HOMES], () => {
        const y = column(HOMES, col), b = column(HOMES, base);
        if (!names() || !y || !b) return null;
        return { data: [
          { type: "bar", x: ticks(), y, name: `with the market: ${label(HOMES, col)}`, marker: { color: COLORS.price } },
          { type: "bar", x: ticks(), y: b, name: `without: ${label(HOMES, base)}`, marker: { color: COLORS.baseline } },
        ], layout: { barmode: "group" } };
      }, { timeAxis: false, wide: true });
    }
    block(p, "homes-table", "Per home (every column of homes.csv)", [HOMES], () => {
      const t = table(HOMES);
      if (!t) return el("p", { class: "note" }, (page.model.notes || {})[HOMES] || "no homes yet");
      const cols = Object.keys(t);
      const out = el("table", {}, el("tr", {}, ...cols.map((c) => el("th", { title: c }, label(HOMES, c)))));
      for (let i = 0; i < t[cols[0]].length; i++) {
        out.append(el("tr", {}, ...cols.map((c) => el("td", { class: kind(HOMES, c) === "number" ? "num" : "" }, fmt(t[c][i], 5)))));
      }
      return el("div", { class: "scroll" }, out);
    });
  }

  /* The value below which a share q (0 to 1) of the sorted values lie, linearly interpolated
   * (numpy's default percentile). */
  function quantileOf(sorted, q) {
    const pos = q * (sorted.length - 1), lo = Math.floor(pos), hi = Math.ceil(pos);
    return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
  }

  const CURVE_POINTS = 201;  // a distribution over the homes is drawn at every half percent
  const SPREAD_LEGEND = { orientation: "h", y: -0.35 };  // below the axis title

  /* A homes.csv column as its distribution over the homes: the homes sorted by it, each
   * half percent of them a point (x: percent of the homes, y: the value). */
  function quantileCurve(values, style) {
    const v = (values || []).filter((x) => x !== null).sort((a, b) => a - b);
    if (!v.length) return null;
    const x = [], y = [];
    for (let i = 0; i < CURVE_POINTS; i++) { const q = i / (CURVE_POINTS - 1); x.push(100 * q); y.push(quantileOf(v, q)); }
    return Object.assign({ type: "scatter", mode: "lines", x, y }, style);
  }

  function spreadAxis() {
    const marks = page.model.schema.homes.quantiles_percent;
    return { title: { text: `homes sorted by the value (percent of ${fmt(homeCount())} homes)` },
      tickvals: [0, ...marks, 100], range: [0, 100], gridcolor: "#ddd" };
  }

  /* Many homes (more than schema.homes.per_home_max): distributions over the homes, per
   * interval (from trades.csv) and of each home's totals (homes.csv), and the worst homes by
   * name; every home is in homes.csv. */
  function homesSpreadPanel(root) {
    const p = section(root, "homes", `Homes: the distribution over ${fmt(homeCount())} homes`);
    const marks = page.model.schema.homes.quantiles_percent;
    chart(p, "homes-spread", `Net energy each home sold per interval (bought: negative): quantiles p${marks.join(", p")} over the homes`, ["spread"], (c) => {
      const sp = page.model.spread;
      if (!sp || !sp.interval_start.length) return page.model.mode === "live" ? "no trades yet" : "no trades in this run";
      const x = sp.interval_start, q = sp.net_sold_kwh, mid = Math.floor(marks.length / 2);
      const data = [];
      for (let i = 0; i < mid; i++) {  // the outer band first, each band filled to its other edge
        const fill = `rgba(39,174,96,${0.15 + 0.15 * i})`;
        data.push(intervalSeries(c, x, q[i], { name: `p${marks[i]}`, line: { color: COLORS.traded, width: 0.5 } }));
        data.push(intervalSeries(c, x, q[marks.length - 1 - i], { name: `p${marks[i]} to p${marks[marks.length - 1 - i]}`, line: { color: COLORS.traded, width: 0.5 }, fill: "tonexty", fillcolor: fill }));
      }
      data.push(intervalSeries(c, x, q[mid], { name: `median (p${marks[mid]})`, line: { color: COLORS.delivered, width: 2 } }));
      return { data, layout: { yaxis: { title: { text: "kWh per home per interval" } } } };
    }, { wide: true });
    chart(p, "homes-energy", "Energy each home sold and bought over the run, homes sorted", [HOMES], () => {
      const data = [["sold_kwh", COLORS.sold], ["bought_kwh", COLORS.bought],
        ["delivered_sold_kwh", "#b7950b"], ["delivered_bought_kwh", "#21618c"]]
        .map(([col, color]) => quantileCurve(column(HOMES, col), { name: label(HOMES, col), line: { color } })).filter(Boolean);
      return data.length ? { data, layout: { xaxis: spreadAxis(), yaxis: { title: { text: "kWh" } }, legend: SPREAD_LEGEND } } : null;
    }, { timeAxis: false });
    chart(p, "homes-balance", "Each home's net payment received, homes sorted", [HOMES], () => {
      const curve = quantileCurve(column(HOMES, "net_payment"), { name: label(HOMES, "net_payment"), line: { color: COLORS.price } });
      return curve ? { data: [curve], layout: { xaxis: spreadAxis(), yaxis: { title: { text: label(HOMES, "net_payment") } }, showlegend: false } } : null;
    }, { timeAxis: false });
    for (const [col, base] of page.model.schema.baseline_pairs[HOMES] || []) {
      chart(p, `homes-${col}`, `${label(HOMES, col)}: with and without the market, homes sorted`, [HOMES], () => {
        const data = [quantileCurve(column(HOMES, col), { name: `with the market: ${label(HOMES, col)}`, line: { color: COLORS.price } }),
          quantileCurve(column(HOMES, base), { name: `without: ${label(HOMES, base)}`, line: { color: COLORS.baseline, dash: "dot" } })].filter(Boolean);
        return data.length ? { data, layout: { xaxis: spreadAxis(), legend: SPREAD_LEGEND } } : null;
      }, { timeAxis: false });
    }
    block(p, "homes-table", `The worst homes (all of them are in homes.csv)`, [HOMES, "spread"], () => {
      const t = table(HOMES);
      if (!t) return el("p", { class: "note" }, (page.model.notes || {})[HOMES] || "no homes yet");
      const worst = page.model.schema.homes.worst, index = new Map(t.home.map((h, i) => [h, i]));
      const lists = [];
      const bill = column(HOMES, "bill_units"), base = column(HOMES, "baseline_bill_units");
      if (bill && base) {
        const loss = bill.map((b, i) => (b === null || base[i] === null ? null : b - base[i]));
        lists.push(["the largest bill increase with the market", "bill increase (currency units)", loss, true]);
      }
      if (column(HOMES, "net_payment")) lists.push(["the lowest net payment received", label(HOMES, "net_payment"), column(HOMES, "net_payment"), false]);
      const cut = (page.model.spread || {}).worst_curtailed || [];
      if (cut.length) lists.push(["the most energy the grid did not grant", "kWh not granted", cut, true]);
      const out = el("div", {});
      for (const [what, valueName, values, highest] of lists) {
        let ranked;
        if (values === cut) ranked = cut.map(([h, v]) => [index.get(h), v, h]);
        else ranked = values.map((v, i) => [i, v, t.home[i]]).filter((r) => r[1] !== null).sort((a, b) => highest ? b[1] - a[1] : a[1] - b[1]).slice(0, worst);
        const rowsOut = ranked.map(([i, v, h]) => el("tr", {}, el("td", {}, h),
          ...["bus", "role", "pv_kwp", "battery_kwh", "sold_kwh", "bought_kwh"].map((c) => el("td", { class: "num" }, i === undefined || !t[c] ? "-" : fmt(t[c][i], 5))),
          el("td", { class: "num" }, fmt(v, 5))));
        out.append(el("p", {}, `The ${ranked.length} homes with ${what}`), el("table", {}, el("tr", {},
          ...["home", "bus", "role", "PV (kWp)", "battery (kWh)", "sold (kWh)", "bought (kWh)", valueName].map((h) => el("th", {}, h))), ...rowsOut));
      }
      return lists.length ? out : el("p", { class: "note" }, "homes.csv has no cost column to rank the homes by");
    });
  }

  function balancePanel(root) {
    const pairs = page.model.schema.baseline_pairs[INTERVALS] || [];
    const spec = page.model.schema.files[INTERVALS] || [];
    const paired = new Set(pairs.flat());
    const others = spec.filter((c) => c[1] === "number" && !DRAWN_INTERVAL_COLUMNS.has(c[0]) && !paired.has(c[0]));
    if (!pairs.length && !others.length) return;
    const p = section(root, "balance", "Neighbourhood");
    if (pairs.length) {
      chart(p, "balance-pairs", "Energy balance with (solid) and without (dotted) the market", [INTERVALS], (c) => {
        const x = column(INTERVALS, "interval_start");
        if (!x) return null;
        const data = [];
        pairs.forEach(([col, base], i) => {
          const color = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"][i % 6];
          if (column(INTERVALS, col)) data.push(intervalSeries(c, x, column(INTERVALS, col), { name: label(INTERVALS, col), line: { color } }));
          if (column(INTERVALS, base)) data.push(intervalSeries(c, x, column(INTERVALS, base), { name: label(INTERVALS, base), line: { color, dash: "dot" } }));
        });
        return data.length ? { data } : null;
      }, { wide: true });
    }
    if (others.length) {
      chart(p, "balance-other", "Other per-interval figures", [INTERVALS], (c) => {
        const x = column(INTERVALS, "interval_start");
        if (!x) return null;
        const data = others.filter((o) => column(INTERVALS, o[0])).map((o) => intervalSeries(c, x, column(INTERVALS, o[0]), { name: o[2] }));
        return data.length ? { data } : null;
      }, { wide: true });
    }
  }

  const phased = () => PHASES.some((p) => (column(INTERVALS, `vm_max_${p}_pu`) || []).some((v) => v !== null));

  function feederPanel(root) {
    const p = section(root, "feeder", "Feeder");
    const limits = () => [page.model.run.vm_min_pu, page.model.run.vm_max_pu];
    chart(p, "feeder-envelope", "Bus voltage envelope (lowest to highest bus; per phase when unbalanced) against the band", [INTERVALS], (c) => {
      const x = column(INTERVALS, "interval_start");
      if (!x) return null;
      const data = [];
      if (phased()) {  // each phase's envelope: one phase can break the band while the others sit inside it
        for (const ph of PHASES) {
          const color = PHASE_COLORS[ph];
          data.push(intervalSeries(c, x, column(INTERVALS, `vm_min_${ph}_pu`), { name: label(INTERVALS, `vm_min_${ph}_pu`), line: { color, width: 1 } }));
          data.push(intervalSeries(c, x, column(INTERVALS, `vm_max_${ph}_pu`), { name: label(INTERVALS, `vm_max_${ph}_pu`), line: { color, width: 1 }, fill: "tonexty", fillcolor: PHASE_FILLS[ph] }));
        }
      } else {
        data.push(intervalSeries(c, x, column(INTERVALS, "vm_min_pu"), { name: label(INTERVALS, "vm_min_pu"), line: { color: COLORS.voltage, width: 1 } }));
        data.push(intervalSeries(c, x, column(INTERVALS, "vm_max_pu"), { name: label(INTERVALS, "vm_max_pu"), line: { color: COLORS.voltage, width: 1 }, fill: "tonexty", fillcolor: "rgba(142,68,173,0.2)" }));
      }
      const [vmin, vmax] = limits();
      return { data: [...data, limitLine(x, vmin, "voltage band"), limitLine(x, vmax, "voltage band")].filter(Boolean),
        layout: { yaxis: { title: { text: "pu" } } } };
    });
    chart(p, "feeder-loading", "The most loaded line (and neutral, when unbalanced) against its limit", [INTERVALS], (c) => {
      const x = column(INTERVALS, "interval_start");
      if (!x) return null;
      const neutral = column(INTERVALS, "neutral_loading_max_percent");
      return { data: [intervalSeries(c, x, column(INTERVALS, "max_line_loading_percent"), { name: label(INTERVALS, "max_line_loading_percent"), line: { color: COLORS.loading, shape: "hv" } }),
        neutral && neutral.some((v) => v !== null) ? intervalSeries(c, x, neutral, { name: label(INTERVALS, "neutral_loading_max_percent"), line: { color: COLORS.neutral, shape: "hv" } }) : null,
        limitLine(x, page.model.run.max_line_loading_percent, "loading limit")].filter(Boolean),
        layout: { yaxis: { title: { text: "%" }, rangemode: "tozero" } } };
    });
    chart(p, "feeder-unbalance", "Voltage unbalance factor |V2| / |V1| (highest bus) against its limit", [INTERVALS], (c) => {
      const x = column(INTERVALS, "interval_start");
      const vuf = column(INTERVALS, "vuf_max_percent");
      if (!x || !vuf || !vuf.some((v) => v !== null)) return "balanced power flow: no unbalance computed";
      return { data: [intervalSeries(c, x, vuf, { name: label(INTERVALS, "vuf_max_percent"), line: { color: COLORS.unbalance, shape: "hv" } }),
        limitLine(x, page.model.run.max_vuf_percent, "unbalance limit")].filter(Boolean),
        layout: { yaxis: { title: { text: "%" }, rangemode: "tozero" } } };
    });
    chart(p, "feeder-map", "One-line diagram, buses coloured by voltage (the worst phase when unbalanced); homes by phase; ★ physical homes", ["latest", BUSES, LINES, HOMES], feederMap, { timeAxis: false, wide: true });
  }

  function feederMap() {
    const f = page.model.feeder;
    if (!f) return "no feeder diagram in this run";
    const [vmin, vmax] = [page.model.run.vm_min_pu ?? 0.9, page.model.run.vm_max_pu ?? 1.1];
    const grid = page.model.latest.grid;
    let vm, loading, note;
    let phases = null;
    if (grid) {
      vm = grid.vm_pu; loading = grid.line_loading_percent;
      phases = grid.vm_phase_pu && grid.vm_phase_pu.length ? grid.vm_phase_pu : null;
      note = `voltages and loadings of interval ${grid.k + 1}'s power flow` + (phases ? " (each bus at its phase furthest from 1 pu)" : "");
    } else if (table(BUSES)) {
      const lo = column(BUSES, "vm_min_pu"), hi = column(BUSES, "vm_max_pu");
      vm = lo.map((l, i) => (l === null ? null : (1 - l > hi[i] - 1 ? l : hi[i])));
      loading = column(LINES, "max_loading_percent");
      note = "each bus at its voltage furthest from 1 pu over the run, each line at its highest loading";
    } else {
      vm = (f.full_bus || f.bus).map(() => null); note = "no power flow yet";
    }
    if (f.row_node) return feederOverview(f, vm, loading, note, vmin, vmax);
    const lx = [], ly = [], hx = [], hy = [], mx = [], my = [], mtext = [];
    const limit = page.model.run.max_line_loading_percent ?? 100;
    f.branches.forEach(([name, kindName, a, b], i) => {
      const load = loading && kindName === "line" ? loading[i] : null;
      const hot = load !== null && load !== undefined && load >= 0.8 * limit;
      (hot ? hx : lx).push(f.x[a], f.x[b], null);
      (hot ? hy : ly).push(f.y[a], f.y[b], null);
      mx.push((f.x[a] + f.x[b]) / 2); my.push((f.y[a] + f.y[b]) / 2);
      mtext.push(`${name} (${kindName})` + (load === null || load === undefined ? "" : `<br>loading ${fmt(load, 4)} %`));
    });
    const homes = page.model.run.homes || [];
    const phys = homes.filter((h) => h.physical).map((h) => ({ h, row: f.bus.indexOf(h.bus) })).filter((p) => p.row >= 0);
    const data = [
      { type: "scatter", mode: "lines", x: lx, y: ly, line: { color: "#999", width: 1.5 }, hoverinfo: "skip", name: "lines" },
      { type: "scatter", mode: "lines", x: hx, y: hy, line: { color: COLORS.limit, width: 3 }, hoverinfo: "skip", name: `lines at 80 % of the limit or more` },
      { type: "scatter", mode: "markers", x: mx, y: my, text: mtext, hoverinfo: "text", marker: { size: 5, color: "rgba(0,0,0,0)" }, showlegend: false },
      { type: "scatter", mode: "markers", x: f.x, y: f.y, name: "buses",
        text: f.name.map((n, i) => `${n}<br>${vm[i] === null ? "-" : fmt(vm[i], 5) + " pu"}` +
          (phases ? PHASES.map((ph, p) => `<br>phase ${ph}: ${fmt(phases[p][i], 5)} pu`).join("") : "")), hoverinfo: "text",
        marker: Object.assign(voltageColours(vm, vmin, vmax), { size: 9 }) },
      { type: "scatter", mode: "markers+text", x: phys.map((p) => f.x[p.row]), y: phys.map((p) => f.y[p.row]),
        text: phys.map((p) => p.h.name), textposition: "top center", name: "physical homes", hoverinfo: "text",
        marker: { symbol: "star", size: 16, color: "#f1c40f", line: { color: "#000", width: 1 } } },
    ];
    const loads = f.loads || [];
    if (loads.length) {  // each home at its bus, a small marker per phase connection, fanned out around it
      const spanX = Math.max(...f.x) - Math.min(...f.x) || 1, spanY = Math.max(...f.y) - Math.min(...f.y) || 1;
      const seen = {};
      for (const ph of [...PHASES, "abc"]) {
        const mine = loads.filter((l) => l[2] === ph);
        if (!mine.length) continue;
        const xy = mine.map(([, row]) => {
          const k = (seen[row] = (seen[row] || 0) + 1), angle = k * 2.4;
          return [f.x[row] + 0.012 * spanX * Math.cos(angle), f.y[row] + 0.012 * spanY * Math.sin(angle)];
        });
        data.push({ type: "scatter", mode: "markers", x: xy.map((p) => p[0]), y: xy.map((p) => p[1]),
          text: mine.map(([name]) => `${name}: phase ${ph}`), hoverinfo: "text", name: ph === "abc" ? "homes on three phases" : `homes on phase ${ph}`,
          marker: { size: 5, symbol: ph === "abc" ? "diamond" : "circle", color: PHASE_COLORS[ph] } });
      }
    }
    if (f.source_row !== null && f.source_row !== undefined) {
      data.push({ type: "scatter", mode: "markers", x: [f.x[f.source_row]], y: [f.y[f.source_row]], name: "grid connection",
        marker: { symbol: "square", size: 13, color: "#555" }, hoverinfo: "name" });
    }
    const yaxis = { visible: false };
    if (f.geographic) { yaxis.scaleanchor = "x"; yaxis.scaleratio = 1 / Math.cos((f.y[0] || 0) * Math.PI / 180); }
    return { data, note, layout: { height: 460, hovermode: "closest", xaxis: { visible: false }, yaxis } };
  }

  /* Marker colours for voltages (pu) on the band's scale: low blue, 1 pu green, high red. */
  function voltageColours(vm, vmin, vmax, bar = true) {
    return { color: vm.map((v) => (v === null ? 1 : v)), cmin: vmin, cmax: vmax,
      colorscale: [[0, "#2166ac"], [0.5, "#1a9850"], [1, "#d73027"]],
      colorbar: bar ? { title: { text: "V (pu)" }, thickness: 12 } : undefined, line: { color: "#333", width: 0.5 } };
  }

  /* A town's diagram by feeder (grid_models/diagram.py's overview): the buses that feed a
   * transformer drawn one by one, each feeder beyond one as a node at the bus it feeds, coloured
   * by its bus furthest from 1 pu, ringed red when one of its lines is at 80 % of the limit. */
  function feederOverview(f, vm, loading, note, vmin, vmax) {
    const nodes = f.bus.length, worst = new Array(nodes).fill(null), hottest = new Array(nodes).fill(null);
    f.row_node.forEach((n, row) => {
      const v = vm[row];
      if (v !== null && v !== undefined && (worst[n] === null || Math.abs(v - 1) > Math.abs(worst[n] - 1))) worst[n] = v;
    });
    if (loading) {
      f.line_node.forEach((n, i) => {
        const l = loading[i];
        if (n >= 0 && l !== null && l !== undefined && (hottest[n] === null || l > hottest[n])) hottest[n] = l;
      });
    }
    const limit = page.model.run.max_line_loading_percent ?? 100;
    const lx = [], ly = [], hx = [], hy = [], tx = [], ty = [], mx = [], my = [], mtext = [];
    f.branches.forEach(([name, kindName, a, b], j) => {
      const load = loading && kindName === "line" ? loading[f.branch_of[j]] : null;
      const hot = load !== null && load !== undefined && load >= 0.8 * limit;
      const [xs, ys] = kindName === "trafo" ? [tx, ty] : hot ? [hx, hy] : [lx, ly];
      xs.push(f.x[a], f.x[b], null); ys.push(f.y[a], f.y[b], null);
      mx.push((f.x[a] + f.x[b]) / 2); my.push((f.y[a] + f.y[b]) / 2);
      mtext.push(`${name} (${kindName})` + (load === null || load === undefined ? "" : `<br>loading ${fmt(load, 4)} %`));
    });
    const feeders = [], buses = [];
    for (let n = 0; n < nodes; n++) (f.node_feeder[n] ? feeders : buses).push(n);
    const text = (n) => `${f.name[n]}<br>${fmt(f.node_buses[n])} buses, ${fmt(f.node_loads[n])} homes` +
      `<br>${worst[n] === null ? "-" : fmt(worst[n], 5) + " pu"} (furthest from 1 pu)` +
      (hottest[n] === null ? "" : `<br>highest line loading ${fmt(hottest[n], 4)} %`);
    const markers = (ids, name, size, symbol, bar) => ({ type: "scatter", mode: "markers", name, hoverinfo: "text",
      x: ids.map((n) => f.x[n]), y: ids.map((n) => f.y[n]), text: ids.map(text),
      marker: Object.assign(voltageColours(ids.map((n) => worst[n]), vmin, vmax, bar), {
        size: ids.map(size), symbol,
        line: { color: ids.map((n) => (hottest[n] !== null && hottest[n] >= 0.8 * limit ? COLORS.limit : "#333")),
          width: ids.map((n) => (hottest[n] !== null && hottest[n] >= 0.8 * limit ? 3 : 0.5)) } }) });
    const rowOf = new Map(f.full_bus.map((b, row) => [b, row]));
    const phys = (page.model.run.homes || []).filter((h) => h.physical && rowOf.has(h.bus)).map((h) => ({ h, n: f.row_node[rowOf.get(h.bus)] }));
    const data = [
      { type: "scatter", mode: "lines", x: lx, y: ly, line: { color: "#999", width: 1.5 }, hoverinfo: "skip", name: "lines" },
      { type: "scatter", mode: "lines", x: hx, y: hy, line: { color: COLORS.limit, width: 3 }, hoverinfo: "skip", name: "lines at 80 % of the limit or more" },
      { type: "scatter", mode: "lines", x: tx, y: ty, line: { color: "#555", width: 1, dash: "dot" }, hoverinfo: "skip", name: "transformers" },
      { type: "scatter", mode: "markers", x: mx, y: my, text: mtext, hoverinfo: "text", marker: { size: 5, color: "rgba(0,0,0,0)" }, showlegend: false },
      markers(buses, "buses", () => 7, "circle", true),
      markers(feeders, "feeders beyond a transformer (size: buses)", (n) => 8 + 2 * Math.sqrt(f.node_buses[n]), "hexagon", false),
      { type: "scatter", mode: "markers+text", x: phys.map((p) => f.x[p.n]), y: phys.map((p) => f.y[p.n]),
        text: phys.map((p) => p.h.name), textposition: "top center", name: "physical homes", hoverinfo: "text",
        marker: { symbol: "star", size: 16, color: "#f1c40f", line: { color: "#000", width: 1 } } },
    ];
    if (f.source_row !== null && f.source_row !== undefined) {
      data.push({ type: "scatter", mode: "markers", x: [f.x[f.source_row]], y: [f.y[f.source_row]], name: "grid connection",
        marker: { symbol: "square", size: 13, color: "#555" }, hoverinfo: "name" });
    }
    const yaxis = { visible: false };
    if (f.geographic) { yaxis.scaleanchor = "x"; yaxis.scaleratio = 1 / Math.cos((f.y[0] || 0) * Math.PI / 180); }
    return { data, note: `${note}; ${fmt(f.full_bus.length)} buses drawn as ${fmt(feeders.length)} feeders and ${fmt(buses.length)} buses`,
      layout: { height: 560, hovermode: "closest", xaxis: { visible: false }, yaxis } };
  }

  function benchPanel(root) {
    const p = section(root, "bench", "Bench");
    block(p, "bench-devices", "Physical homes: setpoints, measurements, safety clamps", [SETPOINTS, MEASUREMENTS, ALARMS], () => {
      const homes = new Set([...(column(SETPOINTS, "home") || []), ...(column(MEASUREMENTS, "device") || [])]);
      if (!homes.size) return el("p", { class: "note" }, "no physical homes, or no control step yet");
      const lastRow = (file, key, name) => {
        const keys = column(file, key) || [];
        for (let i = keys.length - 1; i >= 0; i--) if (keys[i] === name) return i;
        return -1;
      };
      const sources = column(ALARMS, "source") || [], kinds = column(ALARMS, "kind") || [], messages = column(ALARMS, "message") || [];
      const out = el("table", {}, el("tr", {}, ...["home", "inverter setpoint (kW)", "load setpoint (kW)",
        "voltage setpoint (pu)", "P (kW, + imports)", "Q (kvar)", "V (V)", "clamps", "last clamp"].map((h) => el("th", {}, h))));
      for (const home of [...homes].sort()) {
        const s = lastRow(SETPOINTS, "home", home), m = lastRow(MEASUREMENTS, "device", home);
        const get = (file, i, col) => (i < 0 ? null : column(file, col)[i]);
        let clamps = 0, lastClamp = "";
        sources.forEach((src, i) => { if (kinds[i] === "clamp" && src.startsWith(home + ".")) { clamps++; lastClamp = `${src}: ${messages[i]}`; } });
        out.append(el("tr", {}, el("td", {}, home),
          ...[get(SETPOINTS, s, "inverter_kw"), get(SETPOINTS, s, "load_kw"), get(SETPOINTS, s, "v_pu"),
            get(MEASUREMENTS, m, "p_kw"), get(MEASUREMENTS, m, "q_kvar"), get(MEASUREMENTS, m, "v_v"), clamps]
            .map((v) => el("td", { class: "num" }, fmt(v, 4))), el("td", {}, lastClamp)));
      }
      return out;
    });
    const perDevice = (file, key, col, title, unit) => chart(p, `bench-${file.split(".")[0]}-${col}`, title, [file], (c) => {
      const keys = column(file, key);
      if (!keys) return null;
      const t = column(file, "time_s"), y = column(file, col);
      const data = [...new Set(keys)].sort().map((name) => {
        const idx = []; keys.forEach((k, i) => { if (k === name) idx.push(i); });
        return series(c, runClock(idx.map((i) => t[i])), idx.map((i) => y[i]), { name, line: { shape: file === SETPOINTS ? "hv" : "linear" } });
      });
      return { data, layout: { yaxis: { title: { text: unit } } } };
    });
    perDevice(MEASUREMENTS, "device", "p_kw", "Meter power per physical home (+ imports)", "kW");
    perDevice(SETPOINTS, "home", "inverter_kw", "Inverter setpoints per physical home (+ exports)", "kW");
    perDevice(MEASUREMENTS, "device", "v_v", "Meter voltage per physical home", "V");
    chart(p, "bench-steps", "Control-step jitter and deadline misses", [STEPS], (c) => {
      const t = column(STEPS, "time_s");
      if (!t) return page.model.mode === "live" ? "no paced steps (simulated run)" : "no steps.csv: a simulated run has no pacing";
      const x = runClock(t), missed = column(STEPS, "missed");
      const mx = [], my = [];
      missed.forEach((m, i) => { if (m) { mx.push(x[i]); my.push(column(STEPS, "lateness_ms")[i]); } });
      return { data: [series(c, x, column(STEPS, "lateness_ms"), { name: label(STEPS, "lateness_ms"), line: { color: COLORS.loading } }),
        { type: "scatter", mode: "markers", x: mx, y: my, name: `deadline missed (${mx.length})`, marker: { color: COLORS.limit, symbol: "x", size: 8 } }],
        layout: { yaxis: { title: { text: "ms late" }, rangemode: "tozero" } } };
    });
    block(p, "bench-watchdog", "Watchdog and pacing", ["latest", STEPS], () => {
      const w = page.model.latest.watchdog, s = page.model.summary;
      const missed = (column(STEPS, "missed") || []).filter(Boolean).length;
      const items = [["control steps", rows(STEPS) || s.control_steps], ["deadline misses", rows(STEPS) ? missed : s.deadline_misses],
        ["step jitter p50 / p99 (ms)", s.step_jitter_p50_ms !== undefined ? [s.step_jitter_p50_ms, s.step_jitter_p99_ms] : null]];
      if (w) items.push(["watchdog deadline (s)", w.deadline_s], ["consecutive misses (trips at)", `${w.misses} (${w.max_misses})`], ["watchdog misses in all", w.total_misses]);
      const trips = (column(ALARMS, "kind") || []).filter((k) => k === "trip").length;
      items.push(["trips", trips]);
      return el("table", {}, ...items.map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", { class: "num" }, fmt(v, 4)))));
    });
    block(p, "bench-log", "The instrument command log's last lines (t: the log's monotonic clock, s)", ["latest"], () => {
      const log = (page.model.latest.log || []).slice(-LOG_LINES);
      if (!log.length) return el("p", { class: "note" }, "no command log lines");
      return el("pre", { class: "log" }, log.map(([t, device, k, text]) => `${fmt(t, 9).padStart(14)} ${String(device).padEnd(24)} ${String(k).padEnd(6)} ${text}`).join("\n"));
    });
  }

  function ledgerPanel(root) {
    const p = section(root, "ledger", "Ledger");
    chart(p, "ledger-commit", "Commit latency per block", [BLOCKS], (c) => {
      const h = column(BLOCKS, "height");
      if (!h) return null;
      const d = envelope(h, column(BLOCKS, "commit_ms"), c.xrange, Math.max(200, c.div.clientWidth || 800));
      return { data: [{ type: "scatter", mode: "markers", x: d.x, y: d.y, name: label(BLOCKS, "commit_ms"), marker: { size: 4, color: COLORS.price } }],
        layout: { xaxis: { title: { text: "height" } }, yaxis: { title: { text: "ms" }, type: "log" } } };
    }, { timeAxis: false });
    block(p, "ledger-nodes", "Validator nodes: height and lag", [BLOCKS, "latest"], () => {
      const nodes = column(BLOCKS, "node") || [], heights = column(BLOCKS, "height") || [], ms = column(BLOCKS, "commit_ms") || [];
      const seen = new Map();
      nodes.forEach((n, i) => { if (n) seen.set(n, { height: Math.max(heights[i], (seen.get(n) || { height: 0 }).height), commit_ms: ms[i] }); });
      if (!seen.size) {
        const h = last(heights);
        return el("p", {}, `one ledger in this process (no validator network): height ${fmt(h)}, ${fmt(heights.length)} blocks committed${heights.length ? ", median commit " + fmt(median(ms), 3) + " ms" : ""}`);
      }
      const top = Math.max(...[...seen.values()].map((v) => v.height));
      const out = el("table", {}, el("tr", {}, ...["node", "height", "lag (blocks)", "last commit (ms)"].map((h) => el("th", {}, h))));
      for (const [n, v] of [...seen.entries()].sort()) {
        out.append(el("tr", { class: top - v.height > 1 ? "bad" : "" }, el("td", {}, n), el("td", { class: "num" }, fmt(v.height)),
          el("td", { class: "num" }, fmt(top - v.height)), el("td", { class: "num" }, fmt(v.commit_ms, 3))));
      }
      return out;
    });
  }

  function median(values) {
    const v = values.filter((x) => x !== null).sort((a, b) => a - b);
    return v.length ? v[Math.floor(v.length / 2)] : null;
  }

  function alarmsPanel(root) {
    const p = section(root, "alarms", "Alarms");
    block(p, "alarm-list", "Clamps, trips, deadline misses and refused transactions, newest first", [ALARMS], () => {
      const t = column(ALARMS, "time_s");
      if (!t || !t.length) return el("p", { class: "note" }, "no alarms");
      const kinds = column(ALARMS, "kind"), counts = {};
      kinds.forEach((k) => { counts[k] = (counts[k] || 0) + 1; });
      const out = el("table", {}, el("tr", {}, ...["time", "kind", "source", "message"].map((h) => el("th", {}, h))));
      for (let i = t.length - 1; i >= Math.max(0, t.length - ALARM_ROWS); i--) {
        const when = new Date(startMs() + 1000 * t[i]).toISOString().replace("T", " ").slice(0, 19);
        out.append(el("tr", { class: "alarm-" + kinds[i] }, el("td", {}, when), el("td", {}, kinds[i]),
          el("td", {}, column(ALARMS, "source")[i]), el("td", {}, column(ALARMS, "message")[i])));
      }
      return el("div", {}, el("p", {}, Object.entries(counts).map(([k, n]) => `${k}: ${fmt(n)}`).join(", ")), el("div", { class: "scroll" }, out));
    });
  }

  function summaryPanel(root) {
    const p = section(root, "summary", "Summary");
    block(p, "summary-table", "The run's figures (summary.json)", ["summary"], () => {
      const s = page.model.summary || {};
      const fields = page.model.schema.fields;
      const known = new Set(fields.map((f) => f[0]));
      const isBaseline = (k) => k.startsWith("baseline_") && k.slice(9) in s;
      const keys = fields.map((f) => f[0]).filter((k) => k in s && !isBaseline(k))
        .concat(Object.keys(s).filter((k) => !known.has(k) && !isBaseline(k)));
      if (!keys.length) return el("p", { class: "note" }, page.model.mode === "live" ? "written when the run ends" : "empty summary");
      const labels = Object.fromEntries(fields);
      const flagged = new Set(page.model.flagged || []);
      const out = el("table", {}, el("tr", {}, el("th", {}, "figure"), el("th", {}, "with the market"), el("th", {}, "without (baseline)")));
      for (const k of keys) {
        const base = "baseline_" + k;
        out.append(el("tr", {}, el("th", {}, labels[k] || k, " ", el("code", {}, k)),
          el("td", { class: (typeof s[k] === "number" ? "num" : "") + (flagged.has(k) ? " bad" : "") }, fmt(s[k])),
          el("td", { class: "num" }, base in s ? fmt(s[base]) : "")));
      }
      return out;
    });
  }

  function reportPanels(root) {
    if (page.model.mode !== "report") return;
    const p = section(root, "figures", "Figures for papers (PNG)");
    for (const f of page.model.figures || []) {
      p.append(el("figure", { class: "wide" }, el("figcaption", {}, f.title),
        f.image ? el("a", { href: f.image }, el("img", { src: f.image, alt: f.title, loading: "lazy" })) : el("p", { class: "note" }, f.note)));
    }
    const files = el("ul", {}, ...(page.model.files || []).map(([name, size]) =>
      el("li", {}, el("a", { href: "../" + name }, name), ` (${fmt(size)} bytes)`)));
    section(root, "files", "Files in the run folder").append(el("div", { class: "wide" }, files));
  }

  // -- building, drawing, the live stream -------------------------------------------------------

  function build() {
    const m = page.model;
    document.body.textContent = "";
    const title = `${m.run.scenario || "run"}: ${m.mode === "live" ? "live" : "report"}`;
    document.title = title;
    const root = el("main", {});
    document.body.append(el("header", {}, el("h1", {}, title),
      el("p", { class: "where" }, m.run.folder ? `run folder ${m.run.folder}` : "")), root);
    page.charts = []; page.boxes = [];
    kpis(root);
    marketPanel(root); homesPanel(root); balancePanel(root); feederPanel(root);
    benchPanel(root); ledgerPanel(root); alarmsPanel(root); summaryPanel(root); reportPanels(root);
  }

  function render(changed) {
    const t0 = performance.now();
    const hit = (uses) => !changed || uses.has("*") || [...uses].some((u) => changed.has(u));
    for (const c of page.charts) if (hit(c.uses)) draw(c);
    for (const b of page.boxes) {
      if (!hit(b.uses)) continue;
      try {
        const made = b.build();
        if (made && b.body) b.body.replaceChildren(made);
      } catch (err) { page.errors.push(String(err && err.stack || err)); }
    }
    page.renders += 1;
    page.timings.lastRenderMs = performance.now() - t0;
  }

  function load(model) {
    page.model = model;
    model.latest = model.latest || {};
    model.summary = model.summary || {};
    build();
    render(null);
    if (page.timings.firstRenderMs === undefined) {  // since navigation; the drawing alone
      page.timings.firstRenderMs = performance.now();
      page.timings.firstDrawMs = page.timings.lastRenderMs;
    }
  }

  function merge(delta) {
    const m = page.model, changed = new Set(["*"]);
    if (delta.run) { m.run = delta.run; m.feeder = delta.feeder; changed.add("run"); }
    for (const [name, change] of Object.entries(delta.tables || {})) {
      changed.add(name);
      if (change.replace || !m.tables[name]) { m.tables[name] = change.columns; continue; }
      for (const [col, values] of Object.entries(change.columns)) {
        const target = m.tables[name][col];
        for (const v of values) target.push(v);
        if (change.keep && target.length > change.keep) target.splice(0, target.length - change.keep);
      }
    }
    if (delta.latest) { Object.assign(m.latest, delta.latest); changed.add("latest"); }
    if (delta.curtailment) { m.curtailment = delta.curtailment; changed.add("curtailment"); }
    if (delta.spread) { m.spread = delta.spread; changed.add("spread"); }
    if (delta.summary) { m.summary = delta.summary; changed.add("summary"); }
    return changed;
  }

  function connect(url) {
    let pending = null, timer = null;
    const flush = () => { timer = null; const c = pending; pending = null; if (c) render(c); };
    const source = new EventSource(url);
    source.addEventListener("snapshot", (e) => { pending = null; load(JSON.parse(e.data)); });
    source.addEventListener("end", () => { source.close(); flush(); });  // the run is over
    source.addEventListener("delta", (e) => {
      if (!page.model) return;
      const changed = merge(JSON.parse(e.data));
      if (changed.has("run")) { build(); render(null); return; }  // the run started: its panels
      pending = pending ? new Set([...pending, ...changed]) : changed;
      if (!timer) timer = setTimeout(flush, RENDER_EVERY_MS);
    });
    source.onerror = () => {
      const status = document.getElementById("kpi-status");
      if (status) status.textContent = page.model && /finished|stopped/.test(page.model.latest.status || "") ? page.model.latest.status : "reconnecting";
    };
    page.source = source;
  }

  const model = JSON.parse(document.getElementById("model").textContent);
  if (model.mode === "live") connect(model.stream); else load(model);
})();
