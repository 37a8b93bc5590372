/* zoo-site: frame-exact playback for the viewers and the grid (docs/site.md): the speeds,
 * the key map, a player for one video. The step shown is the presented frame's
 * (requestVideoFrameCallback); stepping seeks to a frame's centre. */

import { $, formatNumber } from "./util.js";

export const SPEEDS = [0.1, 0.25, 0.5, 1, 1.5, 2];

export const stepAt = (time, fps, frames) => Math.min(frames - 1, Math.max(0, Math.floor(time * fps + 1e-6)));
export const timeOf = (step, fps) => (step + 0.5) / fps;

/* The step a deep link asks for, from frame= or t= (seconds); null when absent or bad. */
export function stepFromUrl(params, fps, frames) {
  const frame = params.get("frame");
  if (frame !== null && /^\d+$/.test(frame)) return Math.min(frames - 1, Number(frame));
  const t = params.get("t");
  if (t !== null && /^\d+(\.\d+)?$/.test(t)) return stepAt(Number(t), fps, frames);
  return null;
}

function nextSpeed(rate, direction) {
  const at = SPEEDS.indexOf(rate);
  const i = at < 0 ? SPEEDS.indexOf(1) : at;
  return SPEEDS[Math.min(SPEEDS.length - 1, Math.max(0, i + direction))];
}

/* The key map: space plays or pauses, ← and → step a frame, [ and ] change the speed.
 * Keys typed into a field are the field's; space on a focused button or link presses it. */
function bindKeys({ toggle, stepBy, speedBy }) {
  const keys = { " ": toggle, ArrowLeft: () => stepBy(-1), ArrowRight: () => stepBy(1),
    "[": () => speedBy(-1), "]": () => speedBy(1) };
  document.addEventListener("keydown", (event) => {
    const t = event.target;
    const typing = t.closest?.("input, select, textarea");
    const pressing = event.key === " " && t.closest?.("button, a, summary");
    if (event.altKey || event.ctrlKey || event.metaKey || typing || pressing || !keys[event.key]) return;
    event.preventDefault();
    keys[event.key]();
  });
}

/* The buttons (#play, #prev, #next), #speed (filled with SPEEDS) and the keys. */
export function wireControls({ toggle, stepBy, setSpeed, speed }) {
  const select = $("speed");
  select.replaceChildren(...SPEEDS.map((s) => new Option(`${s}×`, String(s))));
  select.value = "1";
  select.addEventListener("change", () => setSpeed(Number(select.value)));
  $("play").addEventListener("click", toggle);
  $("prev").addEventListener("click", () => stepBy(-1));
  $("next").addEventListener("click", () => stepBy(1));
  bindKeys({ toggle, stepBy, speedBy: (d) => setSpeed(nextSpeed(speed(), d)) });
}

export function syncPlayButton(playing) {
  const button = $("play");
  button.textContent = playing ? "Pause" : "Play";
  button.setAttribute("aria-pressed", String(playing));
}

/* A player for one video, with the controls; onStep(step) whenever the step shown changes. */
export function createPlayer(video, onStep) {
  const player = { fps: 0, frames: 0, step: -1, onStep, onPause: () => {} };

  function report(time) {
    if (!player.frames) return;
    const step = stepAt(time, player.fps, player.frames);
    if (step === player.step) return;
    player.step = step;
    player.onStep(step);
  }

  player.load = (src, poster, fps, frames, step) => {
    Object.assign(player, { fps, frames, step: -1 });
    Object.assign(video, { poster, src });
    const start = step == null ? 0 : step;
    if (start > 0) video.currentTime = timeOf(start, fps);
    report(start > 0 ? timeOf(start, fps) : 0);
    return start;
  };

  player.seekStep = (step) => {
    if (!player.frames) return;
    video.currentTime = timeOf(Math.min(player.frames - 1, Math.max(0, step)), player.fps);
    report(video.currentTime);
  };

  player.stepBy = (delta) => {
    video.pause();
    player.seekStep(Math.max(0, player.step) + delta);
  };

  player.toggle = () => (video.paused ? video.play().catch(() => {}) : video.pause());

  player.setSpeed = (rate) => {
    video.playbackRate = video.defaultPlaybackRate = rate;
    $("speed").value = String(rate);
  };

  video.addEventListener("seeked", () => report(video.currentTime));
  if ("requestVideoFrameCallback" in video) {
    const onFrame = (_now, meta) => {
      report(video.paused ? video.currentTime : meta.mediaTime);
      video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
  } else {
    video.addEventListener("timeupdate", () => report(video.currentTime));
  }
  video.addEventListener("play", () => syncPlayButton(true));
  video.addEventListener("pause", () => {
    syncPlayButton(false);
    player.onPause();
  });
  wireControls({ ...player, speed: () => video.playbackRate });
  syncPlayButton(false);
  return player;
}

/* Step n's action, reward and score; returns the action's index (-1: none recorded). */
export function showStepData(steps, n) {
  const list = steps.actions || steps.greedy;
  const chosen = list ? list[n] : -1;
  let action = "not recorded";
  if (list) {
    const name = steps.action_names[chosen] || `action ${chosen}`;
    action = steps.actions ? name : `${name} (the network's greedy choice)`;
  } else if (steps.action_values) { /* continuous control: the values themselves */
    action = `[${steps.action_values[n].map(formatNumber).join(", ")}]`;
  }
  $("step-action").textContent = action;
  $("step-reward").textContent = steps.rewards ? formatNumber(steps.rewards[n]) : "not recorded";
  $("step-score").textContent = steps.score ? formatNumber(steps.score[n]) : "not recorded";
  return chosen;
}

/* Copy `url` to the clipboard (or select it in #link for a manual copy); say so. */
export async function copyLink(url) {
  $("link").value = url;
  try {
    await navigator.clipboard.writeText(url);
    $("copy-status").textContent = "Link copied.";
  } catch (_err) {
    $("link").select();
    $("copy-status").textContent = "Press Ctrl+C to copy the selected link.";
  }
}
