// Shared helpers for custos's pages: DOM building from text nodes only, the
// JSON API client, formatting.

// el builds an element: el("td", {class: "num"}, "text", child, ...).
// Attributes starting with "on" are listeners; text is always text.
export function el(tag, attrs, ...kids) {
  const svg = tag.startsWith("svg:");
  const e = svg
    ? document.createElementNS("http://www.w3.org/2000/svg", tag.slice(4))
    : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") e.addEventListener(k.slice(2), v);
    else if (k === "class") e.setAttribute("class", v);
    else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const kid of kids.flat(Infinity)) {
    if (kid === undefined || kid === null || kid === false) continue;
    e.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return e;
}

// clear empties a node and appends kids.
export function fill(node, ...kids) {
  node.replaceChildren();
  for (const kid of kids.flat(Infinity)) {
    if (kid === undefined || kid === null || kid === false) continue;
    node.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return node;
}

// APIError carries the contract's error code and message.
export class APIError extends Error {
  constructor(status, code, message) {
    super(message || code || "HTTP " + status);
    this.status = status;
    this.code = code || "";
  }
}

// api calls the JSON API. opts: {method, body (object → JSON, string/Blob
// as is), token (Bearer), contentType, csrf (default true for non-GET)}.
export async function api(path, opts = {}) {
  const method = opts.method || (opts.body !== undefined ? "POST" : "GET");
  const headers = { Accept: "application/json" };
  let body = opts.body;
  if (body !== undefined && !(body instanceof Blob) && typeof body !== "string" && !(body instanceof URLSearchParams)) {
    body = JSON.stringify(body);
    headers["Content-Type"] = "application/json";
  }
  if (opts.contentType) headers["Content-Type"] = opts.contentType;
  if (opts.token) headers["Authorization"] = "Bearer " + opts.token;
  if (method !== "GET" && method !== "HEAD") headers["X-Custos-CSRF"] = "1";
  let resp;
  try {
    resp = await fetch(path, { method, headers, body, credentials: "same-origin", cache: "no-store" });
  } catch (e) {
    throw new APIError(0, "network", "The server could not be reached. Check your connection and try again.");
  }
  const text = await resp.text();
  const ct = resp.headers.get("Content-Type") || "";
  let data = text;
  if (ct.includes("application/json")) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (!resp.ok) {
    const err = data && data.error ? data.error : {};
    const e = new APIError(resp.status, err.code, err.message || resp.statusText);
    e.retryAfter = resp.headers.get("Retry-After");
    throw e;
  }
  return data;
}

// describeError turns an APIError into a sentence for people.
export function describeError(e) {
  if (!(e instanceof APIError)) return "Something went wrong: " + (e && e.message ? e.message : String(e));
  const base = {
    unauthenticated: "Your session has ended or the token is not valid.",
    forbidden: "Your role is not permitted to do this.",
    principal_suspended: "This account is suspended. Contact your security team.",
    unavailable: "This service is not available on this server right now.",
    rate_limited: "Too many attempts. Wait a minute and try again.",
    not_found: "Not found.",
    network: "The server could not be reached.",
  }[e.code];
  const msg = e.message && e.message !== base ? e.message : "";
  if (msg && ["unavailable", "forbidden", "not_found", "invalid_request", "principal_suspended"].includes(e.code)) {
    return msg.charAt(0).toUpperCase() + msg.slice(1).replace(/[.]?$/, ".");
  }
  if (base && msg) return base + " (" + msg + ")";
  return base || msg || "Request failed (HTTP " + e.status + ").";
}

export function errorBox(e) {
  return el("div", { class: "msg msg-error", role: "alert" }, describeError(e));
}

const dtf = new Intl.DateTimeFormat(undefined, {
  year: "numeric", month: "short", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit",
});

// fmtTime formats an RFC 3339 time for people, in their time zone.
export function fmtTime(s) {
  if (!s) return "—";
  const d = new Date(s);
  if (isNaN(d)) return String(s);
  return dtf.format(d);
}

export function timeEl(s) {
  return el("time", { datetime: s || "" }, fmtTime(s));
}

// fmtDuration turns a Go duration ("1h0m0s", "10m0s", "90s") into words.
export function fmtDuration(d) {
  const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:([\d.]+)s)?$/.exec(String(d));
  if (!m || !d) return String(d);
  const parts = [];
  if (+m[1]) parts.push(m[1] + " h");
  if (+m[2]) parts.push(m[2] + " min");
  if (+m[3]) parts.push(+m[3] + " s");
  return parts.join(" ") || "0 s";
}

export function pct(x) {
  if (typeof x !== "number" || !isFinite(x)) return "—";
  return (x * 100).toFixed(x < 0.1 ? 1 : 0) + "%";
}

export function num(x) {
  if (typeof x !== "number" || !isFinite(x)) return "—";
  return x.toLocaleString();
}

// scoreEl shows a 0..1 score as a number and a bar.
export function scoreEl(score) {
  const s = typeof score === "number" ? Math.max(0, Math.min(1, score)) : 0;
  const cls = s >= 0.8 ? "meter high" : s >= 0.5 ? "meter" : "meter low";
  return el("span", { class: "score" },
    el("span", { class: cls, "aria-hidden": "true" }, el("span", { class: "fill", "data-w": String(Math.round(s * 100)) })),
    el("span", {}, typeof score === "number" ? score.toFixed(2) : "—"));
}

// applyWidths sets meter widths through the CSSOM (allowed by the page's
// Content-Security-Policy, unlike style attributes).
export function applyWidths(root) {
  for (const f of root.querySelectorAll("[data-w]")) f.style.width = f.dataset.w + "%";
}

export function badge(text, kind) {
  return el("span", { class: "badge b-" + (kind || "neutral") }, text);
}

// logo is the product mark (a shield with a check).
export function logo() {
  const s = el("svg:svg", { viewBox: "0 0 24 24", "aria-hidden": "true", focusable: "false" },
    el("svg:path", { d: "M12 2 4 5v6c0 5 3.4 9.3 8 11 4.6-1.7 8-6 8-11V5l-8-3z", fill: "currentColor", opacity: ".9" }),
    el("svg:path", { d: "m8.5 12 2.5 2.5 4.5-5", fill: "none", stroke: "#fff", "stroke-width": "2", "stroke-linecap": "round", "stroke-linejoin": "round" }));
  return s;
}
