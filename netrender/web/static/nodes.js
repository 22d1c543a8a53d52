// SPDX-License-Identifier: GPL-3.0-or-later
// SSH nodes on the slaves page: machines the master renders on over SSH, with
// nothing of netrender installed there. Each is added by user@host[:port] and
// removed by name while the master runs; once logged in it also shows up as a
// slave in the table above, where it is blacklisted or disabled like any slave.

import * as api from "./api.js";
import { badge, button, DASH, fmtBytes, h, reconcile, setText, updateBadge } from "./ui.js";

const STATES = { online: "idle", connecting: "dispatched", unreachable: "lost", stopped: "disabled" };

export class NodesCard {
  constructor(monitor) {
    this.monitor = monitor;
    this.rows = new Map();
  }

  mount() {
    this.body = h("tbody");
    this.none = h("p.muted.nodes-none", {}, "No SSH node: add one below, or start the master with ",
      h("code", {}, "--ssh-node user@host"), ".");
    this.table = h("table.table.nodes-table", {},
      h("thead", {}, h("tr", {}, ["Node", "State", "Blender", "Threads", "Tags", "Files sent", ""].map((c) =>
        h("th", { scope: "col" }, c)))), this.body);
    const field = (label, input) => h("label.field", {}, h("span", {}, label), input);
    this.target = h("input.wide", { name: "target", required: true, placeholder: "user@host or user@host:port",
      "aria-label": "Node", autocomplete: "off" });
    this.key = h("input.wide", { name: "key_file", placeholder: "the SSH agent's keys", "aria-label": "Key file" });
    this.blender = h("input.wide", { name: "blender", placeholder: "blender", "aria-label": "Blender on the node" });
    this.threads = h("input.number", { name: "threads", type: "number", min: 0, max: 1024, value: 0,
      "aria-label": "Threads" });
    this.tags = h("input.wide", { name: "tags", placeholder: "gpu; big", "aria-label": "Tags" });
    const form = h("form.nodes-add", { dataset: { action: "add-node" } },
      field("Node", this.target), field("Key file", this.key), field("Blender", this.blender),
      field("Threads", this.threads), field("Tags", this.tags),
      button("Add SSH node", { kind: "primary", type: "submit" }, "plus"));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.add();
    });
    return h("div.card.nodes-card", {}, h("h2", {}, "SSH nodes"),
      h("p.subtitle", {}, "Machines with Blender and an SSH server that the master renders on; their host key must be ",
        "in the master's known_hosts (", h("code", {}, "netrender nodes check"), " says how)."),
      this.none, h("div.table-wrap", {}, this.table), form);
  }

  async add() {
    const body = { target: this.target.value.trim(), threads: Number(this.threads.value) || 0 };
    for (const [input, key] of [[this.key, "key_file"], [this.blender, "blender"], [this.tags, "tags"]]) {
      if (input.value.trim()) body[key] = input.value.trim();
    }
    const added = await this.monitor.act(`Adding ${body.target}`, () => api.nodes.add(body),
      (node) => `${node.name} added: the master logs in to it now`);
    if (added) this.target.value = "";
  }

  show(nodes) {
    this.none.hidden = nodes.length > 0;
    this.table.hidden = nodes.length === 0;
    reconcile(this.body, nodes, (n) => n.name, (n) => this.createRow(n), (tr, n) => tr.show(n), this.rows);
  }

  createRow(initial) {
    let node = initial;
    const name = h("strong.mono");
    const state = badge("idle");
    const problem = h("span.sub.node-problem");
    const blender = h("span.mono");
    const threads = h("span.num-cell");
    const tags = h("span");
    const sent = h("span.num-cell");
    const remove = button("Remove", { kind: "small ghost", dataset: { action: "remove-node" } }, "trash");
    remove.addEventListener("click", () => this.monitor.act(`Removing ${node.name}`,
      () => api.nodes.remove(node.name), `${node.name} removed: its frames go back to the queue`));
    const tr = h("tr", { dataset: { node: node.name } },
      h("td", {}, name), h("td", {}, h("div.stack", {}, state, problem)), h("td", {}, blender),
      h("td", {}, threads), h("td", {}, tags), h("td", {}, sent), h("td.actions", {}, remove));
    tr.show = (next) => {
      node = next;
      setText(name, node.name);
      updateBadge(state, STATES[node.state] || "idle", node.state);
      setText(problem, node.problem || "");
      setText(blender, node.blender);
      setText(threads, node.threads ? node.threads : "all");
      setText(tags, (node.tags || []).join(", ") || DASH);
      setText(sent, node.sent_files ? `${node.sent_files} · ${fmtBytes(node.sent_bytes)}` : DASH);
    };
    return tr;
  }
}
