/* zoo-site map of states (maps/<game>.json on a canvas; see docs/site.md). */

import { loadSite } from "./site.js";
import { $, el, formatNumber, loadJson, queryOf, ready, showMessage } from "./util.js";

const COLOURS = ["#2563eb", "#ea580c", "#16a34a", "#9333ea", "#dc2626", "#0891b2",
  "#ca8a04", "#db2777", "#4b5563", "#65a30d", "#7c3aed", "#0d9488"];
const RAMP = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
const BYS = ["dense", "ram"], COLOURINGS = ["algo", "run", "tag", "action", "score"];
const HOME = { x: 0.5, y: 0.5, k: 1 };
const s = { by: "dense", colour: "algo", view: { ...HOME } };

const ramp = (t) => {
  const f = Math.max(0, Math.min(1, t)) * (RAMP.length - 1), i = Math.min(RAMP.length - 2, Math.floor(f));
  return RAMP[i].map((v, j) => Math.round(v + (RAMP[i + 1][j] - v) * (f - i)));
};
const hex = (h) => [1, 3, 5].map((k) => parseInt(h.slice(k, k + 2), 16));
const css = (rgb) => `rgb(${rgb})`;
/* RGBA as the little-endian uint32 an ImageData's buffer holds. */
const packed = (c) => ((255 << 24) | (c[2] << 16) | (c[1] << 8) | c[0]) >>> 0;

/* Each point's packed colour, and the legend [[css colour, text]]. */
function colouring() {
  const d = s.data, p = d.points, by = s.colour;
  if (by === "score") {
    const known = p.score.filter((v) => v !== null);
    const lo = Math.min(...known), hi = Math.max(...known), grey = packed([153, 153, 153]);
    return { colours: Uint32Array.from(p.score, (v) => (v === null ? grey : packed(ramp((v - lo) / (hi - lo || 1))))),
      legend: [[css(ramp(0)), `score ${formatNumber(lo)}`], [css(ramp(1)), `score ${formatNumber(hi)}`]] };
  }
  const of = by === "action" ? p.action : p.entry;
  const name = (k) => {
    if (by === "action") return d.action_names[k] || `action ${k}`;
    const e = d.entries[k];
    return by === "run" ? `run ${e.run}` : s.site.label(by, e[by]);
  };
  const names = new Map(), colourOf = new Map();
  const colours = Uint32Array.from(of, (k) => {
    if (!names.has(k)) {
      const text = name(k);
      if (!colourOf.has(text)) colourOf.set(text, COLOURS[colourOf.size % COLOURS.length]);
      names.set(k, packed(hex(colourOf.get(text))));
    }
    return names.get(k);
  });
  return { colours, legend: [...colourOf].map(([text, c]) => [c, text]) };
}

/* 3x3-pixel squares straight into the pixels; an 8-pixel grid (linked lists) for hover. */
function draw() {
  const view = s.data.views[s.by], c = $("map"), ctx = c.getContext("2d");
  const dpr = window.devicePixelRatio || 1, w = c.clientWidth, h = c.clientHeight;
  const W = (c.width = Math.round(w * dpr)), H = (c.height = Math.round(h * dpr));
  const img = ctx.createImageData(W, H), buf = new Uint32Array(img.data.buffer);
  const n = view ? view.points.length : 0, cols = Math.ceil(w / 8) + 1, side = Math.min(w, h) - 24;
  const g = (s.grid = { cols, head: new Int32Array(cols * (Math.ceil(h / 8) + 1)).fill(-1), next: new Int32Array(n) });
  s.xs = new Float32Array(n);
  s.ys = new Float32Array(n);
  if (!s.colours || s.colours.key !== s.colour) s.colours = { key: s.colour, ...colouring() };
  const colours = s.colours.colours, half = Math.max(1, Math.round(1.5 * dpr)), v = s.view;
  for (let k = 0; k < n; k++) {
    const x = (s.xs[k] = (view.x[k] - v.x) * v.k * side + w / 2);
    const y = (s.ys[k] = (1 - view.y[k] - v.y) * v.k * side + h / 2);
    if (x < 0 || y < 0 || x >= w || y >= h) continue;
    const cell = Math.floor(y / 8) * cols + Math.floor(x / 8);
    g.next[k] = g.head[cell];
    g.head[cell] = k;
    const px = Math.round(x * dpr), py = Math.round(y * dpr), colour = colours[view.points[k]];
    for (let yy = Math.max(0, py - half); yy < Math.min(H, py + half); yy++) {
      buf.fill(colour, yy * W + Math.max(0, px - half), yy * W + Math.min(W, px + half));
    }
  }
  ctx.putImageData(img, 0, 0);
  $("legend").replaceChildren(...s.colours.legend.map(([colour, text]) => {
    const li = el("li"), dot = el("i");
    dot.style.background = colour;
    li.append(dot, text);
    return li;
  }));
}

/* The point under (x, y) CSS pixels, within 6 pixels: its index into view.points. */
function pick(x, y) {
  let best = -1, dist = 36;
  const g = s.grid, rows = g.head.length / g.cols;
  for (let cx = Math.floor(x / 8) - 1; cx <= Math.floor(x / 8) + 1; cx++) {
    for (let cy = Math.floor(y / 8) - 1; cy <= Math.floor(y / 8) + 1; cy++) {
      if (cx < 0 || cy < 0 || cx >= g.cols || cy >= rows) continue;
      for (let k = g.head[cy * g.cols + cx]; k >= 0; k = g.next[k]) {
        const d = (s.xs[k] - x) ** 2 + (s.ys[k] - y) ** 2;
        if (d < dist) [best, dist] = [k, d];
      }
    }
  }
  return best < 0 ? -1 : s.data.views[s.by].points[best];
}

function hover(event) {
  const c = $("map"), x = event.offsetX, y = event.offsetY;
  if (s.drag) {
    const side = (Math.min(c.clientWidth, c.clientHeight) - 24) * s.view.k;
    s.view.x = s.drag.x - (x - s.drag.px) / side;
    s.view.y = s.drag.y - (y - s.drag.py) / side;
    s.drag.moved = true;
    return draw();
  }
  const i = pick(x, y), tip = $("tip");
  tip.hidden = i < 0;
  c.style.cursor = i < 0 ? "crosshair" : "pointer";
  if (i < 0) return;
  const p = s.data.points, e = s.data.entries[p.entry[i]], t = s.data.thumbs;
  if (!s.sheet) {
    s.sheet = new Image();
    s.sheet.onload = () => hover(event);
    s.sheet.src = t.url;
  }
  const ctx = $("thumb").getContext("2d");
  ctx.imageSmoothingEnabled = false;
  ctx.clearRect(0, 0, 80, 106);
  if (s.sheet.complete) {
    ctx.drawImage(s.sheet, (i % t.columns) * t.width, Math.floor(i / t.columns) * t.height,
      t.width, t.height, 0, 0, t.width * 2, t.height * 2);
  }
  const label = (key) => s.site.label(key, e[key]);
  const action = p.action[i] >= 0 ? `, ${s.data.action_names[p.action[i]] || p.action[i]}` : "";
  const score = p.score[i] === null ? "" : `, score ${formatNumber(p.score[i])}`;
  $("tip-text").textContent = `${label("algo")}, run ${e.run}, ${label("tag")}: step ${p.step[i]}${action}${score}`;
  tip.style.left = `${Math.min(x + 12, c.clientWidth - 180)}px`;
  tip.style.top = `${y + 12}px`;
}

function remember() {
  const q = { game: s.game, by: s.by, colour: s.colour }, v = s.view;
  if (v.k !== 1 || v.x !== 0.5 || v.y !== 0.5) q.view = [v.x, v.y, v.k].map((n) => +n.toFixed(4)).join(",");
  history.replaceState(history.state, "", `${location.pathname}?${queryOf(q)}`);
}

const redraw = () => { draw(); remember(); };

async function load(game) {
  s.game = game;
  s.sheet = s.colours = null;
  s.data = await loadJson(`maps/${encodeURIComponent(game)}.json`);
  for (const o of $("by").options) o.disabled = !s.data.views[o.value];
  if (!s.data.views[s.by]) s.by = BYS.find((b) => s.data.views[b]) || "dense";
  $("by").value = s.by;
  $("about").textContent = `${s.data.points.step.length} steps of ${s.data.entries.length} agents, placed by ` +
    `${s.data.method}. ${s.by === "dense" ? "Each network has its own features: distances between networks mean little."
      : "RAM is the same for every agent."} ${s.data.notes.join(" ")}`;
  redraw();
  ready();
}

function wire() {
  const c = $("map");
  $("game").addEventListener("change", () => { s.view = { ...HOME }; load($("game").value); });
  $("by").addEventListener("change", () => { s.by = $("by").value; load(s.game); });
  $("colour").addEventListener("change", () => { s.colour = $("colour").value; redraw(); });
  c.addEventListener("mousemove", hover);
  c.addEventListener("mouseleave", () => { $("tip").hidden = true; s.drag = null; });
  c.addEventListener("mousedown", (e) => { s.drag = { px: e.offsetX, py: e.offsetY, x: s.view.x, y: s.view.y }; });
  c.addEventListener("mouseup", (e) => {
    const drag = s.drag, i = pick(e.offsetX, e.offsetY);
    s.drag = null;
    if (drag?.moved) return remember();
    if (i < 0) return;
    const p = s.data.points, en = s.data.entries[p.entry[i]];
    location.href = `video.html?${queryOf({ algo: en.algo, game: s.game, run: en.run, tag: en.tag, frame: p.step[i] })}`;
  });
  c.addEventListener("wheel", (e) => {
    e.preventDefault();
    s.view.k = Math.max(0.5, Math.min(200, s.view.k * (e.deltaY < 0 ? 1.25 : 0.8)));
    redraw();
  }, { passive: false });
  c.addEventListener("dblclick", () => { s.view = { ...HOME }; redraw(); });
  window.addEventListener("resize", draw);
}

async function main() {
  s.site = await loadSite();
  if (!s.site) return;
  const maps = s.site.root.maps || [], q = new URLSearchParams(location.search);
  if (!maps.length) {
    showMessage("This site has no map of states ([states] in zoo-site.toml).");
    ready();
    return;
  }
  $("game").replaceChildren(...maps.map((m) => new Option(m.game, m.game)));
  const asked = q.get("game"), found = maps.some((m) => m.game === asked), game = found ? asked : maps[0].game;
  showMessage(asked !== null && !found ? `No map of ${JSON.stringify(asked.slice(0, 40))}. Showing ${game}.` : "");
  $("game").value = game;
  if (BYS.includes(q.get("by"))) s.by = q.get("by");
  if (COLOURINGS.includes(q.get("colour"))) s.colour = $("colour").value = q.get("colour");
  const v = (q.get("view") || "").split(",").map(Number);
  if (v.length === 3 && v.every(Number.isFinite) && v[2] > 0) s.view = { x: v[0], y: v[1], k: v[2] };
  wire();
  try {
    await load(game);
  } catch (err) {
    showMessage(`Could not load the map of ${game}: ${err.message}.`);
    ready("error");
  }
}

main();
