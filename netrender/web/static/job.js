// SPDX-License-Identifier: GPL-3.0-or-later
// One job: its frames as a grid of thumbnails, each frame's log, its files,
// blacklist and history.

import * as api from "./api.js";
import {
  cancelJob, editJob, isCancelled, pauseButton, pauseOrResume, removeJob, requeueJob, resetErrors, timesList,
} from "./jobs.js";
import {
  badge, button, chips, counts, DASH, fmtBytes, fmtDuration, fmtFullTime, fmtPercent, fmtTime, h, icon,
  iconButton, inlineNumber, progressBar, reconcile, setChildren, setText, showError, updateBadge,
} from "./ui.js";

// Above this many frames the full list is fetched every 10 s only; the job's counts still every poll.
const BIG_JOB = 2000;

const FRAME_STATES = [
  ["done", "done"], ["dispatched", "rendering"], ["queued", "queued"], ["error", "failed"],
];

export class JobPage {
  constructor(monitor, id) {
    this.monitor = monitor;
    this.id = id;
    this.title = `Job ${id}`;
    this.job = null;
    this.tiles = new Map();
    this.panel = null; // the open frame panel
    this.gone = false;
    this.framesAt = 0; // when the frame list was last fetched
  }

  load() {
    if (this.gone) return Promise.resolve(null);
    const big = this.job && counts(this.job).total > BIG_JOB;
    if (big && Date.now() - this.framesAt < 10_000) {
      const frames = this.job.frames;
      return api.jobs.get(this.id, false).then((job) => ({ ...job, frames }));
    }
    return api.jobs.get(this.id).then((job) => {
      this.framesAt = Date.now();
      return job;
    });
  }

  failed(error) {
    if (error.status === 404) {
      this.gone = true; // stop asking: it will not come back
      this.showGone(error.message);
    } else {
      showError(error, `Loading job ${this.id}`);
    }
  }

  unmount() {
    if (this.panel && this.panel.open) this.panel.close();
  }

  showGone(message) {
    setChildren(this.root, h("div.empty-state", {},
      h("div.empty-icon", {}, icon("alert")),
      h("p.empty-title", {}, `Job ${this.id} is not on this master.`),
      h("p.muted", {}, message || "It may have been removed."),
      h("a.btn", { href: "#/jobs" }, "Back to the jobs")));
  }

  mount() {
    this.root = h("section.page.job-page", {}, h("p.muted.loading", {}, `Loading job ${this.id}…`));
    return this.root;
  }

  build() {
    const monitor = this.monitor;
    const job = () => this.job;
    this.nameNode = h("h1.job-title");
    this.statusBadge = badge("queued");
    this.pause = pauseButton();
    this.pause.addEventListener("click", () => pauseOrResume(monitor, job()));
    this.pause.classList.remove("btn-icon");
    this.cancel = button("Cancel", { kind: "ghost", dataset: { action: "cancel" } }, "stop");
    this.cancel.addEventListener("click", () => cancelJob(monitor, job()));
    this.reset = button("Reset failed", { kind: "ghost", dataset: { action: "reset" } }, "retry");
    this.reset.addEventListener("click", () => resetErrors(monitor, job()));
    this.requeue = button("Requeue all", { kind: "ghost", dataset: { action: "requeue" } }, "requeue");
    this.requeue.addEventListener("click", () => requeueJob(monitor, job()));
    const remove = button("Remove…", { kind: "ghost danger", dataset: { action: "remove" } }, "trash");
    remove.addEventListener("click", () => this.remove());
    this.zip = h("a.btn.btn-primary", { href: api.jobs.zipUrl(this.id), download: `job-${this.id}.zip`,
      dataset: { action: "zip" } }, icon("download"), h("span", {}, "All frames (.zip)"));

    this.bar = progressBar();
    this.bar.classList.add("progress-large");
    this.numbers = {};
    const numbers = h("div.numbers");
    this.percent = h("strong.percent-big");
    for (const [key, label] of [["done", "done"], ["dispatched", "rendering"], ["queued", "queued"],
      ["error", "failed"], ["eta", "left (ETA)"], ["mean", "per frame"], ["usage", "farm share"],
      ["busy", "slaves on it"]]) {
      this.numbers[key] = h("strong");
      numbers.append(h(`div.number.number-${key}`, {}, this.numbers[key], h("span", {}, label)));
    }

    this.facts = {};
    const facts = h("dl.facts");
    const fact = (key, label, node) => {
      this.facts[key] = node || h("dd");
      facts.append(h("div", {}, h("dt", {}, label), node ? h("dd", {}, node) : this.facts[key]));
    };
    this.priority = inlineNumber({ label: "priority", min: 1, max: 100,
      onCommit: (value, undo) => editJob(monitor, job(), { priority: value }).then((r) => r || undo()) });
    this.chunks = inlineNumber({ label: "chunks", min: 1, max: 1000,
      onCommit: (value, undo) => editJob(monitor, job(), { chunks: value }).then((r) => r || undo()) });
    fact("category", "Category");
    fact("tags", "Tags");
    fact("priority", "Priority", this.priority);
    fact("chunks", "Chunks", this.chunks);
    fact("engine", "Engine");
    fact("blend", "Scene");
    this.times = timesList();
    facts.append(h("div.facts-times", {}, h("dt", {}, "Times"), h("dd", {}, this.times)));

    this.grid = h("div.frame-grid");
    this.legend = h("div.legend");
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

    setChildren(this.root, [
      h("a.back", { href: "#/jobs" }, icon("back"), "Jobs"),
      h("div.page-head.job-head", {},
        h("div.job-heading", {}, h("div.title-row", {}, this.nameNode, this.statusBadge),
          this.subtitle = h("p.subtitle")),
        h("div.toolbar", {}, this.pause, this.cancel, this.reset, this.requeue, remove, this.zip)),
      h("div.card.summary-card", {}, h("div.summary-progress", {},
        h("div.card-head", {}, h("h2", {}, "Progress"), this.percent), this.bar, numbers), facts),
      h("section.card", {},
        h("div.card-head", {}, h("h2", {}, "Frames"), this.legend),
        this.framesEmpty = h("p.muted", { hidden: true }, "This job has no frames."),
        this.grid),
      h("div.columns", {},
        h("section.card", {}, h("div.card-head", {}, h("h2", {}, "Files"), this.filesTotal), this.missingNote,
          h("div.table-wrap", {}, h("table.table.compact.files-table", {},
            h("thead", {}, h("tr", {}, h("th", {}, "Path"), h("th.num", {}, "Size"))), this.filesBody))),
        h("section.card", {}, h("div.card-head", {}, h("h2", {}, "Blacklist")),
          h("p.muted.small", {}, "Slaves that never get this job: put there by hand, or for failing it too often."),
          this.blacklistList, this.blacklistAdd),
        h("section.card", {}, h("div.card-head", {}, h("h2", {}, "History")), this.history)),
    ]);
  }

  remove() {
    return removeJob(this.monitor, this.job, () => {
      // Leave the page first, so no poll asks for a job that is going away.
      this.gone = true;
      location.hash = "#/jobs";
    });
  }

  render(job) {
    if (!job || this.gone) return;
    if (!this.job) this.build();
    this.job = job;
    const c = counts(job);
    document.title = `${job.name} · netrender`;
    setText(this.nameNode, job.name || `job ${job.id}`);
    setText(this.subtitle, `Job ${job.id} · ${c.total} ${c.total === 1 ? "frame" : "frames"}` +
      `${job.category ? ` · ${job.category}` : ""}`);
    updateBadge(this.statusBadge, job.status);
    this.pause.show(job);
    const action = this.pause.dataset.action;
    if (this.pauseShown !== action) {
      this.pauseShown = action;
      this.pause.replaceChildren(icon(action === "resume" ? "play" : "pause"),
        h("span", {}, action === "resume" ? "Resume" : "Pause"));
    }
    this.cancel.disabled = job.status === "cancelled" || job.status === "finished";
    this.reset.disabled = !c.error || isCancelled(job);
    this.requeue.disabled = isCancelled(job);
    this.priority.disabled = isCancelled(job);
    this.chunks.disabled = isCancelled(job);
    this.zip.classList.toggle("disabled", !c.done);
    this.zip.setAttribute("aria-disabled", String(!c.done));
    this.zip.tabIndex = c.done ? 0 : -1;

    this.bar.update(c);
    setText(this.percent, `${c.percent} %`);
    setText(this.numbers.done, c.done);
    setText(this.numbers.dispatched, c.dispatched);
    setText(this.numbers.queued, c.queued);
    setText(this.numbers.error, c.error);
    setText(this.numbers.eta, job.eta === undefined || job.eta === null ? DASH : fmtDuration(job.eta));
    setText(this.numbers.mean, fmtDuration(job.mean_render_time));
    setText(this.numbers.usage, fmtPercent(job.usage));

    setText(this.facts.category, job.category || DASH);
    setChildren(this.facts.tags, chips(job.tags));
    this.priority.show(job.priority);
    this.chunks.show(job.chunks);
    setText(this.facts.engine, job.engine || DASH);
    setText(this.facts.blend, job.blend || DASH);
    setText(this.numbers.busy, job.busy === undefined ? DASH : job.busy);
    this.times.show(job);

    this.renderFrames(job.frames || []);
    this.renderFiles(job);
    this.renderBlacklist(job.blacklist || []);
    this.renderHistory(job.history);
    if (this.panel) this.panel.update();
  }

  renderFrames(frames) {
    const tally = { done: 0, dispatched: 0, queued: 0, error: 0 };
    for (const f of frames) tally[f.status] = (tally[f.status] || 0) + 1;
    setChildren(this.legend, FRAME_STATES.map(([state, label]) =>
      h(`span.legend-item.legend-${state}`, {}, h("i"), `${tally[state]} ${label}`)));
    this.framesEmpty.hidden = frames.length > 0;
    const sorted = [...frames].sort((a, b) => a.number - b.number);
    reconcile(this.grid, sorted, (f) => f.number, (f) => this.createTile(f), (tile, f) => tile.show(f), this.tiles);
  }

  createTile(frame) {
    let current = frame;
    const thumb = h("div.thumb");
    const number = h("span.frame-no");
    const time = h("span.frame-time");
    const slave = h("span.frame-slave.ellipsis");
    const tile = h("button.frame", { type: "button", dataset: { frame: String(frame.number) } },
      thumb, h("span.frame-meta", {}, number, time), slave);
    tile.addEventListener("click", () => this.openFrame(current.number));
    let shown = null; // what the thumbnail area shows now
    tile.show = (f) => {
      current = f;
      const cls = `frame frame-${f.status}`;
      if (tile.className !== cls) tile.className = cls;
      setText(number, f.number);
      setText(time, f.render_time === null || f.render_time === undefined ? "" : fmtDuration(f.render_time));
      const name = this.monitor.slaveName(f.slave_id);
      setText(slave, f.status === "queued" ? "" : name);
      const label = `Frame ${f.number}: ${f.status}${name ? ` on ${name}` : ""}`;
      if (tile.getAttribute("aria-label") !== label) tile.setAttribute("aria-label", label);
      const want = f.status === "done" ? `img:${f.finished_at}` : f.status;
      if (want === shown) return;
      shown = want;
      if (f.status === "done") {
        const img = h("img", { alt: `Frame ${f.number}`, loading: "lazy", decoding: "async",
          src: api.jobs.thumbnailUrl(this.id, f.number, f.finished_at) });
        img.addEventListener("error", () => img.replaceWith(icon("image")), { once: true });
        thumb.replaceChildren(img);
      } else {
        const names = { queued: "queue", dispatched: "spark", error: "alert" };
        thumb.replaceChildren(icon(names[f.status] || "queue"), h("span.thumb-label", {},
          f.status === "dispatched" ? "rendering" : f.status === "error" ? "failed" : "queued"));
      }
    };
    return tile;
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

  // -- the frame panel ------------------------------------------------------------

  openFrame(number) {
    if (this.panel && this.panel.open) this.panel.close();
    const monitor = this.monitor;
    const frame = () => (this.job.frames || []).find((f) => f.number === number);
    const status = badge("queued");
    const facts = h("dl.facts.facts-panel");
    const fields = {};
    for (const [key, label] of [["slave", "Slave"], ["time", "Render time"], ["failures", "Failures"],
      ["dispatched", "Dispatched"], ["finished", "Finished"]]) {
      fields[key] = h("dd");
      facts.append(h("div", {}, h("dt", {}, label), fields[key]));
    }
    const message = h("p.frame-message", { hidden: true });
    const preview = h("div.panel-preview", { hidden: true });
    const download = h("a.btn.btn-primary", { href: api.jobs.resultUrl(this.id, number),
      download: `job-${this.id}-frame-${String(number).padStart(6, "0")}.exr`, dataset: { action: "download-frame" } },
    icon("download"), h("span", {}, "Download .exr"));
    const rerender = button("Render again", { kind: "ghost", dataset: { action: "reset-frame" } }, "retry");
    rerender.addEventListener("click", () => monitor.act(`Queueing frame ${number} again`,
      () => api.jobs.resetFrame(this.id, number), `Frame ${number} is queued again`));
    const log = h("pre.log", { tabindex: "0", "aria-label": `Log of frame ${number}` }, "Loading the log…");
    const reload = button("Reload", { kind: "small ghost", dataset: { action: "reload-log" } }, "retry");
    const loadLog = async () => {
      try {
        const text = await api.jobs.log(this.id, number);
        log.textContent = text || "No log yet: the slave sends it when the frame is done or fails.";
        log.classList.toggle("muted", !text);
        log.scrollTop = log.scrollHeight;
      } catch (error) {
        log.textContent = "";
        showError(error, `Loading the log of frame ${number}`);
      }
    };
    reload.addEventListener("click", loadLog);

    const close = iconButton("close", "Close", { kind: "ghost", dataset: { action: "close-panel" } });
    const panel = h("dialog.drawer", { "aria-label": `Frame ${number}` },
      h("header.dialog-head", {}, h("div.title-row", {}, h("h2", {}, `Frame ${number}`), status), close),
      h("div.drawer-body", {}, preview, message, facts,
        h("div.toolbar", {}, download, rerender),
        h("div.card-head.log-head", {}, h("h3", {}, "Log"), reload), log));
    close.addEventListener("click", () => panel.close());
    panel.addEventListener("click", (event) => {
      if (event.target === panel) panel.close();
    });
    panel.addEventListener("close", () => {
      panel.remove();
      if (this.panel === panel) this.panel = null;
    });
    let shownPreview = null;
    panel.update = () => {
      const f = frame();
      if (!f) return;
      updateBadge(status, f.status, f.status === "dispatched" ? "rendering" : f.status);
      const name = monitor.slaveName(f.slave_id);
      setChildren(fields.slave, f.slave_id
        ? [h("span", {}, name), name !== f.slave_id ? h("span.sub.mono", {}, f.slave_id) : null] : DASH);
      setText(fields.time, fmtDuration(f.render_time));
      setText(fields.failures, f.failures === undefined ? DASH : f.failures);
      setText(fields.dispatched, fmtTime(f.dispatched_at));
      setText(fields.finished, fmtTime(f.finished_at));
      message.hidden = !f.message;
      setText(message, f.message || "");
      const done = f.status === "done";
      download.hidden = !done;
      rerender.disabled = isCancelled(this.job);
      const want = done ? f.finished_at : null;
      if (want !== shownPreview) {
        shownPreview = want;
        preview.hidden = !done;
        preview.replaceChildren(done ? h("img", { alt: `Frame ${number}`,
          src: api.jobs.thumbnailUrl(this.id, number, f.finished_at) }) : "");
      }
    };
    this.panel = panel;
    document.body.append(panel);
    panel.update();
    panel.showModal();
    close.focus();
    loadLog();
  }
}
