// Number and time formatting, and the column catalogue every panel picks from.

export const etClock = new Intl.DateTimeFormat("en-US", {
  timeZone: "America/New_York", hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
});

export function fmtNum(v, digits) {
  return v == null ? "—" : v.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}
export function fmtPrice(v) { return v == null ? "—" : fmtNum(v, v < 1 ? 4 : 2); }
export function fmtPct(v) {
  if (v == null) return "—";
  const a = Math.abs(v);
  return (v > 0 ? "+" : "") + v.toFixed(a >= 1000 ? 0 : a >= 100 ? 1 : 2) + "%";
}
export function fmtPlainPct(v) { return v == null ? "—" : v.toFixed(v < 10 ? 2 : 1) + "%"; }
export function fmtRvol(v) { return v == null ? "—" : v.toFixed(v < 10 ? 2 : 1) + "×"; }
export function fmtVol(v) {
  if (v == null) return "—";
  const a = Math.abs(v);
  if (a >= 1e12) return (v / 1e12).toFixed(2) + "T";
  if (a >= 1e9) return (v / 1e9).toFixed(2) + "B";
  if (a >= 1e6) return (v / 1e6).toFixed(2) + "M";
  if (a >= 1e3) return (v / 1e3).toFixed(1) + "K";
  return String(Math.round(v));
}
export function fmtDollars(v) { return v == null ? "—" : "$" + fmtVol(v); }
export function fmtTime(ms) { return ms == null ? "—" : etClock.format(new Date(ms)); }
export function fmtAge(ms) {
  if (ms == null) return "—";
  if (ms < 1000) return Math.round(ms) + " ms";
  if (ms < 60000) return (ms / 1000).toFixed(1) + " s";
  if (ms < 3600000) return Math.floor(ms / 60000) + " min";
  return Math.floor(ms / 3600000) + " h";
}

// A duration as m:ss (h:mm:ss past an hour): a 299 s halt is 4:59, not "4 min".
export function fmtDuration(ms) {
  if (ms == null || ms < 0) return "—";
  const total = Math.floor(ms / 1000);
  const [h, m, sec] = [Math.floor(total / 3600), Math.floor((total % 3600) / 60), total % 60];
  const pad = (n) => String(n).padStart(2, "0");
  return h ? `${h}:${pad(m)}:${pad(sec)}` : `${m}:${pad(sec)}`;
}

// field -> [header, formatter, description]. Fields the gateway does not know yet show "—".
export const COLUMNS = {
  last: ["Last", fmtPrice, "last price"],
  change_pct: ["% Chg", fmtPct, "change from the previous close"],
  gap_pct: ["Gap %", fmtPct, "open (or pre-market price) vs previous close"],
  from_open_pct: ["% Open", fmtPct, "change from today's open"],
  volume: ["Volume", fmtVol, "day volume"],
  premarket_volume: ["PM Vol", fmtVol, "volume 04:00–09:30 ET"],
  rvol: ["RVOL", fmtRvol, "volume vs the usual volume at this time of day"],
  change_1m_pct: ["Mom 1m", fmtPct, "change over the last minute"],
  change_5m_pct: ["Mom 5m", fmtPct, "change over the last 5 minutes"],
  trades_per_sec: ["Trades/s", (v) => fmtNum(v, 1), "tape speed"],
  dollar_volume_1m: ["$Vol 1m", fmtDollars, "dollar volume over the last minute"],
  vwap: ["VWAP", fmtPrice, "today's volume-weighted average price"],
  high: ["High", fmtPrice, "high of day"],
  premarket_high: ["PM High", fmtPrice, "pre-market high"],
  hod_time: ["HOD at", fmtTime, "time of the high of day (ET)"],
  halt_time: ["Halt at", fmtTime, "time of the last halt or resume (ET)"],
  halt_start_ms: ["Halted", fmtTime, "when the latest halt began (ET)"],
  resume_ms: ["Resumed", fmtTime, "when the latest halt ended (ET); — while halted"],
  halt_duration_ms: ["Halted for", fmtDuration, "how long the latest halt lasted (resumed − halted), or has lasted so far (feed clock)"],
  expected_resume_ms: ["Resume ~", fmtTime, "expected resume while halted (ET): an LULD pause lasts 5 minutes, and may be extended"],
  halt_price: ["Halt $", fmtPrice, "the last price before the halt (no trade prints while halted)"],
  float_shares: ["Float", fmtVol, "free float (shares)"],
  shares_outstanding: ["Shares", fmtVol, "shares outstanding"],
  market_cap: ["Mkt cap", fmtDollars, "market capitalisation"],
  short_pct_float: ["Short %", fmtPlainPct, "short interest as % of float"],
  news_ms: ["News", fmtTime, "time of the latest headline (ET)"],
  luld_upper: ["LULD ↑", fmtPrice, "upper LULD band"],
  luld_lower: ["LULD ↓", fmtPrice, "lower LULD band"],
  luld_distance_pct: ["To band", fmtPlainPct, "distance of the last price to the nearer LULD band (% of last)"],
};
export const SIGNED = new Set(["change_pct", "gap_pct", "from_open_pct", "change_1m_pct", "change_5m_pct"]);
export const LULD_PAUSE_MS = 5 * 60 * 1000; // an LULD trading pause: 5 minutes (it may be extended)
// Columns computed from other row fields (the gateway sends what Redis holds, nothing derived),
// some on the feed clock (``feedNow``: the newest exchange time the page knows).
export const DERIVED = {
  halt_duration_ms: (row, feedNow) => {
    if (row.halt_start_ms == null) return null;
    if (row.resume_ms != null) return row.resume_ms - row.halt_start_ms;
    return row.halted === true && feedNow ? Math.max(0, feedNow - row.halt_start_ms) : null;
  },
  expected_resume_ms: (row) =>
    row.halted === true && row.halt_start_ms != null ? row.halt_start_ms + LULD_PAUSE_MS : null,
  halt_price: (row) => (row.halted === true ? row.last ?? null : null),
};
// Derived columns that move with the feed clock, redrawn a few times a second
export const TICKING = new Set(["halt_duration_ms"]);
// fields that need a previous close: meaningless without reference data
export const NEEDS_REFERENCE = new Set(["change_pct", "gap_pct", "rvol"]);

// Filter fields (wire names of hello.fields) shown with friendly names in the editor.
export const FIELD_LABELS = {
  price: "Price $", change_pct: "% change", gap_pct: "Gap %", volume: "Volume", premarket_volume: "Pre-market volume",
  rvol: "RVOL", float_shares: "Float (shares)", short_pct_float: "Short % of float", change_1m_pct: "Momentum 1 min %",
  change_5m_pct: "Momentum 5 min %", hod_age_s: "Seconds since new high", news_age_s: "Seconds since news",
  halt_age_s: "Seconds since halt/resume", from_open_pct: "% from open", trades_per_sec: "Trades/s",
  dollar_volume_1m: "$ volume 1 min", market_cap: "Market cap $", shares_outstanding: "Shares outstanding",
  prev_close: "Previous close $", open: "Open $", vwap: "VWAP $", high: "High of day $", low: "Low of day $",
  premarket_high: "Pre-market high $", hod_time: "Time of high (Unix ms)", halt_time: "Time of halt/resume (Unix ms)",
  halt_start_ms: "Halt start (Unix ms)", resume_ms: "Resume (Unix ms)", luld_upper: "LULD upper band $",
  luld_lower: "LULD lower band $", luld_distance_pct: "% to LULD band", updated_ms: "Last update (Unix ms)",
  short_interest: "Short interest (shares)", days_to_cover: "Days to cover", news_ms: "News time (Unix ms)",
  news_count: "News today", halt_start_age_s: "Seconds since halt start", resume_age_s: "Seconds since resume",
  updated_age_s: "Seconds since last update",
};
// The editor's and the panel captions' name of a filter field (never its wire name).
export function fieldLabel(name) { return FIELD_LABELS[name] || name.replaceAll("_", " "); }

export function escapeHtml(s) { return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`); }
