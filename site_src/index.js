/* zoo-site catalog, filtered and searched as you type. What matches is known from the
 * root index alone; cards are drawn near the screen only, from the game's shard. */

import { loadSite, protocolShort } from "./site.js";
import { $, el, formatNumber, queryOf, ready, shortSteps } from "./util.js";

const CHUNK = 60; /* cards drawn together, at least (chunksOf) */
const MARGIN = 1000; /* px beyond the screen where cards are kept drawn */
const fields = { algo: $("f-algo"), game: $("f-game"), tag: $("f-tag"), q: $("f-q") };
const state = { chunks: [], kept: new Map(), chunkOf: new WeakMap(), rowHeight: 0, applied: 0 };

/* Search texts per group (game, algo, run, source, protocol) and per tag: a word
 * matches an entry in either. */
function searchTexts(site) {
  const tag = new Map(site.root.tags.map((t) => [t.id, `${t.id} ${t.label}`.toLowerCase()]));
  for (const g of site.groups) {
    g.text = [g.game, g.algo, site.label("algo", g.algo), `run ${g.run}`, g.source,
      protocolShort(g.protocol)].join(" ").toLowerCase();
  }
  return tag;
}

/* The matching (game, algo) blocks in the groups' order, with [run, tag] pairs sorted. */
function match(want) {
  const words = want.q.toLowerCase().split(/\s+/).filter(Boolean);
  const blocks = new Map();
  for (const g of state.site.groups) {
    if ((want.algo && g.algo !== want.algo) || (want.game && g.game !== want.game)) continue;
    const rest = words.filter((w) => !g.text.includes(w));
    const tags = g.tags.filter((t) => (!want.tag || t === want.tag) &&
      rest.every((w) => state.tagText.get(t).includes(w)));
    const key = `${g.game}\n${g.algo}`;
    if (tags.length && !blocks.has(key)) blocks.set(key, { game: g.game, algo: g.algo, cards: [] });
    for (const t of tags) blocks.get(key).cards.push([g.run, t]);
  }
  const rank = (key) => new Map(state.site.orders[key].map((v, i) => [v, i]));
  const runs = rank("run"), tags = rank("tag");
  for (const b of blocks.values()) b.cards.sort((x, y) => runs.get(x[0]) - runs.get(y[0]) || tags.get(x[1]) - tags.get(y[1]));
  return [...blocks.values()];
}

/* A block's cards in chunks: cut where a run ends once a chunk has CHUNK cards (or in a
 * run, at 4 CHUNK). */
function chunksOf(cards) {
  const out = [[]];
  cards.forEach((c, i) => {
    const last = out[out.length - 1];
    if (last.length >= CHUNK && (c[0] !== cards[i - 1][0] || last.length >= 4 * CHUNK)) out.push([]);
    out[out.length - 1].push(c);
  });
  return out;
}

/* "7 agents", "1 agent", "3 of 7 agents". */
const agents = (shown, all) => (shown === all ? `${all} agent${all === 1 ? "" : "s"}` : `${shown} of ${all} agents`);

function card(e) {
  const algo = state.site.label("algo", e.algo), tag = state.site.label("tag", e.tag);
  const keys = { algo: e.algo, game: e.game, run: e.run, tag: e.tag };
  const li = el("li", "card");
  Object.assign(li.dataset, keys);
  const a = el("a", { href: `video.html?${queryOf(keys)}` });
  const img = el("img", { src: e.poster, loading: "lazy", width: e.width, height: e.height,
    alt: `${algo} playing ${e.game}, run ${e.run}, ${tag}` });
  a.append(img, el("span", "card-title", `Run ${e.run} · ${tag}`));
  const step = e.training_step == null ? "" : `${shortSteps(e.training_step)} agent steps`;
  const meta = [protocolShort(e.protocol), step].filter(Boolean).join(" · ");
  if (meta) a.append(el("span", "card-meta", meta));
  const r = e.episode_returns;
  const score = el("span", "card-score", r.length ? `Best ${formatNumber(Math.max(...r))} · mean ${formatNumber(r.reduce((s, v) => s + v, 0) / r.length)} `
    : e.score === null ? "Score not recorded" : `No episode ended · score ${formatNumber(e.score)}`);
  if (r.length) score.append(el("span", "n", `(${r.length} episode${r.length === 1 ? "" : "s"})`));
  a.append(score);
  li.append(a);
  if (e.activations) {
    const extra = el("a", { className: "card-extra", href: `video2.html?${queryOf(keys)}` }, "Activations");
    extra.setAttribute("aria-label", `Activations: ${algo}, ${e.game}, run ${e.run}, ${tag}`);
    li.append(extra);
  }
  return li;
}

/* Draw a chunk's cards (its game's shard fetched first); keep its height until then. */
async function draw(chunk) {
  if (chunk.drawn) return;
  chunk.drawn = true;
  const entries = await state.site.entries(chunk.game);
  if (!chunk.drawn) return; /* dropped again while the shard came */
  if (!chunk.index) {
    chunk.index = new Map(entries.filter((e) => e.algo === chunk.algo).map((e) => [`${e.run}\n${e.tag}`, e]));
  }
  const cards = chunk.cards.map(([run, tag]) => chunk.index.get(`${run}\n${tag}`)).filter(Boolean);
  chunk.ul.replaceChildren(...cards.map(card));
  chunk.ul.style.height = "";
  if (!state.rowHeight && cards.length) {
    const first = chunk.ul.firstElementChild.getBoundingClientRect();
    state.rowHeight = first.height + 16;
  }
}

function onSeen(items) {
  for (const item of items) {
    const chunk = state.chunkOf.get(item.target);
    if (item.isIntersecting) draw(chunk).catch(fail);
    else if (chunk.drawn) {
      chunk.ul.style.height = `${chunk.ul.offsetHeight}px`;
      chunk.ul.replaceChildren();
      chunk.drawn = false;
    }
  }
}

/* A block's heading and chunks, empty, each as high as its cards will be (9rem columns,
 * 1rem gaps) until drawn. */
function blockOf(b, perRow) {
  const div = el("div", "algo");
  div.dataset.algo = b.algo;
  const h3 = el("h3", "", state.site.label("algo", b.algo));
  h3.append(" ", el("a", { className: "compare", href: `grid.html?${queryOf({ game: b.game, algos: b.algo })}` }, "Compare runs"));
  div.append(h3);
  const chunks = chunksOf(b.cards).map((cards) => {
    const ul = el("ul", "cards");
    ul.style.height = `${Math.ceil(cards.length / perRow) * (state.rowHeight || 300)}px`;
    div.append(ul);
    const chunk = { game: b.game, algo: b.algo, cards, ul, drawn: false };
    state.chunkOf.set(ul, chunk);
    state.observer.observe(ul);
    return chunk;
  });
  return { cards: b.cards, div, chunks };
}

const same = (a, b) => a.length === b.length && a.every((c, i) => c[0] === b[i][0] && c[1] === b[i][1]);

/* Each shown game's blocks; one with the same cards as before is kept as it is. */
function layout(blocks) {
  state.observer ||= new IntersectionObserver(onSeen, { rootMargin: `${MARGIN}px 0px` });
  const perRow = Math.max(1, Math.floor(($("catalog").clientWidth + 16) / 160));
  const byGame = new Map(), kept = new Map();
  for (const b of blocks) {
    if (!byGame.has(b.game)) byGame.set(b.game, []);
    byGame.get(b.game).push(b);
  }
  for (const section of document.querySelectorAll("#catalog .game")) {
    const mine = byGame.get(section.dataset.game) || [];
    section.hidden = !mine.length;
    const count = section.querySelector(".game-count");
    count.textContent = agents(mine.reduce((n, b) => n + b.cards.length, 0), Number(count.dataset.count));
    const divs = mine.map((b) => {
      const key = `${b.game}\n${b.algo}`, old = state.kept.get(key);
      const block = old && same(old.cards, b.cards) ? old : blockOf(b, perRow);
      kept.set(key, block);
      return block.div;
    });
    const algos = section.querySelector(".algos");
    if (divs.length !== algos.children.length || divs.some((d, i) => d !== algos.children[i])) algos.replaceChildren(...divs);
  }
  for (const [key, block] of state.kept) {
    if (kept.get(key) !== block) for (const c of block.chunks) state.observer.unobserve(c.ul), (c.drawn = false);
  }
  state.kept = kept;
  state.chunks = [...kept.values()].flatMap((block) => block.chunks); /* in page order */
  for (const li of document.querySelectorAll(".toc li")) li.hidden = !byGame.has(li.dataset.game);
}

/* The chunks near the screen now (the observer says so a moment later). */
function nearScreen() {
  const out = [];
  for (const chunk of state.chunks) {
    const box = chunk.ul.getBoundingClientRect();
    if (box.top > innerHeight + MARGIN) break;
    if (box.bottom > -MARGIN) out.push(chunk);
  }
  return out;
}

async function apply() {
  const want = {};
  for (const [key, field] of Object.entries(fields)) want[key] = field.value.trim();
  const n = ++state.applied;
  document.body.dataset.busy = "1"; /* until the cards on screen are drawn (the tests wait) */
  const blocks = match(want);
  layout(blocks);
  const shown = blocks.reduce((s, b) => s + b.cards.length, 0);
  $("count").textContent = agents(shown, state.site.root.counts.entries);
  $("none").hidden = shown > 0;
  const params = {};
  for (const [key, value] of Object.entries(want)) if (value) params[key] = value;
  const query = queryOf(params);
  history.replaceState(history.state, "", `${location.pathname}${query ? "?" + query : ""}${location.hash}`);
  try {
    await Promise.all(nearScreen().map(draw));
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
  state.tagText = searchTexts(state.site);
  /* Restore the filters from the URL: only values the page offers are taken. */
  const params = new URLSearchParams(location.search);
  for (const [key, field] of Object.entries(fields)) {
    const value = params.get(key);
    if (value === null) continue;
    if (field.tagName !== "SELECT") field.value = value.slice(0, 100);
    else if ([...field.options].some((o) => o.value === value)) field.value = value;
  }
  const form = $("filters");
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
