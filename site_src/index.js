/* zoo-site catalog, filtered as you type from the root index alone; cards are drawn near
 * the screen only, from their game's card file. */

import { loadSite, protocolShort } from "./site.js";
import { $, el, formatNumber, queryOf, ready, shortSteps } from "./util.js";

const CHUNK = 24; /* cards drawn together, at least (chunksOf) */
const MARGIN = 1000; /* px beyond the screen where cards are kept drawn */
const state = { games: new Map(), chunkOf: new WeakMap(), rowHeight: 0, applied: 0 };

/* A card is a number: run index × tags + tag index (+ its block's `base`: its key in the
 * card file). A word matches in the group's text or the tag's id and label. */
function prepare({ root, groups }) {
  const T = (state.T = root.tags.length), R = root.runs.length, run = (r) => state.site.orders.run.indexOf(String(r));
  state.tagText = root.tags.map((t) => `${t.id} ${t.label}`.toLowerCase());
  groups.forEach((g, i) => {
    g.text = [g.game, g.algo, state.site.label("algo", g.algo), `run ${g.run}`, g.source, protocolShort(g.protocol)].join(" ").toLowerCase();
    g.cards = g.tags.flatMap(([a, b]) => Array.from({ length: b - a + 1 }, (_, k) => run(g.run) * T + a + k));
    g.base = root.groups.rows[i][1] * R * T;
  });
  state.key = (row) => (row[0] * R + run(row[1])) * T + row[2];
}

/* The matching (game, algo) blocks, in order, with their cards in order. */
function match(want) {
  const words = want.q.toLowerCase().split(/\s+/).filter(Boolean), tag = state.site.orders.tag.indexOf(want.tag);
  const tagsFor = new Map(); /* words left to the tags -> which tags have them */
  const blocks = [];
  let b = {};
  for (const g of state.site.groups) {
    if ((want.algo && g.algo !== want.algo) || (want.game && g.game !== want.game)) continue;
    const rest = words.filter((w) => !g.text.includes(w)), key = rest.join(" ");
    if (!tagsFor.has(key)) tagsFor.set(key, state.tagText.map((s, t) => (!want.tag || t === tag) && rest.every((w) => s.includes(w))));
    const cards = g.cards.filter((c) => tagsFor.get(key)[c % state.T]);
    if (!cards.length) continue;
    if (b.game !== g.game || b.algo !== g.algo) blocks.push((b = { game: g.game, algo: g.algo, base: g.base, cards: [] }));
    b.mixed ||= b.cards.at(-1) > cards[0]; /* a run in two groups (sources, protocols) */
    b.cards.push(...cards);
  }
  for (const block of blocks) if (block.mixed) block.cards.sort((x, y) => x - y);
  return blocks;
}

/* A block's cards in chunks: cut where a run ends once a chunk has CHUNK cards (or in a
 * run, at 4 CHUNK). */
function chunksOf(cards) {
  const out = [[]], run = (c) => Math.floor(c / state.T);
  cards.forEach((c, i) => {
    const last = out.at(-1);
    if (last.length >= CHUNK && (run(c) !== run(cards[i - 1]) || last.length >= 4 * CHUNK)) out.push([]);
    out.at(-1).push(c);
  });
  return out;
}

/* "7 agents", "1 agent", "3 of 7 agents". */
const agents = (shown, all) => (shown === all ? `${all} agent${all === 1 ? "" : "s"}` : `${shown} of ${all} agents`);

/* A card from its row of the card file (docs/cards.schema.json). */
function card(b, [, run, t, poster, width, height, step, protocol, best, mean, n, score, activations]) {
  const { root } = state.site, tag = root.tags[t].label, keys = { algo: b.algo, game: b.game, run, tag: root.tags[t].id };
  const li = el("li", "card"), a = el("a", { href: `video.html?${queryOf(keys)}` }), who = `${b.game}, run ${run}, ${tag}`;
  Object.assign(li.dataset, keys);
  a.append(el("img", { loading: "lazy", src: poster, width, height, alt: `${b.label} playing ${who}` }), el("span", "card-title", `Run ${run} · ${tag}`));
  const meta = [protocolShort(root.protocols[protocol]), step == null ? "" : `${shortSteps(step)} agent steps`].filter(Boolean).join(" · ");
  if (meta) a.append(el("span", "card-meta", meta));
  const line = el("span", "card-score", n ? `Best ${formatNumber(best)} · mean ${formatNumber(mean)} `
    : score === null ? "Score not recorded" : `No episode ended · score ${formatNumber(score)}`);
  if (n) line.append(el("span", "n", `(${n} episode${n === 1 ? "" : "s"})`));
  a.append(line);
  li.append(a);
  if (activations) {
    const extra = el("a", { className: "card-extra", href: `video2.html?${queryOf(keys)}` }, "Activations");
    extra.setAttribute("aria-label", `Activations: ${b.label}, ${who}`);
    li.append(extra);
  }
  return li;
}

/* Draw a chunk's cards (its game's card file fetched first, once). */
async function draw(chunk) {
  if (chunk.drawn) return;
  const mine = (chunk.drawn = {}), b = chunk.block; /* unless emptied meanwhile */
  const rows = await state.site.file(b.game, "cards", (f) => new Map(f.rows.map((r) => [state.key(r), r])));
  if (chunk.drawn !== mine) return;
  chunk.ul.replaceChildren(...chunk.cards.map((c) => rows.get(b.base + c)).filter(Boolean).map((row) => card(b, row)));
  chunk.ul.style.height = "";
  if (!state.rowHeight && chunk.ul.firstChild) state.rowHeight = chunk.ul.firstChild.getBoundingClientRect().height + 16;
}

/* Empty a chunk, as high as its cards were or will be (9rem columns, 1rem gaps). */
function empty(chunk, height) {
  chunk.ul.style.height = `${height ?? Math.ceil(chunk.cards.length / state.perRow) * (state.rowHeight || 300)}px`;
  chunk.ul.replaceChildren();
  chunk.drawn = false;
}

function onSeen(items) {
  for (const { target, isIntersecting } of items) {
    const chunk = state.chunkOf.get(target);
    if (isIntersecting) draw(chunk).catch(fail);
    else if (chunk.drawn) empty(chunk, target.offsetHeight);
  }
}

/* A (game, algo) block, made once, in its place in `section`: a heading and its cards in
 * chunks, each list kept for the next cards. */
function blockOf(b, section) {
  const list = state.games.get(b.game) || [];
  let block = list.find((o) => o.algo === b.algo);
  if (!block) {
    const label = state.site.label("algo", b.algo), div = el("div", "algo"), h3 = el("h3", "", label);
    div.dataset.algo = b.algo;
    h3.append(" ", el("a", { className: "compare", href: `grid.html?${queryOf({ game: b.game, algos: b.algo })}` }, "Compare runs"));
    div.append(h3);
    section.querySelector(".algos").insertBefore(div, list.find((o) => o.base > b.base)?.div ?? null);
    state.games.set(b.game, [...list, (block = { ...b, label, div, chunks: [], cards: [] })].sort((x, y) => x.base - y.base));
  }
  if (block.cards.length === b.cards.length && b.cards.every((c, i) => c === block.cards[i])) return block;
  const parts = chunksOf((block.cards = b.cards));
  for (const chunk of block.chunks.splice(parts.length)) state.observer.unobserve(chunk.ul), chunk.ul.remove();
  parts.forEach((cards, i) => {
    const chunk = (block.chunks[i] ||= { block, ul: block.div.appendChild(el("ul", "cards")) });
    state.chunkOf.set(chunk.ul, chunk);
    chunk.cards = cards;
    empty(chunk);
  });
  return block;
}

/* Game by game: the matching blocks shown (as drawn if their cards are the same), the
 * others emptied and hidden in place (zoo.css). The chunks near the screen are drawn
 * once laid out, their card files coming while the games below are. */
function layout(blocks) {
  state.observer ||= new IntersectionObserver(onSeen, { rootMargin: `${MARGIN}px 0px` });
  state.perRow = Math.max(1, Math.floor(($("catalog").clientWidth + 16) / 160));
  const byGame = new Map(), drawing = [];
  for (const b of blocks) byGame.set(b.game, [...(byGame.get(b.game) || []), b]);
  let near = true;
  for (const section of document.querySelectorAll("#catalog .game")) {
    const mine = (byGame.get(section.dataset.game) || []).map((b) => blockOf(b, section)), count = section.querySelector(".game-count");
    for (const block of state.games.get(section.dataset.game) || []) {
      block.div.hidden = !mine.includes(block);
      for (const c of block.chunks) block.div.hidden ? (state.observer.unobserve(c.ul), c.drawn && empty(c)) : state.observer.observe(c.ul);
    }
    const n = mine.reduce((s, b) => s + b.cards.length, 0);
    section.hidden = !n;
    count.textContent = agents(n, Number(count.dataset.count));
    for (const c of near ? mine.flatMap((b) => b.chunks) : []) {
      const box = c.ul.getBoundingClientRect(); /* lays out only the games above */
      if (box.top > innerHeight + MARGIN) near = false;
      else if (box.bottom > -MARGIN) drawing.push(draw(c));
    }
  }
  for (const li of document.querySelectorAll(".toc li")) li.hidden = !byGame.has(li.dataset.game);
  return drawing;
}

async function apply() {
  const want = {}, params = {};
  for (const field of $("filters").elements) if ((want[field.name] = field.value.trim())) params[field.name] = want[field.name];
  const n = ++state.applied, query = queryOf(params);
  document.body.dataset.busy = "1"; /* until the cards on screen are drawn (the tests wait) */
  state.observer?.takeRecords(); /* what it saw is out of date */
  const blocks = match(want), drawing = Promise.all(layout(blocks)), shown = blocks.reduce((s, b) => s + b.cards.length, 0);
  $("count").textContent = agents(shown, state.site.root.counts.entries);
  $("none").hidden = shown > 0;
  history.replaceState(history.state, "", `${location.pathname}${query ? "?" + query : ""}${location.hash}`);
  try {
    await drawing;
  } finally {
    if (n === state.applied) delete document.body.dataset.busy;
  }
}

function fail(err) {
  $("count").textContent = `Could not load the agents: ${err.message}.`;
}

async function main() {
  if (!$("filters")) return ready();
  state.site = await loadSite();
  if (!state.site) return;
  prepare(state.site);
  /* Restore the filters from the URL: only values the page offers are taken. */
  const form = $("filters"), params = new URLSearchParams(location.search);
  for (const field of form.elements) {
    const value = params.get(field.name);
    if (value === null) continue;
    if (field.tagName !== "SELECT") field.value = value.slice(0, 100);
    else if ([...field.options].some((o) => o.value === value)) field.value = value;
  }
  form.addEventListener("input", () => apply().catch(fail));
  form.addEventListener("submit", (event) => event.preventDefault());
  await apply();
  const target = location.hash && document.getElementById(decodeURIComponent(location.hash.slice(1)));
  if (target) target.scrollIntoView(); /* the cards above it are laid out only now */
  ready();
}

main().catch((err) => {
  fail(err);
  ready("error");
});
