/* zoo-site activation viewer (docs/site.md): the atlas video, two zoom boxes (URL
 * `state`, `state2`), the output bars, the layers' strips (cut by the atlas's regions). */

import { showStepData, stepFromUrl } from "./player.js";
import { showValues } from "./saliency.js";
import { $, el, filesText, loadJson, queryOf, robustnessLink, showMessage, svg } from "./util.js";
import { drawSaliency, loadAnalyses, redraw, remember, seek, start, switchTo, video, view as state } from "./viewer.js";

const overlay = $("overlay");
const salCanvas = $("saliency-overlay");
Object.assign(state, { outputs: null, boxes: [null, null], next: 0, drag: null, bars: null, cursors: [], shown: null });
state.page = "video2";
state.extra = () => {
  const [a, b] = state.boxes.map((box) => (box ? JSON.stringify(box) : null));
  return { state: a, state2: b };
};
/* The map over the atlas's gameplay region. */
state.overlay = () => {
  const acts = state.details?.activations;
  if (acts && (salCanvas.width !== acts.atlas.width || salCanvas.height !== acts.atlas.height)) {
    salCanvas.width = acts.atlas.width;
    salCanvas.height = acts.atlas.height;
  }
  return { canvas: salCanvas, rect: acts ? boxOf(acts.atlas.regions.gameplay) : { x: 0, y: 0, w: 0, h: 0 } };
};

/* A box from the URL or a drag: {x, y, w, h} in atlas pixels, made positive and clipped
 * to the atlas; null when it is not a box. */
function cleanBox(box, width, height) {
  if (!box || typeof box !== "object") return null;
  const v = ["x", "y", "w", "h"].map((k) => Number(box[k]));
  if (!v.every(Number.isFinite)) return null;
  let [x, y, w, h] = v;
  if (w < 0) [x, w] = [x + w, -w];
  if (h < 0) [y, h] = [y + h, -h];
  const x0 = Math.max(0, Math.round(x)), y0 = Math.max(0, Math.round(y));
  const x1 = Math.min(width, Math.round(x + w)), y1 = Math.min(height, Math.round(y + h));
  return x1 - x0 >= 2 && y1 - y0 >= 2 ? { x: x0, y: y0, w: x1 - x0, h: y1 - y0 } : null;
}

/* An atlas region {x, y, width, height} as a box, and whether a box is that region. */
const boxOf = (r) => ({ x: r.x, y: r.y, w: r.width, h: r.height });
const sameBox = (box, r) => r.x === box.x && r.y === box.y && r.width === box.w && r.height === box.h;

function parseBox(text, atlas) {
  try {
    return cleanBox(JSON.parse(text), atlas.width, atlas.height); /* null stays null */
  } catch (_err) {
    return null;
  }
}

function regionName(box) {
  const regions = state.details.activations.atlas.regions;
  const hit = Object.entries(regions).find(([, r]) => sameBox(box, r));
  return hit ? hit[0] : `${box.w}×${box.h} at (${box.x}, ${box.y})`;
}

/* The boxes a page opens with when its URL has none: the gameplay and the first conv
 * layer (else the first layer), from the atlas regions. */
function defaultBoxes(acts) {
  const regions = acts.atlas.regions;
  const shown = acts.layers.filter((layer) => regions[layer.name]);
  const first = shown.find((layer) => layer.kind === "conv") || shown[0];
  return [regions.gameplay, first && regions[first.name]].map((r) => (r ? boxOf(r) : null));
}

/* A box that was a whole region of the previous atlas becomes that region of this one;
 * others stay, clipped. */
function followRegion(box, before, acts) {
  if (!box) return null;
  const old = before?.activations?.atlas.regions;
  const name = old && Object.keys(old).find((k) => sameBox(box, old[k]));
  const region = name && acts.atlas.regions[name];
  return region ? boxOf(region) : cleanBox(box, acts.atlas.width, acts.atlas.height);
}

function drawBoxes() {
  const ctx = overlay.getContext("2d");
  ctx.clearRect(0, 0, overlay.width, overlay.height);
  ctx.lineWidth = 2;
  ctx.setLineDash([4, 3]);
  for (const [colour, box] of [["#ef4444", state.boxes[0]], ["#22c55e", state.boxes[1]], ["#f59e0b", state.drag]]) {
    ctx.strokeStyle = colour;
    if (box) ctx.strokeRect(box.x + 1, box.y + 1, box.w - 2, box.h - 2);
  }
  state.boxes.forEach((box, i) => {
    $(`zoom${i + 1}-label`).textContent = `Box ${i + 1}: ${box ? regionName(box) : "drag on the video"}`;
  });
  drawZooms();
}

/* Each zoom box, scaled up by a whole factor, pixel for pixel (no smoothing). */
function drawZooms() {
  state.boxes.forEach((box, i) => {
    const canvas = $(`zoom${i + 1}`);
    const ctx = canvas.getContext("2d");
    if (!box) {
      ctx.clearRect(0, 0, canvas.width, canvas.height);
      return;
    }
    const k = Math.max(1, Math.floor(Math.min(480 / box.w, 480 / box.h)));
    if (canvas.width !== box.w * k || canvas.height !== box.h * k) {
      canvas.width = box.w * k;
      canvas.height = box.h * k;
    }
    ctx.imageSmoothingEnabled = false;
    if (video.readyState >= 2) {
      ctx.drawImage(video, box.x, box.y, box.w, box.h, 0, 0, canvas.width, canvas.height);
      if (state.salData && state.sal.mode !== "off" && salCanvas.width) {
        ctx.drawImage(salCanvas, box.x, box.y, box.w, box.h, 0, 0, canvas.width, canvas.height);
      }
    }
  });
}

function atlasPoint(event) {
  const r = overlay.getBoundingClientRect();
  return { x: ((event.clientX - r.left) / r.width) * overlay.width, y: ((event.clientY - r.top) / r.height) * overlay.height };
}

function wireDrawing() {
  overlay.addEventListener("pointerdown", (event) => {
    if (!state.details) return;
    overlay.setPointerCapture(event.pointerId);
    const p = atlasPoint(event);
    state.drag = { x: p.x, y: p.y, w: 0, h: 0, x0: p.x, y0: p.y };
  });
  overlay.addEventListener("pointermove", (event) => {
    if (!state.drag) return;
    const p = atlasPoint(event);
    const d = state.drag;
    Object.assign(d, { x: Math.min(d.x0, p.x), y: Math.min(d.y0, p.y) });
    Object.assign(d, { w: Math.abs(p.x - d.x0), h: Math.abs(p.y - d.y0) });
    drawBoxes();
  });
  overlay.addEventListener("pointerup", () => {
    const box = state.drag && cleanBox(state.drag, overlay.width, overlay.height);
    state.drag = null;
    if (box) {
      state.boxes[state.next] = box;
      state.next = 1 - state.next;
      remember();
    }
    drawBoxes();
  });
}

function showLayerButtons(acts) {
  const regions = acts.atlas.regions;
  $("layers").replaceChildren(...acts.layers.filter((layer) => regions[layer.name]).map((layer) => {
    const button = el("button", { type: "button", title: `Zoom on ${layer.name} (${layer.kind}, ${layer.shape.join("×")})` }, layer.name);
    button.addEventListener("click", () => {
      state.boxes = [boxOf(regions.gameplay), boxOf(regions[layer.name])];
      state.next = 0;
      remember();
      drawBoxes();
    });
    return button;
  }));
}

const ROW = 22, LABEL = 120, BAR = 240;

function buildBars(names, outputs) {
  let lo = Infinity, hi = -Infinity;
  for (const row of outputs) for (const v of row) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
  const chart = $("outputs");
  chart.setAttribute("viewBox", `0 0 ${LABEL + BAR + 90} ${names.length * ROW}`);
  const rows = names.map((name, a) => {
    const g = svg("g", { transform: `translate(0 ${a * ROW})`, class: "bar-row" });
    const bar = svg("rect", { x: LABEL, y: 3, width: 0, height: ROW - 6, class: "bar" });
    const value = svg("text", { x: LABEL + BAR + 6, y: 15, class: "value" }, "");
    g.append(svg("text", { x: LABEL - 6, y: 15, "text-anchor": "end" }, name),
      svg("rect", { x: LABEL, y: 3, width: BAR, height: ROW - 6, class: "track" }), bar, value);
    return { g, bar, value };
  });
  chart.replaceChildren(...rows.map((r) => r.g));
  state.bars = { rows, lo, hi };
}

function showBars(step, chosen) {
  if (!state.bars || !state.outputs) return;
  const { rows, lo, hi } = state.bars;
  const values = state.outputs[step];
  rows.forEach((row, a) => {
    const width = hi > lo ? ((values[a] - lo) / (hi - lo)) * BAR : 0;
    row.bar.setAttribute("width", width.toFixed(1));
    row.value.textContent = values[a].toFixed(3);
    row.g.classList.toggle("chosen", a === chosen);
  });
  $("outputs").dataset.step = String(step);
}

function buildStrips(acts) {
  state.cursors = acts.layers.map((layer) => {
    const s = layer.strip;
    const steps = s.columns * s.steps_per_column;
    const caption = el("figcaption", "", `${layer.name}: ${s.rows} ${layer.kind === "conv" ? "channels" : "units"} × ${steps} steps`);
    const img = el("img", { src: s.image, alt: `Activation strip of ${layer.name}`, width: s.width, height: s.height });
    img.dataset.layer = layer.name;
    img.addEventListener("click", (event) => {
      const column = Math.floor((event.offsetX / img.clientWidth) * s.columns);
      seek(s.first_step + Math.min(s.columns - 1, column) * s.steps_per_column);
    });
    const cursor = el("div", "cursor");
    const box = el("div", "strip-box");
    box.append(img, cursor);
    const figure = el("figure", "strip");
    figure.append(caption, box);
    return { figure, cursor, strip: s };
  });
  $("strips").replaceChildren(...state.cursors.map((c) => c.figure));
}

function showCursors(step) {
  for (const { cursor, strip } of state.cursors) {
    const column = Math.floor((step - strip.first_step) / strip.steps_per_column);
    cursor.style.left = `${((column + 0.5) / strip.columns) * 100}%`;
    cursor.dataset.column = String(column);
  }
}

function showStep(step) {
  const entry = state.entry;
  $("step").textContent = `step ${step} / ${entry.frames}`;
  const details = state.details;
  if (details?.id === entry.id) {
    const chosen = showStepData(details.steps, step);
    showBars(step, chosen);
    showCursors(step);
    if (state.values) showValues(state.values, details.steps.action_names, step);
    for (const cursor of state.curves) cursor(step);
    drawSaliency(step);
  }
  drawZooms();
}

async function loadDetails(entry, start, params) {
  const previous = state.shown;
  try {
    const details = await loadJson(entry.details);
    if (state.entry !== entry) return;
    $("fact-files").textContent = filesText(details.files);
    const acts = details.activations;
    if (!acts) throw new Error(details.activation_error || "no activations");
    if (!(await loadAnalyses(entry, details))) return;
    state.outputs = state.values.outputs;
    state.details = details;
    state.shown = details;
    overlay.width = acts.atlas.width;
    overlay.height = acts.atlas.height;
    video.width = acts.atlas.width;
    video.height = acts.atlas.height;
    const given = params && (params.get("state") !== null || params.get("state2") !== null);
    if (given) {
      state.boxes = [params.get("state"), params.get("state2")].map((t) => parseBox(t, acts.atlas));
      const bad = ["state", "state2"].filter((k, i) => params.get(k) !== null && !state.boxes[i]);
      if (bad.length) showMessage(`Ignored ${bad.join(" and ")}: not a box on this video.`);
    } else if (params) {
      state.boxes = defaultBoxes(acts);
    } else {
      state.boxes = state.boxes.map((b) => followRegion(b, previous, acts));
    }
    showLayerButtons(acts);
    buildBars(details.steps.action_names, state.outputs);
    buildStrips(acts);
    state.player.load(acts.atlas.video, acts.atlas.poster, entry.fps, entry.frames, start);
    if (!start) video.play().catch(() => {});
    drawBoxes();
    redraw();
    remember();
    document.body.dataset.details = entry.id;
  } catch (err) {
    showMessage(`Could not load this agent's activations: ${err.message}.`);
  }
}

function onEntry(entry, _entries, params) {
  $("to-viewer").href = `video.html?${queryOf(state.choice)}`;
  robustnessLink($("to-robustness"), entry);
  if (video.dataset.entry === entry.id) return;
  switchTo(entry, ": activations");
  $("fact-files").textContent = "–";
  remember();
  return loadDetails(entry, params && stepFromUrl(params, entry.fps, entry.frames), params);
}

wireDrawing();
$("clear").addEventListener("click", () => {
  state.boxes = [null, null];
  state.next = 0;
  remember();
  drawBoxes();
});
video.addEventListener("loadeddata", drawZooms);
for (const id of ["saliency", "salpha", "palette"]) { /* after the overlay is redrawn */
  $(id).addEventListener("input", () => requestAnimationFrame(drawZooms));
}
start({ need: "activations", onStep: showStep, onEntry, empty: "No agent in this zoo has activations to show." });
