// The symbol view: chart (1- or 5-minute candles from the day's minute bars, volume, VWAP,
// EMA 9/20, previous close, pre-market high, halt and resume markers, an OHLC readout under
// the cursor), the row's numbers, float / shares / short interest, headlines, LULD bands and
// halt history.
//
// Everything comes from Stampede's REST (the bars function keeps the day's minute bars in
// Redis); the browser never talks to Massive and holds no key. While the panel is open it
// polls for new and corrected bars. Headlines are untrusted: they are only ever set as text.

import { COLUMNS, fmtPct, fmtPrice, fmtTime, fmtVol } from "./format.js";

const POLL_MS = 2000;
export const FRAMES = [1, 5]; // candle minutes offered (5-minute candles are made from the 1-minute bars)
const EMAS = [[9, "#c792ea"], [20, "#4ea1ff"]];

// Minute bars ({t, o, h, l, c, v, a}, t ascending) as candles of ``minutes``: each starts on a
// multiple of it (ET and UTC agree on 5-minute boundaries) and keeps the day's VWAP (``a``) of
// its last bar.
export function aggregate(bars, minutes) {
  if (minutes === 1) return bars;
  const span = minutes * 60_000;
  const out = [];
  for (const b of bars) {
    const start = Math.floor(b.t / span) * span;
    const last = out[out.length - 1];
    if (last && last.t === start) {
      last.h = Math.max(last.h, b.h); last.l = Math.min(last.l, b.l); last.c = b.c; last.v += b.v;
      if (b.a != null) last.a = b.a;
    } else out.push({ t: start, o: b.o, h: b.h, l: b.l, c: b.c, v: b.v, a: b.a ?? null });
  }
  return out;
}

// Exponential moving average of ``n`` periods (weight 2 / (n + 1)), from the first value on.
export function ema(values, n) {
  const k = 2 / (n + 1);
  let prev = null;
  return values.map((v) => (prev = prev == null ? v : v * k + prev * (1 - k)));
}
const STATS = [
  ["last", "Last"], ["change_pct", "% Chg"], ["gap_pct", "Gap %"], ["prev_close", "Prev close"],
  ["open", "Open"], ["high", "High"], ["low", "Low"], ["vwap", "VWAP"], ["premarket_high", "PM high"],
  ["volume", "Volume"], ["premarket_volume", "PM volume"], ["rvol", "RVOL"], ["change_1m_pct", "Mom 1m"],
  ["change_5m_pct", "Mom 5m"], ["float_shares", "Float"], ["shares_outstanding", "Shares out"],
  ["market_cap", "Market cap"], ["short_interest", "Short interest"], ["short_pct_float", "Short % float"],
  ["days_to_cover", "Days to cover"], ["luld_upper", "LULD upper"], ["luld_lower", "LULD lower"],
];

function statText(field, v) {
  if (v == null) return "—";
  if (COLUMNS[field]) return COLUMNS[field][1](v);
  if (field === "prev_close" || field === "open" || field === "low") return fmtPrice(v);
  if (field === "short_interest") return fmtVol(v);
  if (field === "days_to_cover") return v.toFixed(1);
  return String(v);
}

export class SymbolView {
  constructor(root, api, { onClose = () => {} } = {}) {
    this.root = root;
    this.onClose = onClose; // the trader closed it (button, Escape)
    this.api = api; // (path) -> Promise<json | null>
    this.sym = null;
    this.timer = null;
    this.busy = null;
    this.opening = 0;
    this.chart = null;
    this.bars = [];
    this.offsetS = 0;
    this.frame = 1;
    this.halts = [];
    this.shown = [];
    root.querySelector(".frames").addEventListener("click", (e) => {
      const minutes = Number(e.target.closest("button")?.dataset.frame);
      if (!FRAMES.includes(minutes) || minutes === this.frame) return;
      this.frame = minutes;
      this.draw(true);
    });
    const dismiss = () => { this.close(); this.onClose(); };
    root.querySelector(".close").addEventListener("click", dismiss);
    document.addEventListener("keydown", (e) => { if (e.key === "Escape" && this.sym) dismiss(); });
  }

  async open(sym) {
    this.close();
    this.sym = sym;
    this.bars = [];
    this.root.hidden = false;
    this.root.dataset.sym = sym;
    this.root.querySelector(".title").textContent = sym;
    for (const sel of [".stats", ".news", ".halts"]) this.root.querySelector(sel).replaceChildren();
    this.makeChart();
    await this.refresh(true);
    if (this.sym === sym) this.timer = setInterval(() => this.refresh(false), POLL_MS);
  }

  close() {
    this.opening += 1;
    clearInterval(this.timer);
    this.timer = null;
    this.sym = null;
    if (this.chart) { this.chart.remove(); this.chart = null; }
    this.root.hidden = true;
  }

  makeChart() {
    const LW = window.LightweightCharts;
    const el = this.root.querySelector(".chart");
    el.replaceChildren();
    this.chart = LW.createChart(el, {
      autoSize: true,
      layout: { background: { color: "#11161e" }, textColor: "#7d8898", fontSize: 11 },
      grid: { vertLines: { color: "#1a212c" }, horzLines: { color: "#1a212c" } },
      timeScale: { timeVisible: true, secondsVisible: false, borderColor: "#222b38" },
      rightPriceScale: { borderColor: "#222b38" },
      crosshair: { mode: 0 },
    });
    this.candles = this.chart.addSeries(LW.CandlestickSeries, {
      upColor: "#26c281", downColor: "#ff5c5c", borderVisible: false, wickUpColor: "#26c281", wickDownColor: "#ff5c5c",
    });
    this.volume = this.chart.addSeries(LW.HistogramSeries, { priceScaleId: "vol", priceFormat: { type: "volume" }, lastValueVisible: false, priceLineVisible: false });
    this.chart.priceScale("vol").applyOptions({ scaleMargins: { top: 0.78, bottom: 0 } });
    this.candles.priceScale().applyOptions({ scaleMargins: { top: 0.06, bottom: 0.26 } });
    this.vwap = this.chart.addSeries(LW.LineSeries, { color: "#f0b429", lineWidth: 1, priceLineVisible: false, lastValueVisible: false, title: "VWAP" });
    this.emas = EMAS.map(([n, color]) => [n, this.chart.addSeries(LW.LineSeries, { color, lineWidth: 1, priceLineVisible: false, lastValueVisible: false, title: `EMA ${n}` })]);
    this.markers = LW.createSeriesMarkers(this.candles, []);
    this.chart.subscribeCrosshairMove((param) => {
      const d = param.time != null ? param.seriesData.get(this.candles) : null;
      this.showOhlc(d ? this.shown.find((b) => this.time(b.t) === d.time) : null);
    });
    this.shown = [];
    this.lines = {};
  }

  // Chart time: lightweight-charts shows UTC, so bars are shifted to read as ET wall time.
  time(ms) { return Math.floor(ms / 1000) + this.offsetS; }

  async refresh(first) {
    // a slow answer must not be overtaken by the next poll (of the same opening)
    const opening = this.opening;
    if (this.busy === opening) return;
    this.busy = opening;
    try { await this.load(first); } finally { if (this.busy === opening) this.busy = null; }
  }

  async load(first) {
    const sym = this.sym;
    const since = this.bars.length ? this.bars[this.bars.length - 1].t : null;
    const [info, bars, news] = await Promise.all([
      this.api(`/api/symbols/${encodeURIComponent(sym)}`),
      this.api(`/api/symbols/${encodeURIComponent(sym)}/bars` + (since == null ? "" : `?since=${since}`)),
      first ? this.api(`/api/symbols/${encodeURIComponent(sym)}/news`) : Promise.resolve(undefined),
    ]);
    if (this.sym !== sym || !this.chart) return; // closed or switched meanwhile
    const row = info?.row || { sym };
    if (bars) this.addBars(bars, since == null);
    this.showRow(row);
    this.showLines(row);
    this.showHalts(info?.halts || []);
    if (news !== undefined) this.showNews(news?.articles || null, row);
  }

  addBars(answer, replace) {
    this.offsetS = answer.utc_offset_s || 0;
    const newest = this.bars.length ? this.bars[this.bars.length - 1].t : -Infinity;
    // the chart only appends or corrects its newest bar
    const incoming = (answer.bars || []).filter((b) => replace || b.t >= newest);
    if (replace) this.bars = incoming;
    else {
      for (const bar of incoming) {
        const last = this.bars[this.bars.length - 1];
        if (last && last.t === bar.t) this.bars[this.bars.length - 1] = bar;
        else if (!last || bar.t > last.t) this.bars.push(bar);
      }
    }
    if (!replace && !incoming.length) return;
    this.draw(replace || incoming.some((b) => b.t > newest)); // keep the day in view
  }

  // The candles of the chosen frame, their volume, VWAP and EMAs, and the halt markers, drawn
  // from the minute bars whole (a day is at most ~960 of them).
  draw(fit) {
    if (!this.chart) return;
    const frame = aggregate(this.bars, this.frame);
    this.shown = frame;
    const at = (b) => this.time(b.t);
    this.candles.setData(frame.map((b) => ({ time: at(b), open: b.o, high: b.h, low: b.l, close: b.c })));
    this.volume.setData(frame.map((b) => ({ time: at(b), value: b.v, color: b.c >= b.o ? "rgba(38,194,129,.45)" : "rgba(255,92,92,.45)" })));
    this.vwap.setData(frame.filter((b) => b.a != null).map((b) => ({ time: at(b), value: b.a })));
    const closes = frame.map((b) => b.c);
    for (const [n, series] of this.emas) {
      const line = ema(closes, n);
      series.setData(frame.map((b, i) => ({ time: at(b), value: line[i] })));
    }
    this.markHalts();
    if (fit) this.chart.timeScale().fitContent();
    for (const button of this.root.querySelectorAll(".frames button")) {
      button.setAttribute("aria-pressed", String(Number(button.dataset.frame) === this.frame));
    }
    this.root.dataset.frame = String(this.frame);
    this.root.dataset.candles = String(frame.length);
    this.root.classList.toggle("nobars", frame.length === 0);
    this.showOhlc(null);
  }

  // Halts and resumes as markers on the candle they fell in.
  markHalts() {
    if (!this.chart) return;
    const span = this.frame * 60_000;
    const first = this.shown.length ? this.shown[0].t : Infinity;
    this.markers.setMarkers(this.halts.filter((h) => h.t >= first).sort((a, b) => a.t - b.t).map((h) => ({
      time: this.time(Math.floor(h.t / span) * span),
      position: "aboveBar",
      color: h.halted ? "#ff3b3b" : "#26c281",
      shape: h.halted ? "arrowDown" : "arrowUp",
      text: h.halted ? "HALT" : "RESUME",
    })));
  }

  // O/H/L/C/V of the candle under the cursor, else of the newest.
  showOhlc(bar) {
    const b = bar || this.shown[this.shown.length - 1];
    this.root.querySelector(".ohlc").textContent = b
      ? `O ${fmtPrice(b.o)}  H ${fmtPrice(b.h)}  L ${fmtPrice(b.l)}  C ${fmtPrice(b.c)}  V ${fmtVol(b.v)}` : "";
  }

  showLines(row) {
    for (const [field, title, color] of [["prev_close", "prev close", "#7d8898"], ["premarket_high", "PM high", "#4ea1ff"]]) {
      const price = row[field];
      const line = this.lines[field];
      if (price == null) { if (line) { this.candles.removePriceLine(line); delete this.lines[field]; } continue; }
      if (line) line.applyOptions({ price });
      else this.lines[field] = this.candles.createPriceLine({ price, color, lineWidth: 1, lineStyle: 2, axisLabelVisible: true, title });
    }
  }

  showRow(row) {
    const head = this.root.querySelector(".quote");
    head.textContent = `${fmtPrice(row.last ?? null)}  ${fmtPct(row.change_pct ?? null)}`;
    head.classList.toggle("up", row.change_pct > 0);
    head.classList.toggle("down", row.change_pct < 0);
    this.root.querySelector(".halted").hidden = row.halted !== true;
    const stats = this.root.querySelector(".stats");
    const items = STATS.map(([field, label]) => {
      const div = document.createElement("div");
      const dt = document.createElement("dt"); dt.textContent = label;
      const dd = document.createElement("dd"); dd.textContent = statText(field, row[field] ?? null);
      dd.dataset.field = field;
      div.append(dt, dd);
      return div;
    });
    stats.replaceChildren(...items);
  }

  showHalts(halts) {
    this.halts = halts;
    this.markHalts();
    const list = this.root.querySelector(".halts");
    if (!halts.length) { const li = document.createElement("li"); li.className = "none"; li.textContent = "no halts today"; list.replaceChildren(li); return; }
    list.replaceChildren(...halts.map((h) => {
      const li = document.createElement("li");
      li.textContent = `${fmtTime(h.t)}  ${h.halted ? "HALTED" : "resumed"}`;
      li.className = h.halted ? "halt" : "resume";
      return li;
    }));
  }

  // articles from /news when it has any, else the row's latest headline (a row written
  // before the day's article list, or by a writer that keeps only the latest)
  showNews(articles, row) {
    const list = this.root.querySelector(".news");
    const items = articles?.length ? articles : (row.headline ? [{ title: row.headline, published_ms: row.news_ms, publisher: row.news_publisher, url: row.news_url }] : []);
    if (!items.length) { const li = document.createElement("li"); li.className = "none"; li.textContent = "no headlines today"; list.replaceChildren(li); return; }
    list.replaceChildren(...items.slice(0, 20).map((a) => {
      const li = document.createElement("li");
      const time = document.createElement("time"); time.textContent = fmtTime(a.published_ms ?? a.news_ms ?? null);
      const title = /^https?:\/\//.test(a.url || "") ? document.createElement("a") : document.createElement("span");
      title.className = "headline";
      title.textContent = a.title ?? a.headline ?? "";
      if (title.tagName === "A") { title.href = a.url; title.target = "_blank"; title.rel = "noopener noreferrer"; }
      const source = document.createElement("span"); source.className = "publisher"; source.textContent = a.publisher?.name ?? a.publisher ?? "";
      li.append(time, title, source);
      return li;
    }));
  }
}
