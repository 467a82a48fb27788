/* Stampede dashboard: a stampede.gateway.v1 WebSocket client (plain JS modules, no build step).
 *
 * Every panel is a scan (a board plus filters); the gateway filters, so each subscription
 * receives only its matching rows. Per scan: subscribe -> snapshot (seq) -> diffs (seq+1, ...).
 * A gap in seq or a diff that does not fit asks for a resync. The socket reconnects by itself
 * (with backoff) and resubscribes: Knative ends every request, WebSockets included, at the
 * revision timeout, and the user should not notice. No secret is ever embedded here; a gateway
 * token, if the operator set one, is typed by the user (#token=... in the URL) and kept in
 * localStorage. Scans, layout and preferences live in localStorage too.
 */
import { Alerts, unlockAudio } from "./alerts.js";
import { ScanEditor } from "./editor.js";
import { COLUMNS, DERIVED, NEEDS_REFERENCE, SIGNED, TICKING, escapeHtml, fieldLabel, fmtAge, fmtPrice, fmtTime, fmtVol } from "./format.js";
import * as scans from "./scans.js";
import { SymbolView } from "./symbol.js";

const QUIET_MS = 5000;
const DELAYED_MS = 2000; // newer data than this is LIVE; a board 2 s late at the open is wrong
const PHONE = window.matchMedia("(max-width: 700px)");
const COMMON = ["last", "change_pct", "gap_pct", "volume", "rvol", "change_1m_pct"];
const UNFILTERED = new Set(["halts"]); // the global price/volume filter: a halt matters whatever the price

const $ = (id) => document.getElementById(id);

const saved = scans.load();
const state = {
  ws: null, token: readToken(), catalogue: {}, fields: null, day: null, staleAfter: 10000, heartbeatMs: 1000, clockOffset: 0, reads: null,
  lastMessageAt: 0, attempt: 0, reconnectTimer: null, feed: { exchange_ms: null, received_ms: null },
  scans: saved ? saved.scans : scans.defaultScans(null),
  prefs: { masterMute: false, notify: false, filters: {}, active: null, logOpen: false, ...(saved?.prefs || {}) },
  panels: new Map(), lastLatencyMs: null, live: false, named: false,
};
const alerts = new Alerts({ onChange: renderLog });
alerts.masterMute = state.prefs.masterMute;
alerts.notify = state.prefs.notify;
const symbolView = new SymbolView($("symbol"), api, { onClose: () => link(null) });

// The linked symbol (issue 23): a click on a row, an alert or a search selects a symbol
// everywhere - the symbol view, and its row on every board, highlighted by one CSS rule, so a
// row re-rendered by the next diff stays highlighted.
const SYMBOL = /^[A-Z][A-Z0-9.]{0,9}$/;
function link(sym) {
  $("linked-style").textContent = sym ? `.board tr[data-sym="${CSS.escape(sym)}"] { box-shadow: inset 3px 0 0 var(--accent); background: rgba(78, 161, 255, .14); }` : "";
}
function select(sym) {
  link(sym);
  symbolView.open(sym);
}
renderLog(); // the alerts logged before a reload

function readToken() {
  const m = location.hash.match(/token=([^&]+)/);
  if (m) {
    localStorage.setItem("stampede.token", decodeURIComponent(m[1]));
    history.replaceState(null, "", location.pathname + location.search); // keep it out of the URL bar
  }
  return localStorage.getItem("stampede.token");
}

function persist() { scans.save(state); }

async function api(path) {
  const headers = state.token ? { Authorization: `Bearer ${state.token}` } : {};
  try {
    const answer = await fetch(path, { headers, cache: "no-store" });
    return answer.ok ? await answer.json() : null;
  } catch { return null; }
}

// ---- panels (DOM) ---------------------------------------------------------------------------
function boardMeta(name) { return state.catalogue[name] || { name, title: name, metric: "change_pct" }; }

// A scan's columns: its own choice or its board's preset, and always the number its board ranks
// by (a scan saved on another board's columns hid it).
function columnsOf(scan) {
  const meta = boardMeta(scan.board);
  const cols = scan.columns && scan.columns.length
    ? scan.columns.filter((c) => COLUMNS[c])
    : (scans.PRESETS[scan.board]?.columns || COMMON).slice();
  if (!cols.includes(meta.metric) && COLUMNS[meta.metric]) cols.push(meta.metric);
  return cols;
}

function createPanel(scan) {
  const meta = boardMeta(scan.board);
  const el = document.createElement("section");
  el.className = "board";
  el.dataset.board = scan.board;
  el.dataset.scan = scan.id;
  el.innerHTML = `<header><h2></h2><span class="sub"></span><span class="stale-tag">STALE</span>
    <span class="fresh" title="age of the newest data on this board (wall clock since the feed read it)">—</span>
    <span class="tools">
      <button type="button" class="ghost icon" data-action="mute" title="mute this scan's alerts"></button>
      <button type="button" class="ghost icon" data-action="left" title="move left">◀</button>
      <button type="button" class="ghost icon" data-action="right" title="move right">▶</button>
      <button type="button" class="ghost icon" data-action="edit" title="edit scan, columns and alerts">⚙</button>
      <button type="button" class="ghost icon" data-action="hide" title="hide (Scans menu shows it again)">✕</button>
    </span></header>
    <div class="scroll"><table><thead><tr></tr></thead><tbody></tbody></table><div class="empty">waiting for data…</div></div>`;
  const panel = {
    scan, meta, el, cols: [], tbody: el.querySelector("tbody"), empty: el.querySelector(".empty"),
    fresh: el.querySelector(".fresh"), sub: el.querySelector(".sub"),
    seq: null, rows: [], trs: new Map(), received_ms: null, exchange_ms: null,
  };
  el.querySelector("header").addEventListener("click", (e) => {
    const action = e.target.closest("button")?.dataset.action;
    if (action) panelAction(panel, action);
  });
  panel.tbody.addEventListener("click", (e) => {
    const tr = e.target.closest("tr");
    if (tr?.dataset.sym) select(tr.dataset.sym);
  });
  watchSize(panel);
  dressPanel(panel);
  return panel;
}

// Title, columns, size: everything the scan's settings decide (rebuilt after an edit).
function dressPanel(panel) {
  const { scan, el } = panel;
  panel.meta = boardMeta(scan.board);
  el.dataset.board = scan.board;
  const title = el.querySelector("h2");
  title.textContent = scan.name;
  if (scan.board === "halts") {  // Massive sends LULD halts/resumes for Nasdaq-listed symbols only
    const note = document.createElement("small");
    note.className = "note";
    note.textContent = "Nasdaq-listed only";
    note.title = "LULD halts and resumes are sent for Nasdaq-listed symbols only";
    title.append(" ", note);
  }
  el.classList.toggle("alerting", scan.alert);
  const bell = el.querySelector('[data-action="mute"]');
  bell.textContent = !scan.alert ? "·" : scan.muted ? "♪ off" : "♪";
  bell.disabled = !scan.alert;
  bell.setAttribute("aria-pressed", String(scan.muted));
  const cols = columnsOf(scan);
  // rebuilt when the columns change, or the ranking metric (unknown until the gateway's hello:
  // panels built at page load highlighted "% CHG" whatever their board ranked by)
  if (cols.join() !== panel.cols.join() || panel.keyCol !== panel.meta.metric) {
    panel.cols = cols;
    panel.keyCol = panel.meta.metric;
    el.querySelector("thead tr").innerHTML = `<th class="rank">#</th><th class="sym">Symbol</th>` + cols.map((c) =>
      `<th class="${c === panel.meta.metric ? "key" : ""}" data-col="${c}" title="${escapeHtml(COLUMNS[c][2])}">${escapeHtml(COLUMNS[c][0])}</th>`).join("");
    for (const tr of panel.trs.values()) tr.remove();
    panel.trs.clear();
  }
  el.style.width = scan.width && !PHONE.matches ? scan.width + "px" : "";
  el.style.height = scan.height && !PHONE.matches ? scan.height + "px" : "";
  render(panel, false);
}

// The user drags a panel's corner (CSS resize sets its inline size); the size is kept with the
// scan. On a phone panels are full width and sizes are neither applied nor recorded.
function watchSize(panel) {
  new ResizeObserver(() => {
    if (PHONE.matches || !panel.el.isConnected) return;
    const width = parseInt(panel.el.style.width, 10) || null;
    const height = parseInt(panel.el.style.height, 10) || null;
    if (width === panel.scan.width && height === panel.scan.height) return;
    panel.scan.width = width;
    panel.scan.height = height;
    persist();
  }).observe(panel.el);
}

// The newest of a time (exchange_ms, received_ms) the page knows: the feed's, from heartbeats
// once a second, or a board's own, from its diffs, which may be newer.
function newestMs(field) {
  let newest = state.feed[field] || 0;
  for (const p of state.panels.values()) if (p[field] > newest) newest = p[field];
  return newest || null;
}
function feedNowMs() { return newestMs("exchange_ms"); } // the feed's clock

function cellValue(row, col) {
  if (row.has_reference === false && NEEDS_REFERENCE.has(col)) return null;
  if (col in DERIVED) return DERIVED[col](row, feedNowMs());
  return row[col] ?? null;
}

// A row that changed rank takes its new place at once and is marked for a moment (an edge on
// its left: green when it rose, red when it fell). It does not glide: at the open boards change
// ten times a second, and gliding rows were always mid-flight, stacked over each other (issue
// 23, defect 4); a row never overlaps another.
function render(panel, fresh) {
  const keep = new Set(panel.rows.map((r) => r.sym));
  for (const [sym, tr] of panel.trs) if (!keep.has(sym)) { tr.remove(); panel.trs.delete(sym); }
  panel.rows.forEach((row, i) => {
    let tr = panel.trs.get(row.sym);
    const isNew = !tr;
    if (isNew) { tr = makeRow(panel); panel.trs.set(row.sym, tr); }
    updateRow(panel, tr, row, i, !isNew && fresh);
    if (panel.tbody.children[i] !== tr) panel.tbody.insertBefore(tr, panel.tbody.children[i] || null);
    if (isNew && fresh) flashOnce(tr, "flash-new");
    else if (fresh && tr._rank != null && tr._rank !== i) flashOnce(tr, i < tr._rank ? "rank-up" : "rank-down");
    tr._rank = i;
  });
  panel.empty.style.display = panel.rows.length ? "none" : "block";
  panel.empty.textContent = panel.seq == null ? "waiting for data…" : "no symbols match";
}

function makeRow(panel) {
  const tr = document.createElement("tr");
  tr.innerHTML = `<td class="rank"></td><td class="sym"></td>` + panel.cols.map((c) =>
    `<td data-col="${c}" class="${c === panel.meta.metric ? "key" : ""}"></td>`).join("");
  tr._vals = {};
  return tr;
}

function updateRow(panel, tr, row, rank, flash) {
  tr.cells[0].textContent = rank + 1;
  const noref = row.has_reference === false;
  tr.classList.toggle("noref", noref);
  tr.classList.toggle("halted", row.halted === true);
  const sym = tr.cells[1];
  const badge = row.halted === true ? '<b class="badge halt">HALT</b>'
    : (panel.scan.board === "halts" && row.halted === false ? '<b class="badge resumed">RESUMED</b>' : "");
  const html = escapeHtml(row.sym) + badge + (noref ? '<b class="badge nr" title="no reference data">NR</b>' : "");
  if (sym.innerHTML !== html) sym.innerHTML = html;
  tr.dataset.sym = row.sym;
  panel.cols.forEach((col, k) => {
    const td = tr.cells[k + 2];
    const v = cellValue(row, col);
    const prev = tr._vals[col];
    const text = COLUMNS[col][1](v);
    if (td.textContent !== text) td.textContent = text;
    td.classList.toggle("na", v == null);
    if (SIGNED.has(col)) { td.classList.toggle("up", v > 0); td.classList.toggle("down", v < 0); }
    if (flash && prev !== undefined && v != null && prev != null && v !== prev) {
      flashOnce(td, v > prev ? "flash-up" : "flash-down");
    }
    tr._vals[col] = v;
  });
}

// A flash is a class set now and removed by a timer (CSS fades it out), so it always ends,
// even in a background tab that renders no frames.
function flashOnce(el, cls) {
  el.classList.remove("flash-up", "flash-down", "flash-new", "rank-up", "rank-down");
  el.classList.add(cls);
  clearTimeout(el._flashTimer);
  el._flashTimer = setTimeout(() => el.classList.remove(cls), 700);
}

// ---- layout -----------------------------------------------------------------------------------
function visibleScans() { return state.scans.filter((s) => !s.hidden); }

// Panels follow the scans' order; hidden scans have no panel and no subscription.
function layout() {
  const shown = visibleScans();
  const ids = new Set(shown.map((s) => s.id));
  for (const [id, panel] of state.panels) {
    if (!ids.has(id)) { panel.el.remove(); state.panels.delete(id); send({ type: "unsubscribe", id }); }
  }
  const main = $("boards");
  shown.forEach((scan, i) => {
    let panel = state.panels.get(scan.id);
    if (!panel) {
      panel = createPanel(scan);
      state.panels.set(scan.id, panel);
      if (state.live) subscribe(scan);
    } else if (panel.scan !== scan) {
      panel.scan = scan;
    }
    if (main.children[i] !== panel.el) main.insertBefore(panel.el, main.children[i] || null);
  });
  if (!ids.has(state.prefs.active)) state.prefs.active = shown[0]?.id ?? null;
  renderTabs();
  renderScanList();
}

function renderTabs() {
  const tabs = $("tabs");
  tabs.replaceChildren(...visibleScans().map((scan) => {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = scan.name;
    b.dataset.scan = scan.id;
    b.setAttribute("aria-selected", String(scan.id === state.prefs.active));
    b.addEventListener("click", () => { state.prefs.active = scan.id; persist(); renderTabs(); });
    return b;
  }));
  for (const [id, panel] of state.panels) panel.el.classList.toggle("active", id === state.prefs.active);
}

function panelAction(panel, action) {
  const scan = panel.scan;
  const i = state.scans.indexOf(scan);
  if (action === "mute") { scan.muted = !scan.muted; dressPanel(panel); }
  else if (action === "hide") { scan.hidden = true; layout(); }
  else if (action === "edit") { openEditor(scan); return; }
  else if (action === "left" || action === "right") {
    const shown = visibleScans();
    const j = shown.indexOf(scan) + (action === "left" ? -1 : 1);
    if (j < 0 || j >= shown.length) return;
    const k = state.scans.indexOf(shown[j]);
    [state.scans[i], state.scans[k]] = [state.scans[k], state.scans[i]];
    layout();
  }
  persist();
}

function renderScanList() {
  const list = $("scan-list");
  list.replaceChildren(...state.scans.map((scan) => {
    const li = document.createElement("li");
    const label = document.createElement("label");
    const box = document.createElement("input");
    box.type = "checkbox";
    box.checked = !scan.hidden;
    box.dataset.scan = scan.id;
    box.addEventListener("change", () => { scan.hidden = !box.checked; layout(); persist(); });
    const name = document.createElement("span");
    name.textContent = scan.name;
    label.append(box, name);
    const edit = document.createElement("button");
    edit.type = "button"; edit.className = "ghost icon"; edit.textContent = "⚙"; edit.title = "edit";
    edit.addEventListener("click", () => openEditor(scan));
    li.append(label, edit);
    return li;
  }));
}

// ---- scan editor --------------------------------------------------------------------------------
const editor = new ScanEditor({
  state,
  columnsOf,
  onSave(scan, old) {
    if (old) {
      const resubscribe = JSON.stringify(old.filters) !== JSON.stringify(scan.filters) || old.board !== scan.board || old.limit !== scan.limit;
      Object.assign(old, scan);
      const panel = state.panels.get(old.id);
      if (panel) { dressPanel(panel); if (resubscribe) subscribe(old); }
    } else {
      state.scans.push(scan);
      state.prefs.active = scan.id;
    }
    layout();
    persist();
    // a new scan lands at the end of the grid, often below the fold: bring it into view
    if (!old) state.panels.get(scan.id)?.el.scrollIntoView({ block: "nearest" });
  },
  onDelete(scan) {
    state.scans = state.scans.filter((s) => s !== scan);
    alerts.forget(scan.id);
    layout();
    persist();
  },
});
const openEditor = (scan) => editor.open(scan);

// ---- export / import ------------------------------------------------------------------------------
$("export-scans").addEventListener("click", () => {
  const blob = new Blob([scans.exportJson(state.scans)], { type: "application/json" });
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = "stampede-scans.json";
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
});
$("import-scans").addEventListener("change", async (e) => {
  const file = e.target.files[0];
  e.target.value = "";
  if (!file) return;
  try {
    state.scans = scans.importJson(await file.text(), state.scans, state.catalogue, state.fields);
    $("import-error").textContent = "";
    for (const scan of state.scans) { const p = state.panels.get(scan.id); if (p) { p.scan = scan; dressPanel(p); subscribe(scan); } }
    layout();
    persist();
  } catch (err) { $("import-error").textContent = `import failed: ${err.message}`; }
});

// ---- alerts -----------------------------------------------------------------------------------------
function renderLog() {
  $("alert-count").textContent = alerts.log.length;
  $("alert-log").querySelector("tbody").replaceChildren(...alerts.log.map((a) => {
    const tr = document.createElement("tr");
    tr.dataset.sym = a.sym;
    tr.classList.toggle("silent", a.silent);
    for (const text of [fmtTime(a.t), a.sym, a.scan, fmtPrice(a.price), a.why]) {
      const td = document.createElement("td");
      td.textContent = text;
      tr.appendChild(td);
    }
    tr.addEventListener("click", () => select(a.sym));
    return tr;
  }));
}

// Rows that are news for an alert: added rows, and on the halts board a new halt/resume.
function entries(panel, msg) {
  const found = msg.added.map((a) => [a.row.sym, a.rank]);
  if (panel.scan.board === "halts") {
    for (const c of msg.changed) if ("halt_time" in c.set) found.push([c.sym, null]);
  }
  // the feed's time: the newest this page knows, this diff's included (heartbeats come once a
  // second, and one said -49 s for a new high the diff had just brought)
  const nowMs = Math.max(feedNowMs() || 0, msg.exchange_ms || 0) || Date.now();
  return found.map(([sym, rank]) => {
    const row = panel.rows.find((r) => r.sym === sym);
    if (!row) return null;
    let why;
    if (panel.scan.board === "halts") why = row.halted ? "halted" : "resumed";
    else why = [`entered #${(rank ?? panel.rows.indexOf(row)) + 1}`, ...scans.reasons(panel.scan, row, nowMs)].join(", ");
    return [row, why];
  }).filter(Boolean);
}

$("toggle-log").addEventListener("click", () => { state.prefs.logOpen = !state.prefs.logOpen; showPrefs(); persist(); });
$("clear-log").addEventListener("click", () => { alerts.clear(); renderLog(); });

// A dropdown opens inside the viewport, whatever the header's wrapping left of its button (the
// Scans menu opened off-screen at 1280 and 1440 px and on a phone, Export out of reach).
function placeMenu(menu) {
  const body = menu.querySelector(".menu-body");
  if (!menu.open || !body) return;
  const button = menu.querySelector("summary").getBoundingClientRect();
  const margin = 8;
  const width = Math.min(body.offsetWidth, window.innerWidth - 2 * margin);
  const left = Math.max(margin, Math.min(button.right - width, window.innerWidth - width - margin));
  Object.assign(body.style, { position: "fixed", left: left + "px", right: "auto", top: button.bottom + 4 + "px",
    maxWidth: window.innerWidth - 2 * margin + "px" });
}
for (const menu of document.querySelectorAll("details.menu")) menu.addEventListener("toggle", () => placeMenu(menu));
window.addEventListener("resize", () => document.querySelectorAll("details.menu[open]").forEach(placeMenu));
$("master-mute").addEventListener("click", () => { state.prefs.masterMute = alerts.masterMute = !alerts.masterMute; showPrefs(); persist(); });
$("notify").addEventListener("click", async () => {
  unlockAudio();
  if (!state.prefs.notify && "Notification" in window && Notification.permission !== "granted") {
    await Notification.requestPermission().catch(() => "denied");
  }
  state.prefs.notify = alerts.notify = !state.prefs.notify && "Notification" in window && Notification.permission === "granted";
  showPrefs();
  persist();
});
document.addEventListener("pointerdown", unlockAudio, { once: true });

function showPrefs() {
  $("alert-log").hidden = !state.prefs.logOpen;
  $("toggle-log").setAttribute("aria-pressed", String(state.prefs.logOpen));
  $("master-mute").textContent = alerts.masterMute ? "Sound off" : "Sound on";
  $("master-mute").setAttribute("aria-pressed", String(alerts.masterMute));
  $("notify").textContent = alerts.notify ? "Notify on" : "Notify off";
  $("notify").setAttribute("aria-pressed", String(alerts.notify));
}

// ---- diffs ------------------------------------------------------------------------------------------
function applyDiff(rows, d) {
  const size = rows.length - d.removed.length + d.added.length;
  const out = new Array(size);
  const bySym = new Map(rows.map((r) => [r.sym, r]));
  const gone = new Set(d.removed);
  const placed = new Set();
  for (const a of d.added) { if (a.rank >= size) throw new Error("rank out of range"); out[a.rank] = { ...a.row }; }
  for (const [sym, rank] of d.moved) {
    if (!bySym.has(sym) || rank >= size) throw new Error("bad move");
    out[rank] = { ...bySym.get(sym) }; placed.add(sym);
  }
  rows.forEach((r, i) => { if (!gone.has(r.sym) && !placed.has(r.sym)) { if (i >= size) throw new Error("gap"); out[i] = { ...r }; } });
  for (let i = 0; i < size; i++) if (!out[i]) throw new Error("gap in view");
  const pos = new Map(out.map((r, i) => [r.sym, i]));
  for (const c of d.changed) {
    const i = pos.get(c.sym);
    if (i == null) throw new Error("changed row not in view");
    Object.assign(out[i], c.set);
    for (const k of c.unset) delete out[i][k];
  }
  return out;
}

// ---- connection -------------------------------------------------------------------------------------
function setConn(kind, text) {
  $("conn").className = "conn " + kind;
  $("conn-text").textContent = text;
  document.body.dataset.conn = kind;
}

function send(msg) { if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify(msg)); }

// The scan's own bounds, narrowed by the header's global price/volume filter.
function filtersFor(scan) {
  const f = { ...scan.filters };
  if (UNFILTERED.has(scan.board)) return f;
  for (const [key, value] of Object.entries(state.prefs.filters)) {
    if (f[key] == null) f[key] = value;
    else f[key] = key.startsWith("min_") ? Math.max(f[key], value) : Math.min(f[key], value);
  }
  return f;
}

function subscribe(scan) {
  const panel = state.panels.get(scan.id);
  if (panel) panel.seq = null;
  const msg = { type: "subscribe", id: scan.id, board: scan.board, limit: scan.limit };
  const filters = filtersFor(scan);
  if (Object.keys(filters).length) msg.filters = filters;
  send(msg);
}

function subscribeAll() { for (const scan of visibleScans()) subscribe(scan); }

function connect() {
  clearTimeout(state.reconnectTimer);
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(`${proto}//${location.host}/ws`);
  state.ws = ws;
  setConn(state.attempt ? "reconnecting" : "connecting", state.attempt ? "reconnecting" : "connecting");
  ws.onopen = () => {
    if (state.token) ws.send(JSON.stringify({ type: "auth", token: state.token }));
    state.lastMessageAt = Date.now();
  };
  ws.onmessage = (ev) => {
    state.lastMessageAt = Date.now();
    let msg;
    try { msg = JSON.parse(ev.data); } catch { return; }
    handle(msg);
  };
  ws.onclose = (ev) => {
    if (state.ws !== ws) return;
    state.ws = null;
    state.live = false;
    for (const p of state.panels.values()) p.seq = null;
    if (ev.code === 4401) { setConn("error", "token required — open /#token=…"); return; }
    scheduleReconnect();
  };
  ws.onerror = () => {}; // onclose follows and reconnects
}

function scheduleReconnect() {
  state.attempt += 1;
  const delay = Math.min(5000, 250 * 2 ** Math.min(state.attempt, 5)) * (0.6 + Math.random() * 0.8);
  setConn("down", `offline — retry in ${(delay / 1000).toFixed(1)} s`);
  state.reconnectTimer = setTimeout(connect, delay);
}

function onHello(msg) {
  state.attempt = 0;
  state.day = msg.day;
  state.clockOffset = msg.server_ms - Date.now();
  state.staleAfter = msg.stale_after_ms || state.staleAfter;
  state.heartbeatMs = msg.heartbeat_ms || state.heartbeatMs;
  state.fields = msg.fields || null;
  for (const b of msg.boards) state.catalogue[b.name] = b;
  if (!saved && !state.named) { // default scans are named after their boards
    for (const scan of state.scans) if (scan.name === scan.board && state.catalogue[scan.board]) scan.name = state.catalogue[scan.board].title;
    state.named = true;
  }
  state.scans = state.scans.filter((s) => state.catalogue[s.board]);
  $("day").textContent = msg.day;
  setConn("live", "live");
  layout();
  for (const panel of state.panels.values()) dressPanel(panel);
  subscribeAll();
  state.live = true;
}

function handle(msg) {
  switch (msg.type) {
    case "hello":
      onHello(msg);
      break;
    case "snapshot": {
      const panel = state.panels.get(msg.id);
      if (!panel) return;
      panel.seq = msg.seq;
      panel.rows = msg.rows; // a snapshot is never news: no alert, whatever its reason
      noteTimes(panel, msg);
      render(panel, msg.reason !== "initial");
      $("day").textContent = msg.day;
      break;
    }
    case "diff": {
      const panel = state.panels.get(msg.id);
      if (!panel || panel.seq == null) return;
      if (msg.seq !== panel.seq + 1) { panel.seq = null; send({ type: "resync", id: msg.id }); return; }
      try { panel.rows = applyDiff(panel.rows, msg); } catch { panel.seq = null; send({ type: "resync", id: msg.id }); return; }
      panel.seq = msg.seq;
      noteTimes(panel, msg);
      if (msg.received_ms) state.lastLatencyMs = Date.now() - msg.received_ms;
      render(panel, true);
      // logged at the feed's time of the data that made it, as the boards show time
      for (const [row, why] of entries(panel, msg)) alerts.entered(panel.scan, row, why, msg.exchange_ms);
      $("day").textContent = msg.day;
      break;
    }
    case "heartbeat": {
      state.clockOffset = msg.server_ms - Date.now();
      state.reads = msg.reads || null;
      state.feed = msg.feed || state.feed;
      state.link = msg.feed_link || null;
      state.day = msg.day;
      for (const panel of state.panels.values()) {
        const f = msg.boards?.[panel.scan.board];
        if (f) noteTimes(panel, f);
      }
      break;
    }
    case "error":
      console.warn("gateway error", msg.code, msg.message);
      if (msg.code === "unauthorized") setConn("error", "unauthorized");
      else if (msg.id && state.panels.has(msg.id)) state.panels.get(msg.id).empty.textContent = msg.message;
      break;
    default:
      break;
  }
}

function noteTimes(panel, m) {
  if (m.received_ms && (!panel.received_ms || m.received_ms > panel.received_ms)) panel.received_ms = m.received_ms;
  if (m.exchange_ms && (!panel.exchange_ms || m.exchange_ms > panel.exchange_ms)) panel.exchange_ms = m.exchange_ms;
}

// ---- freshness (4 Hz) -----------------------------------------------------------------------------
function refreshClock() {
  const now = Date.now();
  const connected = state.ws && state.ws.readyState === WebSocket.OPEN && document.body.dataset.conn === "live";
  // A silent socket (no heartbeat for 3 periods) is dead even if the browser has not noticed.
  if (connected && now - state.lastMessageAt > 3 * state.heartbeatMs + 2000) {
    state.ws.close();
    state.ws = null;
    state.live = false;
    scheduleReconnect();
  }
  if (connected) showLiveState(now);
  showReads(state.reads);
  const feedAge = state.feed.received_ms ? now - state.feed.received_ms : null;
  const feedStale = !connected || feedAge == null || feedAge > state.staleAfter;
  $("feed-time").textContent = fmtTime(state.feed.exchange_ms);
  $("feed-age").textContent = feedAge == null ? "no data" : fmtAge(feedAge);
  $("feed-age").classList.toggle("stale", feedStale);
  showFeedLink(state.link, now);
  for (const panel of state.panels.values()) {
    const age = panel.received_ms ? now - panel.received_ms : null;
    panel.fresh.textContent = age == null ? (panel.exchange_ms ? "as of " + fmtTime(panel.exchange_ms) : "no data")
      : fmtAge(age) + " ago · " + fmtTime(panel.exchange_ms);
    panel.fresh.classList.toggle("quiet", age != null && age > QUIET_MS);
    panel.el.classList.toggle("stale", feedStale);
    tickCells(panel);
    panel.sub.textContent = filterLabel(panel.scan);
  }
  if (state.lastLatencyMs != null) $("latency").textContent = "feed → screen " + fmtAge(Math.max(0, state.lastLatencyMs));
}

// Cells of columns that move with the feed clock (a halt's time so far) are redrawn here, not
// only when a diff changes their row.
function tickCells(panel) {
  panel.cols.forEach((col, k) => {
    if (!TICKING.has(col)) return;
    for (const row of panel.rows) {
      const td = panel.trs.get(row.sym)?.cells[k + 2];
      const text = COLUMNS[col][1](cellValue(row, col));
      if (td && td.textContent !== text) td.textContent = text;
    }
  });
}

// The header follows the age of the newest data the page shows, not only the socket (issue 23):
// LIVE within DELAYED_MS of the bridge reading it, DELAYED up to the stale limit, then STALE
// (IDLE when the feed link says the market is quiet, WAITING until any data has a time). Ages
// are on the server's clock.
function showLiveState(now) {
  const newest = newestMs("received_ms");
  const age = newest ? Math.max(0, now + (state.clockOffset || 0) - newest) : null;
  let kind = age == null ? "waiting" : age > state.staleAfter ? "stale" : age > DELAYED_MS ? "delayed" : "live";
  if (kind !== "live" && state.link && state.link.state === "idle") kind = "idle";
  const text = {
    live: "LIVE",
    delayed: "DELAYED " + fmtAge(age),
    stale: "STALE " + fmtAge(age),
    waiting: "WAITING · no data yet",
    idle: "IDLE · feed quiet",
  }[kind];
  $("conn").className = "conn " + (kind === "live" ? "live" : kind === "stale" ? "down" : "delayed");
  $("conn-text").textContent = text;
  document.body.dataset.data = kind;
}

// Where the gateway reads the boards (heartbeat.reads, when it has a read replica): the page
// says when it fell back to the primary, and why.
function showReads(reads) {
  const box = $("reads-box");
  box.hidden = !reads;
  if (!reads) return;
  const lag = reads.replica_lag_ms ? ", " + fmtAge(reads.replica_lag_ms) + " behind" : "";
  $("reads").textContent = reads.source === "replica" ? "replica" : `primary (replica ${reads.replica}${lag})`;
  $("reads").classList.toggle("stale", reads.source !== "replica");
  document.body.dataset.reads = reads.source;
}

// The bridge's connection to Massive (heartbeat.feed_link): why the feed is quiet, and whether it
// heals by itself (reconnecting, standing by), with every fault counted since the bridge started.
function showFeedLink(link, now) {
  const el = $("feed-link");
  if (!link) { el.textContent = "—"; return; }
  const cause = link.reason ? ` (${link.reason.split(" ")[0]})` : "";
  const text = {
    connected: "connected",
    connecting: "connecting" + cause,
    backoff: "reconnecting" + (link.next_attempt_ms ? " in " + fmtAge(Math.max(0, link.next_attempt_ms - now)) : "") + cause,
    standby: "standby, feed held by " + (link.holder || "another connection"),
  }[link.state] || link.state + cause;
  const n = link.faults_total || 0;
  el.textContent = text + (n ? ` · ${n} fault${n > 1 ? "s" : ""}` : "");
  el.title = Object.entries(link.faults || {}).map(([k, v]) => `${k}: ${v}`).join(", ") || "no faults";
  el.classList.toggle("stale", !["connected", "idle"].includes(link.state));
  el.dataset.state = link.state;
}

function filterLabel(scan) {
  const f = filtersFor(scan);
  const parts = [];
  const title = boardMeta(scan.board).title;
  if (scan.name !== title) parts.push(title);
  if (f.min_price != null || f.max_price != null) parts.push(`$${f.min_price ?? 0}–${f.max_price ?? "∞"}`);
  for (const [key, value] of Object.entries(f)) {
    if (key === "min_price" || key === "max_price") continue;
    const [side, ...rest] = key.split("_");
    const name = rest.join("_");
    const shown = Math.abs(value) >= 1e4 ? fmtVol(value) : value;
    parts.push(`${fieldLabel(name)} ${side === "min" ? "≥" : "≤"} ${shown}`);
  }
  return parts.length ? parts.join(" · ") : UNFILTERED.has(scan.board) ? "all symbols" : `top ${scan.limit}`;
}

// ---- global price/volume filter ---------------------------------------------------------------------
function readFilters() {
  const f = {};
  const num = (id) => { const v = $(id).value.trim(); return v === "" ? null : Number(v); };
  const minP = num("min-price"), maxP = num("max-price"), minV = num("min-volume");
  if (minP != null && minP >= 0) f.min_price = minP;
  if (maxP != null && maxP >= 0) f.max_price = maxP;
  if (minV != null && minV >= 0) f.min_volume = minV;
  if (f.min_price != null && f.max_price != null && f.min_price > f.max_price) [f.min_price, f.max_price] = [f.max_price, f.min_price];
  return f;
}

function showFilters() {
  $("min-price").value = state.prefs.filters.min_price ?? "";
  $("max-price").value = state.prefs.filters.max_price ?? "";
  $("min-volume").value = state.prefs.filters.min_volume ?? "";
}

$("filters").addEventListener("submit", (e) => {
  e.preventDefault();
  state.prefs.filters = readFilters();
  persist();
  subscribeAll(); // same ids: the gateway replaces each subscription and sends a snapshot
});
$("clear-filters").addEventListener("click", () => {
  state.prefs.filters = {};
  showFilters();
  persist();
  subscribeAll();
});
$("new-scan").addEventListener("click", () => openEditor(null));
$("search").addEventListener("submit", (e) => {
  e.preventDefault();
  const input = $("search-sym");
  const sym = input.value.trim().toUpperCase();
  input.setCustomValidity(SYMBOL.test(sym) ? "" : "a ticker: letters, digits and dots, up to 10");
  if (!input.reportValidity()) return;
  input.value = "";
  input.blur();
  select(sym);
});
PHONE.addEventListener("change", () => { for (const p of state.panels.values()) dressPanel(p); });

// The alert log stays in view under the (wrapping, sticky) top bar while the boards scroll.
new ResizeObserver(([entry]) => document.documentElement.style.setProperty(
  "--topbar-height", entry.target.getBoundingClientRect().height + "px")).observe(document.querySelector(".topbar"));
showFilters();
showPrefs();
layout();
connect();
setInterval(refreshClock, 250);
window.stampede = { state, alerts, symbolView }; // for the browser tests and curious traders
