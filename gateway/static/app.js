/* Stampede dashboard: a stampede.gateway.v1 WebSocket client (plain JS, no build step).
 *
 * Per board: subscribe -> snapshot (seq) -> diffs (seq+1, ...). A gap in seq or a diff that
 * does not fit asks for a resync. The socket reconnects by itself (with backoff) and
 * resubscribes: Knative ends every request, WebSockets included, at the revision timeout,
 * and the user should not notice. No secret is ever embedded here; a gateway token, if the
 * operator set one, is typed by the user (#token=... in the URL) and kept in localStorage.
 */
(() => {
  "use strict";

  const params = new URLSearchParams(location.search);
  const DEFAULT_BOARDS = ["gainers", "gappers", "momentum_1m", "volume", "rvol", "halts"];
  const BOARD_NAMES = (params.get("boards") || DEFAULT_BOARDS.join(",")).split(",").filter(Boolean);
  const LIMIT = Math.max(1, Math.min(100, parseInt(params.get("limit") || "20", 10) || 20));
  const UNFILTERED = new Set(["halts"]); // a halt matters whatever the price
  const QUIET_MS = 5000;

  // Columns: [field, header, formatter, css class]. The board's own metric is highlighted.
  const COMMON = ["last", "change_pct", "gap_pct", "volume", "rvol", "change_1m_pct"];
  const COLUMNS = {
    last: ["Last", fmtPrice], change_pct: ["% Chg", fmtPct], gap_pct: ["Gap %", fmtPct],
    from_open_pct: ["% Open", fmtPct], volume: ["Volume", fmtVol], rvol: ["RVOL", fmtRvol],
    change_1m_pct: ["Mom 1m", fmtPct], change_5m_pct: ["Mom 5m", fmtPct],
    trades_per_sec: ["Trades/s", (v) => fmtNum(v, 1)], dollar_volume_1m: ["$Vol 1m", fmtDollars],
    hod_time: ["HOD at", fmtTime], halt_time: ["Halt at", fmtTime],
  };
  const SIGNED = new Set(["change_pct", "gap_pct", "from_open_pct", "change_1m_pct", "change_5m_pct"]);

  const $ = (id) => document.getElementById(id);
  const etClock = new Intl.DateTimeFormat("en-US", {
    timeZone: "America/New_York", hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
  });

  const state = {
    ws: null, token: readToken(), catalogue: {}, day: null, staleAfter: 10000, heartbeatMs: 1000,
    lastMessageAt: 0, attempt: 0, reconnectTimer: null, feed: { exchange_ms: null, received_ms: null },
    filters: {}, boards: {}, lastLatencyMs: null,
  };

  function readToken() {
    const m = location.hash.match(/token=([^&]+)/);
    if (m) {
      localStorage.setItem("stampede.token", decodeURIComponent(m[1]));
      history.replaceState(null, "", location.pathname + location.search); // keep it out of the URL bar
    }
    return localStorage.getItem("stampede.token");
  }

  // ---- formatting -------------------------------------------------------------------------
  function fmtNum(v, digits) { return v == null ? "—" : v.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits }); }
  function fmtPrice(v) { return v == null ? "—" : fmtNum(v, v < 1 ? 4 : 2); }
  function fmtPct(v) {
    if (v == null) return "—";
    const a = Math.abs(v);
    return (v > 0 ? "+" : "") + v.toFixed(a >= 1000 ? 0 : a >= 100 ? 1 : 2) + "%";
  }
  function fmtRvol(v) { return v == null ? "—" : v.toFixed(v < 10 ? 2 : 1) + "×"; }
  function fmtVol(v) {
    if (v == null) return "—";
    if (v >= 1e9) return (v / 1e9).toFixed(2) + "B";
    if (v >= 1e6) return (v / 1e6).toFixed(2) + "M";
    if (v >= 1e3) return (v / 1e3).toFixed(1) + "K";
    return String(Math.round(v));
  }
  function fmtDollars(v) { return v == null ? "—" : "$" + fmtVol(v); }
  function fmtTime(ms) { return ms == null ? "—" : etClock.format(new Date(ms)); }
  function fmtAge(ms) {
    if (ms == null) return "—";
    if (ms < 1000) return ms + " ms";
    if (ms < 60000) return (ms / 1000).toFixed(1) + " s";
    return Math.floor(ms / 60000) + " min";
  }

  // ---- boards (DOM) ------------------------------------------------------------------------
  const BOARD_COLUMNS = { halts: ["last", "change_pct", "volume", "rvol", "halt_time"] };

  function columnsOf(board) {
    const metric = board.metric;
    const cols = (BOARD_COLUMNS[board.name] || COMMON).slice();
    if (!cols.includes(metric) && COLUMNS[metric]) cols.push(metric);
    return cols;
  }

  function createBoard(name) {
    const meta = state.catalogue[name] || { name, title: name, metric: "change_pct" };
    const el = document.createElement("section");
    el.className = "board";
    el.dataset.board = name;
    const cols = columnsOf(meta);
    el.innerHTML = `<header><h2></h2><span class="sub"></span><span class="stale-tag">STALE</span>
      <span class="fresh" title="age of the newest data on this board (wall clock since the feed read it)">—</span></header>
      <table><thead><tr><th class="rank">#</th><th class="sym">Symbol</th>${cols.map((c) =>
        `<th class="${c === meta.metric ? "key" : ""}" data-col="${c}">${COLUMNS[c][0]}</th>`).join("")}</tr></thead>
      <tbody></tbody></table><div class="empty">waiting for data…</div>`;
    el.querySelector("h2").textContent = meta.title;
    el.querySelector(".sub").textContent = UNFILTERED.has(name) ? "all symbols" : "";
    $("boards").appendChild(el);
    return {
      name, meta, el, cols, tbody: el.querySelector("tbody"), empty: el.querySelector(".empty"),
      fresh: el.querySelector(".fresh"), sub: el.querySelector(".sub"),
      seq: null, rows: [], trs: new Map(), received_ms: null, exchange_ms: null,
    };
  }

  function cellValue(row, col) {
    if (row.has_reference === false && (col === "change_pct" || col === "gap_pct" || col === "rvol")) return null;
    return row[col] ?? null;
  }

  function render(b, fresh) {
    const before = new Map();
    for (const [sym, tr] of b.trs) before.set(sym, tr.getBoundingClientRect().top);
    const keep = new Set(b.rows.map((r) => r.sym));
    for (const [sym, tr] of b.trs) if (!keep.has(sym)) { tr.remove(); b.trs.delete(sym); }
    b.rows.forEach((row, i) => {
      let tr = b.trs.get(row.sym);
      const isNew = !tr;
      if (isNew) { tr = makeRow(b); b.trs.set(row.sym, tr); }
      updateRow(b, tr, row, i, !isNew && fresh);
      if (b.tbody.children[i] !== tr) b.tbody.insertBefore(tr, b.tbody.children[i] || null);
      if (isNew && fresh) flashOnce(tr, "flash-new");
    });
    b.empty.style.display = b.rows.length ? "none" : "block";
    b.empty.textContent = "no symbols match";
    // FLIP: rows that changed rank glide from their old place to the new one
    for (const [sym, tr] of b.trs) {
      const old = before.get(sym);
      if (old == null) continue;
      const delta = old - tr.getBoundingClientRect().top;
      if (!delta) continue;
      tr.style.transition = "none";
      tr.style.transform = `translateY(${delta}px)`;
      requestAnimationFrame(() => {
        tr.style.transition = "transform 300ms ease-out";
        tr.style.transform = "";
      });
    }
  }

  function makeRow(b) {
    const tr = document.createElement("tr");
    tr.innerHTML = `<td class="rank"></td><td class="sym"></td>` + b.cols.map((c) =>
      `<td data-col="${c}" class="${c === b.meta.metric ? "key" : ""}"></td>`).join("");
    tr._vals = {};
    return tr;
  }

  function updateRow(b, tr, row, rank, flash) {
    tr.cells[0].textContent = rank + 1;
    const noref = row.has_reference === false;
    tr.classList.toggle("noref", noref);
    tr.classList.toggle("halted", row.halted === true);
    const sym = tr.cells[1];
    const badge = row.halted === true ? '<b class="badge halt">HALT</b>'
      : (b.name === "halts" && row.halted === false ? '<b class="badge resumed">RESUMED</b>' : "");
    const html = escapeHtml(row.sym) + badge + (noref ? '<b class="badge nr" title="no reference data">NR</b>' : "");
    if (sym.innerHTML !== html) sym.innerHTML = html;
    tr.dataset.sym = row.sym;
    b.cols.forEach((col, k) => {
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
    el.classList.remove("flash-up", "flash-down", "flash-new");
    el.classList.add(cls);
    clearTimeout(el._flashTimer);
    el._flashTimer = setTimeout(() => el.classList.remove(cls), 700);
  }

  function escapeHtml(s) { return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`); }

  // ---- diffs ------------------------------------------------------------------------------
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

  // ---- connection -------------------------------------------------------------------------
  function setConn(kind, text) {
    const el = $("conn");
    el.className = "conn " + kind;
    $("conn-text").textContent = text;
    document.body.dataset.conn = kind;
  }

  function send(msg) { if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify(msg)); }

  function subscribeAll() {
    for (const name of BOARD_NAMES) {
      const msg = { type: "subscribe", id: name, board: name, limit: LIMIT };
      if (!UNFILTERED.has(name) && Object.keys(state.filters).length) msg.filters = state.filters;
      send(msg);
    }
  }

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
      for (const b of Object.values(state.boards)) b.seq = null;
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

  function handle(msg) {
    switch (msg.type) {
      case "hello": {
        state.attempt = 0;
        state.day = msg.day;
        state.staleAfter = msg.stale_after_ms || state.staleAfter;
        state.heartbeatMs = msg.heartbeat_ms || state.heartbeatMs;
        for (const b of msg.boards) state.catalogue[b.name] = b;
        if (!Object.keys(state.boards).length) {
          for (const name of BOARD_NAMES) if (state.catalogue[name]) state.boards[name] = createBoard(name);
        }
        $("day").textContent = msg.day;
        setConn("live", "live");
        subscribeAll();
        break;
      }
      case "snapshot": {
        const b = state.boards[msg.id];
        if (!b) return;
        b.seq = msg.seq;
        b.rows = msg.rows;
        noteTimes(b, msg);
        render(b, msg.reason !== "initial");
        $("day").textContent = msg.day;
        break;
      }
      case "diff": {
        const b = state.boards[msg.id];
        if (!b || b.seq == null) return;
        if (msg.seq !== b.seq + 1) { b.seq = null; send({ type: "resync", id: msg.id }); return; }
        try { b.rows = applyDiff(b.rows, msg); } catch (e) { b.seq = null; send({ type: "resync", id: msg.id }); return; }
        b.seq = msg.seq;
        noteTimes(b, msg);
        if (msg.received_ms) state.lastLatencyMs = Date.now() - msg.received_ms;
        render(b, true);
        $("day").textContent = msg.day;
        break;
      }
      case "heartbeat": {
        state.feed = msg.feed || state.feed;
        state.day = msg.day;
        for (const [name, f] of Object.entries(msg.boards || {})) {
          const b = state.boards[name];
          if (b) noteTimes(b, f);
        }
        break;
      }
      case "error":
        console.warn("gateway error", msg.code, msg.message);
        if (msg.code === "unauthorized") setConn("error", "unauthorized");
        break;
      default:
        break;
    }
  }

  function noteTimes(b, m) {
    if (m.received_ms && (!b.received_ms || m.received_ms > b.received_ms)) b.received_ms = m.received_ms;
    if (m.exchange_ms && (!b.exchange_ms || m.exchange_ms > b.exchange_ms)) b.exchange_ms = m.exchange_ms;
  }

  // ---- freshness (4 Hz) --------------------------------------------------------------------
  function refreshClock() {
    const now = Date.now();
    const connected = state.ws && state.ws.readyState === WebSocket.OPEN && document.body.dataset.conn === "live";
    // A silent socket (no heartbeat for 3 periods) is dead even if the browser has not noticed.
    if (connected && now - state.lastMessageAt > 3 * state.heartbeatMs + 2000) {
      state.ws.close();
      state.ws = null;
      scheduleReconnect();
    }
    const feedAge = state.feed.received_ms ? now - state.feed.received_ms : null;
    const feedStale = !connected || feedAge == null || feedAge > state.staleAfter;
    $("feed-time").textContent = fmtTime(state.feed.exchange_ms);
    $("feed-age").textContent = feedAge == null ? "no data" : fmtAge(feedAge);
    $("feed-age").classList.toggle("stale", feedStale);
    for (const b of Object.values(state.boards)) {
      const age = b.received_ms ? now - b.received_ms : null;
      b.fresh.textContent = age == null ? (b.exchange_ms ? "as of " + fmtTime(b.exchange_ms) : "no data")
        : fmtAge(age) + " ago · " + fmtTime(b.exchange_ms);
      b.fresh.classList.toggle("quiet", age != null && age > QUIET_MS);
      b.el.classList.toggle("stale", feedStale);
      const filtered = !UNFILTERED.has(b.name) && Object.keys(state.filters).length;
      b.sub.textContent = UNFILTERED.has(b.name) ? "all symbols" : filtered ? filterLabel() : `top ${LIMIT}`;
    }
    if (state.lastLatencyMs != null) $("latency").textContent = "feed → screen " + fmtAge(Math.max(0, state.lastLatencyMs));
  }

  function filterLabel() {
    const f = state.filters, parts = [];
    if (f.min_price != null || f.max_price != null) parts.push(`$${f.min_price ?? 0}–${f.max_price ?? "∞"}`);
    if (f.min_volume != null) parts.push(`vol ≥ ${fmtVol(f.min_volume)}`);
    return parts.join(" · ");
  }

  // ---- filters ----------------------------------------------------------------------------
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

  function saveFilters() { localStorage.setItem("stampede.filters", JSON.stringify(state.filters)); }
  function loadFilters() {
    try { state.filters = JSON.parse(localStorage.getItem("stampede.filters") || "{}") || {}; } catch { state.filters = {}; }
    $("min-price").value = state.filters.min_price ?? "";
    $("max-price").value = state.filters.max_price ?? "";
    $("min-volume").value = state.filters.min_volume ?? "";
  }

  $("filters").addEventListener("submit", (e) => {
    e.preventDefault();
    state.filters = readFilters();
    saveFilters();
    subscribeAll(); // same ids: the gateway replaces each subscription and sends a snapshot
  });
  $("clear-filters").addEventListener("click", () => {
    for (const id of ["min-price", "max-price", "min-volume"]) $(id).value = "";
    state.filters = {};
    saveFilters();
    subscribeAll();
  });

  loadFilters();
  connect();
  setInterval(refreshClock, 250);
  window.stampede = state; // for the browser test and curious traders
})();
