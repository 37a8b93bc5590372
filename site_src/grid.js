/* zoo-site comparison grid: one game's entries side by side, in sync (docs/site.md). The
 * longest video is the master; the others load when visible or on play and follow it. */

import { multiPick } from "./multipick.js";
import { SPEEDS, stepAt, stepFromUrl, syncPlayButton, timeOf, wireControls } from "./player.js";
import * as sal from "./saliency.js";
import { inOrder, loadSite } from "./site.js";
import { $, el as make, loadJson, queryOf, quote, ready, scoreText, showMessage } from "./util.js";

const DIMS = [
  { key: "algo", list: "algos" },
  { key: "run", list: "runs" },
  { key: "tag", list: "tags" },
];
const state = {
  site: null, game: null, entries: [], sel: {}, cells: [], master: null, observer: null,
  step: 0, frames: 0, fps: 1, speed: 1, playing: false,
  sal: sal.settingsFrom(new URLSearchParams(location.search)),
};

const labelOf = (key, value) => (key === "run" ? `run ${value}` : state.site.label(key, value));

const gamesWithEntries = () => state.site.root.games.filter((g) => g.entries).map((g) => g.id);

const optionsOf = (key, entries) => inOrder(entries.map((e) => String(e[key])), state.site.orders[key]);

const defaults = (key, options) =>
  key !== "tag" ? options : [options.includes("final") ? "final" : options[options.length - 1]];

/* Keep the wanted game and values that exist; note the others and use defaults. */
async function choose(wantedGame, wanted, notes) {
  const games = gamesWithEntries();
  let game = wantedGame;
  if (!games.includes(game)) {
    if (game) notes.push(`No game ${quote(game, 40)}.`);
    game = games[0];
  }
  const entries = await state.site.entries(game);
  const sel = {};
  for (const { key } of DIMS) {
    const options = optionsOf(key, entries);
    const want = [...new Set(wanted[key] || [])];
    const bad = want.filter((v) => !options.includes(v));
    if (bad.length) notes.push(`No ${key} ${bad.map((v) => quote(v, 40)).join(", ")} for ${game}.`);
    const good = want.filter((v) => options.includes(v));
    sel[key] = good.length ? good : defaults(key, options);
  }
  return { game, entries, sel };
}

function fillForm() {
  const games = gamesWithEntries();
  $("game").replaceChildren(...games.map((g) => new Option(g, g)));
  $("game").value = state.game;
  for (const { key, list } of DIMS) {
    const items = optionsOf(key, state.entries).map((value) => ({ value, label: labelOf(key, value) }));
    multiPick($(list), list, items, state.sel[key]);
  }
}

const endOf = (c) => timeOf(c.entry.frames - 1, c.entry.fps);
const timeFor = (c, step) => timeOf(Math.min(step, c.entry.frames - 1), c.entry.fps);

function makeCell(combo, entry) {
  const el = make("figure", "cell");
  Object.assign(el.dataset, combo);
  const caption = make("figcaption");
  const name = make(entry ? "a" : "span", "cell-label", ["algo", "run", "tag"].map((k) => labelOf(k, combo[k])).join(" · "));
  caption.append(name);
  const cell = { el, entry, video: null, loaded: false };
  if (entry) {
    name.href = `video.html?${queryOf({ ...combo, game: entry.game })}`;
    const video = make("video", { muted: true, playsInline: true, preload: "none", poster: entry.poster, width: entry.width, height: entry.height });
    video.setAttribute("muted", "");
    el.dataset.entry = entry.id;
    caption.append(" ", make("span", "cell-score", `score ${scoreText(entry.score)}`));
    const stage = make("div", "cell-stage");
    const canvas = make("canvas", "saliency-overlay");
    canvas.setAttribute("aria-hidden", "true");
    stage.append(video, canvas);
    el.append(stage, caption);
    Object.assign(cell, { video, canvas, saliency: null, drawn: "" });
    video.addEventListener("loadedmetadata", () => drawCell(cell, true));
  } else {
    el.classList.add("empty");
    el.append(make("p", "no-entry", "no entry"), caption);
  }
  return cell;
}

/* saliency over each cell (fetched only while shown) */

async function loadSaliency(cell) {
  if (cell.saliency || !cell.entry.saliency) return;
  cell.saliency = "loading";
  try {
    const details = await loadJson(cell.entry.details);
    cell.saliency = details.saliency ? await sal.load(details.saliency) : null;
  } catch (err) {
    cell.saliency = null;
    showMessage(`Could not load the saliency maps of ${cell.entry.id}: ${err.message}.`);
  }
  drawCell(cell, true);
}

function drawCell(cell, force) {
  const { canvas, entry } = cell;
  if (!canvas) return;
  if (state.sal.mode !== "off") loadSaliency(cell);
  const data = typeof cell.saliency === "object" ? cell.saliency : null;
  const step = Math.min(entry.frames - 1, state.step);
  const key = data ? `${sal.rowOf(data, step)} ${JSON.stringify(state.sal)}` : "";
  if (key === cell.drawn && !force) return;
  cell.drawn = key;
  sal.fit(cell.video, canvas, entry.width, entry.height);
  sal.draw(canvas, data, step, state.sal, { x: 0, y: 0, w: canvas.width, h: canvas.height });
  cell.el.dataset.saliencyStep = canvas.dataset.saliencyStep;
}

function drawCells(force) {
  for (const c of state.cells) if (c.loaded) drawCell(c, force);
}

function load(cell) {
  if (!cell || !cell.video || cell.loaded) return;
  cell.loaded = true;
  const video = cell.video;
  video.preload = "auto";
  video.defaultPlaybackRate = state.speed;
  video.addEventListener("loadedmetadata", () => {
    video.playbackRate = state.speed;
    const m = state.master;
    if (state.playing && cell !== m && m.video.readyState) follow(cell, m.video.currentTime);
    else {
      video.currentTime = timeFor(cell, state.step);
      if (state.playing) video.play().catch(() => {});
    }
  }, { once: true });
  video.src = cell.entry.video;
}

function build() {
  if (state.playing) pause();
  if (state.observer) state.observer.disconnect();
  for (const c of state.cells.filter((x) => x.loaded)) {
    c.video.removeAttribute("src"); /* stop its download */
    c.video.load();
  }
  const multi = DIMS.filter(({ key }) => state.sel[key].length > 1).map((d) => d.key);
  const col = multi.length ? multi[multi.length - 1] : null;
  const order = DIMS.map((d) => d.key).filter((k) => k !== col).concat(col ? [col] : []);
  let combos = [{}];
  for (const key of order) {
    combos = combos.flatMap((c) => state.sel[key].map((v) => ({ ...c, [key]: v })));
  }
  const entries = state.entries;
  const find = (c) => entries.find((e) => e.algo === c.algo && String(e.run) === c.run && e.tag === c.tag);
  state.cells = combos.map((c) => makeCell({ algo: c.algo, run: c.run, tag: c.tag }, find(c)));
  const grid = $("grid");
  grid.style.setProperty("--cols", String(col ? state.sel[col].length : 1));
  grid.replaceChildren(...state.cells.map((c) => c.el));
  const playable = state.cells.filter((c) => c.video);
  const master = playable.reduce((best, c) => (!best || c.entry.frames > best.entry.frames ? c : best), null);
  state.master = master;
  $("heading").textContent = `Compare agents playing ${state.game}`;
  for (const id of ["play", "prev", "next", "seek"]) $(id).disabled = !master;
  if (!master) { /* none of the chosen combinations exists: say so, nothing to play */
    state.frames = 0;
    $("step").textContent = "step – / –";
    showMessage(`None of the chosen combinations has an entry for ${state.game}: choose others above.`);
    return;
  }
  state.frames = master.entry.frames;
  state.fps = master.entry.fps;
  master.el.dataset.master = "1";
  master.video.loop = true;
  $("seek").max = String(state.frames - 1);
  load(master);
  state.observer = new IntersectionObserver((seen) => {
    for (const item of seen) if (item.isIntersecting) load(state.cells.find((c) => c.el === item.target));
  }, { rootMargin: "200px" });
  for (const c of playable) state.observer.observe(c.el);
  seekAll(state.step);
}

function setStep(step) {
  if (!state.master) return;
  state.step = Math.min(state.frames - 1, Math.max(0, step));
  $("seek").value = String(state.step);
  $("step").textContent = `step ${state.step} / ${state.frames}`;
  drawCells(false);
}

function seekAll(step) {
  setStep(step);
  remember();
  if (!state.master) return;
  for (const c of state.cells) if (c.loaded) c.video.currentTime = timeFor(c, state.step);
}

/* Keep a playing video on the master's time: nudge its rate, or re-seek it. */
function follow(c, mt) {
  const video = c.video;
  const fps = c.entry.fps;
  if (mt > endOf(c) + 0.5 / fps) {
    if (!video.paused) video.pause();
    if (!video.seeking && Math.abs(video.currentTime - endOf(c)) > 0.5 / fps) video.currentTime = endOf(c);
    return;
  }
  const drift = video.currentTime - mt;
  if (video.paused || Math.abs(drift) > Math.max(1 / fps, 0.04)) {
    video.playbackRate = state.speed;
    if (!video.seeking) video.currentTime = mt;
    if (video.paused) video.play().catch(() => {});
  } else if (Math.abs(drift) > 0.5 / fps) {
    video.playbackRate = state.speed * (drift > 0 ? 0.92 : 1.08);
  } else {
    video.playbackRate = state.speed;
  }
}

function tick() {
  const m = state.master;
  if (!state.playing || !m || !m.video.readyState) return;
  for (const c of state.cells) if (c !== m && c.loaded && c.video.readyState) follow(c, m.video.currentTime);
}

function frameLoop() {
  if (!state.playing) return;
  const { video } = state.master;
  if (video.readyState) setStep(stepAt(video.currentTime, state.fps, state.frames));
  requestAnimationFrame(frameLoop);
}


function play() {
  if (state.playing || !state.master) return;
  state.playing = true;
  if (state.step >= state.frames - 1) seekAll(0);
  state.cells.forEach(load);
  for (const c of state.cells) {
    if (c.loaded && c.video.readyState && state.step < c.entry.frames - 1) c.video.play().catch(() => {});
  }
  syncPlayButton(state.playing);
  remember();
  requestAnimationFrame(frameLoop);
}

function pause() {
  if (!state.playing) return;
  state.playing = false;
  for (const c of state.cells) if (c.video) c.video.pause();
  const video = state.master.video;
  if (video.readyState) state.step = stepAt(video.currentTime, state.fps, state.frames);
  seekAll(state.step);
  syncPlayButton(state.playing);
}

const toggle = () => (state.playing ? pause() : play());

function stepBy(delta) {
  pause();
  seekAll(state.step + delta);
}

function setSpeed(speed) {
  state.speed = speed;
  $("speed").value = String(speed);
  for (const c of state.cells) if (c.video) c.video.playbackRate = c.video.defaultPlaybackRate = speed;
  remember();
}

function remember() {
  if (!state.game) return;
  const params = { game: state.game };
  for (const { key, list } of DIMS) {
    const values = state.sel[key];
    params[values.length > 1 ? list : key] = values.join(",");
  }
  if (!state.playing && state.step > 0) params.t = String(Number(timeOf(state.step, state.fps).toFixed(3)));
  if (state.speed !== 1) params.speed = String(state.speed);
  for (const [key, value] of Object.entries(sal.urlParams(state.sal))) if (value !== null) params[key] = value;
  const query = queryOf(params);
  history.replaceState(history.state, "", `${location.pathname}?${query}${location.hash}`);
  $("clip-cmd").textContent = /* the video of this view (zoo-site clip, docs/clip.md) */
    `zoo-site clip --grid 'grid.html?${query}' --from ${state.step} --to ${state.frames} -o clip.mp4`;
}

function apply(choice) {
  Object.assign(state, choice);
  fillForm();
  build();
}

async function onFormChange(event) {
  const target = event.target;
  if (target.type === "search") return; /* a picker's filter box */
  const wanted = {};
  for (const { key, list } of DIMS) {
    wanted[key] = [...$(list).querySelectorAll("input:checked")].map((i) => i.value);
    if (target.name === list && !wanted[key].length) {
      target.checked = true; /* at least one value of each */
      return;
    }
  }
  showMessage("");
  document.body.dataset.busy = "1"; /* while the game's shard comes */
  apply(await choose($("game").value, wanted, []).finally(() => delete document.body.dataset.busy));
}

function wire() {
  wireControls({ toggle, stepBy, setSpeed, speed: () => state.speed });
  $("seek").addEventListener("input", () => seekAll(Number($("seek").value)));
  $("grid-form").addEventListener("change", onFormChange);
  $("grid-form").addEventListener("submit", (event) => event.preventDefault());
  setInterval(tick, 250);
  sal.wire(state.sal, () => {
    drawCells(true);
    remember();
  });
  window.addEventListener("resize", () => drawCells(true));
}

function listParam(params, key, list) {
  return params.getAll(list).concat(params.getAll(key))
    .flatMap((v) => v.split(",")).map((v) => v.trim()).filter(Boolean);
}

async function main() {
  state.site = await loadSite();
  if (!state.site) return;
  if (!gamesWithEntries().length) {
    showMessage("This zoo has no entries yet.");
    ready();
    return;
  }
  const params = new URLSearchParams(location.search);
  const notes = [];
  const wanted = {};
  for (const { key, list } of DIMS) wanted[key] = listParam(params, key, list);
  wire();
  $("saliency-controls").hidden = !state.site.root.counts.saliency;
  $("saliency-note").textContent = "Maps where an agent has them (see its viewer for how they were made).";
  const speed = params.get("speed");
  if (speed !== null) {
    if (SPEEDS.includes(Number(speed)) && speed.trim()) setSpeed(Number(speed));
    else notes.push(`No speed ${quote(speed, 40)}.`);
  }
  apply(await choose(params.get("game"), wanted, notes));
  const start = state.master ? stepFromUrl(params, state.fps, state.frames) : null;
  const asked = params.get("frame") !== null || params.get("t") !== null;
  if (start === null && asked) notes.push(`No time ${quote(params.get("t") || params.get("frame"), 40)}.`);
  seekAll(start || 0);
  const none = state.master ? "" : $("message").textContent; /* build()'s: nothing to play */
  showMessage([notes.length ? `${notes.join(" ")} Showing what exists instead.` : "", none].filter(Boolean).join(" "));
  ready();
}

main().catch((err) => {
  showMessage(`Could not load the comparison: ${err.message}.`);
  ready("error");
});
