// Tracks of a run with track set (tracks.jsonl, docs/results-format.md): one bar per track from its
// first to its last sighting, in the track's colour (the preview video's: reelsight/render.py
// track_colour). Clicking a bar shows the track's best frame on the stage, its box outlined.
import { apiLines, el, svg } from "./common.js";

const MAX_TRACKS = 200; // bars drawn; the card says how many more there are
const TK = { width: 1000, left: 140, right: 16, row: 18, top: 8, axis: 26 };

// The preview's colour of a track: hue from the golden ratio, offset 0.3, saturation and value 0.9.
export function trackColor(trackId) {
  const hue = (trackId * 0.618033988749895 + 0.3) % 1;
  const i = Math.floor(hue * 6);
  const f = hue * 6 - i;
  const v = 0.9;
  const p = v * (1 - 0.9);
  const q = v * (1 - 0.9 * f);
  const t = v * (1 - 0.9 * (1 - f));
  const [r, g, b] = [[v, t, p], [q, v, p], [p, v, t], [p, q, v], [t, p, v], [v, p, q]][i % 6];
  return `#${[r, g, b].map((c) => Math.floor(c * 255).toString(16).padStart(2, "0")).join("")}`;
}

function clock(seconds) {
  if (seconds < 60) return `${Number.isInteger(seconds) ? seconds : seconds.toFixed(1)}s`;
  return `${Math.floor(seconds / 60)}:${String(Math.round(seconds % 60)).padStart(2, "0")}`;
}

// Outline the track's box on the stage (the stage shows the best frame after select()).
function outlineOnStage(track) {
  const overlay = document.querySelector("#stage svg.overlay");
  if (!overlay) return;
  const [x1, y1, x2, y2] = track.best_frame.box.map(Number);
  overlay.append(svg("rect", {
    class: "tk-focus", x: x1, y: y1, width: Math.max(0, x2 - x1), height: Math.max(0, y2 - y1),
    stroke: trackColor(track.track_id), "data-track-id": track.track_id,
  }));
  document.getElementById("stage").dataset.track = String(track.track_id);
}

function chart(tracks, duration, positionOf, select) {
  const shown = tracks.slice(0, MAX_TRACKS);
  const height = TK.top + shown.length * TK.row + TK.axis;
  const x = (t) => TK.left + ((TK.width - TK.left - TK.right) * Math.min(Math.max(t, 0), duration)) / duration;
  const root = svg("svg", { viewBox: `0 0 ${TK.width} ${height}`, class: "timeline tracks", role: "img", "aria-label": "Tracks over time" });
  shown.forEach((track, row) => {
    const y = TK.top + row * TK.row;
    const color = trackColor(track.track_id);
    root.append(svg("text", { class: "tl-label", x: TK.left - 10, y: y + TK.row * 0.72, text: `#${track.track_id} ${track.class_name}` }));
    const bar = svg("rect", {
      class: "tk-bar", x: x(track.first_seen), y: y + 3, width: Math.max(3, x(track.last_seen) - x(track.first_seen)),
      height: TK.row - 6, rx: 3, fill: color, "data-track-id": track.track_id, "data-best-frame": track.best_frame.frame_index,
    });
    bar.append(svg("title", {
      text: `#${track.track_id} ${track.class_name}: ${track.first_seen.toFixed(2)}–${track.last_seen.toFixed(2)} s, `
        + `${track.frames_seen} frames, mean score ${Math.round(track.mean_score * 100)}%`,
    }));
    bar.addEventListener("click", () => {
      const position = positionOf.get(track.best_frame.frame_index);
      if (position === undefined) return;
      select(position);
      outlineOnStage(track);
    });
    root.append(bar);
  });
  const axisY = TK.top + shown.length * TK.row;
  root.append(svg("line", { class: "tl-axis", x1: TK.left, x2: TK.width - TK.right, y1: axisY, y2: axisY }));
  const step = [0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600].find((s) => duration / s <= 10) || 7200;
  for (let t = 0; t <= duration + 1e-9; t += step) {
    root.append(svg("text", { class: "tl-tick", x: x(t), y: axisY + 18, text: clock(t) }));
  }
  return root;
}

// Draw the job's tracks into #tracks-card once its final results are in; a run without tracking
// (no tracks artifact) leaves the card hidden.
export async function renderTracks({ jobId, run, frames, select }) {
  const card = document.getElementById("tracks-card");
  if (!card || !run || !run.artifacts || !run.artifacts.tracks || card.dataset.loaded) return;
  card.dataset.loaded = "true";
  const tracks = await apiLines(`/v1/jobs/${encodeURIComponent(jobId)}/tracks`);
  tracks.sort((a, b) => a.first_seen - b.first_seen || a.track_id - b.track_id);
  const perClass = (run.unique_objects_per_class && Object.entries(run.unique_objects_per_class)) || [];
  const last = frames.length ? frames[frames.length - 1].timestamp : 0;
  const duration = Math.max(Number(run.video && run.video.duration) || 0, last, 0.001);
  const positionOf = new Map(frames.map((frame, position) => [frame.frame_index, position]));
  document.getElementById("tracks-count").textContent =
    `${tracks.length} track${tracks.length === 1 ? "" : "s"}${perClass.length ? ` · ${perClass.map(([n, c]) => `${c} ${n}`).join(", ")}` : ""}`
    + (tracks.length > MAX_TRACKS ? ` · first ${MAX_TRACKS} shown` : "");
  document.getElementById("tracks").replaceChildren(
    tracks.length ? chart(tracks, duration, positionOf, select) : el("p", { class: "muted", text: "No object was tracked." }),
  );
  card.hidden = false;
  document.body.dataset.tracks = String(tracks.length);
}
