/* zoo-site viewer: one agent's gameplay, frame by frame, with each step's data, and a
 * slider over the checkpoints of its training run. */

import { showStepData, stepFromUrl } from "./player.js";
import * as sal from "./saliency.js";
import {
  $, filesText, formatNumber, loadJson, queryOf, robustnessLink, scoreText, showMessage, spread,
  trainingText, whyNoActivations,
} from "./util.js";
import { drawSaliency, loadAnalyses, redraw, remember, start, switchTo, video, view as state } from "./viewer.js";

const overlay = $("saliency-overlay");
state.checkpoints = [];
state.pending = 0;
state.overlay = () => {
  sal.fit(video, overlay, state.entry.width, state.entry.height);
  return { canvas: overlay, rect: { x: 0, y: 0, w: overlay.width, h: overlay.height } };
};

function showFacts(entry) {
  const returns = entry.episode_returns.map(formatNumber).join(", ");
  const trained = entry.training_step != null;
  const facts = {
    id: entry.id, frames: String(entry.frames), fps: formatNumber(entry.fps),
    returns: returns || (entry.score === null ? "not recorded" : "no episode completed"),
    score: scoreText(entry.score), source: entry.source || "–",
    protocol: entry.protocol ? entry.protocol.label : "–",
    step: trained ? trainingText(entry.training_step) : "–",
    files: "–", /* from entry.json, once loaded */
  };
  for (const [key, text] of Object.entries(facts)) $(`fact-${key}`).textContent = text;
  $("fact-protocol-box").hidden = !entry.protocol;
  $("fact-step-box").hidden = !trained;
}

function checkpointText(entry) {
  const label = state.site.label("tag", entry.tag);
  const step = entry.training_step;
  return step == null ? label : `${label} · ${trainingText(step)}`;
}

/* The label beside the slider (and its value for screen readers) for checkpoint i. */
function showCheckpoint(i) {
  const list = state.checkpoints;
  const text = checkpointText(list[i]);
  $("checkpoint-label").textContent = text;
  $("checkpoint").setAttribute("aria-valuetext", `${text} (checkpoint ${i + 1} of ${list.length})`);
  $("checkpoint-prev").disabled = i === 0;
  $("checkpoint-next").disabled = i === list.length - 1;
}

/* grid.html with up to 6 of the run's checkpoints, this one among them. */
function compareLink(list, i) {
  const tags = spread(list.length, i, 6).map((k) => list[k].tag);
  const e = list[i];
  return `grid.html?${queryOf({ game: e.game, algos: e.algo, runs: e.run, tags: tags.join(",") })}`;
}

function showTraining(entry, entries) {
  const list = state.site.checkpointsOf(entries, entry);
  const i = list.indexOf(entry);
  clearTimeout(state.pending); /* the entry changed some other way: a pending move is stale */
  state.checkpoints = list;
  $("training").hidden = $("to-checkpoints").hidden = list.length < 2;
  if (list.length < 2) return;
  $("checkpoint").max = String(list.length - 1);
  $("checkpoint").value = String(i);
  showCheckpoint(i);
  $("to-checkpoints").href = compareLink(list, i);
}

function goToCheckpoint(i) {
  clearTimeout(state.pending);
  const entry = state.checkpoints[Math.min(state.checkpoints.length - 1, Math.max(0, i))];
  if (entry && entry !== state.entry) state.pick({ ...state.choice, tag: entry.tag });
}

function wireTraining() {
  const slider = $("checkpoint");
  /* While dragged the label follows at once; the entry loads once the slider rests. */
  slider.addEventListener("input", () => {
    showCheckpoint(Number(slider.value));
    clearTimeout(state.pending);
    state.pending = setTimeout(() => goToCheckpoint(Number(slider.value)), 150);
  });
  const by = (delta) => () => goToCheckpoint(state.checkpoints.indexOf(state.entry) + delta);
  $("checkpoint-prev").addEventListener("click", by(-1));
  $("checkpoint-next").addEventListener("click", by(1));
}

function showStep(step) {
  const entry = state.entry;
  $("step").textContent = `step ${step} / ${entry.frames}`;
  const steps = state.details?.id === entry.id ? state.details.steps : null;
  if (steps) showStepData(steps, step);
  if (state.values) sal.showValues(state.values, steps ? steps.action_names : [], step);
  for (const cursor of state.curves) cursor(step);
  drawSaliency(step);
}

async function loadDetails(entry) {
  try {
    const details = await loadJson(entry.details);
    if (state.entry !== entry) return;
    state.details = details;
    $("fact-files").textContent = filesText(details.files);
    $("no-activations").hidden = Boolean(details.activations);
    $("no-activations").textContent = details.activations ? "" : whyNoActivations(details);
    if (!(await loadAnalyses(entry, details))) return;
    showStep(Math.max(0, state.player.step));
    redraw();
    document.body.dataset.details = entry.id;
  } catch (err) {
    showMessage(`Could not load this agent's step data: ${err.message}.`);
  }
}

/* Another checkpoint of the same run keeps the step and whether it plays; otherwise a
 * deep link's step, or the start and autoplay. */
function startOf(entry, start) {
  const old = state.entry;
  const sameRun = old && ["algo", "game", "run"].every((k) => old[k] === entry[k]);
  if (!sameRun || (start != null)) return { step: start, play: !start };
  return { step: Math.min(entry.frames - 1, Math.max(0, state.player.step)), play: !video.paused };
}

function onEntry(entry, entries, params) {
  showFacts(entry);
  $("to-grid").href = `grid.html?${queryOf({ game: entry.game, tag: entry.tag })}`;
  $("to-activations").href = `video2.html?${queryOf(state.choice)}`;
  $("to-activations").hidden = !entry.activations;
  robustnessLink($("to-robustness"), entry);
  if (video.dataset.entry !== entry.id) {
    const from = startOf(entry, params && stepFromUrl(params, entry.fps, entry.frames)); /* before the old entry is forgotten */
    switchTo(entry, "");
    video.width = entry.width;
    video.height = entry.height;
    state.player.load(entry.video, entry.poster, entry.fps, entry.frames, from.step);
    if (from.play) video.play().catch(() => {}); /* autoplay may be refused: controls remain */
    loadDetails(entry);
  }
  showTraining(entry, entries);
  remember();
}

wireTraining();
video.addEventListener("loadedmetadata", () => state.entry && redraw());
window.addEventListener("resize", () => state.entry && redraw());
start({ need: null, onStep: showStep, onEntry, empty: "This zoo has no entries yet." });
