// SPDX-License-Identifier: GPL-3.0-or-later
// The master's JSON API, as the CLI uses it. Every failure becomes an ApiError
// carrying the master's {"error": {"code", "message"}} when it sent one.
//
// A master with a farm token answers 401 without it: the monitor then asks for
// the token once, keeps it in sessionStorage (this tab, until it closes) and
// sends it as "Authorization: Bearer" on every call. Images and download links
// cannot send a header, and fetching them into blob: URLs would hold whole
// EXRs and zips in memory, so their URLs carry a signature instead
// (?auth=..., from api/auth/media): it opens only those downloads, lasts ten
// minutes, and is renewed by the polls; links and images that outlived theirs
// are re-signed when clicked or when they fail to load.

import { askToken } from "./token.js";

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
  }
}

// Master clock minus browser clock, in ms, from the HTTP Date header; relative
// times ("3 s ago") use it so a skewed browser clock does not distort them.
let skew = 0;

export function serverNow() {
  return (Date.now() + skew) / 1000;
}

function noteDate(response) {
  const date = Date.parse(response.headers.get("Date") || "");
  if (Number.isNaN(date)) return;
  const measured = date - Date.now();
  // The header has whole seconds: only a larger gap is a real skew.
  skew = Math.abs(measured) > 2000 ? measured : 0;
}

// A URL below the API, relative to the page so the monitor also works behind a proxy prefix.
export function apiUrl(path, query) {
  const url = new URL(`api/${path}`, document.baseURI);
  for (const [name, value] of Object.entries(query || {})) url.searchParams.set(name, String(value));
  return url.href;
}

// -- the farm token -------------------------------------------------------------

const TOKEN_KEY = "netrender.token";
const MEDIA_MARGIN = 300; // renew the media signature when fewer seconds than this are left
let asking = null; // the open token prompt, shared by the calls that wait for it
let declined = false; // the prompt was dismissed: do not ask again until the page reloads
let media = { query: {}, until: 0 }; // the media signature and when it ends (master time)
let mediaLoading = null;
let memoryToken = ""; // the token when sessionStorage is unavailable

function storedToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) || "";
  } catch {
    return ""; // storage disabled: nothing remembered
  }
}

function storeToken(token) {
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // storage disabled: the token lasts as long as this page
  }
  memoryToken = token;
  media = { query: {}, until: 0 };
}

function currentToken() {
  return storedToken() || memoryToken;
}

// After a 401 sent with `sent`: true when a (new) token is there to retry with.
async function tokenForRetry(sent) {
  if (currentToken() && currentToken() !== sent) return true; // another call got one meanwhile
  if (declined) return false;
  if (!asking) {
    asking = askToken(Boolean(sent)).then((token) => {
      if (token) storeToken(token);
      else declined = true;
      asking = null;
      return Boolean(token);
    });
  }
  return asking;
}

// Keep a media signature with some minutes left, once a token is in use.
async function freshMedia() {
  if (!currentToken() || media.until - serverNow() > MEDIA_MARGIN) return;
  if (!mediaLoading) {
    mediaLoading = call("auth/media", {})
      .then((link) => {
        media = { query: link.query || {}, until: typeof link.expires === "number" ? link.expires : Infinity };
      })
      .catch(() => {}) // the next call tries again
      .finally(() => {
        mediaLoading = null;
      });
  }
  await mediaLoading;
}

// A media URL carrying the current signature, if there is one.
function signed(path, query) {
  return apiUrl(path, { ...query, ...media.query });
}

function resigned(href) {
  const url = new URL(href, document.baseURI);
  if (!url.searchParams.has("auth") || !media.query.auth) return href;
  url.searchParams.set("auth", media.query.auth);
  return url.href;
}

// Download links made long ago carry an old signature: give them the current one as they are followed.
for (const type of ["click", "auxclick"]) {
  document.addEventListener(type, (event) => {
    const link = event.target instanceof Element ? event.target.closest("a[href*='auth=']") : null;
    if (link) link.href = resigned(link.href);
  }, true);
}

// An image whose signature ran out before it loaded (lazy loading) gets one retry with the current one.
document.addEventListener("error", (event) => {
  const img = event.target;
  if (!(img instanceof HTMLImageElement) || !img.src.includes("auth=")) return;
  const fresh = resigned(img.src);
  if (fresh === img.src) return; // a real failure: let the page handle it
  event.stopImmediatePropagation();
  img.src = fresh;
}, true);

// -- calls ---------------------------------------------------------------------

export async function api(path, options = {}) {
  const result = await call(path, options);
  await freshMedia();
  return result;
}

async function call(path, { method = "GET", body, query } = {}) {
  const init = { method, cache: "no-store", headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  for (let attempt = 0; ; attempt += 1) {
    const token = currentToken();
    if (token) init.headers.Authorization = `Bearer ${token}`;
    else delete init.headers.Authorization;
    try {
      response = await fetch(apiUrl(path, query), init);
    } catch {
      throw new ApiError(0, "unreachable", "the master cannot be reached");
    }
    if (response.status !== 401 || attempt >= 3 || !(await tokenForRetry(token))) break;
  }
  noteDate(response);
  if (response.status === 401 && declined) {
    throw new ApiError(401, "unauthorized", "this master needs the farm token: reload the page to enter it");
  }
  const type = response.headers.get("Content-Type") || "";
  if (!response.ok) {
    let code = `http_${response.status}`;
    let message = `${response.status} ${response.statusText}`.trim();
    if (type.includes("json")) {
      try {
        const data = await response.json();
        if (data && data.error) {
          code = data.error.code || code;
          message = data.error.message || message;
        }
      } catch {
        // not the JSON it claimed to be: keep the HTTP status as the message
      }
    }
    throw new ApiError(response.status, code, message);
  }
  return type.includes("json") ? response.json() : response.text();
}

const enc = encodeURIComponent;

export const jobs = {
  list: () => api("jobs").then((data) => data.jobs || []),
  submit: (body) => api("jobs", { method: "POST", body }),
  get: (id, frames = true) => api(`jobs/${id}`, frames ? {} : { query: { frames: "false" } }),
  control: (id, action) => api(`jobs/${id}/${action}`, { method: "POST" }),
  edit: (id, changes) => api(`jobs/${id}`, { method: "PATCH", body: changes }),
  remove: (id, deleteFiles) => api(`jobs/${id}`, { method: "DELETE", query: { delete_files: deleteFiles } }),
  blacklist: (id, slaveId, on) => api(`jobs/${id}/blacklist/${enc(slaveId)}`, { method: on ? "PUT" : "DELETE" }),
  switchOff: (id, slaveId, off) => api(`jobs/${id}/switched-off/${enc(slaveId)}`, { method: off ? "PUT" : "DELETE" }),
  log: (id, number) => api(`jobs/${id}/frames/${number}/log`),
  resetFrame: (id, number) => api(`jobs/${id}/frames/${number}/reset`, { method: "POST" }),
  resultUrl: (id, number) => signed(`jobs/${id}/frames/${number}/result`),
  outputUrl: (id, frame) => signed(`jobs/${id}/outputs/${frame}`),
  thumbnailUrl: (id, number, version) => signed(`jobs/${id}/frames/${number}/thumbnail`, version ? { v: version } : {}),
  zipUrl: (id) => signed(`jobs/${id}/results.zip`),
};

export const slaves = {
  list: () => api("slaves").then((data) => data.slaves || []),
  blacklist: (id, on) => api(`slaves/${enc(id)}/blacklist`, { method: on ? "PUT" : "DELETE" }),
  disable: (id, on) => api(`slaves/${enc(id)}/disable`, { method: on ? "PUT" : "DELETE" }),
};

export const nodes = {
  list: () => api("nodes").then((data) => data.nodes || []),
  add: (node) => api("nodes", { method: "POST", body: node }),
  remove: (name) => api(`nodes/${enc(name)}`, { method: "DELETE" }),
};

export const storage = {
  list: (root, path) => api("storage", { query: { root, path } }),
  frames: (root, path, frames, pattern) => api("storage/frames", { query: { root, path, frames, pattern } }),
};

export const queue = {
  get: () => api("queue"),
  set: (changes) => api("queue", { method: "PUT", body: changes }),
};

export const balancing = {
  get: () => api("balancing"),
  set: (changes) => api("balancing", { method: "PATCH", body: changes }),
};

export const version = () => api("version");
