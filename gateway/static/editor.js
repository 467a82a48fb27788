// The scan editor dialog: create (blank or from a preset), edit - rename, board, filters,
// alert, sound, voice, cooldown, mute, columns - and delete. It only reads and checks the form; what a
// saved or deleted scan means for panels and subscriptions is the caller's (onSave, onDelete).
import { TONES, play, unlockAudio } from "./alerts.js";
import { COLUMNS, FIELD_LABELS, escapeHtml, fieldLabel } from "./format.js";
import * as scans from "./scans.js";

const $ = (id) => document.getElementById(id);

export class ScanEditor {
  constructor({ state, columnsOf, onSave, onDelete }) {
    this.state = state;
    this.columnsOf = columnsOf;
    this.editing = null;
    $("ed-preset").innerHTML += Object.entries(scans.PRESETS).map(([k, p]) => `<option value="${k}">${escapeHtml(p.name)}</option>`).join("");
    $("ed-preset").addEventListener("change", (e) => { if (e.target.value) this.fill(scans.fromPreset(e.target.value, state.fields)); });
    $("ed-add-filter").addEventListener("click", () => this.addFilterRow(null));
    $("ed-play").addEventListener("click", () => { unlockAudio(); play($("ed-sound").value); });
    $("ed-cancel").addEventListener("click", () => $("editor").close());
    $("ed-delete").addEventListener("click", () => {
      if (!this.editing) return;
      $("editor").close();
      onDelete(this.editing);
    });
    $("editor-form").addEventListener("submit", (e) => {
      e.preventDefault();
      let scan;
      try { scan = this.read(); } catch (err) { $("ed-error").textContent = err.message; return; }
      $("editor").close();
      onSave(scan, this.editing);
    });
  }

  open(scan) {
    this.editing = scan || null;
    $("ed-preset").value = "";
    $("ed-preset").closest("label").hidden = !!scan;
    $("ed-delete").hidden = !scan;
    this.fill(scan || scans.makeScan({ board: Object.keys(this.state.catalogue)[0] || "gainers" }));
    $("editor").showModal();
    $("ed-name").focus();
  }

  fieldOptions(selected) {
    const fields = (this.state.fields || Object.keys(FIELD_LABELS)).slice();
    if (selected && !fields.includes(selected)) fields.unshift(selected); // saving says it is unknown here
    return fields.map((f) => `<option value="${escapeHtml(f)}"${f === selected ? " selected" : ""}>${escapeHtml(fieldLabel(f))}</option>`).join("");
  }

  addFilterRow(field, min, max) {
    const div = document.createElement("div");
    div.className = "filter-row";
    div.innerHTML = `<select class="f-field">${this.fieldOptions(field)}</select>
      <input class="f-min" type="number" step="any" placeholder="min"><input class="f-max" type="number" step="any" placeholder="max">
      <button type="button" class="ghost icon f-remove" title="remove">✕</button>`;
    div.querySelector(".f-min").value = min ?? "";
    div.querySelector(".f-max").value = max ?? "";
    div.querySelector(".f-remove").addEventListener("click", () => div.remove());
    $("ed-filters").appendChild(div);
  }

  fill(scan) {
    $("ed-name").value = scan.name;
    $("ed-board").innerHTML = Object.values(this.state.catalogue).map((b) =>
      `<option value="${escapeHtml(b.name)}"${b.name === scan.board ? " selected" : ""}>${escapeHtml(b.title)}</option>`).join("");
    $("ed-limit").value = scan.limit;
    $("ed-filters").replaceChildren();
    const bounds = {};
    for (const [key, value] of Object.entries(scan.filters)) {
      const [side, ...rest] = key.split("_");
      (bounds[rest.join("_")] ||= {})[side] = value;
    }
    for (const [field, b] of Object.entries(bounds)) this.addFilterRow(field, b.min, b.max);
    $("ed-alert").checked = scan.alert;
    $("ed-muted").checked = scan.muted;
    $("ed-voice").checked = !!scan.voice;
    $("ed-sound").innerHTML = Object.keys(TONES).map((s) => `<option${s === scan.sound ? " selected" : ""}>${s}</option>`).join("");
    $("ed-cooldown").value = scan.cooldown_s;
    const cols = this.columnsOf(scan);
    $("ed-columns").innerHTML = Object.entries(COLUMNS).map(([c, [label, , about]]) =>
      `<label title="${escapeHtml(about)}"><input type="checkbox" value="${c}"${cols.includes(c) ? " checked" : ""}> ${escapeHtml(label)}</label>`).join("");
    $("ed-error").textContent = "";
  }

  // The form as a checked scan (the edited one's id and size kept); throws with a reason.
  read() {
    const filters = {};
    for (const row of $("ed-filters").querySelectorAll(".filter-row")) {
      const field = row.querySelector(".f-field").value;
      for (const side of ["min", "max"]) {
        const raw = row.querySelector(`.f-${side}`).value.trim();
        if (raw !== "") filters[`${side}_${field}`] = Number(raw);
      }
      // a range no row can be in would wait for data for ever: refuse it here
      const [low, high] = [filters[`min_${field}`], filters[`max_${field}`]];
      if (low != null && high != null && low > high) {
        const label = row.querySelector(".f-field").selectedOptions[0]?.textContent || field;
        throw new Error(`${label}: the minimum (${low}) is above the maximum (${high}); no symbol can match`);
      }
    }
    const columns = [...$("ed-columns").querySelectorAll("input:checked")].map((i) => i.value);
    const base = this.editing || scans.makeScan({});
    return scans.validScan({
      ...base, name: $("ed-name").value.trim() || "Scan", board: $("ed-board").value, limit: $("ed-limit").value,
      filters, columns, alert: $("ed-alert").checked, muted: $("ed-muted").checked, sound: $("ed-sound").value,
      voice: $("ed-voice").checked,
      cooldown_s: Number($("ed-cooldown").value),
    }, this.state.catalogue, this.state.fields);
  }
}
