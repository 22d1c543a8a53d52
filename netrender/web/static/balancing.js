// SPDX-License-Identifier: GPL-3.0-or-later
// The balancing rules: a switch per rule and its threshold, saved with PATCH.

import * as api from "./api.js";
import { button, h, notify, setText, showError } from "./ui.js";

// Each rule: its switch, the setting that tunes it (if any), and what it does.
const RULES = [
  { key: "fair_share", title: "Fair share", text: "The job with the least load per priority goes first, so a " +
    "priority-2 job gets twice the share of a priority-1 job. Off: the oldest job goes first.",
  setting: { key: "half_life", label: "Usage half-life", unit: "s", step: "any",
    help: "Seconds in which a job's averaged usage covers half the gap to its current share." } },
  { key: "categories", title: "Categories share equally", text: "The category with the least load goes first, " +
    "so categories share the farm equally whatever their number of jobs." },
  { key: "cap", title: "Cap per job", text: "One job holds at most this share of the live slaves, unless it is " +
    "the only job a slave can take.",
  setting: { key: "cap_percent", label: "Cap", unit: "%", step: "any", help: "Percentage of the live slaves." } },
  { key: "new_first", title: "New jobs first", text: "A job whose first frames are not out yet goes first, " +
    "so its errors show early." },
  { key: "starvation", title: "No starving", text: "A job that got no frames for a while goes first, so nothing " +
    "waits forever.",
  setting: { key: "starve_minutes", label: "Starving after", unit: "min", step: "any",
    help: "Minutes without a chunk." } },
  { key: "retry", title: "Retry failed frames", text: "A failed frame goes back to the queue for a slave that " +
    "has not failed it yet. Off: it fails at once.",
  setting: { key: "max_retries", label: "Retries", unit: "times", step: "1", help: "A whole number." } },
  { key: "auto_blacklist", title: "Automatic blacklist", text: "A slave that fails a job this often is put on " +
    "that job's blacklist.",
  setting: { key: "blacklist_after", label: "After", unit: "failures", step: "1", help: "A whole number." } },
  { key: "lost", title: "Lost slaves", text: "A slave silent for this long is lost: its frames go back to the " +
    "queue and it no longer counts. Off: a silent slave keeps its frames.",
  setting: { key: "lost_timeout", label: "Lost after", unit: "s", step: "any", help: "Seconds of silence." } },
  { key: "tags", title: "Tags", text: "A slave takes a job only if it has every tag of the job. Off: tags are ignored." },
  { key: "chunks", title: "Chunks", text: "A slave gets up to the job's chunk size of consecutive frames. " +
    "Off: one frame at a time." },
  { key: "fifo", title: "Queue (FIFO)", text: "Jobs render one at a time in the order they came, as in " +
    "RenderController: only jobs started by hand or by autostart get work. Off: every job is balanced." },
  { key: "autostart", title: "Autostart", text: "With the queue on: when no started job is left rendering, the " +
    "first waiting job starts. Off: only jobs started by hand render." },
];

export class BalancingPage {
  constructor(monitor) {
    this.monitor = monitor;
    this.title = "Balancing";
    this.inputs = new Map(); // setting → input
    this.server = null; // the master's values, as last read
    this.saving = false;
  }

  load() {
    return api.balancing.get();
  }

  mount() {
    this.list = h("div.rules");
    this.errorBox = h("p.form-error", { role: "alert", hidden: true });
    this.saveBtn = button("Save changes", { kind: "primary", type: "submit", dataset: { action: "save-rules" } }, "check");
    this.discardBtn = button("Discard", { kind: "ghost", dataset: { action: "discard-rules" } });
    this.discardBtn.addEventListener("click", () => this.discard());
    this.dirtyNote = h("span.muted");
    this.form = h("form.rules-form", { novalidate: true },
      this.list,
      h("div.savebar", {}, this.errorBox, h("div.savebar-row", {}, this.dirtyNote, this.discardBtn, this.saveBtn)));
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.save();
    });
    this.form.addEventListener("input", () => this.updateDirty());
    this.form.addEventListener("change", () => this.updateDirty());
    this.loading = h("p.muted.loading", {}, "Loading the rules…");
    return h("section.page.balancing-page", {},
      h("div.page-head", {}, h("div", {}, h("h1", {}, "Balancing rules"),
        h("p.subtitle", {}, "How the master picks the job each slave renders next. " +
          "Blacklists already made always apply; with every switch off, slaves get one frame at a time, " +
          "oldest job first."))),
      this.loading, h("div.card", {}, this.form));
  }

  build(rules) {
    const known = new Set();
    for (const rule of RULES) {
      if (!(rule.key in rules)) continue;
      known.add(rule.key);
      const setting = rule.setting && rule.setting.key in rules ? rule.setting : null;
      if (setting) known.add(setting.key);
      this.list.append(this.ruleRow(rule, setting));
    }
    // Settings this page does not know yet still show, by their names.
    for (const [key, value] of Object.entries(rules)) {
      if (known.has(key)) continue;
      if (typeof value === "boolean") this.list.append(this.ruleRow({ key, title: key, text: "" }, null));
      else if (typeof value === "number") {
        this.list.append(this.ruleRow(null, { key, label: key, unit: "", step: "any", help: "" }));
      }
    }
  }

  ruleRow(rule, setting) {
    const row = h("div.rule");
    if (rule) {
      const box = h("input", { type: "checkbox", name: rule.key, id: `rule-${rule.key}`, role: "switch" });
      this.inputs.set(rule.key, box);
      row.append(h("label.rule-switch", { for: `rule-${rule.key}` }, box, h("span.switch", { "aria-hidden": "true" }),
        h("span.rule-text", {}, h("strong", {}, rule.title), h("code.setting-name", {}, rule.key),
          rule.text ? h("span.muted", {}, rule.text) : null)));
      box.addEventListener("change", () => row.classList.toggle("rule-off", !box.checked));
    } else {
      row.append(h("div.rule-text", {}, h("strong", {}, setting.key)));
    }
    if (setting) {
      const input = h("input.number", { type: "number", name: setting.key, id: `setting-${setting.key}`,
        step: setting.step, inputmode: setting.step === "1" ? "numeric" : "decimal", "aria-describedby": `help-${setting.key}` });
      this.inputs.set(setting.key, input);
      row.append(h("div.rule-setting", {},
        h("label", { for: `setting-${setting.key}` }, setting.label),
        h("div.input-unit", {}, input, setting.unit ? h("span", {}, setting.unit) : null),
        h("span.sub", { id: `help-${setting.key}` }, h("code", {}, setting.key), setting.help ? ` · ${setting.help}` : ""),
        h("span.field-error", { hidden: true, dataset: { for: setting.key } })));
    }
    return row;
  }

  render(rules) {
    if (!rules) return;
    this.loading.hidden = true;
    const first = !this.server;
    if (first) this.build(rules);
    // Keep what the user is editing; take the master's value for everything else.
    const keep = new Set(first ? [] : [...this.inputs.keys()].filter(
      (key) => this.isDirty(key) || document.activeElement === this.inputs.get(key)));
    this.server = rules;
    for (const key of this.inputs.keys()) {
      if (key in rules && !keep.has(key)) this.setInput(key, rules[key]);
    }
    this.updateDirty();
  }

  setInput(key, value) {
    const input = this.inputs.get(key);
    if (input.type === "checkbox") {
      input.checked = Boolean(value);
      input.closest(".rule").classList.toggle("rule-off", !value);
    } else {
      input.value = String(value);
    }
  }

  valueOf(key) {
    const input = this.inputs.get(key);
    if (input.type === "checkbox") return input.checked;
    // An empty or malformed number goes as null: the master says what is wrong with it.
    return input.value.trim() === "" ? null : Number(input.value);
  }

  isDirty(key) {
    if (!this.server || !(key in this.server)) return false;
    const input = this.inputs.get(key);
    if (input.type === "checkbox") return input.checked !== this.server[key];
    return input.value.trim() === "" || Number(input.value) !== this.server[key];
  }

  changes() {
    const out = {};
    for (const key of this.inputs.keys()) if (this.isDirty(key)) out[key] = this.valueOf(key);
    return out;
  }

  updateDirty() {
    const n = Object.keys(this.changes()).length;
    this.saveBtn.disabled = this.saving || !n;
    this.discardBtn.disabled = this.saving || !n;
    setText(this.dirtyNote, n ? `${n} unsaved ${n === 1 ? "change" : "changes"}` : "All rules are saved on the master.");
    this.form.classList.toggle("dirty", n > 0);
    for (const [key, input] of this.inputs) {
      const row = input.closest(".rule");
      const anyDirty = [...row.querySelectorAll("input")].some((i) => this.isDirty(i.name));
      row.classList.toggle("rule-dirty", anyDirty);
      if (!this.isDirty(key)) this.fieldError(key, "");
    }
  }

  fieldError(key, message) {
    const node = this.form.querySelector(`.field-error[data-for="${key}"]`);
    const input = this.inputs.get(key);
    if (input) input.toggleAttribute("aria-invalid", Boolean(message));
    if (!node) return;
    node.hidden = !message;
    setText(node, message);
  }

  discard() {
    for (const key of this.inputs.keys()) this.setInput(key, this.server[key]);
    this.errorBox.hidden = true;
    this.updateDirty();
  }

  async save() {
    const changes = this.changes();
    if (!Object.keys(changes).length) return;
    this.saving = true;
    this.updateDirty();
    this.errorBox.hidden = true;
    try {
      const rules = await api.balancing.set(changes);
      this.server = rules;
      for (const key of this.inputs.keys()) if (key in rules) this.setInput(key, rules[key]);
      notify(`Saved: ${Object.keys(changes).join(", ")}`, { kind: "success" });
    } catch (error) {
      showError(error, "Saving the balancing rules");
      this.errorBox.hidden = false;
      setText(this.errorBox, `The master refused the rules: ${error.message}`);
      const named = /'([a-z_]+)'/.exec(error.message || "");
      if (named && this.inputs.has(named[1])) {
        this.fieldError(named[1], error.message);
        this.inputs.get(named[1]).focus();
      }
    } finally {
      this.saving = false;
      this.updateDirty(); // clears the messages of saved settings only
    }
  }
}
