// SPDX-License-Identifier: GPL-3.0-or-later
// The panel of one task of a job (a frame, or a tile or stitch of a job of
// tiles): its state, its log, its file, and rendering it again.

import * as api from "./api.js";
import { isCancelled } from "./jobs.js";
import {
  badge, button, DASH, fmtDuration, fmtTime, h, icon, iconButton, setChildren, setText, showError, updateBadge,
} from "./ui.js";

// What to call a task: "Frame 3", "Tile 5 · frame 3" or "Stitch · frame 3".
export function taskTitle(job, task) {
  const detail = task && task.task;
  if (!detail) return `Frame ${task ? task.number : ""}`;
  if (detail.kind === "stitch") return `Stitch · frame ${detail.frame}`;
  const index = (job.frames || [])
    .filter((t) => t.task && t.task.kind === "tile" && t.task.frame === detail.frame && t.number <= task.number)
    .length;
  return `Tile ${index || detail.number} · frame ${detail.frame}`;
}

function region(detail) {
  const [x0, y0, x1, y1] = detail.rect;
  return `${x1 - x0}×${y1 - y0} px at ${x0}, ${y0}`;
}

// Open the panel of task `number` of `page.job`; page.panel holds the open one.
export function openTask(page, number) {
  if (page.panel && page.panel.open) page.panel.close();
  const monitor = page.monitor;
  const jobId = page.id;
  const task = () => (page.job.frames || []).find((f) => f.number === number);
  const first = task();
  const detail = first && first.task;
  const title = taskTitle(page.job, first || { number });
  const what = title.charAt(0).toLowerCase() + title.slice(1);
  const status = badge("queued");
  const facts = h("dl.facts.facts-panel");
  const fields = {};
  const rows = [["slave", "Slave"], ["time", "Render time"], ["failures", "Failures"],
    ["dispatched", "Dispatched"], ["finished", "Finished"]];
  if (detail) rows.push(["task", "Task"], ["what", detail.kind === "stitch" ? "Makes" : "Region"]);
  for (const [key, label] of rows) {
    fields[key] = h("dd");
    facts.append(h("div", {}, h("dt", {}, label), fields[key]));
  }
  if (detail) {
    setText(fields.task, `${number} of job ${jobId}`);
    setText(fields.what, detail.kind === "stitch"
      ? `frame ${detail.frame} from ${detail.inputs.length} tiles${detail.denoise ? ", denoised" : ""}`
      : region(detail));
  }
  const message = h("p.frame-message", { hidden: true });
  const preview = h("div.panel-preview", { hidden: true });
  const fileName = detail && detail.kind === "tile" ? `task-${String(number).padStart(6, "0")}`
    : `frame-${String(detail ? detail.frame : number).padStart(6, "0")}`;
  const download = h("a.btn.btn-primary", { href: api.jobs.resultUrl(jobId, number),
    download: `job-${jobId}-${fileName}.exr`, dataset: { action: "download-frame" } },
  icon("download"), h("span", {}, "Download .exr"));
  const rerender = button("Render again", { kind: "ghost", dataset: { action: "reset-frame" } }, "retry");
  rerender.addEventListener("click", () => monitor.act(`Queueing ${what} again`,
    () => api.jobs.resetFrame(jobId, number), `${title} is queued again`));
  const log = h("pre.log", { tabindex: "0", "aria-label": `Log of ${what}` }, "Loading the log…");
  const reload = button("Reload", { kind: "small ghost", dataset: { action: "reload-log" } }, "retry");
  const loadLog = async () => {
    try {
      const text = await api.jobs.log(jobId, number);
      log.textContent = text || "No log yet: the slave sends it when the task is done or fails.";
      log.classList.toggle("muted", !text);
      log.scrollTop = log.scrollHeight;
    } catch (error) {
      log.textContent = "";
      showError(error, `Loading the log of ${what}`);
    }
  };
  reload.addEventListener("click", loadLog);

  const close = iconButton("close", "Close", { kind: "ghost", dataset: { action: "close-panel" } });
  const panel = h("dialog.drawer", { "aria-label": title },
    h("header.dialog-head", {}, h("div.title-row", {}, h("h2", {}, title), status), close),
    h("div.drawer-body", {}, preview, message, facts,
      h("div.toolbar", {}, download, rerender),
      h("div.card-head.log-head", {}, h("h3", {}, "Log"), reload), log));
  close.addEventListener("click", () => panel.close());
  panel.addEventListener("click", (event) => {
    if (event.target === panel) panel.close();
  });
  panel.addEventListener("close", () => {
    panel.remove();
    if (page.panel === panel) page.panel = null;
  });
  let shownPreview = null;
  panel.update = () => {
    const f = task();
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
    rerender.disabled = isCancelled(page.job);
    const want = done ? f.finished_at : null;
    if (want !== shownPreview) {
      shownPreview = want;
      preview.hidden = !done;
      preview.replaceChildren(done ? h("img", { alt: title,
        src: api.jobs.thumbnailUrl(jobId, number, f.finished_at) }) : "");
    }
  };
  page.panel = panel;
  document.body.append(panel);
  panel.update();
  panel.showModal();
  close.focus();
  loadLog();
  return panel;
}
