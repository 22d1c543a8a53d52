// SPDX-License-Identifier: GPL-3.0-or-later
// The storage page: the master's shared storage (--storage-root), folder by
// folder. A .blend found there is rendered in place with one click (a job on
// shared storage: nothing is uploaded), and a folder of frames is checked
// for the ones missing or empty. The master shows nothing outside its roots.

import * as api from "./api.js";
import { button, DASH, dialog, fmtBytes, fmtFullTime, h, icon, setChildren, setText } from "./ui.js";

// "1-24,30" → [1, …, 24, 30]; null when it is not a frame list.
export function parseFrames(text) {
  const frames = [];
  for (const part of text.replace(/\s/g, "").split(",").filter(Boolean)) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) return null;
    const [first, last] = [Number(m[1]), Number(m[2] ?? m[1])];
    if (last < first || last - first > 100000) return null;
    for (let f = first; f <= last; f += 1) if (!frames.includes(f)) frames.push(f);
  }
  return frames.length ? frames : null;
}

const join = (...parts) => parts.filter(Boolean).join("/");

export class StoragePage {
  constructor(monitor, root, path) {
    this.monitor = monitor;
    this.title = "Storage";
    this.root = root;
    this.path = path;
    this.key = null;
  }

  load() {
    return api.storage.list(this.root, this.path);
  }

  mount() {
    this.crumbs = h("nav.crumbs", { "aria-label": "Folder" });
    this.body = h("tbody");
    this.none = h("p.muted", { hidden: true }, "This folder is empty.");
    this.problem = h("div.empty-state", { hidden: true });
    this.frames = h("input.wide", { name: "frames", placeholder: "1-250", "aria-label": "Frames" });
    this.pattern = h("input.wide", { name: "pattern", value: "######.exr", "aria-label": "Frame names" });
    this.found = h("p.check-result", { "aria-live": "polite" });
    const check = h("form.check-frames", { dataset: { action: "check-frames" } },
      h("label.field", {}, h("span", {}, "Frames"), this.frames),
      h("label.field", {}, h("span", {}, "Named"), this.pattern),
      button("Check frames", { kind: "ghost", type: "submit" }, "check"));
    check.addEventListener("submit", (event) => {
      event.preventDefault();
      this.checkFrames();
    });
    this.card = h("div.card.table-card", {}, this.crumbs, h("div.table-wrap", {}, h("table.table.storage-table", {},
      h("thead", {}, h("tr", {}, ["Name", "Size", "Modified", ""].map((c) => h("th", { scope: "col" }, c)))),
      this.body)), this.none, h("div.card-foot", {}, check, this.found));
    return h("section.page", {},
      h("div.page-head", {}, h("div", {}, h("h1", {}, "Storage"),
        h("p.subtitle", {}, "The storage this master shares with its slaves: render a .blend where it is, or check "
          + "a folder for missing frames."))), this.problem, this.card);
  }

  failed(error) {
    this.card.hidden = true;
    this.problem.hidden = false;
    setChildren(this.problem, [h("div.empty-icon", {}, icon("alert")), h("p.empty-title", {}, error.message)]);
  }

  render(listing) {
    if (!listing) return; // drawn before its first load: nothing to show yet
    this.card.hidden = false;
    this.problem.hidden = true;
    this.listing = listing;
    const key = JSON.stringify([listing.root, listing.path, listing.entries]);
    if (key === this.key) return;
    this.key = key;
    const parts = listing.path ? listing.path.split("/") : [];
    const crumbs = [h("a", { href: `#/storage/${listing.root}` }, listing.roots[listing.root])];
    parts.forEach((part, i) => crumbs.push(" / ", h("a", { href: `#/storage/${listing.root}/${parts.slice(0, i + 1)
      .map(encodeURIComponent).join("/")}` }, part)));
    setChildren(this.crumbs, crumbs);
    this.none.hidden = listing.entries.length > 0;
    setChildren(this.body, listing.entries.map((entry) => this.row(entry)));
  }

  row(entry) {
    const path = join(this.listing.path, entry.name);
    const name = entry.kind === "folder"
      ? h("a", { href: `#/storage/${this.listing.root}/${path.split("/").map(encodeURIComponent).join("/")}` },
        icon("queue"), " ", entry.name)
      : h("span.mono", {}, entry.name);
    let action = null;
    if (entry.kind === "file" && entry.name.toLowerCase().endsWith(".blend")) {
      action = button("Render…", { kind: "small ghost", dataset: { action: "render-in-place" } }, "play");
      action.addEventListener("click", () => this.renderInPlace(entry, path));
    }
    return h("tr", { dataset: { entry: entry.name } }, h("td", {}, name),
      h("td.num-cell", {}, entry.kind === "file" ? fmtBytes(entry.size) : DASH),
      h("td", {}, fmtFullTime(entry.modified)), h("td.actions", {}, action));
  }

  async renderInPlace(entry, path) {
    const frames = h("input.wide", { name: "frames", required: true, placeholder: "1-250", "aria-label": "Frames" });
    const name = h("input.wide", { name: "name", value: entry.name.replace(/\.blend$/i, ""), "aria-label": "Name" });
    const choice = await dialog({
      title: `Render ${entry.name} in place`,
      content: [h("p", {}, "The slaves read the file and what it links where they are, on the shared storage: "
          + "nothing is uploaded."),
        h("label.field", {}, h("span", {}, "Frames"), frames), h("label.field", {}, h("span", {}, "Name"), name)],
      buttons: [{ label: "Cancel", value: "", kind: "ghost" },
        { label: "Render", value: "yes", kind: "primary", dataset: { action: "confirm-render" } }],
    });
    if (choice !== "yes") return;
    const list = parseFrames(frames.value);
    if (!list) {
      this.monitor.act("Rendering in place", () => Promise.reject(new Error(
        `${frames.value || "nothing"} is not a frame list like 1-250`)));
      return;
    }
    const root = this.listing.roots[this.listing.root];
    const job = await this.monitor.act(`Rendering ${entry.name}`, () => api.jobs.submit({
      name: name.value, blend: `${root}/${path}`, files: [], shared: true, frames: list,
    }), (sent) => `job ${sent.id} renders ${entry.name} in place`);
    if (job) location.hash = `#/jobs/${job.id}`;
  }

  async checkFrames() {
    const list = this.frames.value.trim();
    const found = await this.monitor.act("Checking frames", () => api.storage.frames(this.listing.root,
      this.listing.path, list, this.pattern.value));
    if (!found) return;
    setText(this.found, found.to_render.length
      ? `missing: ${found.missing.join(", ") || "none"}; empty: ${found.empty.join(", ") || "none"}`
      : "every frame is there");
  }
}
