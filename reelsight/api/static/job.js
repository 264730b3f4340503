// One job: facts, the sampled frames with boxes, labels and masks drawn from its frames.jsonl,
// a per-class timeline, the contact sheet, the preview and the downloads.
import {
  api, apiLines, askToSignIn, AuthError, classColor, el, formatBytes, formatSeconds, formatTime,
  progressBar, signInMessage, signOut, sourceName, statusBadge, svg,
} from "./common.js";
import { decodeRle } from "./rle.js";
import { renderTracks } from "./tracks.js";

const REFRESH_MS = 2000; // while the job is QUEUED or RUNNING: its record and the frames so far
const MASK_MAX_WIDTH = 640; // masks are drawn into an overlay at most this wide
const MAX_THUMBNAILS = 240;
const TIMELINE_MAX_CLASSES = 12;
const TERMINAL = new Set(["SUCCEEDED", "FAILED", "REJECTED", "PARTIAL", "COMPLETED"]);

const $ = (id) => document.getElementById(id);
const jobId = decodeURIComponent(window.location.pathname.split("/").filter(Boolean)[1] || "");
// run: the job's summary.json; frames: its frames.jsonl (docs/results-format.md), or while the job
// runs the parts written so far; loaded: the final frames.jsonl is in.
const state = { job: null, run: null, frames: [], loaded: false, selected: 0, maskCache: new Map() };
// Labels of the job's durations (the results handler's names) and of the run's phases (the pipeline's).
const DURATION_LABELS = {
  total_seconds: "job total", endpoint_seconds: "on the endpoint", queue_seconds: "queued",
  processing_seconds: "processing", elapsed_seconds: "elapsed",
};
const PHASE_LABELS = {
  total: "run", model_load: "model load", decode: "decode", inference: "inference", write: "write",
  inference_per_frame: "inference per frame", total_per_frame: "run per frame",
};

// --- frames.jsonl helpers ---

// One frame's detections: the parallel arrays boxes (source-pixel x1, y1, x2, y2), class_names,
// scores and, when the run kept them, masks (COCO RLE), as Detections.to_json writes them.
function detectionsOf(frame) {
  const d = frame.detections;
  if (!d) return [];
  return d.boxes.map((box, i) => ({
    box,
    label: d.class_names[i],
    score: d.scores[i],
    mask: d.masks ? d.masks[i] : null,
  }));
}

function frameSize(frame) {
  return { width: frame.width, height: frame.height };
}

function hexToRgb(hex) {
  const value = parseInt(hex.slice(1), 16);
  return [(value >> 16) & 255, (value >> 8) & 255, value & 255];
}

// All masks of a frame painted into one translucent image (data URL), cached per frame.
function maskImage(frame) {
  if (state.maskCache.has(frame.frame_index)) return state.maskCache.get(frame.frame_index);
  const detections = detectionsOf(frame).filter((d) => d.mask);
  let url = null;
  if (detections.length) {
    const { width, height } = frameSize(frame);
    const scale = Math.min(1, MASK_MAX_WIDTH / width);
    const cw = Math.max(1, Math.round(width * scale));
    const ch = Math.max(1, Math.round(height * scale));
    const canvas = document.createElement("canvas");
    canvas.width = cw;
    canvas.height = ch;
    const context = canvas.getContext("2d");
    const pixels = context.createImageData(cw, ch);
    for (const detection of detections) {
      let mask;
      try {
        mask = decodeRle(detection.mask);
      } catch (error) {
        console.warn(`frame ${frame.frame_index}: unreadable mask`, error);
        continue;
      }
      const [r, g, b] = hexToRgb(classColor(detection.label));
      for (let y = 0; y < ch; y++) {
        const sy = Math.min(mask.height - 1, Math.floor(((y + 0.5) * mask.height) / ch));
        for (let x = 0; x < cw; x++) {
          const sx = Math.min(mask.width - 1, Math.floor(((x + 0.5) * mask.width) / cw));
          if (!mask.data[sy * mask.width + sx]) continue;
          const p = (y * cw + x) * 4;
          pixels.data[p] = r;
          pixels.data[p + 1] = g;
          pixels.data[p + 2] = b;
          pixels.data[p + 3] = 120;
        }
      }
    }
    context.putImageData(pixels, 0, 0);
    url = canvas.toDataURL("image/png");
  }
  state.maskCache.set(frame.frame_index, url);
  return url;
}

// --- one frame with its overlay ---

function frameFigure(frame, role) {
  const detections = detectionsOf(frame);
  const { width, height } = frameSize(frame);
  const figure = el("figure", {
    class: `frame frame-${role}`,
    "data-role": role,
    "data-frame-index": frame.frame_index,
    "data-box-count": detections.length,
  });
  const box = el("div", { class: "frame-canvas" });
  box.style.aspectRatio = `${width} / ${height}`;
  const imageUrl = state.job.frame_images[String(frame.frame_index)];
  if (imageUrl) box.append(el("img", { src: imageUrl, alt: `frame ${frame.frame_index}`, loading: "lazy" }));
  else box.classList.add("no-image");

  const overlay = svg("svg", { viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: "none", class: "overlay" });
  const masks = maskImage(frame);
  if (masks) {
    overlay.append(svg("image", { href: masks, x: 0, y: 0, width, height, preserveAspectRatio: "none", class: "masks" }));
  }
  const fontSize = Math.max(10, Math.round(height / 28));
  detections.forEach((detection, i) => {
    const [x1, y1, x2, y2] = detection.box.map(Number);
    const color = classColor(detection.label);
    const rect = svg("rect", {
      class: "box",
      x: x1, y: y1, width: Math.max(0, x2 - x1), height: Math.max(0, y2 - y1),
      stroke: color, "data-detection": i,
    });
    rect.append(svg("title", { text: `${detection.label} ${score(detection.score)}` }));
    overlay.append(rect);
    const text = `${detection.label} ${score(detection.score)}`;
    const labelY = y1 - fontSize * 1.3 >= 0 ? y1 - fontSize * 1.3 : y1;
    overlay.append(
      svg("g", { class: "label" },
        svg("rect", { class: "label-bg", x: x1, y: labelY, width: text.length * fontSize * 0.6 + 8, height: fontSize * 1.3, fill: color }),
        svg("text", { x: x1 + 4, y: labelY + fontSize, "font-size": fontSize, text })),
    );
  });
  box.append(overlay);
  figure.append(box);
  const caption = `#${frame.frame_index} · ${frame.timestamp.toFixed(2)} s · ${detections.length} detection${detections.length === 1 ? "" : "s"}`;
  figure.append(el("figcaption", { text: caption }));
  return figure;
}

function score(value) {
  return typeof value === "number" ? `${Math.round(value * 100)}%` : "";
}

// --- the stage (selected frame) ---

function select(position) {
  if (!state.frames.length) return;
  state.selected = Math.max(0, Math.min(state.frames.length - 1, position));
  const frame = state.frames[state.selected];
  $("stage").replaceChildren(frameFigure(frame, "stage"));
  $("stage-caption").textContent = `${state.selected + 1} of ${state.frames.length}`;
  $("stage-side").replaceChildren(sidePanel(frame));
  for (const thumb of document.querySelectorAll(".frame-thumb")) {
    thumb.classList.toggle("selected", Number(thumb.dataset.frameIndex) === frame.frame_index);
  }
  const cursor = document.getElementById("timeline-cursor");
  if (cursor) {
    const x = cursor.dataset.scale ? timelineX(frame.timestamp) : 0;
    cursor.setAttribute("x1", x);
    cursor.setAttribute("x2", x);
  }
}

function sidePanel(frame) {
  const detections = detectionsOf(frame).sort((a, b) => b.score - a.score);
  const panel = el("div", { class: "side" });
  panel.append(
    el("dl", { class: "facts compact" },
      el("dt", { text: "frame" }), el("dd", { text: String(frame.frame_index) }),
      el("dt", { text: "time" }), el("dd", { text: `${frame.timestamp.toFixed(3)} s` }),
      el("dt", { text: "size" }), el("dd", { text: `${frame.width} × ${frame.height}` }),
      frame.keyframe === true ? [el("dt", { text: "keyframe" }), el("dd", { text: "yes" })] : null),
  );
  if (detections.length) {
    const list = el("ul", { class: "detections" });
    for (const d of detections) {
      const [x1, y1, x2, y2] = d.box.map(Number);
      list.append(
        el("li", {},
          el("span", { class: "swatch", style: `background:${classColor(d.label)}` }),
          el("span", { class: "det-label", text: d.label }),
          el("span", { class: "det-score", text: score(d.score) }),
          el("span", { class: "muted det-size", text: `${Math.round(x2 - x1)}×${Math.round(y2 - y1)}` })),
      );
    }
    panel.append(list);
  } else if (!frame.semantic) {
    panel.append(el("p", { class: "muted", text: "No detections in this frame." }));
  }
  if (frame.semantic && frame.semantic.fractions) {
    const rows = Object.entries(frame.semantic.fractions).sort((a, b) => b[1] - a[1]).slice(0, 12);
    const list = el("ul", { class: "fractions" });
    for (const [name, fraction] of rows) {
      const bar = el("span", { class: "fraction-bar", style: `width:${Math.max(1, fraction * 100)}%;background:${classColor(name)}` });
      list.append(el("li", {}, el("span", { class: "det-label", text: name }), el("span", { class: "fraction" }, bar), el("span", { class: "det-score", text: `${(fraction * 100).toFixed(1)}%` })));
    }
    panel.append(el("h3", { text: "Pixels per class" }), list);
  }
  return panel;
}

// --- timeline ---

const TL = { width: 1000, left: 140, right: 16, row: 24, top: 10, axis: 26 };
let timelineDuration = 1;

function timelineX(t) {
  return TL.left + ((TL.width - TL.left - TL.right) * Math.min(Math.max(t, 0), timelineDuration)) / timelineDuration;
}

function niceStep(duration) {
  const steps = [0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200];
  return steps.find((s) => duration / s <= 10) || 14400;
}

function renderTimeline(run) {
  const counts = new Map(); // class -> [{frame position, count}]
  state.frames.forEach((frame, position) => {
    const perClass = new Map();
    for (const d of detectionsOf(frame)) perClass.set(d.label, (perClass.get(d.label) || 0) + 1);
    for (const [name, fraction] of Object.entries(frame.semantic ? frame.semantic.fractions : {})) {
      if (fraction > 0.01) perClass.set(name, (perClass.get(name) || 0) + fraction);
    }
    for (const [name, count] of perClass) {
      if (!counts.has(name)) counts.set(name, []);
      counts.get(name).push({ position, count });
    }
  });
  const classes = [...counts.entries()]
    .map(([name, hits]) => ({ name, hits, total: hits.reduce((s, h) => s + h.count, 0) }))
    .sort((a, b) => b.total - a.total)
    .slice(0, TIMELINE_MAX_CLASSES);
  const times = state.frames.map((f) => f.timestamp);
  const video = run ? run.video : {};
  const gap = times.length > 1 ? (times[times.length - 1] - times[0]) / (times.length - 1) : 1;
  timelineDuration = Math.max(Number(video.duration) || 0, (times[times.length - 1] || 0) + gap, 0.001);
  const rows = classes.length + 1;
  const height = TL.top + rows * TL.row + TL.axis;
  const chart = svg("svg", { viewBox: `0 0 ${TL.width} ${height}`, class: "timeline", role: "img", "aria-label": "Detections per class over time" });
  const cellWidth = Math.max(3, (((TL.width - TL.left - TL.right) * gap) / timelineDuration) * 0.9);

  classes.forEach((cls, row) => {
    const y = TL.top + row * TL.row;
    const maxCount = Math.max(...cls.hits.map((h) => h.count));
    chart.append(svg("rect", { class: row % 2 ? "tl-stripe odd" : "tl-stripe", x: 0, y, width: TL.width, height: TL.row }));
    chart.append(svg("text", { class: "tl-label", x: TL.left - 10, y: y + TL.row * 0.68, text: cls.name }));
    for (const hit of cls.hits) {
      const frame = state.frames[hit.position];
      const tick = svg("rect", {
        class: "tl-hit", "data-class": cls.name, "data-frame-index": frame.frame_index,
        // A sample stands for the interval until the next one.
        x: timelineX(frame.timestamp), y: y + 4, width: cellWidth, height: TL.row - 8,
        fill: classColor(cls.name), opacity: (0.35 + (0.65 * hit.count) / maxCount).toFixed(2),
        onclick: () => select(hit.position),
      });
      const countText = Number.isInteger(hit.count) ? `${hit.count}` : `${(hit.count * 100).toFixed(0)}% of pixels`;
      tick.append(svg("title", { text: `${cls.name}: ${countText} at ${frame.timestamp.toFixed(2)} s` }));
      chart.append(tick);
    }
  });
  const sampledY = TL.top + classes.length * TL.row;
  chart.append(svg("text", { class: "tl-label muted", x: TL.left - 10, y: sampledY + TL.row * 0.68, text: "sampled" }));
  state.frames.forEach((frame, position) => {
    chart.append(svg("rect", {
      class: "tl-sample", x: timelineX(frame.timestamp) - 1, y: sampledY + 7, width: 2, height: TL.row - 14,
      onclick: () => select(position),
    }));
  });
  const axisY = TL.top + rows * TL.row;
  chart.append(svg("line", { class: "tl-axis", x1: TL.left, x2: TL.width - TL.right, y1: axisY, y2: axisY }));
  const step = niceStep(timelineDuration);
  for (let t = 0; t <= timelineDuration + 1e-9; t += step) {
    const x = timelineX(t);
    chart.append(svg("line", { class: "tl-grid", x1: x, x2: x, y1: TL.top, y2: axisY + 4 }));
    chart.append(svg("text", { class: "tl-tick", x, y: axisY + 18, text: formatClock(t) }));
  }
  chart.append(svg("line", { id: "timeline-cursor", class: "tl-cursor", x1: TL.left, x2: TL.left, y1: TL.top, y2: axisY, "data-scale": "1" }));
  chart.addEventListener("click", (event) => {
    if (event.target.closest(".tl-hit, .tl-sample")) return;
    const point = chart.createSVGPoint();
    point.x = event.clientX;
    point.y = event.clientY;
    const local = point.matrixTransform(chart.getScreenCTM().inverse());
    if (local.x < TL.left) return;
    const t = ((local.x - TL.left) / (TL.width - TL.left - TL.right)) * timelineDuration;
    let best = 0;
    times.forEach((value, i) => { if (Math.abs(value - t) < Math.abs(times[best] - t)) best = i; });
    select(best);
  });
  $("timeline").replaceChildren(
    classes.length ? chart : el("p", { class: "muted", text: "No detections in any sampled frame." }),
  );
  if (!classes.length) $("timeline").append(chart);
  $("timeline-card").hidden = false;
}

function formatClock(seconds) {
  if (seconds < 60) return `${Number.isInteger(seconds) ? seconds : seconds.toFixed(1)}s`;
  const m = Math.floor(seconds / 60);
  const s = Math.round(seconds % 60);
  return `${m}:${String(s).padStart(2, "0")}`;
}

// --- the job's facts, media, downloads, history ---

function timingFacts(job) {
  const durations = Object.entries(job.durations || {}).map(([name, seconds]) => [DURATION_LABELS[name] || name, formatSeconds(seconds)]);
  const phases = Object.entries(job.timings || {})
    .filter(([, seconds]) => seconds > 0)
    .map(([name, seconds]) => [PHASE_LABELS[name] || name, formatSeconds(seconds)]);
  return [...durations, ...phases];
}

// The worker's last report: stage, frames done/expected, percent, frames/s and ETA (null while unknown).
function liveProgress(job) {
  const p = job.progress || {};
  if (!p.stage || TERMINAL.has(String(job.status || "").toUpperCase())) return null;
  const rate = typeof p.inference_fps === "number" ? p.inference_fps : p.decode_fps;
  const fields = [
    ["stage", p.stage],
    ["frames", p.frames_total !== null && p.frames_total !== undefined ? `${p.frames_done}/${p.frames_total} frames` : `${p.frames_done} frames`],
    ["percent", typeof p.percent === "number" ? `${Math.round(p.percent)}%` : null],
    ["rate", typeof rate === "number" ? `${rate.toFixed(1)} frames/s` : null],
    ["eta", typeof p.eta_seconds === "number" ? `ETA ${formatSeconds(p.eta_seconds)}` : null],
  ];
  return el("p", { class: "live-progress", id: "live-progress" },
    ...fields.filter(([, text]) => text !== null).map(([name, text]) => el("span", { "data-field": name, text })));
}

function money(value) {
  return typeof value === "number" ? `$${value < 0.01 ? value.toFixed(5) : value.toFixed(4)}` : "–";
}

// The summary's cost receipt (reelsight/contract/cost.py), once the run has one.
function renderReceipt(receipt) {
  $("receipt-card").hidden = !receipt;
  if (!receipt) return;
  const seconds = receipt.worker_seconds || {};
  $("receipt-cost").textContent = receipt.cost === null || receipt.cost === undefined ? "cost unknown" : money(receipt.cost);
  const facts = [
    ["cost per video-hour", money(receipt.cost_per_video_hour)],
    ["instance type", receipt.instance_type || "–"],
    ["region", receipt.region || "–"],
    ["price per hour", money(receipt.price_per_hour)],
    ["worker seconds", `${formatSeconds(seconds.total)} (model load ${formatSeconds(seconds.model_load)}, decode ${formatSeconds(seconds.decode)}, inference ${formatSeconds(seconds.inference)})`],
    ["frames", String(receipt.frames ?? "–")],
    ["video", formatSeconds(receipt.video_seconds)],
    ["price source", receipt.price_source || "–"],
  ];
  $("receipt").replaceChildren(...facts.flatMap(([name, value]) => [el("dt", { text: name }), el("dd", { "data-field": name, text: value })]));
}

// job.summary: the job record's short summary; run: the full summary.json once loaded (else null).
function renderJob(job, run) {
  document.title = `reelsight · ${job.job_id.slice(0, 12)}`;
  $("job-title").textContent = sourceName(job.source) === "–" ? job.job_id : sourceName(job.source);
  $("job-status").replaceChildren(statusBadge(job.status));
  const videos = Object.entries((job.progress && job.progress.videos) || {});
  $("job-progress").replaceChildren(
    ...[progressBar(job.progress), videos.length > 1
      ? el("ul", { class: "video-progress" },
          ...videos.map(([name, p]) => el("li", {}, el("span", { class: "ellipsis", text: name }),
            progressBar({ ...p, fraction: p.frames_total ? Math.min(1, p.frames_done / p.frames_total) : null }))))
      : null, liveProgress(job)].filter(Boolean),
  );
  renderReceipt(job.receipt);
  const short = job.summary;
  const model = run ? run.model : {};
  const video = run ? run.video : {};
  const params = job.params || {};
  const facts = [
    ["job", job.job_id],
    ["source", typeof job.source === "string" ? job.source : JSON.stringify(job.source)],
    ["route", job.route],
    ["model", short ? short.model : params.model],
    ["weights", model.weights ? `${model.weights}${model.random_weights ? " (random: results are meaningless)" : ""}` : null],
    ["device", model.device ? `${model.device}${model.precision ? ` · ${model.precision}` : ""}` : null],
    ["video", video.width ? `${video.width} × ${video.height} · ${video.fps.toFixed(2)} fps · ${formatSeconds(Number(video.duration))}${video.codec ? ` · ${video.codec}` : ""}` : null],
    ["frames sampled", short ? short.frames_sampled : null],
    ["detections", short ? short.detections_total : null],
    ["created", formatTime(job.created_at)],
    ["updated", formatTime(job.updated_at)],
    ...timingFacts(job),
    ["reason", job.reason],
    ["error", short ? short.error : null],
    ["warnings", short && short.warnings.length ? short.warnings.join("; ") : null],
  ];
  $("job-facts").replaceChildren(
    ...facts.filter(([, value]) => value !== null && value !== undefined && value !== "").flatMap(([name, value]) => [
      el("dt", { text: name }),
      el("dd", { class: { reason: "warn", error: "warn", warnings: "warn", job: "mono small" }[name] || "", text: String(value) }),
    ]),
  );

  const links = job.links || {};
  $("contact-sheet").hidden = !links.contact_sheet;
  if (links.contact_sheet) $("contact-sheet").querySelector("img").src = links.contact_sheet;
  $("preview").hidden = !links.preview;
  if (links.preview && $("preview").querySelector("video").getAttribute("src") !== links.preview) {
    $("preview").querySelector("video").src = links.preview;
  }
  $("media-card").hidden = !links.contact_sheet && !links.preview;

  const downloads = job.downloads || [];
  const frameImages = Object.keys(job.frame_images || {}).length;
  const items = [
    ...downloads.map((d) =>
      el("li", {}, el("a", { href: d.url, download: "", text: d.name }), d.size !== null ? el("span", { class: "muted", text: formatBytes(d.size) }) : null)),
    frameImages ? el("li", { class: "muted", text: `${frameImages} frame image${frameImages === 1 ? "" : "s"} (shown above)` }) : null,
  ];
  $("downloads").replaceChildren(...items.filter(Boolean));
  if (!downloads.length && !frameImages) $("downloads").append(el("li", { class: "muted", text: "Nothing yet." }));

  $("history").replaceChildren(
    ...(job.status_history || []).map((entry) =>
      el("tr", {}, el("td", {}, statusBadge(entry.status)), el("td", { class: "nowrap", text: formatTime(entry.at || entry.time || entry.timestamp) }), el("td", { class: "muted", text: entry.reason || "" }))),
  );
  $("params").textContent = JSON.stringify(job.params || {}, null, 2);
  $("job").hidden = false;
}

function renderFrames() {
  const frames = state.frames;
  $("frames-count").textContent = `${frames.length} frame${frames.length === 1 ? "" : "s"}${frames.length > MAX_THUMBNAILS ? `, first ${MAX_THUMBNAILS} shown` : ""}`;
  $("frames").replaceChildren(
    ...frames.slice(0, MAX_THUMBNAILS).map((frame, position) => {
      const figure = frameFigure(frame, "thumb");
      figure.tabIndex = 0;
      figure.addEventListener("click", () => select(position));
      figure.addEventListener("keydown", (event) => { if (event.key === "Enter") select(position); });
      return figure;
    }),
  );
  $("frames-card").hidden = frames.length === 0;
  $("viewer-card").hidden = frames.length === 0;
}

// --- loading ---

async function load() {
  let job;
  try {
    job = await api(`/v1/jobs/${encodeURIComponent(jobId)}`);
  } catch (error) {
    if (error instanceof AuthError) {
      await askToSignIn($("token-panel"), signInMessage(error));
      return load();
    }
    $("job-message").textContent = error.status === 404 ? `No job with id ${jobId}.` : `Could not load the job: ${error.message}`;
    return;
  }
  state.job = job;
  const changed = await loadFrames(job);
  renderJob(job, state.run);
  if (changed) {
    renderFrames();
    renderTimeline(state.run);
    select(state.selected);
    document.body.dataset.frames = String(state.frames.length);
    if (state.loaded) {
      await renderTracks({ jobId, run: state.run, frames: state.frames, select })
        .catch((error) => { $("job-message").textContent = `Could not load the tracks: ${error.message}`; });
    }
    if (state.loaded) document.body.dataset.rendered = "true";
  }
  document.body.dataset.ready = "true";
  document.body.dataset.status = String(job.status || "");
  const running = !TERMINAL.has(String(job.status || "").toUpperCase());
  if (running || (job.frames_final && !state.loaded)) setTimeout(load, REFRESH_MS);
}

// The frames: while the job runs, the parts written so far (drawn as they arrive); then the final
// frames.jsonl and summary.json, once. True when state.frames changed.
async function loadFrames(job) {
  if (!job.frames_url || state.loaded) return false;
  try {
    if (job.frames_final) {
      // frames.jsonl is in presentation order (docs/results-format.md).
      [state.run, state.frames] = await Promise.all([api(job.summary_url), apiLines(job.frames_url)]);
      state.loaded = true;
      return true;
    }
    const frames = await apiLines(job.frames_url);
    if (frames.length === state.frames.length) return false;
    state.frames = frames;
    return true;
  } catch (error) {
    $("job-message").textContent = `Could not load the results: ${error.message}`;
    return false;
  }
}

async function main() {
  $("forget-token").addEventListener("click", async () => {
    await signOut();
    window.location.reload();
  });
  $("prev-frame").addEventListener("click", () => select(state.selected - 1));
  $("next-frame").addEventListener("click", () => select(state.selected + 1));
  $("show-masks").addEventListener("change", (e) => document.body.classList.toggle("hide-masks", !e.target.checked));
  $("show-labels").addEventListener("change", (e) => document.body.classList.toggle("hide-labels", !e.target.checked));
  document.addEventListener("keydown", (event) => {
    if (event.target.closest("input, select, textarea")) return;
    if (event.key === "ArrowLeft") select(state.selected - 1);
    if (event.key === "ArrowRight") select(state.selected + 1);
  });
  await load();
}

main();
