// The job list: pages through /v1/jobs, newest first within each page.
import {
  api, askToSignIn, AuthError, el, formatTime, progressBar, signInMessage, signOut, sourceName,
  statusBadge,
} from "./common.js";

const PAGE_SIZE = 50;
const REFRESH_MS = 10000;
const state = { next: null, items: [] };

const $ = (id) => document.getElementById(id);

function row(job) {
  const link = el("a", { href: `/jobs/${encodeURIComponent(job.job_id)}`, class: "mono", text: job.job_id.slice(0, 12) });
  link.title = job.job_id;
  return el(
    "tr",
    { "data-job-id": job.job_id },
    el("td", {}, link),
    el("td", {}, statusBadge(job.status)),
    el("td", { class: "ellipsis", title: typeof job.source === "string" ? job.source : "" }, sourceName(job.source)),
    el("td", { text: job.route || "–" }),
    el("td", { class: "nowrap", text: formatTime(job.created_at) }),
    el("td", {}, progressBar(job.progress)),
    el("td", { class: "ellipsis muted", title: job.reason || "", text: job.reason || "" }),
  );
}

function render() {
  const items = [...state.items].sort((a, b) => String(b.created_at || "").localeCompare(String(a.created_at || "")));
  $("jobs-body").replaceChildren(...items.map(row));
  $("jobs-empty").hidden = items.length > 0;
  $("more").hidden = !state.next;
  $("jobs-count").textContent = `${items.length} job${items.length === 1 ? "" : "s"}${state.next ? " (more available)" : ""}`;
}

async function load({ append = false } = {}) {
  const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
  const status = $("status-filter").value;
  if (status) params.set("status", status);
  if (append && state.next) params.set("next", state.next);
  $("jobs-message").textContent = "";
  try {
    const page = await api(`/v1/jobs?${params}`);
    state.items = append ? state.items.concat(page.items) : page.items;
    state.next = page.next;
    render();
  } catch (error) {
    if (error instanceof AuthError) {
      $("jobs-panel").hidden = true;
      await askToSignIn($("token-panel"), signInMessage(error));
      $("jobs-panel").hidden = false;
      return load({ append });
    }
    $("jobs-message").textContent = `Could not load jobs: ${error.message}`;
  }
}

async function main() {
  $("forget-token").addEventListener("click", async () => {
    await signOut();
    window.location.reload();
  });
  $("jobs-panel").hidden = false;
  $("status-filter").addEventListener("change", () => load());
  $("refresh").addEventListener("click", () => load());
  $("more").addEventListener("click", () => load({ append: true }));
  setInterval(() => {
    if ($("auto-refresh").checked && !state.next && !document.hidden && $("token-panel").hidden) load();
  }, REFRESH_MS);
  await load();
  document.body.dataset.ready = "true";
}

main();
