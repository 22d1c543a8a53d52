// SPDX-License-Identifier: GPL-3.0-or-later
// Jobs of tiles: each frame drawn as a mosaic of its tiles, each at its region
// and in its task's state, with the stitch task (which assembles the frame and
// may denoise it) as the frame's state and its download once done.
//
// A job of many frames makes many mosaics: each is drawn once it comes near the
// screen, and a poll then touches only the tiles whose task changed.

import * as api from "./api.js";
import { badge, button, h, icon, setText, updateBadge } from "./ui.js";

export const isTiles = (job) => Boolean(job) && job.kind === "tiles";

// Python's round(), halves to even, as netrender.common.tiling rounds.
function roundHalfEven(x) {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

// [columns, rows] of a job of tiles. The job's `tiles` is the number asked for;
// the master makes a grid of about that many near-square tiles, by the same
// arithmetic as netrender.common.tiling.grid (a `grid` sent by the master wins).
export function tileGrid(job) {
  if (Array.isArray(job.grid) && job.grid.length === 2) return job.grid;
  const [width, height] = job.size || [];
  if (!job.tiles || !width || !height) return [0, 0];
  const rows = Math.max(1, Math.min(height, roundHalfEven(Math.sqrt((job.tiles * height) / width))));
  return [Math.max(1, Math.min(width, Math.ceil(job.tiles / rows))), rows];
}

// The grid as the job's tasks show it: the distinct left and top edges of one frame's tiles.
export function gridOfTasks(tasks) {
  const first = tasks.find((t) => t.task && t.task.kind === "tile");
  if (!first) return null;
  const xs = new Set();
  const ys = new Set();
  for (const t of tasks) {
    if (!t.task || t.task.kind !== "tile" || t.task.frame !== first.task.frame) continue;
    xs.add(t.task.rect[0]);
    ys.add(t.task.rect[1]);
  }
  return [xs.size, ys.size];
}

// "a frame" or "a task", for labels: a job of tiles counts tasks, not frames.
export const unit = (job, n = 2) => `${isTiles(job) ? "task" : "frame"}${n === 1 ? "" : "s"}`;

const pct = (n, of) => `${(n / of) * 100}%`;

// The state of a frame of tiles: [badge kind, text].
function frameState(tiles, stitch, denoise) {
  const status = stitch ? stitch.status : "queued";
  if (status === "done") return ["done", "done"];
  if (status === "dispatched") return ["dispatched", denoise ? "denoising…" : "stitching…"];
  // A tile that failed for good fails its stitch too: name the cause.
  if (tiles.some((t) => t.status === "error")) return ["error", "tile failed"];
  if (status === "error") return ["error", "stitch failed"];
  if (tiles.length && tiles.every((t) => t.status === "done")) {
    return ["queued", "ready to stitch"];
  }
  if (tiles.some((t) => t.status !== "queued")) return ["dispatched", "rendering tiles"];
  return ["queued", "queued"];
}

export class Mosaics {
  // openTask(number): show a task's panel (its log, its file).
  constructor(monitor, jobId, openTask) {
    this.monitor = monitor;
    this.jobId = jobId;
    this.openTask = openTask;
    this.cards = new Map(); // Blender frame -> card
    this.root = h("div.mosaics");
    this.observer = "IntersectionObserver" in window
      ? new IntersectionObserver((entries) => {
        for (const entry of entries) {
          if (!entry.isIntersecting) continue;
          this.observer.unobserve(entry.target);
          entry.target.reveal();
        }
      }, { rootMargin: "600px 0px" })
      : null;
  }

  destroy() {
    if (this.observer) this.observer.disconnect();
  }

  render(job, tasks) {
    const frames = new Map();
    for (const task of tasks) {
      const detail = task.task;
      if (!detail) continue;
      let entry = frames.get(detail.frame);
      if (!entry) frames.set(detail.frame, entry = { frame: detail.frame, size: detail.size, tiles: [], stitch: null });
      if (detail.kind === "stitch") entry.stitch = task;
      else entry.tiles.push(task);
    }
    // The job's frame order, as its outputs list them.
    const listed = (job.outputs || []).map((o) => o.frame).filter((f) => frames.has(f));
    const order = [...new Set([...listed, ...frames.keys()])];
    this.root.classList.toggle("mosaics-one", order.length === 1);
    const seen = new Set();
    let cursor = this.root.firstElementChild;
    for (const frame of order) {
      seen.add(frame);
      let card = this.cards.get(frame);
      if (!card) this.cards.set(frame, card = this.createCard(frame));
      card.show(frames.get(frame), Boolean(job.denoise));
      if (card !== cursor) this.root.insertBefore(card, cursor);
      else cursor = cursor.nextElementSibling;
    }
    for (const [frame, card] of this.cards) {
      if (seen.has(frame)) continue;
      card.remove();
      this.cards.delete(frame);
    }
  }

  createCard(frame) {
    const state = badge("queued");
    const count = h("span.mosaic-count");
    const download = h("a.btn.btn-small.btn-primary", {
      hidden: true, download: `job-${this.jobId}-frame-${String(frame).padStart(6, "0")}.exr`,
      dataset: { action: "download-output" }, title: `The finished frame ${frame} (OpenEXR)`,
      "aria-label": `Download frame ${frame} (.exr)`,
    }, icon("download"), h("span", {}, ".exr"));
    const stitchButton = button("Stitch task", { kind: "ghost small", dataset: { action: "open-stitch" },
      title: `The task that stitches frame ${frame}: its log and file` }, "log");
    const box = h("div.mosaic", { role: "group", "aria-label": `Tiles of frame ${frame}` });
    const card = h("article.mosaic-card", { dataset: { frame: String(frame) } },
      h("header.mosaic-head", {}, h("h3.mosaic-title", {}, `Frame ${frame}`), state, count,
        h("span.mosaic-actions", {}, download, stitchButton)),
      box);
    const tiles = new Map(); // task number -> tile button
    let data = null;
    let denoise = false;
    let revealed = !this.observer;
    let ratio = "";
    stitchButton.addEventListener("click", () => {
      if (data && data.stitch) this.openTask(data.stitch.number);
    });

    const draw = () => {
      const [width, height] = data.size;
      const sorted = [...data.tiles].sort((a, b) => a.number - b.number);
      const keep = new Set();
      sorted.forEach((task, index) => {
        keep.add(task.number);
        let tile = tiles.get(task.number);
        if (!tile) {
          tile = this.createTile(frame, index + 1, task.number);
          tiles.set(task.number, tile);
          box.append(tile);
        }
        tile.place(task.task.rect, width, height);
        tile.show(task);
      });
      for (const [number, tile] of tiles) {
        if (keep.has(number)) continue;
        tile.remove();
        tiles.delete(number);
      }
    };

    card.reveal = () => {
      revealed = true;
      if (data) draw();
    };
    card.show = (entry, withDenoise) => {
      data = entry;
      denoise = withDenoise;
      const [width, height] = entry.size || [16, 9];
      const aspect = `${width} / ${height}`;
      if (aspect !== ratio) {
        ratio = aspect;
        box.style.aspectRatio = aspect;
      }
      const done = entry.tiles.filter((t) => t.status === "done").length;
      setText(count, `${done}/${entry.tiles.length} tiles`);
      const [kind, text] = frameState(entry.tiles, entry.stitch, denoise);
      updateBadge(state, kind, text);
      card.dataset.state = text;
      const finished = entry.stitch && entry.stitch.status === "done";
      if (finished && download.hidden) download.href = api.jobs.outputUrl(this.jobId, frame);
      download.hidden = !finished;
      stitchButton.hidden = !entry.stitch;
      if (revealed) draw();
    };
    if (this.observer) this.observer.observe(card);
    return card;
  }

  createTile(frame, index, number) {
    const label = h("span.tile-no", {}, String(index));
    const tile = h("button.tile.tile-queued", { type: "button",
      dataset: { task: String(number), tile: String(index) } }, label);
    let placed = "";
    let shown = "";
    tile.addEventListener("click", () => this.openTask(number));
    tile.place = ([x0, y0, x1, y1], width, height) => {
      const key = `${x0},${y0},${x1},${y1}/${width}x${height}`;
      if (key === placed) return;
      placed = key;
      Object.assign(tile.style, { left: pct(x0, width), top: pct(y0, height),
        width: pct(x1 - x0, width), height: pct(y1 - y0, height) });
      tile.title = `Tile ${index} of frame ${frame} (task ${number}): ${x1 - x0}×${y1 - y0} px at ${x0}, ${y0}`;
    };
    tile.show = (task) => {
      const name = this.monitor.slaveName(task.slave_id);
      const state = task.status === "dispatched" ? "rendering" : task.status === "error" ? "failed" : task.status;
      const aria = `Tile ${index} of frame ${frame}: ${state}${name && task.status !== "queued" ? ` on ${name}` : ""}`;
      if (tile.getAttribute("aria-label") !== aria) tile.setAttribute("aria-label", aria);
      const want = `${task.status}:${task.finished_at}`;
      if (want === shown) return;
      shown = want;
      tile.className = `tile tile-${task.status}`;
      const old = tile.querySelector("img");
      if (task.status !== "done") {
        if (old) old.remove();
        return;
      }
      const img = h("img", { alt: "", loading: "lazy", decoding: "async",
        src: api.jobs.thumbnailUrl(this.jobId, number, task.finished_at) });
      img.addEventListener("error", () => img.remove(), { once: true });
      if (old) old.replaceWith(img);
      else tile.prepend(img);
    };
    return tile;
  }
}
