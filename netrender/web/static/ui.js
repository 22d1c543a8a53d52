// SPDX-License-Identifier: GPL-3.0-or-later
// Small DOM helpers shared by the pages: elements, icons, formats, messages, dialogs, menus.

import { serverNow } from "./api.js";

const SVG = "http://www.w3.org/2000/svg";

// h("a.link", {href: "#"}, "text", child): an element with classes, properties and children.
export function h(tag, props, ...children) {
  const [name, ...classes] = tag.split(".");
  const node = document.createElement(name || "div");
  if (classes.length) node.className = classes.join(" ");
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key in node && !key.includes("-") && key !== "list") node[key] = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
}

export function icon(name, label) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("class", `icon icon-${name}`);
  svg.setAttribute("viewBox", "0 0 24 24");
  if (label) {
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", label);
  } else {
    svg.setAttribute("aria-hidden", "true");
  }
  const use = document.createElementNS(SVG, "use");
  use.setAttribute("href", `static/icons.svg#${name}`);
  svg.append(use);
  return svg;
}

// Change a node's text only when it differs, so polling does not disturb selections.
export function setText(node, text) {
  const value = text === undefined || text === null ? "" : String(text);
  if (node.textContent !== value) node.textContent = value;
}

export function setChildren(node, children) {
  node.replaceChildren();
  append(node, [children]);
}

// -- formats ------------------------------------------------------------------

export const DASH = "—";

const pad = (n) => String(n).padStart(2, "0");

export function fmtTime(epoch) {
  if (epoch === undefined || epoch === null) return DASH;
  const d = new Date(epoch * 1000);
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  const today = new Date();
  if (d.toDateString() === today.toDateString()) return time;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${time}`;
}

export function fmtFullTime(epoch) {
  if (epoch === undefined || epoch === null) return "";
  const d = new Date(epoch * 1000);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function fmtDuration(seconds) {
  if (seconds === undefined || seconds === null || !Number.isFinite(seconds)) return DASH;
  const s = Math.max(0, seconds);
  if (s < 10) return `${s.toFixed(1)} s`;
  if (s < 60) return `${Math.round(s)} s`;
  if (s < 3600) {
    const m = Math.floor(s / 60);
    return `${m} min ${pad(Math.round(s - m * 60) % 60)} s`;
  }
  if (s < 86400) {
    const hours = Math.floor(s / 3600);
    return `${hours} h ${pad(Math.floor((s - hours * 3600) / 60))} min`;
  }
  const days = Math.floor(s / 86400);
  return `${days} d ${Math.floor((s - days * 86400) / 3600)} h`;
}

export function fmtAgo(epoch) {
  if (epoch === undefined || epoch === null) return "never";
  const s = Math.round(serverNow() - epoch);
  if (s < 1) return "just now";
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

export function fmtBytes(n) {
  if (n === undefined || n === null) return DASH;
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

export function fmtPercent(share) {
  if (share === undefined || share === null || !Number.isFinite(share)) return DASH;
  const p = share * 100;
  return `${p > 0 && p < 1 ? "<1" : Math.round(p)} %`;
}

// "1-3, 7, 9-10" from [1, 2, 3, 7, 9, 10].
export function fmtFrames(numbers) {
  const sorted = [...(numbers || [])].sort((a, b) => a - b);
  const parts = [];
  for (let i = 0; i < sorted.length; i += 1) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1) j += 1;
    parts.push(j > i ? `${sorted[i]}–${sorted[j]}` : String(sorted[i]));
    i = j;
  }
  return parts.join(", ");
}

export function counts(job) {
  const c = job.frame_count || {};
  const total = c.total || 0;
  return {
    total,
    done: c.done || 0,
    dispatched: c.dispatched || 0,
    error: c.error || 0,
    queued: c.queued || 0,
    percent: total ? Math.floor(((c.done || 0) / total) * 100) : 0,
  };
}

export function badge(kind, text) {
  return h(`span.badge.badge-${kind}`, {}, text || kind);
}

export function updateBadge(node, kind, text) {
  const cls = `badge badge-${kind}`;
  if (node.className !== cls) node.className = cls;
  setText(node, text || kind);
}

export function chips(values, cls = "chip") {
  const list = (values || []).filter((v) => v !== "");
  if (!list.length) return h("span.muted", {}, DASH);
  return h("span.chips", {}, list.map((v) => h(`span.${cls}`, {}, v)));
}

// A progress bar split into done / rendering / error segments.
export function progressBar() {
  const done = h("span.seg.seg-done");
  const dispatched = h("span.seg.seg-dispatched");
  const error = h("span.seg.seg-error");
  const bar = h("div.progress", { role: "progressbar", "aria-valuemin": "0", "aria-valuemax": "100" },
    done, dispatched, error);
  bar.update = (c) => {
    const pct = (n) => (c.total ? `${(n / c.total) * 100}%` : "0%");
    done.style.width = pct(c.done);
    dispatched.style.width = pct(c.dispatched);
    error.style.width = pct(c.error);
    bar.setAttribute("aria-valuenow", String(c.percent));
    bar.title = `${c.done} done, ${c.dispatched} rendering, ${c.error} failed, ${c.queued} queued of ${c.total}`;
  };
  return bar;
}

export function button(label, props = {}, iconName = null) {
  const { kind = "", ...rest } = props;
  const cls = ["btn", ...kind.split(" ").filter(Boolean).map((k) => `btn-${k}`)].join(".");
  return h(`button.${cls}`, { type: "button", ...rest }, iconName ? icon(iconName) : null,
    label ? h("span", {}, label) : null);
}

export function iconButton(iconName, label, props = {}) {
  const { kind = "", ...rest } = props;
  const cls = ["btn", "btn-icon", ...kind.split(" ").filter(Boolean).map((k) => `btn-${k}`)].join(".");
  return h(`button.${cls}`, { type: "button", title: label, "aria-label": label, ...rest }, icon(iconName));
}

// -- messages -----------------------------------------------------------------

// Errors go to the message area under the top bar and stay until closed; other
// notices show briefly in a corner. A `key` replaces an earlier message with
// the same key instead of stacking.
export function notify(text, { kind = "info", key = null, title = null, tooltip = null } = {}) {
  const error = kind === "error";
  const box = document.getElementById(error ? "messages" : "toasts");
  if (!box) return null;
  const id = key || `${kind}:${title || ""}:${text}`;
  for (const old of box.children) if (old.dataset.key === id) old.remove();
  const close = iconButton("close", "Dismiss", { kind: "ghost small" });
  const node = h(`div.message.message-${kind}`, { dataset: { key: id }, role: error ? "alert" : null, title: tooltip },
    icon(error ? "alert" : kind === "success" ? "check" : "spark"),
    h("div.message-body", {}, title ? h("strong", {}, title) : null, h("span", {}, text)),
    close);
  close.addEventListener("click", () => node.remove());
  box.prepend(node);
  while (box.children.length > (error ? 4 : 3)) box.lastElementChild.remove();
  if (!error) setTimeout(() => node.remove(), 4000);
  return node;
}

export function dismiss(key) {
  for (const box of [document.getElementById("messages"), document.getElementById("toasts")]) {
    if (!box) continue;
    for (const node of [...box.children]) if (node.dataset.key === key) node.remove();
  }
}

// Close every error but the one about the connection, which closes itself.
export function clearErrors() {
  const box = document.getElementById("messages");
  if (!box) return;
  for (const node of [...box.children]) if (node.dataset.key !== "connection") node.remove();
}

export function showError(error, what) {
  const message = error && error.message ? error.message : String(error);
  return notify(message, { kind: "error", title: what ? `${what} failed:` : null,
    tooltip: error && error.code ? `error code: ${error.code}` : null });
}

// -- dialogs ------------------------------------------------------------------

// A modal dialog; resolves to the value of the button chosen, or null when dismissed.
// buttons: [{label, value, kind}]; content: nodes for the body.
export function dialog({ title, content = [], buttons = [], className = "" }) {
  return new Promise((resolve) => {
    const footer = h("div.dialog-actions");
    const node = h(`dialog.dialog${className ? `.${className}` : ""}`, { "aria-label": title },
      h("form", { method: "dialog" },
        h("header.dialog-head", {}, h("h2", {}, title),
          iconButton("close", "Close", { kind: "ghost", value: "", formnovalidate: true, type: "submit" })),
        h("div.dialog-body", {}, content),
        footer));
    for (const b of buttons) {
      footer.append(button(b.label, { kind: b.kind || "", value: b.value, type: "submit", dataset: b.dataset || {} }));
    }
    node.addEventListener("close", () => {
      const value = node.returnValue;
      node.remove();
      resolve(value === "" ? null : value);
    });
    node.addEventListener("click", (event) => {
      if (event.target === node) node.close("");
    });
    document.body.append(node);
    node.showModal();
    const primary = footer.querySelector(".btn-primary, .btn-danger");
    if (primary) primary.focus();
  });
}

export async function confirm(title, text, label, kind = "primary") {
  const chosen = await dialog({
    title,
    content: [h("p", {}, text)],
    buttons: [{ label: "Keep as it is", value: "", kind: "ghost" }, { label, value: "yes", kind }],
  });
  return chosen === "yes";
}

// -- menus --------------------------------------------------------------------

// A "more actions" button whose menu opens in the top layer, beside the button.
// items: [{label, icon, onclick, kind, disabled, action}]; `false` entries are skipped, "-" is a separator.
export function menuButton(label, items) {
  const trigger = iconButton("more", label, { kind: "ghost", "aria-haspopup": "menu", dataset: { menu: "more" } });
  trigger.addEventListener("click", () => {
    const menu = h("div.menu", { popover: "auto", role: "menu" });
    for (const item of items()) {
      if (!item) continue;
      if (item === "-") {
        menu.append(h("hr.menu-sep"));
        continue;
      }
      const entry = h(`button.menu-item${item.kind ? `.menu-${item.kind}` : ""}`, {
        type: "button", role: "menuitem", disabled: item.disabled,
        dataset: item.action ? { action: item.action } : {},
      }, icon(item.icon || "spark"), h("span", {}, item.label));
      entry.addEventListener("click", () => {
        menu.hidePopover();
        item.onclick();
      });
      menu.append(entry);
    }
    menu.addEventListener("toggle", (event) => {
      if (event.newState === "closed") menu.remove();
    });
    document.body.append(menu);
    menu.showPopover();
    const r = trigger.getBoundingClientRect();
    const w = menu.offsetWidth;
    const hgt = menu.offsetHeight;
    const left = Math.max(8, Math.min(r.right - w, window.innerWidth - w - 8));
    const below = r.bottom + 4 + hgt <= window.innerHeight - 8;
    menu.style.left = `${left}px`;
    menu.style.top = `${below ? r.bottom + 4 : Math.max(8, r.top - hgt - 4)}px`;
    const first = menu.querySelector("button:not([disabled])");
    if (first) first.focus();
  });
  return trigger;
}

// A number input that commits on Enter or blur, and that polling leaves alone while it is edited.
export function inlineNumber({ label, min, max, onCommit }) {
  const input = h("input.inline-number", { type: "number", min, max, step: 1, "aria-label": label, title: label });
  input.dataset.committed = "";
  const commit = () => {
    if (input.value === input.dataset.committed) return;
    const value = Number(input.value);
    if (input.value === "" || !Number.isInteger(value) || value < min || value > max) {
      showError({ message: `${label} must be a whole number from ${min} to ${max}` }, `Changing ${label}`);
      input.value = input.dataset.committed;
      return;
    }
    onCommit(value, () => { input.value = input.dataset.committed; });
  };
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      input.blur();
    } else if (event.key === "Escape") {
      input.value = input.dataset.committed;
      input.blur();
    }
  });
  input.addEventListener("change", commit);
  input.show = (value) => {
    const text = value === undefined || value === null ? "" : String(value);
    input.dataset.committed = text;
    if (document.activeElement !== input && input.value !== text) input.value = text;
  };
  return input;
}

// Keyed rows: reuse a row per key across refreshes, in the given order.
export function reconcile(container, items, keyOf, create, update, cache) {
  const seen = new Set();
  let cursor = container.firstElementChild;
  for (const item of items) {
    const key = String(keyOf(item));
    seen.add(key);
    let node = cache.get(key);
    if (!node) {
      node = create(item);
      cache.set(key, node);
    }
    update(node, item);
    if (node !== cursor) container.insertBefore(node, cursor);
    else cursor = cursor.nextElementSibling;
  }
  for (const [key, node] of cache) {
    if (!seen.has(key)) {
      node.remove();
      cache.delete(key);
    }
  }
}
