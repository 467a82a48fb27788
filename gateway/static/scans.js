// Scans: a board plus min/max filters the gateway applies, kept in this browser.
//
// A scan is plain JSON (what export/import move between browsers):
//   {id, name, board, limit, filters: {min_<field>|max_<field>: number}, columns: [field]|null,
//    alert, sound, voice, muted, cooldown_s, hidden, width, height}
// The page is laid out as the scans in order; a plain board is a scan without filters.

const KEY = "stampede.scans.v1";
export const FORMAT = "stampede.scans";
export const DEFAULT_COOLDOWN_S = 300;
export const SOUNDS = ["chime", "ping", "bell", "siren", "blip"];

// The shipped presets; docs/gateway.md gives the reasoning behind each threshold.
export const PRESETS = {
  low_float_runners: {
    name: "Low-float runners", board: "gainers", alert: true, sound: "chime",
    filters: { min_price: 1, max_price: 20, min_change_pct: 10, min_rvol: 5, max_float_shares: 20e6 },
    columns: ["last", "change_pct", "volume", "rvol", "float_shares", "change_1m_pct", "news_ms"],
  },
  gap_and_go: {
    name: "Gap and go", board: "gappers", alert: true, sound: "ping",
    filters: { min_gap_pct: 4, min_premarket_volume: 100000 },
    // before 09:30 the day's volume is the pre-market volume: the stand-in where a gateway
    // does not know premarket_volume yet
    fallbacks: { premarket_volume: "volume" },
    columns: ["last", "gap_pct", "premarket_volume", "premarket_high", "float_shares", "news_ms"],
  },
  // the premarket_gappers view: gap % with pre-market volume; a view, not a setup: no alert
  premarket_gappers: {
    name: "Pre-market gappers", board: "gappers", filters: { min_premarket_volume: 1 },
    fallbacks: { premarket_volume: "volume" },
    columns: ["last", "gap_pct", "premarket_volume", "premarket_high", "volume", "float_shares", "news_ms"],
  },
  hod_momentum: {
    name: "HOD momentum", board: "new_highs", alert: true, sound: "bell",
    filters: { max_hod_age_s: 60, min_change_1m_pct: 2, min_price: 1, max_price: 20 },
    columns: ["last", "change_pct", "change_1m_pct", "hod_time", "volume", "rvol"],
  },
  // every halt and resume is a discrete exchange event, never noise: no cooldown. Resumed
  // symbols stay on the board for the day (ranked by their resume time).
  halts: { name: "Halts", board: "halts", alert: true, sound: "siren", filters: {}, cooldown_s: 0,
    columns: ["halt_price", "change_pct", "halt_start_ms", "halt_duration_ms", "expected_resume_ms", "resume_ms", "luld_upper", "luld_lower"] },
  // a watch list (a halt may follow), not an entry signal: no alert
  near_luld: { name: "Near LULD band", board: "near_luld", filters: {},
    columns: ["last", "luld_distance_pct", "luld_upper", "luld_lower", "change_pct", "volume"] },
};

const DEFAULT_BOARDS = ["gainers", "gappers", "momentum_1m", "volume", "rvol"];

export function newId() { return "s" + Math.random().toString(36).slice(2, 10); }

export function makeScan(fields) {
  return {
    id: newId(), name: "New scan", board: "gainers", limit: 20, filters: {}, columns: null,
    alert: false, sound: "chime", voice: false, muted: false, cooldown_s: DEFAULT_COOLDOWN_S, hidden: false,
    width: null, height: null, ...structuredClone(fields || {}),
  };
}

// A scan from a preset; a filter on a field this gateway lacks uses the preset's stand-in.
export function fromPreset(key, fields) {
  const { fallbacks = {}, ...preset } = PRESETS[key] || {};
  if (!preset.name) throw new Error(`unknown preset ${key}`);
  const filters = {};
  for (const [wire, value] of Object.entries(preset.filters)) {
    const [side, ...rest] = wire.split("_");
    const field = rest.join("_");
    const known = !fields || fields.includes(field) || !fallbacks[field];
    filters[known ? wire : `${side}_${fallbacks[field]}`] = value;
  }
  return makeScan({ ...preset, filters });
}

export function defaultScans(catalogue) {
  const scans = DEFAULT_BOARDS.filter((b) => !catalogue || catalogue[b]).map((board) =>
    makeScan({ id: board, name: catalogue?.[board]?.title || board, board }));
  scans.push({ ...fromPreset("halts"), id: "halts" });
  if (!catalogue || catalogue.near_luld) scans.push({ ...fromPreset("near_luld"), id: "near_luld" });
  return scans;
}

// Check one scan against the gateway's catalogue (boards, filter fields); returns a clean copy.
export function validScan(raw, boards, fields) {
  if (!raw || typeof raw !== "object") throw new Error("a scan must be an object");
  const scan = makeScan({});
  for (const k of Object.keys(scan)) if (raw[k] !== undefined) scan[k] = raw[k];
  if (typeof scan.id !== "string" || !/^[A-Za-z0-9_.-]{1,64}$/.test(scan.id)) scan.id = newId();
  scan.name = String(scan.name || "Scan").slice(0, 60);
  if (boards && !boards[scan.board]) throw new Error(`scan "${scan.name}": unknown board ${scan.board}`);
  scan.limit = Math.max(1, Math.min(100, parseInt(scan.limit, 10) || 20));
  const filters = {};
  for (const [key, value] of Object.entries(scan.filters || {})) {
    const m = /^(min|max)_(.+)$/.exec(key);
    if (!m || (fields && !fields.includes(m[2]))) throw new Error(`scan "${scan.name}": unknown filter ${key}`);
    if (typeof value !== "number" || !Number.isFinite(value)) throw new Error(`scan "${scan.name}": ${key} must be a number`);
    filters[key] = value;
  }
  scan.filters = filters;
  scan.columns = Array.isArray(scan.columns) ? scan.columns.filter((c) => typeof c === "string") : null;
  scan.alert = !!scan.alert; scan.muted = !!scan.muted; scan.hidden = !!scan.hidden;
  scan.voice = !!scan.voice; // spoken alerts: off unless the trader turns them on
  if (!SOUNDS.includes(scan.sound)) scan.sound = "chime";
  const cooldown = Number(scan.cooldown_s);
  scan.cooldown_s = Number.isFinite(cooldown) && cooldown >= 0 ? cooldown : DEFAULT_COOLDOWN_S;
  for (const k of ["width", "height"]) scan[k] = Number.isFinite(scan[k]) && scan[k] > 0 ? scan[k] : null;
  return scan;
}

export function load() {
  try {
    const saved = JSON.parse(localStorage.getItem(KEY) || "null");
    if (saved && Array.isArray(saved.scans)) return saved;
  } catch { /* a broken entry starts over */ }
  return null;
}

export function save(state) {
  localStorage.setItem(KEY, JSON.stringify({ scans: state.scans, prefs: state.prefs }));
}

export function exportJson(scans) {
  return JSON.stringify({ format: FORMAT, version: 1, scans }, null, 2);
}

// Scans from an exported file, checked; an id already present is replaced, others are added.
export function importJson(text, existing, boards, fields) {
  const doc = JSON.parse(text);
  const list = Array.isArray(doc) ? doc : doc?.scans;
  if (!Array.isArray(list)) throw new Error("not a Stampede scans file (no scans list)");
  const incoming = list.map((s) => validScan(s, boards, fields));
  const byId = new Map(existing.map((s) => [s.id, s]));
  for (const s of incoming) byId.set(s.id, s);
  return [...byId.values()];
}

// What a row did to pass: one "field value ≥ bound" per filter, for the alert log.
export function reasons(scan, row, nowMs) {
  const out = [];
  for (const [key, bound] of Object.entries(scan.filters)) {
    const [side, ...rest] = key.split("_");
    const name = rest.join("_");
    let value;
    if (name.endsWith("_age_s")) {
      const base = name.slice(0, -"_age_s".length);
      const at = row[base + "_time"] ?? row[base + "_ms"];
      // a time newer than the page's feed clock happened just now, not in the future
      value = at != null ? Math.max(0, Math.round((nowMs - at) / 1000)) : null;
    } else value = row[name === "price" ? "last" : name];
    if (value == null) continue;
    const shown = Math.abs(value) >= 1e5 ? Math.round(value).toLocaleString("en-US") : +(+value).toFixed(2);
    out.push(`${name} ${shown} ${side === "min" ? "≥" : "≤"} ${bound.toLocaleString("en-US")}`);
  }
  return out;
}
