// SPDX-License-Identifier: GPL-3.0-or-later
// The farm token prompt, shown when the master first answers 401. It builds
// its own small dialog (with the monitor's dialog styles) rather than using
// ui.js, which imports api.js: this module must load before either needs it.

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

// Resolves to the token typed, or null when the dialog is dismissed.
export function askToken(refused) {
  return new Promise((resolve) => {
    const input = el("input", { type: "password", name: "token", required: "", autocomplete: "off",
      spellcheck: "false", "aria-describedby": "token-help", "data-token-input": "" });
    const cancel = el("button", { type: "button", class: "btn btn-ghost" }, el("span", {}, "Cancel"));
    const submit = el("button", { type: "submit", value: "ok", class: "btn btn-primary", "data-token-submit": "" },
      el("span", {}, "Open the monitor"));
    const text = refused
      ? "The master did not accept that token. Enter the farm token:"
      : "This master needs the farm token to show and change the farm.";
    const dialog = el("dialog", { class: "dialog dialog-token", "aria-label": "Farm token" },
      el("form", { method: "dialog" },
        el("header", { class: "dialog-head" }, el("h2", {}, "Farm token")),
        el("div", { class: "dialog-body" },
          el("p", { id: "token-help" }, text, " It is kept in this tab until you close it."),
          el("label", { class: "field" }, "Token", input)),
        el("div", { class: "dialog-actions" }, cancel, submit)));
    cancel.addEventListener("click", () => dialog.close(""));
    dialog.addEventListener("close", () => {
      const token = dialog.returnValue === "ok" ? input.value.trim() : "";
      dialog.remove();
      resolve(token || null);
    });
    document.body.append(dialog);
    dialog.showModal();
    input.focus();
  });
}
