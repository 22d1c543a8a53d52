// SPDX-License-Identifier: GPL-3.0-or-later
// The cards under a job's frames: its files (where they come from, and those its client lacked), its
// blacklist, and its history.

import * as api from "./api.js";
import { badge, button, DASH, fmtBytes, fmtFullTime, fmtTime, h, setChildren, setText } from "./ui.js";

export class JobCards {
  constructor(monitor, id) {
    this.monitor = monitor;
    this.id = id;
    this.filesBody = h("tbody");
    this.filesTotal = h("span.muted");
    this.missingList = h("ul.plain-list.missing-list");
    this.missingNote = h("div.notice.notice-warn", { hidden: true, dataset: { role: "missing" } },
      this.missingTitle = h("strong"),
      h("p.small", {}, "The .blend names these files, but the client did not have them. The job renders " +
        "without them, as Blender would have on the artist's machine (missing images come out magenta)."),
      this.missingList);
    this.blacklistList = h("ul.plain-list.blacklist");
    this.blacklistSelect = h("select", { "aria-label": "Slave to blacklist for this job" });
    const addBlacklist = button("Blacklist", { kind: "small", dataset: { action: "job-blacklist" } }, "ban");
    addBlacklist.addEventListener("click", () => {
      const slaveId = this.blacklistSelect.value;
      if (!slaveId) return;
      monitor.act(`Blacklisting ${monitor.slaveName(slaveId)} for job ${this.id}`,
        () => api.jobs.blacklist(this.id, slaveId, true),
        `${monitor.slaveName(slaveId)} no longer renders job ${this.id}`);
    });
    this.blacklistAdd = h("div.inline-form", {}, this.blacklistSelect, addBlacklist);
    this.history = h("ol.timeline");

    this.root = h("div.columns", {},
      h("section.card", {}, h("div.card-head", {}, h("h2", {}, "Files"), this.filesTotal), this.missingNote,
        h("div.table-wrap", {}, h("table.table.compact.files-table", {},
          h("thead", {}, h("tr", {}, h("th", {}, "Path"), h("th.num", {}, "Size"))), this.filesBody))),
      h("section.card", {}, h("div.card-head", {}, h("h2", {}, "Blacklist")),
        h("p.muted.small", {}, "Slaves that never get this job: put there by hand, or for failing it too often."),
        this.blacklistList, this.blacklistAdd),
      h("section.card", {}, h("div.card-head", {}, h("h2", {}, "History")), this.history));
  }

  render(job) {
    this.renderFiles(job);
    this.renderBlacklist(job.blacklist || []);
    this.renderHistory(job.history);
  }

  renderFiles(job) {
    // A job rendered in place on shared storage carries no files: it lists those its client found there.
    const files = job.shared ? [job.blend, ...(job.found || [])].map((path) => ({ path, size: null }))
      : (job.files || []);
    const missing = job.missing || [];
    const key = JSON.stringify([files, missing]);
    if (key === this.filesKey) return;
    this.filesKey = key;
    const total = files.reduce((sum, f) => sum + (f.size || 0), 0);
    setText(this.filesTotal, `${files.length} ${files.length === 1 ? "file" : "files"}` +
      (job.shared ? " · on shared storage" : ` · ${fmtBytes(total)}`));
    setChildren(this.filesBody, files.length ? files.map((f) => h("tr", {},
      h("td.path", { title: f.sha256 ? `sha256 ${f.sha256}` : "" }, f.path,
        f.path === job.blend ? h("span.chip.chip-small", {}, "scene") : null),
      h("td.num", {}, f.size === null ? DASH : fmtBytes(f.size))))
      : h("tr", {}, h("td.muted", { colspan: 2 }, "No files.")));
    this.missingNote.hidden = !missing.length;
    setText(this.missingTitle, `${missing.length} missing ${missing.length === 1 ? "file" : "files"}`);
    setChildren(this.missingList, missing.map((path) => h("li.path", {}, path)));
  }

  renderBlacklist(list) {
    const monitor = this.monitor;
    const key = JSON.stringify([list, monitor.slaves.map((s) => [s.id, s.name])]);
    if (key === this.blacklistKey) return;
    this.blacklistKey = key;
    setChildren(this.blacklistList, list.length ? list.map((entry) => {
      const remove = button("Remove", { kind: "small ghost", dataset: { action: "job-unblacklist", slave: entry.slave_id } }, "close");
      remove.addEventListener("click", () => monitor.act(
        `Taking ${monitor.slaveName(entry.slave_id)} off the blacklist of job ${this.id}`,
        () => api.jobs.blacklist(this.id, entry.slave_id, false),
        `${monitor.slaveName(entry.slave_id)} may render job ${this.id} again`));
      return h("li.blacklist-entry", { dataset: { slave: entry.slave_id } },
        h("div.stack", {}, h("strong", {}, monitor.slaveName(entry.slave_id)),
          h("span.sub", { title: fmtFullTime(entry.at) },
            `${entry.reason === "auto" ? "failed it too often" : "by hand"} · ${fmtTime(entry.at)}`)),
        badge(entry.reason === "auto" ? "auto" : "manual", entry.reason || "manual"), remove);
    }) : h("li.muted", {}, "No slave is blacklisted for this job."));
    const listed = new Set(list.map((e) => e.slave_id));
    const candidates = monitor.slaves.filter((s) => !listed.has(s.id));
    const chosen = this.blacklistSelect.value;
    setChildren(this.blacklistSelect, candidates.length
      ? candidates.map((s) => h("option", { value: s.id }, s.name))
      : h("option", { value: "" }, "no other slave"));
    if (candidates.some((s) => s.id === chosen)) this.blacklistSelect.value = chosen;
    this.blacklistAdd.hidden = !candidates.length;
  }

  renderHistory(history) {
    if (history === undefined) {
      if (!this.history.firstChild) this.history.append(h("li.muted", {}, "This master keeps no history of jobs."));
      return;
    }
    const key = JSON.stringify(history);
    if (key === this.historyKey) return;
    this.historyKey = key;
    const items = [...history].reverse();
    setChildren(this.history, items.length ? items.map((e) => h("li", {},
      h("time", { title: fmtFullTime(e.at) }, fmtTime(e.at)), h("span", {}, e.event)))
      : h("li.muted", {}, "Nothing happened yet."));
  }
}

// Where a job's files come from, and what a bake bakes.
export function sourceText(job) {
  const bakes = job.kind === "bake" && Array.isArray(job.caches)
    ? `; bakes ${job.caches.map(([object, cache]) => `${object}/${cache}`).join(", ")}` : "";
  if (job.vcs) return `${job.vcs} ${job.remote} at ${job.revision}${bakes}`;
  if (job.shared) return `in place on shared storage${bakes}`;
  return `uploaded (${(job.files || []).length})${bakes}`;
}
