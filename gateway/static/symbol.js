// The symbol view: chart (1-minute candles, volume, VWAP, previous close, pre-market high),
// the row's numbers, float / shares / short interest, headlines, LULD bands and halt history.
//
// Everything comes from Stampede's REST (the bars function keeps the day's minute bars in
// Redis); the browser never talks to Massive and holds no key. While the panel is open it
// polls for new and corrected bars. Headlines are untrusted: they are only ever set as text.

import { COLUMNS, fmtPct, fmtPrice, fmtTime, fmtVol } from "./format.js";

const POLL_MS = 2000;
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
    const candles = incoming.map((b) => ({ time: this.time(b.t), open: b.o, high: b.h, low: b.l, close: b.c }));
    const volume = incoming.map((b) => ({ time: this.time(b.t), value: b.v, color: b.c >= b.o ? "rgba(38,194,129,.45)" : "rgba(255,92,92,.45)" }));
    const vwap = incoming.filter((b) => b.a != null).map((b) => ({ time: this.time(b.t), value: b.a }));
    if (replace) {
      this.candles.setData(candles); this.volume.setData(volume); this.vwap.setData(vwap);
      this.chart.timeScale().fitContent();
    } else {
      for (const c of candles) this.candles.update(c);
      for (const v of volume) this.volume.update(v);
      for (const v of vwap) this.vwap.update(v);
      if (incoming.some((b) => b.t > newest)) this.chart.timeScale().fitContent(); // keep the day in view
    }
    this.root.dataset.candles = String(this.candles.data().length);
    this.root.classList.toggle("nobars", this.candles.data().length === 0);
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
