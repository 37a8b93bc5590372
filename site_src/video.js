/* zoo-site viewer: pick an entry with four cascading selects and play its video. */
"use strict";

(function () {
  const Zoo = window.Zoo;
  const $ = (id) => document.getElementById(id);
  const video = $("video");
  const state = { manifest: null, entry: null };

  function wantedFromUrl(search) {
    const params = new URLSearchParams(search);
    return {
      algo: params.get("algo"),
      game: params.get("game"),
      run: params.get("run") || params.get("run_id"),
      tag: params.get("tag"),
    };
  }

  async function loadManifest() {
    const response = await fetch("manifest.json", { cache: "no-cache" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    return response.json();
  }

  function showMessage(text) {
    $("message").textContent = text;
    $("message").hidden = !text;
  }

  function optionLabel(key, value) {
    const list = { algo: state.manifest.algos, tag: state.manifest.tags }[key];
    const item = list && list.find((x) => x.id === value);
    return item ? item.label : value;
  }

  function fillSelects(result) {
    for (const key of Zoo.KEYS) {
      const options = result.options[key].map((v) => new Option(optionLabel(key, v), v));
      $(key).replaceChildren(...options);
      $(key).value = result.choice[key];
    }
  }

  function showFacts(entry) {
    const returns = entry.episode_returns.map(Zoo.formatNumber).join(", ");
    $("fact-id").textContent = entry.id;
    $("fact-frames").textContent = String(entry.frames);
    $("fact-fps").textContent = Zoo.formatNumber(entry.fps);
    $("fact-returns").textContent = returns || "no episode completed";
    $("fact-score").textContent = Zoo.formatNumber(entry.score);
  }

  function showEntry(entry) {
    const title = `${optionLabel("algo", entry.algo)} playing ${entry.game}`;
    $("heading").textContent = title;
    document.title = `${title} · ${state.manifest.site.title}`;
    showFacts(entry);
    if (video.dataset.entry === entry.id) return;
    video.dataset.entry = entry.id;
    video.poster = entry.poster;
    video.width = entry.width;
    video.height = entry.height;
    video.src = entry.video;
    video.play().catch(() => {}); /* autoplay may be refused or interrupted: controls remain */
    showStep(0);
  }

  function showStep(time) {
    const entry = state.entry;
    if (!entry) return;
    const t = time === undefined ? video.currentTime : time;
    const step = Math.min(entry.frames - 1, Math.max(0, Math.floor(t * entry.fps + 1e-6)));
    $("step").textContent = `step ${step} / ${entry.frames}`;
  }

  function watchSteps() {
    video.addEventListener("seeked", () => showStep());
    if (!("requestVideoFrameCallback" in video)) {
      video.addEventListener("timeupdate", () => showStep());
      return;
    }
    let handle = 0;
    const onFrame = (_now, meta) => {
      showStep(meta.mediaTime);
      handle = video.requestVideoFrameCallback(onFrame);
    };
    const restart = () => {
      video.cancelVideoFrameCallback(handle);
      handle = video.requestVideoFrameCallback(onFrame);
    };
    video.addEventListener("loadeddata", restart);
    restart();
  }

  function apply(result) {
    fillSelects(result);
    state.entry = result.entry;
    showEntry(result.entry);
    const query = new URLSearchParams(result.choice).toString();
    history.replaceState(history.state, "", `?${query}${location.hash}`);
  }

  function onSelect() {
    const wanted = {};
    for (const key of Zoo.KEYS) wanted[key] = $(key).value;
    showMessage("");
    apply(Zoo.resolve(state.manifest, wanted));
  }

  async function main() {
    try {
      state.manifest = await loadManifest();
    } catch (err) {
      showMessage(`Could not load the list of agents (manifest.json): ${err.message}.`);
      document.body.dataset.ready = "error";
      return;
    }
    const result = Zoo.resolve(state.manifest, wantedFromUrl(location.search));
    if (!result.entry) {
      showMessage("This zoo has no entries yet.");
    } else {
      showMessage(Zoo.missMessage(result));
      apply(result);
      for (const key of Zoo.KEYS) $(key).addEventListener("change", onSelect);
      $("picker").addEventListener("submit", (event) => event.preventDefault());
      watchSteps();
    }
    document.body.dataset.ready = "1";
  }

  main();
})();
