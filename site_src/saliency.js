/* zoo-site saliency: Greydanus et al.'s maps over the game screen, a curve of total
 * saliency per step, the value curve and the step's outputs; shared by video.html,
 * video2.html and grid.html.
 *
 * A map is entry.json's `saliency`: float32 (steps with maps, 2, rows, cols), row k the map
 * of rollout step k·every, mode 0 the actor and 1 the critic, grid point (i, j) at
 * observation pixel (positions.rows[i], positions.cols[j]). It is interpolated bilinearly
 * between grid points to the observation's pixels, then stretched smoothly over the part of
 * the screen the observation covers (`screen`). Each mode is scaled by the 99th percentile
 * of all its scores in the entry (clamped to 1), so a picture's intensity can be compared
 * across steps. Steps between computed ones show the last computed map.
 */
"use strict";

window.ZooSaliency = (function () {
  const $ = (id) => document.getElementById(id);
  const SVG = "http://www.w3.org/2000/svg";
  const MODES = ["off", "actor", "critic", "both"];
  /* [actor, critic] colours: the paper's blue and red, or Okabe-Ito sky blue and orange. */
  const PALETTES = { paper: [[40, 90, 255], [255, 40, 40]], cb: [[86, 180, 233], [230, 159, 0]] };

  /* ---- settings: the controls and the URL ------------------------------------------------ */

  function settingsFrom(params) {
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
  function urlParams(s) {
    if (s.mode === "off") return { saliency: null, salpha: null, palette: null };
    return {
      saliency: s.mode,
      salpha: s.alpha === 0.6 ? null : String(s.alpha),
      palette: s.palette === "paper" ? null : s.palette,
    };
  }

  /* Wire #saliency, #salpha and #palette to `settings`; onChange() after each change. */
  function wire(settings, onChange) {
    $("saliency").value = settings.mode;
    $("salpha").value = String(settings.alpha);
    $("palette").value = settings.palette;
    const paint = () => document.body.classList.toggle("palette-cb", settings.palette === "cb");
    const read = () => {
      settings.mode = $("saliency").value;
      settings.alpha = Number($("salpha").value);
      settings.palette = $("palette").value;
      paint();
      onChange();
    };
    paint();
    for (const id of ["saliency", "salpha", "palette"]) $(id).addEventListener("input", read);
  }

  /* ---- data ------------------------------------------------------------------------------ */

  function percentile(values, q) {
    const sorted = Float32Array.from(values).sort();
    return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : 0;
  }

  /* For each observation pixel along one axis: the grid index below it and the weight of
   * the one above (bilinear between grid points; clamped beyond the first and last). */
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

  async function load(info) {
    const [count, modes, rows, cols] = info.shape;
    const buffer = await (await fetch(info.url, { cache: "no-cache" })).arrayBuffer();
    if (buffer.byteLength !== count * modes * rows * cols * 4) {
      throw new Error(`${info.url}: ${buffer.byteLength} bytes, expected ${count * modes * rows * cols * 4}`);
    }
    const maps = new Float32Array(buffer);
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
  const rowOf = (data, step) => Math.min(data.count - 1, Math.floor(Math.max(0, step) / data.info.every));

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
  function draw(canvas, data, step, settings, rect) {
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

  /* Size `canvas` (absolutely positioned in the video's positioned parent) to the picture
   * the video shows inside its box (object-fit: contain), at the video's own resolution. */
  function fit(video, canvas, width, height) {
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

  /* ---- curves under the video ------------------------------------------------------------- */

  /* Lines of `series` ([{values, steps, label, className}]; each scaled to its own range)
   * over the entry's `frames` steps in `svg`, a cursor, and a click that calls seek(step).
   * Returns cursor(step). */
  function curve(svg, series, frames, seek) {
    const W = 600, H = 70, PAD = 4;
    svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    svg.setAttribute("preserveAspectRatio", "none");
    const xOf = (step) => (frames > 1 ? (step / (frames - 1)) * W : 0);
    const lines = series.map(({ values, steps, className }) => {
      let lo = Infinity, hi = -Infinity;
      for (const v of values) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
      const yOf = (v) => (hi > lo ? H - PAD - ((v - lo) / (hi - lo)) * (H - 2 * PAD) : H / 2);
      const points = Array.from(values, (v, i) => `${xOf(steps(i)).toFixed(1)},${yOf(v).toFixed(1)}`);
      const line = document.createElementNS(SVG, "polyline");
      line.setAttribute("points", points.join(" "));
      line.setAttribute("class", className);
      return line;
    });
    const cursor = document.createElementNS(SVG, "line");
    cursor.setAttribute("class", "curve-cursor");
    cursor.setAttribute("y1", "0");
    cursor.setAttribute("y2", String(H));
    svg.replaceChildren(...lines, cursor);
    svg.onclick = (event) => {
      const box = svg.getBoundingClientRect();
      seek(Math.round(((event.clientX - box.left) / box.width) * (frames - 1)));
    };
    return (step) => {
      const x = xOf(step).toFixed(1);
      cursor.setAttribute("x1", x);
      cursor.setAttribute("x2", x);
      svg.dataset.step = String(step);
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

  /* ---- values: the step panel and the value curve ----------------------------------------- */

  /* What the step panel and value curve show: {value: per-step array or null, label, kind}. */
  async function loadValues(acts) {
    if (!acts) return null;
    const [steps, actions] = acts.outputs.shape;
    const flat = new Float32Array(await (await fetch(acts.outputs.url, { cache: "no-cache" })).arrayBuffer());
    if (flat.length !== steps * actions) throw new Error(`${acts.outputs.url}: not ${steps}×${actions} values`);
    const outputs = Array.from({ length: steps }, (_, s) => flat.subarray(s * actions, (s + 1) * actions));
    let value = null, label = null;
    if (acts.value) {
      value = new Float32Array(await (await fetch(acts.value.url, { cache: "no-cache" })).arrayBuffer());
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
  function showValues(values, names, step) {
    const box = $("step-values");
    box.hidden = !values;
    if (!values) return;
    const row = values.outputs[Math.min(step, values.outputs.length - 1)];
    const probs = values.kind === "logits";
    const shown = probs ? softmax(row) : Array.from(row);
    $("step-outputs-label").textContent = probs ? "Action probabilities (softmax of the logits)" : values.label;
    $("step-outputs").textContent = shown
      .map((v, a) => `${names[a] || a} ${probs ? v.toFixed(3) : Zoo.formatNumber(v)}`).join(" · ");
    $("step-outputs").dataset.values = JSON.stringify(shown);
    $("step-value-box").hidden = !values.value;
    if (values.value) {
      $("step-value-label").textContent = values.valueLabel;
      $("step-value").textContent = Zoo.formatNumber(values.value[Math.min(step, values.value.length - 1)]);
    }
  }

  function valueCurve(values, frames, seek) {
    const show = Boolean(values && values.value);
    $("value-section").hidden = !show;
    if (!show) return () => {};
    $("value-legend").textContent = `${values.valueLabel}, per step. Click to go to a step.`;
    const series = [{ values: values.value, steps: (i) => i, className: "curve-value" }];
    return curve($("value-curve"), series, frames, seek);
  }

  return {
    settingsFrom, urlParams, wire, load, draw, fit, rowOf, saliencyCurve,
    loadValues, showValues, valueCurve, softmax,
  };
})();
