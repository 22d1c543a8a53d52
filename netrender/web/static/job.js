// SPDX-License-Identifier: GPL-3.0-or-later
// One job: its frames as a grid of thumbnails (a job of tiles: a mosaic per
// frame, mosaic.js), each task's panel (drawer.js), its files, blacklist and
// history.

import * as api from "./api.js";
import { openTask } from "./drawer.js";
import { JobCards, sourceText } from "./jobcards.js";
import {
  cancelJob, editJob, isCancelled, pauseButton, pauseOrResume, removeJob, requeueJob, resetErrors, timesList,
} from "./jobs.js";
import { gridOfTasks, isTiles, Mosaics, tileGrid, unit } from "./mosaic.js";
import {
  badge, button, chips, counts, DASH, fmtDuration, fmtPercent, h, icon, inlineNumber, progressBar, reconcile,
  setChildren, setText, showError, updateBadge,
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
    this.panel = null; // the open task panel
    this.mosaics = null; // a job of tiles: its frames as mosaics
    this.view = "mosaic"; // a job of tiles: "mosaic" or "tasks" (the plain grid)
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
    if (this.mosaics) this.mosaics.destroy();
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

  build(first) {
    const monitor = this.monitor;
    const job = () => this.job;
    const tiled = isTiles(first);
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
      dataset: { action: "zip" }, title: tiled ? "Every finished task's file: the tiles and the stitched frames" : null },
    icon("download"), h("span", {}, tiled ? "All results (.zip)" : "All frames (.zip)"));

    this.bar = progressBar();
    this.bar.classList.add("progress-large");
    this.numbers = {};
    const numbers = h("div.numbers");
    this.percent = h("strong.percent-big");
    for (const [key, label] of [["done", "done"], ["dispatched", "rendering"], ["queued", "queued"],
      ["error", "failed"], ["eta", "left (ETA)"], ["mean", `per ${unit(first, 1)}`], ["usage", "farm share"],
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
    fact("after", "Runs after");
    fact("switched", "Switched off");
    fact("source", "Files");
    if (tiled) {
      fact("tiles", "Tiles");
      fact("size", "Size");
      fact("denoise", "Denoise");
    }
    this.times = timesList();
    facts.append(h("div.facts-times", {}, h("dt", {}, "Times"), h("dd", {}, this.times)));

    this.grid = h("div.frame-grid");
    this.legend = h("div.legend");
    let views = null;
    if (tiled) {
      this.mosaics = new Mosaics(monitor, this.id, (number) => openTask(this, number));
      views = h("div.segmented", { role: "group", "aria-label": "Show the tasks as" });
      for (const [value, label] of [["mosaic", "Mosaic"], ["tasks", "Tasks"]]) {
        const b = button(label, { kind: "small ghost", dataset: { view: value },
          "aria-pressed": String(value === this.view) });
        b.addEventListener("click", () => {
          this.view = value;
          for (const other of views.children) other.setAttribute("aria-pressed", String(other === b));
          this.renderFrames(this.job);
        });
        views.append(b);
      }
    }
    this.cards = new JobCards(monitor, this.id);

    setChildren(this.root, [
      h("a.back", { href: "#/jobs" }, icon("back"), "Jobs"),
      h("div.page-head.job-head", {},
        h("div.job-heading", {}, h("div.title-row", {}, this.nameNode, this.statusBadge),
          this.subtitle = h("p.subtitle")),
        h("div.toolbar", {}, this.pause, this.cancel, this.reset, this.requeue, remove, this.zip)),
      h("div.card.summary-card", {}, h("div.summary-progress", {},
        h("div.card-head", {}, h("h2", {}, "Progress"), this.percent), this.bar, numbers), facts),
      h("section.card", {},
        h("div.card-head", {}, h("h2", {}, "Frames"), views, this.legend),
        this.framesEmpty = h("p.muted", { hidden: true }, "This job has no frames."),
        this.mosaics ? this.mosaics.root : null, this.grid),
      this.cards.root,
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
    if (!this.job) this.build(job);
    this.job = job;
    const c = counts(job);
    document.title = `${job.name} · netrender`;
    setText(this.nameNode, job.name || `job ${job.id}`);
    const shown = isTiles(job) && job.outputs ? job.outputs.length : null; // a job of tiles: its frames, then tasks
    const frameCount = shown === null ? "" : `${shown} ${shown === 1 ? "frame" : "frames"} · `;
    setText(this.subtitle, `Job ${job.id} · ${frameCount}${c.total} ${unit(job, c.total)}` +
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
    const afterKey = String(job.after || 0);
    if (this.facts.after.dataset.key !== afterKey) {  // a link to the job it waits for, named when known
      this.facts.after.dataset.key = afterKey;
      setChildren(this.facts.after, job.after ? h("a", { href: `#/jobs/${job.after}`, dataset: { after: job.after } },
        `#${job.after} ${this.monitor.jobName(job.after)}`) : DASH);
    }
    setText(this.facts.source, sourceText(job));
    const off = job.switched_off || [];
    if (this.facts.switched.dataset.key !== off.join(",")) {  // each slave off for this job, and its way back
      this.facts.switched.dataset.key = off.join(",");
      setChildren(this.facts.switched, off.length ? off.map((id) => {
        const on = button("on", { kind: "small ghost", dataset: { action: "switch-on", slave: id },
          title: "Let it render this job again" }, "power");
        on.addEventListener("click", () => this.monitor.act(`Switching ${this.monitor.slaveName(id)} on`,
          () => api.jobs.switchOff(job.id, id, false), `${this.monitor.slaveName(id)} may render job ${job.id} again`));
        return h("span.switched", {}, this.monitor.slaveName(id), " ", on);
      }) : DASH);
    }
    if (this.facts.tiles) this.renderTileFacts(job);
    setText(this.numbers.busy, job.busy === undefined ? DASH : job.busy);
    this.times.show(job);

    this.renderFrames(job);
    this.cards.render(job);
    if (this.panel) this.panel.update();
  }

  renderTileFacts(job) {
    const [columns, rows] = gridOfTasks(job.frames || []) || tileGrid(job);
    const per = columns * rows;
    setText(this.facts.tiles, per ? `${columns}×${rows} (${per} per frame)` : `about ${job.tiles} per frame`);
    this.facts.tiles.title = per !== job.tiles ? `${job.tiles} asked for; the grid keeps the tiles near square` : "";
    const [width, height] = job.size || [];
    setText(this.facts.size, width && height ? `${width}×${height} px` : DASH);
    setText(this.facts.denoise, job.denoise ? "yes, each whole frame once stitched" : "no");
  }

  renderFrames(job) {
    const frames = job.frames || [];
    const tally = { done: 0, dispatched: 0, queued: 0, error: 0 };
    for (const f of frames) tally[f.status] = (tally[f.status] || 0) + 1;
    const key = FRAME_STATES.map(([state]) => tally[state]).join();
    if (this.legend.dataset.key !== key) {
      this.legend.dataset.key = key;
      setChildren(this.legend, FRAME_STATES.map(([state, label]) =>
        h(`span.legend-item.legend-${state}`, {}, h("i"), `${tally[state]} ${label}`)));
    }
    this.framesEmpty.hidden = frames.length > 0;
    const mosaic = Boolean(this.mosaics) && this.view === "mosaic";
    this.grid.hidden = mosaic;
    if (this.mosaics) this.mosaics.root.hidden = !mosaic;
    if (mosaic) {
      this.mosaics.render(job, frames);
      return;
    }
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
    tile.addEventListener("click", () => openTask(this, current.number));
    let shown = null; // what the thumbnail area shows now
    tile.show = (f) => {
      current = f;
      const cls = `frame frame-${f.status}`;
      if (tile.className !== cls) tile.className = cls;
      setText(number, f.number);
      setText(time, f.render_time === null || f.render_time === undefined ? "" : fmtDuration(f.render_time));
      const name = this.monitor.slaveName(f.slave_id);
      setText(slave, f.status === "queued" ? "" : name);
      const what = f.task ? `Task ${f.number} (${f.task.kind} of frame ${f.task.frame})` : `Frame ${f.number}`;
      const label = `${what}: ${f.status}${name ? ` on ${name}` : ""}`;
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
}
