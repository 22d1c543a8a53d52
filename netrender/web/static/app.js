// SPDX-License-Identifier: GPL-3.0-or-later
// The monitor's shell: routes (#/jobs, #/jobs/ID, #/slaves, #/balancing), the
// 2-second poll of the master, and the state every page renders from.

import * as api from "./api.js";
import { BalancingPage } from "./balancing.js";
import { StoragePage } from "./storage.js";
import { JobPage } from "./job.js";
import { JobsPage } from "./jobs.js";
import { SlavesPage } from "./slaves.js";
import { clearErrors, dismiss, notify, setText, showError } from "./ui.js";

const POLL_MS = 2000;

// Shared by the pages: the latest lists, and how to act on the master.
class Monitor {
  constructor() {
    this.jobs = [];
    this.slaves = [];
    this.loaded = false;
    this.page = null;
    this.timer = null;
    this.seq = 0; // polls started
    this.rendered = 0; // the newest poll shown
    this.generation = 0; // bumped on navigation, so a late answer for an old page is dropped
    this.view = document.getElementById("view");
    this.live = document.getElementById("live");
  }

  get origin() {
    return new URL(".", document.baseURI).href.replace(/\/$/, "");
  }

  slaveName(id) {
    if (!id) return "";
    const slave = this.slaves.find((s) => s.id === id);
    return slave ? slave.name : id;
  }

  jobName(id) {
    const job = this.jobs.find((j) => j.id === id);
    return job ? job.name : `job ${id}`;
  }

  // Run an action on the master: report its failure, then refresh at once.
  async act(what, call, success) {
    try {
      const result = await call();
      if (success) notify(typeof success === "function" ? success(result) : success, { kind: "success" });
      return result;
    } catch (error) {
      showError(error, what);
      return undefined;
    } finally {
      this.refreshSoon();
    }
  }

  route() {
    const parts = (location.hash.replace(/^#\/?/, "") || "jobs").split("/");
    let page;
    let nav = parts[0];
    if (parts[0] === "jobs" && parts[1] && /^\d+$/.test(parts[1])) page = new JobPage(this, Number(parts[1]));
    else if (parts[0] === "slaves") page = new SlavesPage(this);
    else if (parts[0] === "balancing") page = new BalancingPage(this);
    else if (parts[0] === "storage") {
      page = new StoragePage(this, Number(parts[1] || 0), parts.slice(2).map(decodeURIComponent).join("/"));
    }
    else {
      page = new JobsPage(this);
      nav = "jobs";
    }
    for (const link of document.querySelectorAll("[data-nav]")) {
      if (link.dataset.nav === nav) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    if (this.page && this.page.unmount) this.page.unmount();
    clearErrors(); // they were about the page left behind
    this.generation += 1;
    this.page = page;
    this.view.replaceChildren(page.mount());
    document.title = `${page.title} · netrender`;
    window.scrollTo(0, 0);
    if (this.loaded) page.render();
    this.refreshSoon();
  }

  refreshSoon() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.tick(), 0);
  }

  async tick() {
    clearTimeout(this.timer);
    const generation = this.generation;
    const page = this.page;
    this.seq += 1;
    const seq = this.seq;
    try {
      const [jobs, slaves] = await Promise.all([api.jobs.list(), api.slaves.list()]);
      if (generation !== this.generation) return; // navigated away meanwhile: the new page polls itself
      const extra = page.load ? await page.load() : undefined;
      // A slower, older answer must not overwrite a newer one (say, the one after a click).
      if (generation !== this.generation || seq < this.rendered) return;
      this.rendered = seq;
      this.jobs = jobs;
      this.slaves = slaves;
      this.loaded = true;
      this.counts();
      page.render(extra);
      this.setLive("live", "live");
      dismiss("connection");
    } catch (error) {
      if (generation !== this.generation || seq < this.rendered) return;
      if (error.status === 0) {
        this.setLive("down", "offline");
        notify("The master does not answer; the page retries every 2 seconds.", { kind: "error", key: "connection" });
      } else if (page && page.failed) {
        page.failed(error);
        this.setLive("live", "live"); // the master answered: the page shows what it said
      } else {
        showError(error, "Refreshing");
      }
    } finally {
      if (generation === this.generation) {
        clearTimeout(this.timer);
        this.timer = setTimeout(() => this.tick(), document.hidden ? POLL_MS * 3 : POLL_MS);
      }
    }
  }

  counts() {
    const active = this.jobs.filter((j) => ["queued", "running", "paused"].includes(j.status)).length;
    const online = this.slaves.filter((s) => s.state === "idle" || s.state === "rendering").length;
    const jobs = document.querySelector('[data-count="jobs"]');
    const slaves = document.querySelector('[data-count="slaves"]');
    setText(jobs, active ? String(active) : "");
    jobs.title = `${active} active ${active === 1 ? "job" : "jobs"}`;
    setText(slaves, online ? String(online) : "");
    slaves.title = `${online} ${online === 1 ? "slave" : "slaves"} online`;
  }

  setLive(state, text) {
    if (this.live.dataset.state !== state) this.live.dataset.state = state;
    setText(this.live.querySelector(".live-text"), text);
  }
}

const monitor = new Monitor();
window.addEventListener("hashchange", () => monitor.route());
document.addEventListener("visibilitychange", () => {
  if (!document.hidden) monitor.refreshSoon();
});
monitor.route();
api.version().then(
  (v) => setText(document.getElementById("version"), `netrender ${v.version}`),
  () => {}, // the poll reports an unreachable master
);
