// SPDX-License-Identifier: GPL-3.0-or-later
// The master's JSON API, as the CLI uses it. Every failure becomes an ApiError
// carrying the master's {"error": {"code", "message"}} when it sent one.

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

export async function api(path, { method = "GET", body, query } = {}) {
  const init = { method, cache: "no-store", headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(apiUrl(path, query), init);
  } catch {
    throw new ApiError(0, "unreachable", "the master cannot be reached");
  }
  noteDate(response);
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
  get: (id, frames = true) => api(`jobs/${id}`, frames ? {} : { query: { frames: "false" } }),
  control: (id, action) => api(`jobs/${id}/${action}`, { method: "POST" }),
  edit: (id, changes) => api(`jobs/${id}`, { method: "PATCH", body: changes }),
  remove: (id, deleteFiles) => api(`jobs/${id}`, { method: "DELETE", query: { delete_files: deleteFiles } }),
  blacklist: (id, slaveId, on) => api(`jobs/${id}/blacklist/${enc(slaveId)}`, { method: on ? "PUT" : "DELETE" }),
  log: (id, number) => api(`jobs/${id}/frames/${number}/log`),
  resetFrame: (id, number) => api(`jobs/${id}/frames/${number}/reset`, { method: "POST" }),
  resultUrl: (id, number) => apiUrl(`jobs/${id}/frames/${number}/result`),
  thumbnailUrl: (id, number, version) => apiUrl(`jobs/${id}/frames/${number}/thumbnail`, version ? { v: version } : {}),
  zipUrl: (id) => apiUrl(`jobs/${id}/results.zip`),
};

export const slaves = {
  list: () => api("slaves").then((data) => data.slaves || []),
  blacklist: (id, on) => api(`slaves/${enc(id)}/blacklist`, { method: on ? "PUT" : "DELETE" }),
  disable: (id, on) => api(`slaves/${enc(id)}/disable`, { method: on ? "PUT" : "DELETE" }),
};

export const balancing = {
  get: () => api("balancing"),
  set: (changes) => api("balancing", { method: "PATCH", body: changes }),
};

export const version = () => api("version");
