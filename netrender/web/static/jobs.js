// SPDX-License-Identifier: GPL-3.0-or-later
// The jobs page: every job with its progress, and what can be done to it.

import * as api from "./api.js";
import { isTiles, tileGrid, unit } from "./mosaic.js";
import {
  badge, chips, confirm, counts, DASH, dialog, fmtDuration, fmtFullTime, fmtPercent, fmtTime, h,
  icon, iconButton, inlineNumber, menuButton, progressBar, reconcile, setChildren, setText, updateBadge,
} from "./ui.js";

const ACTIVE = ["queued", "running", "paused"];

// -- actions shared with the job page -----------------------------------------

export function canPause(job) {
  return job.status === "queued" || job.status === "running";
}

export function canResume(job) {
  return job.status === "paused";
}

// The master refuses to bring back a cancelled job: it is submitted again instead.
export function isCancelled(job) {
  return job.status === "cancelled";
}

export function pauseOrResume(monitor, job) {
  if (canResume(job)) {
    return monitor.act(`Resuming job ${job.id}`, () => api.jobs.control(job.id, "resume"), `Job ${job.id} resumed`);
  }
  return monitor.act(`Pausing job ${job.id}`, () => api.jobs.control(job.id, "pause"), `Job ${job.id} paused`);
}

export async function cancelJob(monitor, job) {
  const ok = await confirm(`Cancel job ${job.id}?`,
    `“${job.name}” gets no more ${unit(job)} and its slaves stop at their next heartbeat. ` +
    "This is final: to render it again, submit it again.", "Cancel job", "danger");
  if (ok) await monitor.act(`Cancelling job ${job.id}`, () => api.jobs.control(job.id, "cancel"), `Job ${job.id} cancelled`);
}

export function resetErrors(monitor, job) {
  return monitor.act(`Resetting the failed ${unit(job)} of job ${job.id}`, () => api.jobs.control(job.id, "reset"),
    `The failed ${unit(job)} of job ${job.id} are queued again`);
}

export async function requeueJob(monitor, job) {
  const ok = await confirm(`Requeue every ${unit(job, 1)} of job ${job.id}?`,
    `All ${counts(job).total} ${unit(job)} of “${job.name}” are rendered again, the finished ones too.`,
    `Requeue all ${unit(job)}`);
  if (ok) {
    await monitor.act(`Requeueing job ${job.id}`, () => api.jobs.control(job.id, "requeue"),
      `Every ${unit(job, 1)} of job ${job.id} is queued again`);
  }
}

// Ask whether the job's files go too; resolves to true once the job is gone.
export async function removeJob(monitor, job, beforeDelete) {
  const choice = await dialog({
    title: `Remove job ${job.id}?`,
    className: "dialog-remove",
    content: [
      h("p", {}, `“${job.name}” leaves the farm and its list of ${unit(job)} is forgotten.`),
      h("p.muted", {}, "Its files on the master — the scene and everything uploaded with it, " +
        "the rendered frames, their logs and thumbnails — can be kept on disk or deleted with it."),
    ],
    buttons: [
      { label: "Don't remove", value: "", kind: "ghost" },
      { label: "Remove, keep files", value: "keep", kind: "" },
      { label: "Remove and delete files", value: "delete", kind: "danger" },
    ],
  });
  if (!choice) return false;
  if (beforeDelete) beforeDelete();
  const removed = await monitor.act(`Removing job ${job.id}`,
    () => api.jobs.remove(job.id, choice === "delete"),
    choice === "delete" ? `Job ${job.id} and its files were removed` : `Job ${job.id} was removed; its files stay`);
  return removed !== undefined;
}

export function editJob(monitor, job, changes) {
  const what = Object.keys(changes).join(" and ");
  return monitor.act(`Changing the ${what} of job ${job.id}`, () => api.jobs.edit(job.id, changes),
    `Job ${job.id}: ${Object.entries(changes).map(([k, v]) => `${k} ${v}`).join(", ")}`);
}

// The queue's actions, as RenderController names them; each where it makes sense.
const QUEUE_ACTIONS = [
  ["start", "Start now", "play", ["waiting", "stopped"]],
  ["stop", "Stop", "pause", ["waiting", "rendering"]],
  ["enqueue", "Enqueue", "queue", ["stopped", "rendering"]],
];

export function moreMenu(monitor, getJob, { openLink = true, onRemove } = {}) {
  return menuButton("More actions", () => {
    const job = getJob();
    const c = counts(job);
    return [
      openLink && { label: "Open job page", icon: "image", action: "open", onclick: () => { location.hash = `#/jobs/${job.id}`; } },
      openLink && "-",
      { label: "Cancel job", icon: "stop", action: "cancel", disabled: job.status === "cancelled" || job.status === "finished",
        onclick: () => cancelJob(monitor, job) },
      { label: `Reset failed ${unit(job)}${c.error ? ` (${c.error})` : ""}`, icon: "retry", action: "reset",
        disabled: !c.error || isCancelled(job), onclick: () => resetErrors(monitor, job) },
      { label: `Requeue all ${unit(job)}`, icon: "requeue", action: "requeue", disabled: isCancelled(job),
        onclick: () => requeueJob(monitor, job) },
      "-",
      ...QUEUE_ACTIONS.map(([action, label, icon, when]) => ({ label, icon, action: `queue-${action}`,
        disabled: isCancelled(job) || !when.includes(job.queue_state || "waiting"),
        onclick: () => monitor.act(`${label} job ${job.id}`, () => api.jobs.control(job.id, action),
          `job ${job.id} (“${job.name}”): ${label.toLowerCase()}`) })),
      "-",
      { label: "Remove job…", icon: "trash", action: "remove", kind: "danger",
        onclick: () => (onRemove ? onRemove(job) : removeJob(monitor, job)) },
    ];
  });
}

export function pauseButton() {
  const b = iconButton("pause", "Pause", { kind: "ghost", dataset: { action: "pause" } });
  b.show = (job) => {
    const resume = canResume(job);
    const action = resume ? "resume" : "pause";
    if (b.dataset.action !== action) {
      b.dataset.action = action;
      const label = resume ? "Resume" : "Pause";
      b.title = label;
      b.setAttribute("aria-label", `${label} job ${job.id}`);
      b.replaceChildren(icon(resume ? "play" : "pause"));
    }
    b.disabled = !resume && !canPause(job);
  };
  return b;
}

export function timesList() {
  const rows = {};
  const list = h("dl.times");
  for (const [key, label] of [["submitted_at", "Submitted"], ["started_at", "Started"], ["finished_at", "Finished"]]) {
    rows[key] = h("dd");
    list.append(h("div", {}, h("dt", {}, label), rows[key]));
  }
  list.show = (job) => {
    for (const [key, dd] of Object.entries(rows)) {
      setText(dd, fmtTime(job[key]));
      dd.title = fmtFullTime(job[key]);
    }
  };
  return list;
}

export function emptyJobs(monitor) {
  return h("div.empty-state", {},
    h("div.empty-icon", {}, icon("image")),
    h("p.empty-title", {}, "No jobs yet: submit one with"), " ",
    h("code.command", {}, `netrender submit FILE.blend --master ${monitor.origin}`), " ",
    h("p.muted", {}, "or from Blender: Network Render engine, Client mode, Animation on network."));
}

// -- the page -----------------------------------------------------------------

const COLUMNS = ["Job", "Category", "Tags", "Priority", "Chunks", "Status", "Progress", "Usage", "ETA", "Times", ""];

// A chip for a job of tiles: "18 tiles", with the grid and the denoising in its tooltip.
export function kindChip(job) {
  if (job.kind === "bake") {
    const caches = (job.caches || []).map(([object, cache]) => `${object}/${cache}`);
    return h("span.chip.chip-tiles", { title: `Point caches baked on the farm, one per task: ${caches.join(", ")}` },
      `bake · ${caches.length} ${caches.length === 1 ? "cache" : "caches"}`);
  }
  if (job.vcs) return h("span.chip.chip-tiles", { title: `Checked out of ${job.remote} at ${job.revision}` }, job.vcs);
  if (!isTiles(job)) return null;
  const [columns, rows] = tileGrid(job);
  const per = columns * rows || job.tiles;
  const [width, height] = job.size || [];
  return h("span.chip.chip-tiles", {
    title: `Each frame${width ? ` (${width}×${height} px)` : ""} in ${per} tiles` +
      `${columns ? ` (${columns}×${rows})` : ""}, stitched by one more task${job.denoise ? " that denoises it" : ""}`,
  }, `${per} tiles`, job.denoise ? " · denoise" : "");
}

export class JobsPage {
  constructor(monitor) {
    this.monitor = monitor;
    this.title = "Jobs";
    this.rows = new Map();
  }

  mount() {
    this.stats = h("div.stats");
    this.body = h("tbody");
    this.table = h("div.table-wrap", {},
      h("table.table.jobs-table", {},
        h("thead", {}, h("tr", {}, COLUMNS.map((c) => h("th", { scope: "col" }, c)))),
        this.body));
    this.empty = h("div", { hidden: true });
    this.loading = h("p.muted.loading", {}, "Loading jobs…");
    return h("section.page", {},
      h("div.page-head", {}, h("div", {}, h("h1", {}, "Jobs"),
        h("p.subtitle", {}, "Everything submitted to this master, newest first."))),
      this.stats, this.loading, this.empty, h("div.card.table-card", {}, this.table));
  }

  // Polled with the jobs: whether the master is a queue, so each row can say its place in it.
  load() {
    return api.queue.get().catch(() => null);
  }

  render(queue) {
    this.monitor.queueMode = Boolean(queue && queue.mode === "fifo");
    const { jobs, slaves } = this.monitor;
    this.loading.hidden = true;
    this.renderStats(jobs, slaves);
    const sorted = [...jobs].sort((a, b) => b.id - a.id);
    this.table.parentElement.hidden = !sorted.length;
    this.empty.hidden = !!sorted.length;
    if (!sorted.length && !this.empty.firstChild) setChildren(this.empty, emptyJobs(this.monitor));
    reconcile(this.body, sorted, (j) => j.id, (j) => this.createRow(j), (tr, j) => tr.show(j), this.rows);
  }

  renderStats(jobs, slaves) {
    let rendering = 0;
    let done = 0;
    let total = 0;
    let failed = 0;
    for (const job of jobs) {
      const c = counts(job);
      rendering += c.dispatched;
      done += c.done;
      total += c.total;
      failed += c.error;
    }
    const active = jobs.filter((j) => ACTIVE.includes(j.status)).length;
    const tasks = jobs.some(isTiles); // tiles make tasks that are not frames
    const busy = slaves.filter((s) => s.state === "rendering").length;
    const online = slaves.filter((s) => s.state === "idle" || s.state === "rendering").length;
    const items = [
      ["Active jobs", String(active), `${jobs.length} in all`],
      ["Rendering now", String(rendering), `${tasks ? "task" : "frame"}${rendering === 1 ? "" : "s"}`],
      [tasks ? "Tasks done" : "Frames done", `${done}`, `of ${total}${failed ? ` · ${failed} failed` : ""}`],
      ["Slaves busy", `${busy} / ${online}`, `${slaves.length} known`],
    ];
    if (!this.stats.firstChild) {
      for (const [label] of items) {
        this.stats.append(h("div.stat", {}, h("span.stat-label", {}, label), h("span.stat-value"), h("span.stat-note")));
      }
    }
    items.forEach(([label, value, note], i) => {
      const node = this.stats.children[i];
      setText(node.children[0], label);
      setText(node.children[1], value);
      setText(node.children[2], note);
    });
  }

  createRow(initial) {
    const monitor = this.monitor;
    let job = initial;
    const cell = (label, ...children) => h("td", { dataset: { label } }, children);
    const name = h("a.job-link", { href: `#/jobs/${job.id}` });
    const kind = h("span.kind");
    const blend = h("span.sub.ellipsis");
    const category = h("span");
    const tags = h("span");
    const priority = inlineNumber({ label: "priority", min: 1, max: 100,
      onCommit: (value, undo) => editJob(monitor, job, { priority: value }).then((r) => r || undo()) });
    const chunks = inlineNumber({ label: "chunks", min: 1, max: 1000,
      onCommit: (value, undo) => editJob(monitor, job, { chunks: value }).then((r) => r || undo()) });
    const status = badge("queued");
    const waits = h("span.sub.nowrap.job-after");
    const frames = h("strong");
    const framesSub = h("span");
    const bar = progressBar();
    const percent = h("span.progress-text");
    const usage = h("span.nowrap");
    const busy = h("span.sub.nowrap");
    const eta = h("span.nowrap");
    const times = timesList();
    const pause = pauseButton();
    pause.addEventListener("click", () => pauseOrResume(monitor, job));
    const more = moreMenu(monitor, () => job);
    const tr = h("tr", { dataset: { job: String(job.id) } },
      cell("Job", h("div.name-cell", {}, h("div.name-line", {}, name, kind), blend)),
      cell("Category", category),
      cell("Tags", tags),
      cell("Priority", priority),
      cell("Chunks", chunks),
      cell("Status", h("div.stack", {}, status, waits)),
      cell("Progress", h("div.frames-cell", {}, h("div.progress-cell", {}, bar, percent),
        h("span.sub.nowrap", {}, frames, " ", framesSub))),
      cell("Usage", h("div.stack", {}, usage, busy)),
      cell("ETA", eta),
      cell("Times", times),
      h("td.actions", {}, h("div.row-actions", {}, pause, more)));
    let lastTags = null;
    let lastKind = null;
    tr.show = (next) => {
      job = next;
      const c = counts(job);
      setText(name, job.name || `job ${job.id}`);
      const kindKey = JSON.stringify([job.kind, job.tiles, job.size, job.denoise, job.grid, job.caches, job.vcs]);
      if (kindKey !== lastKind) {
        lastKind = kindKey;
        setChildren(kind, kindChip(job));
      }
      setText(blend, [`#${job.id}`, job.engine, job.blend].filter(Boolean).join(" · "));
      blend.title = job.blend || "";
      setText(category, job.category || DASH);
      category.className = job.category ? "chip chip-category" : "muted";
      const tagKey = (job.tags || []).join("\u0000");
      if (tagKey !== lastTags) {
        lastTags = tagKey;
        setChildren(tags, chips(job.tags));
      }
      priority.show(job.priority);
      chunks.show(job.chunks);
      priority.disabled = isCancelled(job);
      chunks.disabled = isCancelled(job);
      updateBadge(status, job.status);
      setText(waits, job.after ? `after #${job.after}` : monitor.queueMode && job.queue_state
        ? job.queue_state : "");
      waits.title = job.after ? `Starts when job ${job.after} has finished (${monitor.jobName(job.after)})` : "";
      setText(frames, `${c.done} / ${c.total}`);
      setText(framesSub, `${unit(job, c.total)} done · ${c.dispatched} rendering · ${c.error} failed`);
      framesSub.classList.toggle("has-errors", c.error > 0);
      bar.update(c);
      setText(percent, `${c.percent} %`);
      setText(usage, fmtPercent(job.usage));
      usage.title = "The job's share of the farm, averaged over time";
      const b = job.busy;
      setText(busy, b === undefined ? "" : `${b} ${b === 1 ? "slave" : "slaves"}`);
      setText(eta, job.eta === undefined || job.eta === null ? DASH : fmtDuration(job.eta));
      eta.title = job.mean_render_time ? `${fmtDuration(job.mean_render_time)} per ${unit(job, 1)} on average` : "";
      times.show(job);
      pause.show(job);
    };
    return tr;
  }
}

