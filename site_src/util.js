/* zoo-site: small helpers shared by every page (ES module). */

export const $ = (id) => document.getElementById(id);

/* el("a", "card-extra", "Activations") or el("img", {src, alt}). */
export function el(tag, props, text) {
  const node = document.createElement(tag);
  if (typeof props === "string") node.className = props;
  else if (props) Object.assign(node, props);
  if (text !== undefined) node.textContent = text;
  return node;
}

export function svg(name, attrs, text) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

const numbers = new Intl.NumberFormat("en-US", { maximumFractionDigits: 2 });
export const formatNumber = (x) => numbers.format(Number(x));

/* 50000000 -> "50M"; 2500000 -> "2.5M" (as the build's charts say). */
export function shortSteps(n) {
  for (const [size, unit] of [[1e9, "B"], [1e6, "M"], [1e3, "k"]]) {
    if (Math.abs(n) >= size) return `${+(n / size).toPrecision(6)}${unit}`;
  }
  return String(n);
}

/* A value from the URL, quoted and cut, for a message (only ever shown as text). */
export function quote(value, most = 60) {
  return JSON.stringify(value.length > most ? value.slice(0, most) + "…" : value);
}

export function showMessage(text) {
  $("message").textContent = text;
  $("message").hidden = !text;
}

export function ready(state = "1") {
  document.body.dataset.ready = state;
}

/* "a=1&b=x,y": URLSearchParams text with its commas kept readable. */
export function queryOf(params) {
  return new URLSearchParams(params).toString().replace(/%2C/g, ",");
}

async function fetchOk(url) {
  const response = await fetch(url, { cache: "no-cache" });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response;
}

export async function loadJson(url) {
  return (await fetchOk(url)).json();
}

/* Little-endian float32 values; with `count`, exactly that many or an error. */
export async function loadFloats(url, count) {
  const buffer = await (await fetchOk(url)).arrayBuffer();
  if (count !== undefined && buffer.byteLength !== count * 4) {
    throw new Error(`${url}: ${buffer.byteLength} bytes, expected ${count * 4}`);
  }
  return new Float32Array(buffer);
}

/* Up to `most` of 0..count-1, evenly spaced, the ends and `current` always in. */
export function spread(count, current, most) {
  if (count <= most) return [...Array(count).keys()];
  const picks = [...Array(most).keys()].map((i) => Math.round((i * (count - 1)) / (most - 1)));
  if (current >= 0 && !picks.includes(current)) {
    let near = 1;
    for (let i = 2; i < most - 1; i++) {
      if (Math.abs(picks[i] - current) < Math.abs(picks[near] - current)) near = i;
    }
    picks[near] = current;
  }
  return picks.sort((a, b) => a - b);
}

/* "50,000,000 agent steps" (one agent step is one decision: 4 frames in Atari). */
export const trainingText = (step) => `${formatNumber(step)} agent steps`;

/* A score, or what to say when the rollout recorded none (episode files). */
export const scoreText = (score) =>
  score == null ? "not recorded" : formatNumber(score);

/* Why an entry has no activation pictures, for people. */
export function whyNoActivations(details) {
  if (details.activation_error) return `No activations: ${details.activation_error}.`;
  if (details.files && !details.files.model) {
    return "No activations: the zoo has this agent's recorded episode but not its network.";
  }
  return "No activations for this agent.";
}

/* entry.json's `files`: the zoo files an entry came from, as one line of text. */
export function filesText(files) {
  if (!files) return "not recorded";
  const parts = [];
  if (files.model) parts.push(`model ${files.model}`);
  if (files.rollout) parts.push(`rollout ${files.rollout}`);
  if (files.played) parts.push("played by zoo-site");
  return parts.join("; ") || "not recorded";
}

/* A viewer's link to the entry's row of its game's robustness page (if evaluated). */
export function robustnessLink(link, entry) {
  link.hidden = !entry.robustness;
  if (entry.robustness) link.href = `robustness/${encodeURIComponent(entry.game)}.html#${encodeURIComponent(entry.id)}`;
}
