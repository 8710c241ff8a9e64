// The console's only way to the server: the documented routes, with an API key, as any client.

const KEY_STORAGE = "ojin-local.api-key";
export const API = "/v1";

export class ApiError extends Error {
  constructor(status, code, message, details = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }

  /** `details.errors` as {field: message}. */
  fieldErrors() {
    const found = {};
    for (const entry of this.details?.errors || []) {
      if (entry && typeof entry.field === "string") found[entry.field] = entry.message;
    }
    return found;
  }
}

/** The key in use: one typed in this browser session (sessionStorage only), else the
 * development key the server put in the page (only while it is active, over loopback). */
export const keys = {
  typed: () => sessionStorage.getItem(KEY_STORAGE),
  dev: () => document.querySelector('meta[name="ojin-dev-key"]')?.content || null,
  current() {
    return this.typed() || this.dev();
  },
  usingDev() {
    return !this.typed() && Boolean(this.dev());
  },
  remember: (key) => sessionStorage.setItem(KEY_STORAGE, key),
  forget: () => sessionStorage.removeItem(KEY_STORAGE),
};

/** The request's URL: `path` with the query's non-empty values. */
function urlOf(path, query = {}) {
  const url = new URL(path, location.origin);
  for (const [name, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === "") continue;
    for (const item of Array.isArray(value) ? value : [value]) url.searchParams.append(name, item);
  }
  return url.pathname + url.search;
}

/**
 * One call. JSON in and out; `body` of a Blob/File is sent as it is. Answers the parsed body
 * (null for 204), or the Response itself with `raw`. Throws ApiError with the server's code,
 * message and details; a 401 also tells the page (the key was refused).
 */
export async function call(method, path, { query, body, raw = false, key = keys.current(), contentType } = {}) {
  const headers = {};
  if (key) headers["X-API-Key"] = key;
  let payload;
  if (body instanceof Blob) {
    payload = body;
    headers["Content-Type"] = contentType || body.type || "application/octet-stream";
  } else if (body !== undefined) {
    payload = JSON.stringify(body);
    headers["Content-Type"] = "application/json";
  }
  let response;
  try {
    response = await fetch(urlOf(path, query), { method, headers, body: payload });
  } catch (error) {
    throw new ApiError(0, "NETWORK_ERROR", `No answer from the server (${error.message}): the connection failed or was dropped.`);
  }
  if (!response.ok) {
    const error = await errorOf(response);
    if (response.status === 401) {
      window.dispatchEvent(new CustomEvent("ojin:unauthorized", { detail: error }));
    }
    throw error;
  }
  if (raw) return response;
  if (response.status === 204) return null;
  return response.json();
}

async function errorOf(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    // not JSON: the status says it all
  }
  if (body && typeof body.code === "string") {
    return new ApiError(response.status, body.code, body.message || "", body.details || null);
  }
  return new ApiError(response.status, `HTTP_${response.status}`, response.statusText || "The server refused the request.");
}

export const get = (path, query) => call("GET", path, { query });
export const post = (path, body) => call("POST", path, { body });

/** Every item of a listing, page by page (the API's maximum page size). */
export async function all(path, query = {}) {
  const items = [];
  for (let offset = 0; ; ) {
    const page = await get(path, { ...query, limit: 100, offset });
    items.push(...page.data);
    offset += page.data.length;
    if (!page.data.length || offset >= page.pagination.total_items) return items;
  }
}

/** The served OpenAPI document: the console reads enums, fields and operations from it. */
let served = null;

export async function loadSpec() {
  if (!served) {
    const response = await fetch("/openapi.json");
    if (!response.ok) throw new ApiError(response.status, "SPEC_UNAVAILABLE", "The served spec could not be read.");
    served = await response.json();
  }
  return served;
}

export const spec = {
  schema: (name) => served.components.schemas[name],
  /** A component schema's property, its $ref resolved. */
  property(name, field) {
    return resolve(served.components.schemas[name].properties[field]);
  },
  enum(name, field) {
    return (field ? this.property(name, field) : resolve(served.components.schemas[name])).enum;
  },
  /** A query parameter's schema (bounds, defaults) of an operation. */
  parameter(operationId, name) {
    for (const op of this.operations()) {
      if (op.operationId !== operationId) continue;
      const found = op.parameters.map(resolve).find((p) => p.name === name);
      return found ? resolve(found.schema) : null;
    }
    return null;
  },
  /** Every operation: {operationId, method, path (as served), summary, parameters}. */
  operations() {
    const found = [];
    for (const [path, item] of Object.entries(served.paths)) {
      const prefix = (item.servers || served.servers)[0].url.replace(/\/$/, "");
      for (const [method, op] of Object.entries(item)) {
        if (!op || typeof op !== "object" || !op.operationId) continue;
        const parameters = [...(item.parameters || []), ...(op.parameters || [])];
        found.push({ operationId: op.operationId, method: method.toUpperCase(), path: prefix + path, summary: op.summary || "", parameters });
      }
    }
    return found;
  },
  version: () => served.info.version,
};

export function resolve(node) {
  let current = node;
  while (current && current.$ref) {
    current = current.$ref
      .replace(/^#\//, "")
      .split("/")
      .reduce((at, part) => at[part.replace(/~1/g, "/").replace(/~0/g, "~")], served);
  }
  return current;
}

/** Asset lookups shared by pages: a download URL per asset, asked once per page view. */
export async function downloadUrl(assetId) {
  return (await get(`${API}/assets/${assetId}/download`)).asset_url;
}
