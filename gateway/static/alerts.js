// Alerts: a sound, the symbol and scan spoken (per scan, off by default), an optional desktop
// notification and a log line when a symbol enters a scan.
//
// Only real entries alert: rows in a diff's `added` (and, on the halts board, a new halt or
// resume of a row already there). Snapshots - the first one, and those after a reconnect or a
// resync - never alert: their rows are not news. A symbol alerts at most once per cooldown
// per scan. Mutes silence sound and notification; the log still records the entry.
//
// The log survives a reload (localStorage). With the dashboard open in several tabs, one tab
// sounds and notifies (the holder of a Web Lock: the next tab takes over when it closes); every
// tab logs. Before, three tabs sounded every alert three times.

const LOG_SIZE = 200;
const LOG_KEY = "stampede.alerts.v1";
const LEADER_LOCK = "stampede.alerts.sound";
// Each sound: [oscillator type, [frequency Hz, seconds] ...], made with Web Audio (no files).
export const TONES = {
  chime: ["sine", [[880, 0.12], [1320, 0.22]]],
  ping: ["triangle", [[1568, 0.14]]],
  bell: ["sine", [[1046, 0.08], [1046, 0.3]]],
  siren: ["square", [[660, 0.14], [880, 0.14], [660, 0.14], [880, 0.14]]],
  blip: ["sawtooth", [[440, 0.05], [0, 0.04], [440, 0.05]]],
};

let audio = null;
function context() {
  const Ctx = window.AudioContext || window.webkitAudioContext;
  if (!Ctx) return null;
  if (!audio) audio = new Ctx();
  if (audio.state === "suspended") audio.resume().catch(() => {});
  return audio;
}

export function unlockAudio() { context(); } // browsers let sound start only after a gesture

export function play(name) {
  const ctx = context();
  if (!ctx) return;
  const [type, notes] = TONES[name] || TONES.chime;
  let at = ctx.currentTime + 0.01;
  for (const [freq, seconds] of notes) {
    if (freq > 0) {
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.type = type;
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.0001, at);
      gain.gain.exponentialRampToValueAtTime(0.25, at + 0.01);
      gain.gain.exponentialRampToValueAtTime(0.0001, at + seconds);
      osc.connect(gain).connect(ctx.destination);
      osc.start(at);
      osc.stop(at + seconds + 0.02);
    }
    at += seconds;
  }
}

// Whether this tab is the one that sounds: it holds the lock for as long as it lives.
let soundingTab = !(globalThis.navigator && navigator.locks);
if (!soundingTab) navigator.locks.request(LEADER_LOCK, () => { soundingTab = true; return new Promise(() => {}); });
export function isSoundingTab() { return soundingTab; }

// A ticker spelled out (N V D A), as a trader reads it, not pronounced as a word.
export function spoken(sym) { return sym.split("").join(" "); }

function savedLog() {
  try {
    const saved = JSON.parse(localStorage.getItem(LOG_KEY) || "[]");
    return Array.isArray(saved) ? saved.filter((e) => e && typeof e.sym === "string").slice(0, LOG_SIZE) : [];
  } catch { return []; }
}

// Says a line with the browser's speech synthesis (nothing where there is none); a new alert
// does not wait behind a queue of old ones: what is still unsaid is dropped.
export function say(text) {
  const synth = globalThis.speechSynthesis;
  if (!synth || typeof SpeechSynthesisUtterance === "undefined") return;
  if (synth.pending) synth.cancel();
  synth.speak(new SpeechSynthesisUtterance(text));
}

export class Alerts {
  constructor({ now = () => Date.now(), sound = play, speak = say, onChange = () => {}, leader = isSoundingTab } = {}) {
    this.now = now;
    this.sound = sound;
    this.speak = speak;
    this.onChange = onChange;
    this.leader = leader;
    this.last = new Map(); // scan id + symbol -> when it last alerted
    this.log = savedLog();
    this.masterMute = false;
    this.notify = false; // desktop notifications: opt-in
  }

  clear() {
    this.log = [];
    this.save();
  }

  save() {
    try { localStorage.setItem(LOG_KEY, JSON.stringify(this.log)); } catch { /* full or off: kept in memory */ }
  }

  // A symbol entered a scan; returns true when that made an alert. ``feedMs``: the exchange
  // time of the data that made it (the log shows the feed clock, as the boards do); the
  // cooldown runs on this browser's clock.
  entered(scan, row, why, feedMs = null) {
    if (!scan.alert) return false;
    const key = scan.id + "\u0000" + row.sym;
    const now = this.now();
    const last = this.last.get(key);
    if (last != null && now - last < scan.cooldown_s * 1000) return false;
    this.last.set(key, now);
    const silent = this.masterMute || scan.muted;
    const entry = { t: feedMs ?? now, sym: row.sym, scan: scan.name, scanId: scan.id, price: row.last ?? null, why, silent };
    this.log.unshift(entry);
    this.log.length = Math.min(this.log.length, LOG_SIZE);
    this.save();
    if (!silent && this.leader()) {
      this.sound(scan.sound);
      if (scan.voice) this.speak(`${spoken(row.sym)}, ${scan.name}`);
      this.desktop(entry);
    }
    this.onChange(entry);
    return true;
  }

  desktop(entry) {
    if (!this.notify || !("Notification" in window) || Notification.permission !== "granted") return;
    const price = entry.price == null ? "" : ` at ${entry.price}`;
    try {
      new Notification(`${entry.sym} — ${entry.scan}`, { body: `${entry.why}${price}`, tag: entry.scanId + entry.sym });
    } catch { /* some platforms only allow notifications from a service worker */ }
  }

  forget(scanId) {
    for (const key of [...this.last.keys()]) if (key.startsWith(scanId + "\u0000")) this.last.delete(key);
  }
}
