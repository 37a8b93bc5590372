/* zoo-site viewer: one agent's gameplay, frame by frame, with each step's data. */
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const video = $("video");
  const state = { manifest: null, entry: null, choice: null, details: null, player: null };

  function showFacts(entry) {
    const returns = entry.episode_returns.map(Zoo.formatNumber).join(", ");
    $("fact-id").textContent = entry.id;
    $("fact-frames").textContent = String(entry.frames);
    $("fact-fps").textContent = Zoo.formatNumber(entry.fps);
    $("fact-returns").textContent = returns || "no episode completed";
    $("fact-score").textContent = Zoo.formatNumber(entry.score);
  }

  function showStep(step) {
    const entry = state.entry;
    $("step").textContent = `step ${step} / ${entry.frames}`;
    const steps = state.details && state.details.id === entry.id ? state.details.steps : null;
    if (steps) ZooPlayer.showStepData(steps, step);
  }

  function here(withFrame) {
    const frame = withFrame && state.player.step > 0 ? String(state.player.step) : null;
    return ZooPicker.urlFor(state.choice, { frame });
  }

  function remember() {
    history.replaceState(history.state, "", here(video.paused) + location.hash);
  }

  async function loadDetails(entry) {
    try {
      const details = await Zoo.loadJson(entry.details);
      if (state.entry !== entry) return;
      state.details = details;
      showStep(Math.max(0, state.player.step));
    } catch (err) {
      ZooPicker.showMessage(`Could not load this agent's step data: ${err.message}.`);
    }
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
    if (video.dataset.entry !== entry.id) {
      state.entry = entry;
      state.details = null;
      video.dataset.entry = entry.id;
      video.width = entry.width;
      video.height = entry.height;
      const step = state.player.load(entry.video, entry.poster, entry.fps, entry.frames, start);
      if (!step) video.play().catch(() => {}); /* autoplay may be refused: controls remain */
      loadDetails(entry);
    }
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
    $("copy").addEventListener("click", () => ZooPlayer.copyLink(new URL(here(true), location.href).href));
    document.body.dataset.ready = "1";
  }

  main();
})();
