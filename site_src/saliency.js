/* zoo-site saliency (Greydanus et al.): maps over the game screen, the curves of total
 * saliency and of the value, the step's outputs. How a map is drawn: docs/site.md. */

import { $, formatNumber, loadFloats, svg } from "./util.js";

const MODES = ["off", "actor", "critic", "both"];
/* [actor, critic] colours: the paper's blue and red, or Okabe-Ito sky blue and orange. */
const PALETTES = { paper: [[40, 90, 255], [255, 40, 40]], cb: [[86, 180, 233], [230, 159, 0]] };

export function settingsFrom(params) {
  const mode = params.get("saliency");
  const alpha = Number(params.get("salpha"));
  const palette = params.get("palette");
  return {
    mode: MODES.includes(mode) ? mode : "off",
    alpha: params.get("salpha") !== null && alpha >= 0 && alpha <= 1 ? alpha : 0.6,
    palette: palette in PALETTES ? palette : "paper",
  };
}

/* URL parameters for `settings` (none while off, so other links stay as they were). */
export function urlParams(s) {
  const on = s.mode !== "off";
  return { saliency: on ? s.mode : null, salpha: on && s.alpha !== 0.6 ? String(s.alpha) : null,
    palette: on && s.palette !== "paper" ? s.palette : null };
}

/* Wire #saliency, #salpha and #palette to `settings`; onChange() after each change. */
export function wire(settings, onChange) {
  $("saliency").value = settings.mode;
  $("salpha").value = String(settings.alpha);
  $("palette").value = settings.palette;
  const paint = () => document.body.classList.toggle("palette-cb", settings.palette === "cb");
  const read = () => {
    Object.assign(settings, { mode: $("saliency").value, alpha: Number($("salpha").value), palette: $("palette").value });
    paint();
    onChange();
  };
  paint();
  for (const id of ["saliency", "salpha", "palette"]) $(id).addEventListener("input", read);
}

function percentile(values, q) {
  const sorted = Float32Array.from(values).sort();
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : 0;
}

/* Per observation pixel on one axis: the grid index below it and the weight of the one
 * above (bilinear; clamped beyond the ends). */
function axis(positions, size) {
  const index = new Int32Array(size), weight = new Float32Array(size);
  for (let p = 0, k = 0; p < size; p++) {
    while (k < positions.length - 2 && positions[k + 1] <= p) k++;
    const a = positions[k], b = positions[Math.min(k + 1, positions.length - 1)];
    index[p] = k;
    weight[p] = b > a ? Math.min(1, Math.max(0, (p - a) / (b - a))) : 0;
  }
  return { index, weight };
}

export async function load(info) {
  const [count, modes, rows, cols] = info.shape;
  const maps = await loadFloats(info.url, count * modes * rows * cols);
  const cell = rows * cols;
  const scale = [], totals = [];
  for (let m = 0; m < modes; m++) {
    const all = new Float32Array(count * cell), total = new Float32Array(count);
    for (let k = 0; k < count; k++) {
      const map = maps.subarray((k * modes + m) * cell, (k * modes + m + 1) * cell);
      all.set(map, k * cell);
      total[k] = map.reduce((s, v) => s + v, 0);
    }
    const p = percentile(all, 0.99);
    scale.push(p > 0 ? p : Math.max(...all, 1e-30));
    totals.push(total);
  }
  const [height, width] = info.observation;
  return {
    info, maps, count, modes, rows, cols, scale, totals,
    ys: axis(info.positions.rows, height), xs: axis(info.positions.cols, width), height, width,
  };
}

/* The computed map shown at `step`: the last one at or before it. */
export const rowOf = (data, step) => Math.min(data.count - 1, Math.floor(Math.max(0, step) / data.info.every));

/* One mode's map at observation resolution, in [0, 1]. */
function upsample(data, k, mode) {
  const { rows, cols, modes, maps, ys, xs, width, height } = data;
  const map = maps.subarray((k * modes + mode) * rows * cols, (k * modes + mode + 1) * rows * cols);
  const out = new Float32Array(width * height);
  const inv = 1 / data.scale[mode];
  for (let y = 0; y < height; y++) {
    const i = ys.index[y], wy = ys.weight[y], i2 = Math.min(i + 1, rows - 1);
    for (let x = 0; x < width; x++) {
      const j = xs.index[x], wx = xs.weight[x], j2 = Math.min(j + 1, cols - 1);
      const top = map[i * cols + j] * (1 - wx) + map[i * cols + j2] * wx;
      const bottom = map[i2 * cols + j] * (1 - wx) + map[i2 * cols + j2] * wx;
      out[y * width + x] = Math.min(1, (top * (1 - wy) + bottom * wy) * inv);
    }
  }
  return out;
}

/* Draw the map of `step` over `rect` ({x, y, w, h}: the game screen in canvas pixels). */
export function draw(canvas, data, step, settings, rect) {
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  canvas.dataset.saliencyStep = "";
  if (!data || settings.mode === "off") return;
  const k = rowOf(data, step);
  const [actorColour, criticColour] = PALETTES[settings.palette];
  const actor = settings.mode !== "critic" ? upsample(data, k, 0) : null;
  const critic = settings.mode !== "actor" ? upsample(data, k, 1) : null;
  const { width, height } = data;
  const image = new ImageData(width, height);
  for (let p = 0; p < width * height; p++) {
    const a = actor ? actor[p] : 0, c = critic ? critic[p] : 0, sum = a + c;
    if (!sum) continue;
    for (let ch = 0; ch < 3; ch++) image.data[4 * p + ch] = (a * actorColour[ch] + c * criticColour[ch]) / sum;
    image.data[4 * p + 3] = 255 * settings.alpha * Math.max(a, c);
  }
  const small = document.createElement("canvas");
  small.width = width;
  small.height = height;
  small.getContext("2d").putImageData(image, 0, 0);
  const [x0, y0, x1, y1] = data.info.screen;
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = "high";
  ctx.drawImage(small, rect.x + x0 * rect.w, rect.y + y0 * rect.h, (x1 - x0) * rect.w, (y1 - y0) * rect.h);
  canvas.dataset.saliencyStep = String(k * data.info.every);
}

/* Lay `canvas` over the picture the video shows in its box (object-fit: contain). */
export function fit(video, canvas, width, height) {
  if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width;
    canvas.height = height;
  }
  const bw = video.clientWidth, bh = video.clientHeight;
  if (!bw || !bh) return;
  const k = Math.min(bw / width, bh / height);
  const w = width * k, h = height * k;
  Object.assign(canvas.style, {
    left: `${video.offsetLeft + (bw - w) / 2}px`, top: `${video.offsetTop + (bh - h) / 2}px`,
    width: `${w}px`, height: `${h}px`,
  });
}

/* Lines of `series` ({values, steps, className}, each scaled to its own range) over the
 * `frames` steps, a cursor and seek(step) on click; returns cursor(step). */
function curve(chart, series, frames, seek) {
  const W = 600, H = 70, PAD = 4;
  chart.setAttribute("viewBox", `0 0 ${W} ${H}`);
  chart.setAttribute("preserveAspectRatio", "none");
  const xOf = (step) => (frames > 1 ? (step / (frames - 1)) * W : 0);
  const lines = series.map(({ values, steps, className }) => {
    let lo = Infinity, hi = -Infinity;
    for (const v of values) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
    const yOf = (v) => (hi > lo ? H - PAD - ((v - lo) / (hi - lo)) * (H - 2 * PAD) : H / 2);
    const points = Array.from(values, (v, i) => `${xOf(steps(i)).toFixed(1)},${yOf(v).toFixed(1)}`);
    return svg("polyline", { points: points.join(" "), class: className });
  });
  const cursor = svg("line", { class: "curve-cursor", y1: 0, y2: H });
  chart.replaceChildren(...lines, cursor);
  chart.onclick = (event) => {
    const box = chart.getBoundingClientRect();
    seek(Math.round(((event.clientX - box.left) / box.width) * (frames - 1)));
  };
  return (step) => {
    const x = xOf(step).toFixed(1);
    cursor.setAttribute("x1", x);
    cursor.setAttribute("x2", x);
    chart.dataset.step = String(step);
  };
}

/* The saliency curve (#saliency-curve) of `data`; the legend says what each line is. */
function saliencyCurve(data, frames, seek) {
  const every = data.info.every;
  const series = ["actor", "critic"].map((mode, m) => ({
    values: data.totals[m], steps: (k) => k * every, className: `curve-${mode}`,
  }));
  $("saliency-legend").textContent =
    `Total saliency per step (each line scaled to its own range): actor (${data.info.actor_label}), ` +
    `critic (${data.info.critic_label}). Click to go to a step.`;
  return curve($("saliency-curve"), series, frames, seek);
}

/* What the step panel and value curve show: {value: per-step array or null, label, kind}. */
async function loadValues(acts) {
  if (!acts) return null;
  const [steps, actions] = acts.outputs.shape;
  const flat = await loadFloats(acts.outputs.url, steps * actions);
  const outputs = Array.from({ length: steps }, (_, s) => flat.subarray(s * actions, (s + 1) * actions));
  let value = null, label = null;
  if (acts.value) {
    value = await loadFloats(acts.value.url);
    label = `Value: ${acts.value.label}`;
  } else if (acts.outputs.kind === "q_values" || acts.outputs.kind === "distribution") {
    value = Float32Array.from(outputs, (row) => Math.max(...row));
    label = `Value: V = max over the ${acts.outputs.label}`;
  }
  return { outputs, kind: acts.outputs.kind, label: acts.outputs.label, value, valueLabel: label };
}

function softmax(row) {
  const top = Math.max(...row);
  const e = Array.from(row, (v) => Math.exp(v - top));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / sum);
}

/* Fill #step-value and #step-outputs for `step`. */
export function showValues(values, names, step) {
  const box = $("step-values");
  box.hidden = !values;
  if (!values) return;
  const row = values.outputs[Math.min(step, values.outputs.length - 1)];
  const probs = values.kind === "logits";
  const shown = probs ? softmax(row) : Array.from(row);
  $("step-outputs-label").textContent = probs ? "Action probabilities (softmax of the logits)" : values.label;
  $("step-outputs").textContent = shown
    .map((v, a) => `${names[a] || a} ${probs ? v.toFixed(3) : formatNumber(v)}`).join(" · ");
  $("step-outputs").dataset.values = JSON.stringify(shown);
  $("step-value-box").hidden = !values.value;
  if (values.value) {
    $("step-value-label").textContent = values.valueLabel;
    $("step-value").textContent = formatNumber(values.value[Math.min(step, values.value.length - 1)]);
  }
}

function valueCurve(values, frames, seek) {
  const show = Boolean(values?.value);
  $("value-section").hidden = !show;
  if (!show) return () => {};
  $("value-legend").textContent = `${values.valueLabel}, per step. Click to go to a step.`;
  const series = [{ values: values.value, steps: (i) => i, className: "curve-value" }];
  return curve($("value-curve"), series, frames, seek);
}

/* What a viewer shows of an entry's analyses: the saliency note and section, the value
 * and saliency curves (seek(step) on click); {values, data, curves}. */
export async function loadAnalyses(entry, details, seek) {
  const info = details.saliency;
  $("saliency-note").textContent = info
    ? `${info.method === "gradient" ? "Gradient maps |∂L/∂I| (not the paper's perturbation)" : "Perturbation maps"}` +
      (info.every > 1 ? `, computed every ${info.every} steps (each shown until the next).` : ", every step.")
    : `No saliency maps for this agent${details.saliency_error ? ` (${details.saliency_error})` : ""}.`;
  $("saliency-section").hidden = !info;
  const values = await loadValues(details.activations);
  const data = info ? await load(info) : null;
  const curves = [valueCurve(values, entry.frames, seek)];
  if (data) curves.push(saliencyCurve(data, entry.frames, seek));
  return { values, data, curves };
}
