/* zoo-site viewer: one agent's gameplay, frame by frame, with each step's data, and a
 * slider over the checkpoints of its training run. */
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const video = $("video");
  const state = {
    manifest: null, entry: null, choice: null, details: null, player: null, pick: null,
    checkpoints: [], pending: 0,
    sal: ZooSaliency.settingsFrom(new URLSearchParams(location.search)),
    salData: null, values: null, curves: [], drawn: "",
  };
  const overlay = $("saliency-overlay");

  function showFacts(entry) {
    const returns = entry.episode_returns.map(Zoo.formatNumber).join(", ");
    $("fact-id").textContent = entry.id;
    $("fact-frames").textContent = String(entry.frames);
    $("fact-fps").textContent = Zoo.formatNumber(entry.fps);
    $("fact-returns").textContent = returns || (entry.score === null ? "not recorded" : "no episode completed");
    $("fact-score").textContent = Zoo.scoreText(entry.score);
    $("fact-source").textContent = entry.source || "–";
    $("fact-protocol-box").hidden = !entry.protocol;
    $("fact-protocol").textContent = entry.protocol ? entry.protocol.label : "–";
    const trained = entry.training_step !== null && entry.training_step !== undefined;
    $("fact-step-box").hidden = !trained;
    $("fact-step").textContent = trained ? Zoo.trainingText(entry.training_step) : "–";
    $("fact-files").textContent = "–"; /* from entry.json, once loaded */
  }

  /* ---- the run's checkpoints ----------------------------------------------------------- */

  function checkpointText(entry) {
    const label = ZooPicker.labelOf(state.manifest, "tag", entry.tag);
    const step = entry.training_step;
    return step === null || step === undefined ? label : `${label} · ${Zoo.trainingText(step)}`;
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
    const tags = Zoo.spread(list.length, i, 6).map((k) => list[k].tag);
    const e = list[i];
    const params = new URLSearchParams({ game: e.game, algos: e.algo, runs: e.run, tags: tags.join(",") });
    return `grid.html?${params.toString().replace(/%2C/g, ",")}`;
  }

  function showTraining(entry) {
    const list = Zoo.checkpointsOf(state.manifest, entry);
    const i = list.indexOf(entry);
    clearTimeout(state.pending); /* the entry changed some other way: a pending move is stale */
    state.checkpoints = list;
    $("training").hidden = list.length < 2;
    $("to-checkpoints").hidden = list.length < 2;
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
    /* While the slider is dragged its label follows at once; the entry (a new video and
     * its entry.json) only once it rests, not for every checkpoint passed over. */
    slider.addEventListener("input", () => {
      showCheckpoint(Number(slider.value));
      clearTimeout(state.pending);
      state.pending = setTimeout(() => goToCheckpoint(Number(slider.value)), 150);
    });
    const by = (delta) => () => goToCheckpoint(state.checkpoints.indexOf(state.entry) + delta);
    $("checkpoint-prev").addEventListener("click", by(-1));
    $("checkpoint-next").addEventListener("click", by(1));
  }

  /* ---- steps --------------------------------------------------------------------------- */

  function showStep(step) {
    const entry = state.entry;
    $("step").textContent = `step ${step} / ${entry.frames}`;
    const steps = state.details && state.details.id === entry.id ? state.details.steps : null;
    if (steps) ZooPlayer.showStepData(steps, step);
    if (state.values) ZooSaliency.showValues(state.values, steps ? steps.action_names : [], step);
    for (const cursor of state.curves) cursor(step);
    drawSaliency(step);
  }

  /* The map of `step` over the video (only when what is drawn changes). */
  function drawSaliency(step, force) {
    const data = state.salData;
    const key = data ? `${state.entry.id} ${ZooSaliency.rowOf(data, step)} ${JSON.stringify(state.sal)}` : "";
    if (key === state.drawn && !force) return;
    state.drawn = key;
    ZooSaliency.fit(video, overlay, state.entry.width, state.entry.height);
    ZooSaliency.draw(overlay, data, step, state.sal, { x: 0, y: 0, w: overlay.width, h: overlay.height });
  }

  async function loadSaliency(entry, details) {
    const info = details.saliency;
    $("saliency-note").textContent = info
      ? `${info.method === "gradient" ? "Gradient maps |∂L/∂I| (not the paper's perturbation)" : "Perturbation maps"}` +
        (info.every > 1 ? `, computed every ${info.every} steps (each shown until the next).` : ", every step.")
      : `No saliency maps for this agent${details.saliency_error ? ` (${details.saliency_error})` : ""}.`;
    $("saliency-section").hidden = !info;
    if (!info) return;
    const data = await ZooSaliency.load(info);
    if (state.entry !== entry) return;
    state.salData = data;
    state.curves.push(ZooSaliency.saliencyCurve(data, entry.frames, seek));
  }

  function seek(step) {
    video.pause();
    state.player.seekStep(step);
  }

  function here(withFrame, preview) {
    const frame = withFrame && state.player.step > 0 ? String(state.player.step) : null;
    const url = preview ? ZooPicker.previewFor : ZooPicker.urlFor;
    return url(state.choice, { frame, ...ZooSaliency.urlParams(state.sal) });
  }

  function remember() {
    history.replaceState(history.state, "", here(video.paused) + location.hash);
  }

  async function loadDetails(entry) {
    try {
      const details = await Zoo.loadJson(entry.details);
      if (state.entry !== entry) return;
      state.details = details;
      $("fact-files").textContent = Zoo.filesText(details.files);
      $("no-activations").hidden = Boolean(details.activations);
      $("no-activations").textContent = details.activations ? "" : Zoo.whyNoActivations(details);
      const values = await ZooSaliency.loadValues(details.activations);
      if (state.entry !== entry) return;
      state.values = values;
      state.curves = [ZooSaliency.valueCurve(values, entry.frames, seek)];
      await loadSaliency(entry, details);
      if (state.entry !== entry) return;
      showStep(Math.max(0, state.player.step));
      drawSaliency(Math.max(0, state.player.step), true);
      document.body.dataset.details = entry.id;
    } catch (err) {
      ZooPicker.showMessage(`Could not load this agent's step data: ${err.message}.`);
    }
  }

  /* Another checkpoint of the same run keeps the step (as far as the new video goes) and
   * whether it plays; a deep link's step, or else the start and autoplay, otherwise. */
  function startOf(entry, start) {
    const old = state.entry;
    const sameRun = old && ["algo", "game", "run"].every((k) => old[k] === entry[k]);
    if (!sameRun || (start !== null && start !== undefined)) return { step: start, play: !start };
    return { step: Math.min(entry.frames - 1, Math.max(0, state.player.step)), play: !video.paused };
  }

  function onEntry(entry, choice, start) {
    const title = `${ZooPicker.labelOf(state.manifest, "algo", entry.algo)} playing ${entry.game}`;
    $("heading").textContent = title;
    document.title = `${title} · ${state.manifest.site.title}`;
    state.choice = choice;
    showFacts(entry);
    const params = new URLSearchParams(choice);
    $("to-grid").href = `grid.html?${new URLSearchParams({ game: entry.game, tag: entry.tag })}`;
    $("to-activations").href = `video2.html?${params}`;
    $("to-activations").hidden = !entry.activations;
    Zoo.robustnessLink($("to-robustness"), entry);
    if (video.dataset.entry !== entry.id) {
      const from = startOf(entry, start); /* before the old entry is forgotten */
      state.entry = entry;
      state.details = null;
      state.salData = state.values = null;
      state.curves = [];
      $("step-values").hidden = $("saliency-section").hidden = $("value-section").hidden = true;
      drawSaliency(0, true);
      video.dataset.entry = entry.id;
      video.width = entry.width;
      video.height = entry.height;
      state.player.load(entry.video, entry.poster, entry.fps, entry.frames, from.step);
      if (from.play) video.play().catch(() => {}); /* autoplay may be refused: controls remain */
      loadDetails(entry);
    }
    showTraining(entry);
    remember();
  }

  async function main() {
    state.manifest = await ZooPicker.loadManifest();
    if (!state.manifest) return;
    state.player = ZooPlayer.create(video, showStep);
    state.player.onPause = remember;
    const params = new URLSearchParams(location.search);
    let first = true;
    const result = ZooPicker.create(state.manifest, (entry, choice) => {
      const start = first ? Zoo.stepFromUrl(params, entry.fps, entry.frames) : null;
      first = false;
      onEntry(entry, choice, start);
    });
    if (!result.entry) ZooPicker.showMessage("This zoo has no entries yet.");
    state.pick = result.pick;
    wireTraining();
    $("saliency-controls").hidden = !state.manifest.entries.some((e) => e.saliency);
    ZooSaliency.wire(state.sal, () => {
      drawSaliency(Math.max(0, state.player.step), true);
      remember();
    });
    const refit = () => drawSaliency(Math.max(0, state.player.step), true);
    video.addEventListener("loadedmetadata", refit);
    window.addEventListener("resize", refit);
    $("copy").addEventListener("click", () => ZooPlayer.copyLink(new URL(here(true, true), location.href).href));
    document.body.dataset.ready = "1";
  }

  main();
})();
