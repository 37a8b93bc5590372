/* zoo-site comparison grid: entries of one game side by side, played in sync.
 * The last of algos/runs/tags with several values gives the columns, the others the rows.
 * The first longest video is the master (loaded at once); the others load when visible
 * or on play and follow its time. Step n is shown at (n + 0.5) / fps. URL values are
 * only matched against the manifest and only ever written as text. */
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const SPEEDS = [0.1, 0.25, 0.5, 1, 2];
  const DIMS = [
    { key: "algo", list: "algos" },
    { key: "run", list: "runs" },
    { key: "tag", list: "tags" },
  ];
  const state = {
    manifest: null, game: null, sel: {}, cells: [], master: null, observer: null,
    step: 0, frames: 0, fps: 1, speed: 1, playing: false,
    sal: ZooSaliency.settingsFrom(new URLSearchParams(location.search)),
  };

  const showMessage = ZooPicker.showMessage;

  const quote = (value) => JSON.stringify(value.length > 40 ? value.slice(0, 40) + "…" : value);

  const labelOf = (key, value) =>
    key === "run" ? `run ${value}` : ZooPicker.labelOf(state.manifest, key, value);

  const gameEntries = (game) => state.manifest.entries.filter((e) => e.game === game);
  const gamesWithEntries = () =>
    state.manifest.games.map((g) => g.id).filter((g) => gameEntries(g).length);

  /* The values of `key` among `entries`, in the manifest's order (unlisted ones last). */
  const optionsOf = (key, entries) =>
    Zoo.valuesOf(entries, key, Zoo.displayOrders(state.manifest)[key]);

  const defaults = (key, options) =>
    key !== "tag" ? options : [options.includes("final") ? "final" : options[options.length - 1]];

  /* Keep the wanted game and values that exist; note the others and use defaults. */
  function choose(wantedGame, wanted, notes) {
    const games = gamesWithEntries();
    let game = wantedGame;
    if (!games.includes(game)) {
      if (game) notes.push(`No game ${quote(game)}.`);
      game = games[0];
    }
    const entries = gameEntries(game);
    const sel = {};
    for (const { key } of DIMS) {
      const options = optionsOf(key, entries);
      const want = [...new Set(wanted[key] || [])];
      const bad = want.filter((v) => !options.includes(v));
      if (bad.length) notes.push(`No ${key} ${bad.map(quote).join(", ")} for ${game}.`);
      const good = want.filter((v) => options.includes(v));
      sel[key] = good.length ? good : defaults(key, options);
    }
    return { game, sel };
  }

  function fillForm() {
    const games = gamesWithEntries();
    $("game").replaceChildren(...games.map((g) => new Option(g, g)));
    $("game").value = state.game;
    const entries = gameEntries(state.game);
    for (const { key, list } of DIMS) {
      const box = $(list);
      const items = optionsOf(key, entries).map((value) => {
        const checked = state.sel[key].includes(value);
        const input = Object.assign(document.createElement("input"), { type: "checkbox", name: list, value, checked });
        const label = document.createElement("label");
        label.append(input, " ", labelOf(key, value));
        return label;
      });
      box.replaceChildren(box.querySelector("legend"), ...items);
      /* A run with dozens of checkpoints: a compact, scrolling list instead of a wall. */
      box.classList.toggle("many", items.length > 12);
    }
  }

  const endOf = (c) => Zoo.timeOf(c.entry.frames - 1, c.entry.fps);
  const timeFor = (c, step) => Zoo.timeOf(Math.min(step, c.entry.frames - 1), c.entry.fps);

  function make(tag, className, text) {
    const el = document.createElement(tag);
    el.className = className;
    if (text) el.textContent = text;
    return el;
  }

  function makeCell(combo, entry) {
    const el = make("figure", "cell");
    Object.assign(el.dataset, combo);
    const caption = document.createElement("figcaption");
    const name = make(entry ? "a" : "span", "cell-label", ["algo", "run", "tag"].map((k) => labelOf(k, combo[k])).join(" · "));
    caption.append(name);
    const cell = { el, entry, video: null, loaded: false };
    if (entry) {
      name.href = `video.html?${new URLSearchParams({ ...combo, game: entry.game })}`;
      const video = document.createElement("video");
      video.muted = true;
      for (const a of ["muted", "playsinline"]) video.setAttribute(a, "");
      Object.assign(video, { preload: "none", poster: entry.poster, width: entry.width, height: entry.height });
      el.dataset.entry = entry.id;
      caption.append(" ", make("span", "cell-score", `score ${Zoo.scoreText(entry.score)}`));
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

  /* ---- saliency over each cell (fetched only while shown) -------------------------------- */

  async function loadSaliency(cell) {
    if (cell.saliency || !cell.entry.saliency) return;
    cell.saliency = "loading";
    try {
      const details = await Zoo.loadJson(cell.entry.details);
      cell.saliency = details.saliency ? await ZooSaliency.load(details.saliency) : null;
    } catch (err) {
      cell.saliency = null;
      showMessage(`Could not load the saliency maps of ${cell.entry.id}: ${err.message}.`);
    }
    drawCell(cell, true);
  }

  function drawCell(cell, force) {
    if (!cell.canvas) return;
    if (state.sal.mode !== "off") loadSaliency(cell);
    const data = typeof cell.saliency === "object" ? cell.saliency : null;
    const step = Math.min(cell.entry.frames - 1, state.step);
    const key = data ? `${ZooSaliency.rowOf(data, step)} ${JSON.stringify(state.sal)}` : "";
    if (key === cell.drawn && !force) return;
    cell.drawn = key;
    ZooSaliency.fit(cell.video, cell.canvas, cell.entry.width, cell.entry.height);
    const rect = { x: 0, y: 0, w: cell.canvas.width, h: cell.canvas.height };
    ZooSaliency.draw(cell.canvas, data, step, state.sal, rect);
    cell.el.dataset.saliencyStep = cell.canvas.dataset.saliencyStep;
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
    const entries = gameEntries(state.game);
    const find = (c) => entries.find((e) => e.algo === c.algo && String(e.run) === c.run && e.tag === c.tag);
    state.cells = combos.map((c) => makeCell({ algo: c.algo, run: c.run, tag: c.tag }, find(c)));
    const grid = $("grid");
    grid.style.setProperty("--cols", String(col ? state.sel[col].length : 1));
    grid.replaceChildren(...state.cells.map((c) => c.el));
    const playable = state.cells.filter((c) => c.video);
    const master = playable.reduce((best, c) => (!best || c.entry.frames > best.entry.frames ? c : best), null);
    state.master = master;
    state.frames = master.entry.frames;
    state.fps = master.entry.fps;
    master.el.dataset.master = "1";
    master.video.loop = true;
    $("seek").max = String(state.frames - 1);
    $("heading").textContent = `Compare agents playing ${state.game}`;
    load(master);
    state.observer = new IntersectionObserver((seen) => {
      for (const item of seen) if (item.isIntersecting) load(state.cells.find((c) => c.el === item.target));
    }, { rootMargin: "200px" });
    for (const c of playable) state.observer.observe(c.el);
    seekAll(state.step);
  }

  function setStep(step) {
    state.step = Math.min(state.frames - 1, Math.max(0, step));
    $("seek").value = String(state.step);
    $("step").textContent = `step ${state.step} / ${state.frames}`;
    drawCells(false);
  }

  function seekAll(step) {
    setStep(step);
    for (const c of state.cells) {
      if (c.loaded) c.video.currentTime = timeFor(c, state.step);
    }
    remember();
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
    const mt = m.video.currentTime;
    for (const c of state.cells) {
      if (c !== m && c.loaded && c.video.readyState) follow(c, mt);
    }
  }

  function frameLoop() {
    if (!state.playing) return;
    const video = state.master.video;
    if (video.readyState) setStep(Zoo.stepAt(video.currentTime, state.fps, state.frames));
    requestAnimationFrame(frameLoop);
  }

  function syncButton() {
    $("play").textContent = state.playing ? "Pause" : "Play";
    $("play").setAttribute("aria-pressed", String(state.playing));
  }

  function play() {
    if (state.playing || !state.master) return;
    state.playing = true;
    if (state.step >= state.frames - 1) seekAll(0);
    state.cells.forEach(load);
    for (const c of state.cells) {
      if (c.loaded && c.video.readyState && state.step < c.entry.frames - 1) c.video.play().catch(() => {});
    }
    syncButton();
    remember();
    requestAnimationFrame(frameLoop);
  }

  function pause() {
    if (!state.playing) return;
    state.playing = false;
    for (const c of state.cells) if (c.video) c.video.pause();
    const video = state.master.video;
    if (video.readyState) state.step = Zoo.stepAt(video.currentTime, state.fps, state.frames);
    seekAll(state.step);
    syncButton();
  }

  const toggle = () => (state.playing ? pause() : play());

  function stepBy(delta) {
    pause();
    seekAll(state.step + delta);
  }

  function setSpeed(speed) {
    state.speed = speed;
    $("speed").value = String(speed);
    for (const c of state.cells) {
      if (c.video) c.video.playbackRate = c.video.defaultPlaybackRate = speed;
    }
    remember();
  }

  function remember() {
    if (!state.game) return;
    const params = new URLSearchParams({ game: state.game });
    for (const { key, list } of DIMS) {
      const values = state.sel[key];
      params.set(values.length > 1 ? list : key, values.join(","));
    }
    if (!state.playing && state.step > 0) {
      params.set("t", String(Number(Zoo.timeOf(state.step, state.fps).toFixed(3))));
    }
    if (state.speed !== 1) params.set("speed", String(state.speed));
    for (const [key, value] of Object.entries(ZooSaliency.urlParams(state.sal))) {
      if (value !== null) params.set(key, value);
    }
    const query = params.toString().replace(/%2C/g, ",");
    history.replaceState(history.state, "", `${location.pathname}?${query}${location.hash}`);
    $("clip-cmd").textContent = /* the video of this view (zoo-site clip, docs/clip.md) */
      `zoo-site clip --grid 'grid.html?${query}' --from ${state.step} --to ${state.frames} -o clip.mp4`;
  }

  function apply(choice) {
    state.game = choice.game;
    state.sel = choice.sel;
    fillForm();
    build();
  }

  function onFormChange(event) {
    const target = event.target;
    const wanted = {};
    for (const { key, list } of DIMS) {
      wanted[key] = [...$(list).querySelectorAll("input:checked")].map((i) => i.value);
      if (target.name === list && !wanted[key].length) {
        target.checked = true; /* at least one value of each */
        return;
      }
    }
    showMessage("");
    apply(choose($("game").value, wanted, []));
  }

  function wire() {
    $("speed").replaceChildren(...SPEEDS.map((s) => new Option(`${s}×`, String(s))));
    $("speed").value = "1";
    $("speed").addEventListener("change", () => setSpeed(Number($("speed").value)));
    $("play").addEventListener("click", toggle);
    $("prev").addEventListener("click", () => stepBy(-1));
    $("next").addEventListener("click", () => stepBy(1));
    $("seek").addEventListener("input", () => seekAll(Number($("seek").value)));
    $("grid-form").addEventListener("change", onFormChange);
    $("grid-form").addEventListener("submit", (event) => event.preventDefault());
    document.addEventListener("keydown", (event) => {
      const target = event.target;
      const typing = target.closest && target.closest("input, select, textarea, button, a");
      if (event.altKey || event.ctrlKey || event.metaKey || typing) return;
      const keys = { " ": toggle, ArrowLeft: () => stepBy(-1), ArrowRight: () => stepBy(1) };
      if (keys[event.key]) {
        event.preventDefault();
        keys[event.key]();
      }
    });
    setInterval(tick, 250);
    $("clip-cmd").style.overflowWrap = "anywhere"; /* a long link wraps on a phone */
    ZooSaliency.wire(state.sal, () => {
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
    state.manifest = await ZooPicker.loadManifest();
    if (!state.manifest) return;
    if (!gamesWithEntries().length) {
      showMessage("This zoo has no entries yet.");
      document.body.dataset.ready = "1";
      return;
    }
    const params = new URLSearchParams(location.search);
    const notes = [];
    const wanted = {};
    for (const { key, list } of DIMS) wanted[key] = listParam(params, key, list);
    wire();
    $("saliency-controls").hidden = !state.manifest.entries.some((e) => e.saliency);
    $("saliency-note").textContent = "Maps where an agent has them (see its viewer for how they were made).";
    const speed = params.get("speed");
    if (speed !== null) {
      if (SPEEDS.includes(Number(speed)) && speed.trim()) setSpeed(Number(speed));
      else notes.push(`No speed ${quote(speed)}.`);
    }
    apply(choose(params.get("game"), wanted, notes));
    const start = Zoo.stepFromUrl(params, state.fps, state.frames);
    const asked = params.get("frame") !== null || params.get("t") !== null;
    if (start === null && asked) notes.push(`No time ${quote(params.get("t") || params.get("frame"))}.`);
    seekAll(start || 0);
    showMessage(notes.length ? `${notes.join(" ")} Showing what exists instead.` : "");
    document.body.dataset.ready = "1";
  }

  main();
})();
