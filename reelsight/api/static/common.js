// Shared by the viewer pages: signing in, authorized fetches, small DOM helpers.
//
// The token is never kept by the page and never put in a URL: the sign-in form sends it once, in the
// Authorization header of POST /v1/login, and the server answers with an HttpOnly session cookie
// (scoped to /v1) that the browser sends with the page's data requests.

const LOGIN_PATH = "/v1/login";
const LOGOUT_PATH = "/v1/logout";

export class AuthError extends Error {}

export async function api(path) {
  return (await authorizedFetch(path)).json();
}

// A JSON-lines answer (frames.jsonl): one object per non-empty line.
export async function apiLines(path) {
  const text = await (await authorizedFetch(path)).text();
  return text.split("\n").filter((line) => line.trim()).map((line) => JSON.parse(line));
}

async function errorDetail(response) {
  let detail = response.statusText;
  try {
    detail = (await response.json()).detail || detail;
  } catch (_) {
    // not JSON; keep the status text
  }
  return typeof detail === "string" ? detail : JSON.stringify(detail);
}

async function authorizedFetch(path) {
  const response = await fetch(path, { credentials: "same-origin" });
  if (response.status === 401) throw new AuthError(await errorDetail(response));
  if (!response.ok) {
    const error = new Error(await errorDetail(response));
    error.status = response.status;
    throw error;
  }
  return response;
}

// Exchanges the token for the session cookie; resolves to an error message, or null when signed in.
export async function signIn(token) {
  const response = await fetch(LOGIN_PATH, {
    method: "POST",
    credentials: "same-origin",
    headers: { Authorization: `Bearer ${token}` },
  });
  const detail = await errorDetail(response); // read every answer to its end
  if (response.ok) return null;
  if (response.status === 401) return "That token was refused.";
  return detail;
}

export async function signOut() {
  await (await fetch(LOGOUT_PATH, { method: "POST", credentials: "same-origin" })).text();
}

// What the sign-in form says after a 401: nothing the first time, else why it is back.
export function signInMessage(error) {
  return /session/.test(error.message) ? "Your session has ended; sign in again." : "";
}

// Shows the sign-in form; resolves once the server accepted a token.
export function askToSignIn(panel, message) {
  panel.hidden = false;
  const form = panel.querySelector("form");
  const input = panel.querySelector("input");
  const note = panel.querySelector(".token-message");
  note.textContent = message || "";
  input.value = "";
  input.focus();
  return new Promise((resolve) => {
    form.onsubmit = async (event) => {
      event.preventDefault();
      const token = input.value.trim();
      if (!token) return;
      const problem = await signIn(token);
      input.value = "";
      if (problem) {
        note.textContent = problem;
        return;
      }
      panel.hidden = true;
      resolve();
    };
  });
}

export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "style") node.style.cssText = value; // CSSOM: allowed by the page's style-src 'self
    else if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const SVG_NS = "http://www.w3.org/2000/svg";

export function svg(tag, attributes = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined) continue;
    if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, String(value));
  }
  for (const child of children.flat()) if (child) node.append(child);
  return node;
}

export function formatTime(iso) {
  if (!iso) return "–";
  const moment = new Date(iso);
  if (Number.isNaN(moment.getTime())) return iso;
  return `${moment.toISOString().slice(0, 19).replace("T", " ")} UTC`;
}

export function formatSeconds(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "–";
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 2 : 1)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

export function formatBytes(bytes) {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

export function statusBadge(status) {
  const text = status || "UNKNOWN";
  return el("span", { class: `badge status-${text.toLowerCase()}`, text });
}

export function progressBar(progress) {
  const fraction = progress && typeof progress.fraction === "number" ? progress.fraction : null;
  const label =
    fraction === null
      ? progress && progress.frames_done
        ? `${progress.frames_done} frames`
        : "–"
      : `${Math.round(fraction * 100)}%`;
  const bar = el("div", { class: "progress", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": 100 });
  if (fraction !== null) bar.setAttribute("aria-valuenow", Math.round(fraction * 100));
  const fill = el("div", { class: fraction === null ? "progress-fill unknown" : "progress-fill" });
  fill.style.width = `${fraction === null ? 0 : Math.max(2, fraction * 100)}%`;
  bar.append(fill);
  return el("div", { class: "progress-cell" }, bar, el("span", { class: "progress-label", text: label }));
}

export function sourceName(source) {
  if (!source) return "–";
  if (typeof source === "string") return source.split("/").pop() || source;
  if (typeof source === "object") return source.key ? String(source.key).split("/").pop() : JSON.stringify(source);
  return String(source);
}

// Stable, distinct colours per class name.
const PALETTE = [
  "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948",
  "#b07aa1", "#ff9da7", "#9c755f", "#17becf", "#bcbd22", "#8c6bb1",
];

export function classColor(name) {
  let hash = 0;
  for (const char of String(name)) hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
  return PALETTE[hash % PALETTE.length];
}
