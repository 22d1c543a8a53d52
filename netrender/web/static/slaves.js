// SPDX-License-Identifier: GPL-3.0-or-later
// The slaves page: every machine that registered, its Blender and measured
// speed, what it is doing, and the switches that keep it from work.

import * as api from "./api.js";
import { unit } from "./mosaic.js";
import { NodesCard } from "./nodes.js";
import {
  badge, button, chips, DASH, dialog, fmtAgo, fmtDuration, fmtFrames, fmtFullTime, h, icon, reconcile, setChildren,
  setText, updateBadge,
} from "./ui.js";

const COLUMNS = ["Slave", "Address", "Machine", "Tags", "State", "Working on", "Speed", "Last seen", "Done", "Failed",
  ""];

// A slave's speed profile (`speed` of GET /api/slaves; absent on older masters): seconds, lower is faster.
export const SPEEDS = [
  ["frame_seconds", "Frame", "per whole frame, averaged over the frames it rendered"],
  ["tile_seconds_per_mpix", "Tiles", "per megapixel of tiles, averaged over the tiles it rendered"],
  ["machine_seconds", "Machine", "for the fixed machine test, last run"],
  ["file_seconds", "File", "for the test render of a small version of a file, last run"],
];

const measured = (value) => typeof value === "number" && Number.isFinite(value) && value > 0;

export function fmtSpeed(key, value) {
  if (!measured(value)) return DASH;
  if (key === "tile_seconds_per_mpix") return `${value < 10 ? value.toFixed(1) : Math.round(value)} s/Mpx`;
  return value < 1 ? `${value.toFixed(2)} s` : fmtDuration(value);
}

// The fastest (lowest) measure of each kind over the slaves, for the bars.
export function fastest(slaves) {
  const best = {};
  for (const slave of slaves) {
    for (const [key] of SPEEDS) {
      const value = slave.speed ? slave.speed[key] : null;
      if (measured(value) && !(best[key] <= value)) best[key] = value;
    }
  }
  return best;
}

// A slave's measures, each a bar as long as its speed relative to the fastest slave's.
function speedList() {
  const list = h("dl.speeds");
  const none = h("span.muted.speed-none", { title: "Not measured yet" }, DASH);
  const samples = h("span.sub.speed-samples");
  const rows = {};
  for (const [key, label] of SPEEDS) {
    const fill = h("i");
    const value = h("span.speed-value");
    const bar = h("span.speed-bar", { "aria-hidden": "true" }, fill);
    rows[key] = { fill, value, bar, row: h("div.speed-row", { dataset: { metric: key } }, h("dt", {}, label),
      h("dd", {}, bar, value)) };
    list.append(rows[key].row);
  }
  const node = h("div.speed-cell", {}, none, list, samples);
  node.show = (speed, best) => {
    const profile = speed || {};
    const any = SPEEDS.some(([key]) => measured(profile[key]));
    none.hidden = any;
    list.hidden = !any;
    for (const [key, label, what] of SPEEDS) {
      const { fill, value, bar, row } = rows[key];
      const v = profile[key];
      setText(value, fmtSpeed(key, v));
      const ok = measured(v) && measured(best[key]);
      bar.hidden = !ok;
      row.classList.toggle("speed-unmeasured", !measured(v));
      const share = ok ? best[key] / v : 0;
      const width = `${Math.max(4, Math.round(share * 100))}%`;
      if (fill.style.width !== width) fill.style.width = width;
      const rank = share >= 0.995 ? "the fastest slave" : `${(1 / share).toFixed(1)}× the fastest slave's time`;
      row.title = measured(v) ? `${label}: ${fmtSpeed(key, v)} ${what}; ${rank}` : `${label}: not measured`;
    }
    const n = Number(profile.samples) || 0;
    setText(samples, any && n ? `from ${n} ${n === 1 ? "task" : "tasks"}` : "");
  };
  return node;
}

export function gpuText(gpu) {
  if (Array.isArray(gpu)) return gpu.length ? gpu.join(", ") : "no GPU found";
  return gpu ? String(gpu) : "no GPU found";
}

export function emptySlaves(monitor) {
  return h("div.empty-state", {},
    h("div.empty-icon", {}, icon("power")),
    h("p.empty-title", {}, "No slaves yet: start one with"), " ",
    h("code.command", {}, `netrender slave --master ${monitor.origin}`), " ",
    h("p.muted", {}, "on every machine that should render; each one shows up here when it registers."));
}

// Pick a job, then blacklist the slave for it or switch it off for it (a switch is not about failures).
const FOR_JOB = {
  blacklist: { title: "Blacklist", action: "confirm-job-blacklist",
    text: "gets no more frames of the chosen job; the frames it renders now still count.",
    call: (jobId, slave) => api.jobs.blacklist(jobId, slave.id, true),
    done: (slave, jobId, name) => `${slave.name} no longer renders job ${jobId} (“${name}”)` },
  switchOff: { title: "Switch off", action: "confirm-job-switch-off",
    text: "renders every other job but not the chosen one, until switched on again; nothing failed.",
    call: (jobId, slave) => api.jobs.switchOff(jobId, slave.id, true),
    done: (slave, jobId, name) => `${slave.name} is switched off for job ${jobId} (“${name}”)` },
};

export async function forJob(monitor, slave, mode = "blacklist") {
  const what = FOR_JOB[mode];
  const jobs = [...monitor.jobs].sort((a, b) => b.id - a.id);
  if (!jobs.length) {
    await dialog({ title: `No job to ${what.title.toLowerCase()} for`,
      content: [h("p", {}, "This master has no jobs yet.")],
      buttons: [{ label: "Close", value: "", kind: "primary" }] });
    return;
  }
  const select = h("select.wide", { name: "job", "aria-label": "Job" }, jobs.map((j) =>
    h("option", { value: String(j.id) }, `#${j.id} ${j.name} (${j.status})`)));
  const active = jobs.find((j) => j.id === slave.current_job) || jobs.find((j) => j.status === "running");
  if (active) select.value = String(active.id);
  const choice = await dialog({
    title: `${what.title} ${slave.name} for a job`,
    content: [h("p", {}, `${slave.name} ${what.text}`), h("label.field", {}, h("span", {}, "Job"), select)],
    buttons: [{ label: "Keep as it is", value: "", kind: "ghost" },
      { label: what.title, value: "yes", kind: "danger", dataset: { action: what.action } }],
  });
  if (choice !== "yes") return;
  const jobId = Number(select.value);
  await monitor.act(`${what.title} ${slave.name} for job ${jobId}`, () => what.call(jobId, slave),
    what.done(slave, jobId, monitor.jobName(jobId)));
}

export const blacklistForJob = (monitor, slave) => forJob(monitor, slave, "blacklist");

export class SlavesPage {
  constructor(monitor) {
    this.monitor = monitor;
    this.title = "Slaves";
    this.rows = new Map();
    this.nodes = new NodesCard(monitor);
  }

  // Polled with the slaves; a master without the nodes API (an older one) shows none.
  load() {
    return api.nodes.list().catch(() => []);
  }

  mount() {
    this.body = h("tbody");
    this.empty = h("div", { hidden: true });
    this.loading = h("p.muted.loading", {}, "Loading slaves…");
    this.stats = h("div.stats.stats-compact");
    this.tableCard = h("div.card.table-card", {}, h("div.table-wrap", {},
      h("table.table.slaves-table", {},
        h("thead", {}, h("tr", {}, COLUMNS.map((c) => h("th", { scope: "col" }, c)))), this.body)));
    return h("section.page", {},
      h("div.page-head", {}, h("div", {}, h("h1", {}, "Slaves"),
        h("p.subtitle", {}, "The machines that render for this master."))),
      this.stats, this.loading, this.empty, this.tableCard, this.nodes.mount());
  }

  render(nodes) {
    this.nodes.show(nodes || []);
    const { slaves } = this.monitor;
    this.loading.hidden = true;
    this.tableCard.hidden = !slaves.length;
    this.empty.hidden = !!slaves.length;
    if (!slaves.length && !this.empty.firstChild) setChildren(this.empty, emptySlaves(this.monitor));
    const by = (state) => slaves.filter((s) => s.state === state).length;
    const items = [["Rendering", by("rendering")], ["Idle", by("idle")], ["Lost", by("lost")],
      ["Disabled", by("disabled")], ["Blacklisted", slaves.filter((s) => s.blacklisted).length]];
    if (!this.stats.firstChild) {
      for (const [label] of items) {
        this.stats.append(h("div.stat", {}, h("span.stat-label", {}, label), h("span.stat-value")));
      }
    }
    items.forEach(([, value], i) => setText(this.stats.children[i].children[1], value));
    const sorted = [...slaves].sort((a, b) => (a.name || "").localeCompare(b.name || "") || a.id.localeCompare(b.id));
    this.best = fastest(slaves);
    reconcile(this.body, sorted, (s) => s.id, (s) => this.createRow(s), (tr, s) => tr.show(s), this.rows);
  }

  createRow(initial) {
    const monitor = this.monitor;
    let slave = initial;
    const cell = (label, ...children) => h("td", { dataset: { label } }, children);
    const name = h("strong.nowrap");
    const id = h("span.sub.mono");
    const address = h("span.mono");
    const os = h("span");
    const cpu = h("span.sub.nowrap");
    const gpu = h("span.sub");
    const blender = h("span.blender-version");
    const capabilities = h("span.capabilities");
    const speed = speedList();
    const tags = h("span");
    const state = badge("idle");
    const flags = h("span.flags");
    const work = h("div.stack");
    const seen = h("span");
    const done = h("span.num-cell");
    const failed = h("span.num-cell");
    const blacklist = button("Blacklist", { kind: "small ghost", dataset: { action: "blacklist" } }, "ban");
    blacklist.addEventListener("click", () => {
      const on = !slave.blacklisted;
      monitor.act(`${on ? "Blacklisting" : "Un-blacklisting"} ${slave.name}`, () => api.slaves.blacklist(slave.id, on),
        on ? `${slave.name} gets no new work on this farm` : `${slave.name} may take work again`);
    });
    const forJobButton = button("For a job…", { kind: "small ghost", dataset: { action: "job-blacklist" },
      title: "Blacklist it for one job" }, "ban");
    forJobButton.addEventListener("click", () => blacklistForJob(monitor, slave));
    const switchOff = button("Off for a job…", { kind: "small ghost", dataset: { action: "job-switch-off" },
      title: "Switch it off for one job: it renders the others" }, "power");
    switchOff.addEventListener("click", () => forJob(monitor, slave, "switchOff"));
    const disable = button("Disable", { kind: "small ghost", dataset: { action: "disable" } }, "power");
    disable.addEventListener("click", () => {
      const on = !slave.disabled;
      monitor.act(`${on ? "Disabling" : "Enabling"} ${slave.name}`, () => api.slaves.disable(slave.id, on),
        on ? `${slave.name} is disabled: it gives back its frames and gets no work`
          : `${slave.name} is enabled again`);
    });
    const tr = h("tr", { dataset: { slave: slave.id } },
      cell("Slave", h("div.stack", {}, name, id)),
      cell("Address", address),
      cell("Machine", h("div.stack.machine", {}, os, cpu, gpu, h("div.blender", {}, blender, capabilities))),
      cell("Tags", tags),
      cell("State", h("div.state-cell", {}, state, flags)),
      cell("Working on", work),
      cell("Speed", speed),
      cell("Last seen", seen),
      cell("Done", done),
      cell("Failed", failed),
      h("td.actions", {}, h("div.row-actions", {}, blacklist, forJobButton, switchOff, disable)));
    let lastTags = null;
    let lastWork = null;
    let lastCaps = null;
    tr.show = (next) => {
      slave = next;
      const facts = slave.facts || {};
      setText(name, slave.name);
      setText(id, slave.id);
      setText(address, slave.address || DASH);
      setText(os, facts.os || "unknown system");
      const cores = facts.cores ? `${facts.cores} ${facts.cores === 1 ? "core" : "cores"}` : "";
      setText(cpu, [facts.cpu, cores].filter(Boolean).join(" · ") || DASH);
      setText(gpu, gpuText(facts.gpu));
      const version = typeof facts.blender === "string" && facts.blender ? facts.blender : "";
      setText(blender, version ? `Blender ${version}` : "Blender unknown");
      blender.classList.toggle("muted", !version);
      blender.title = version ? "" : "The slave did not say which Blender it runs";
      const caps = Array.isArray(facts.capabilities) ? facts.capabilities.filter((c) => typeof c === "string") : [];
      const capKey = caps.join("\u0000");
      if (capKey !== lastCaps) {
        lastCaps = capKey;
        const chip = (c) => h("span.chip.chip-cap",
          { title: c === "denoise" ? "Its Blender can denoise (OpenImageDenoise)" : `Its Blender can: ${c}` }, c);
        setChildren(capabilities, caps.length ? h("span.chips", {}, caps.map(chip)) : null);
      }
      speed.show(slave.speed, this.best || {});
      const tagKey = (slave.tags || []).join("\u0000");
      if (tagKey !== lastTags) {
        lastTags = tagKey;
        setChildren(tags, chips(slave.tags));
      }
      const stateName = slave.state || (slave.disabled ? "disabled" : "idle");
      updateBadge(state, stateName);
      const flagKey = `${slave.blacklisted}`;
      if (flags.dataset.key !== flagKey) {
        flags.dataset.key = flagKey;
        setChildren(flags, slave.blacklisted ? badge("blacklisted") : null);
      }
      const frames = slave.current_frames || [];
      const what = unit(monitor.jobs.find((j) => j.id === slave.current_job), frames.length); // frames or tasks
      const workKey = JSON.stringify([slave.current_job, frames, monitor.jobName(slave.current_job), what]);
      if (workKey !== lastWork) {
        lastWork = workKey;
        setChildren(work, slave.current_job === null || slave.current_job === undefined
          ? h("span.muted", {}, DASH)
          : [h("a", { href: `#/jobs/${slave.current_job}` }, `#${slave.current_job} ${monitor.jobName(slave.current_job)}`),
            h("span.sub", {}, frames.length ? `${what} ${fmtFrames(frames)}` : "")]);
      }
      setText(seen, fmtAgo(slave.last_seen));
      seen.title = fmtFullTime(slave.last_seen);
      setText(done, slave.frames_done ?? 0);
      setText(failed, slave.frames_failed ?? 0);
      failed.classList.toggle("has-errors", (slave.frames_failed || 0) > 0);
      const blLabel = slave.blacklisted ? "Unblacklist" : "Blacklist";
      blacklist.dataset.action = slave.blacklisted ? "unblacklist" : "blacklist";
      setText(blacklist.lastChild, blLabel);
      blacklist.title = slave.blacklisted ? "Let it take work on this farm again" : "Give it no new work on this farm";
      disable.dataset.action = slave.disabled ? "enable" : "disable";
      setText(disable.lastChild, slave.disabled ? "Enable" : "Disable");
      disable.title = slave.disabled ? "Let it take work again" : "It gives back its frames and takes no work";
      disable.hidden = slave.disabled === undefined;
    };
    return tr;
  }
}
