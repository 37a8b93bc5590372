/* zoo-site: what video.js and video2.js share: the page's state, the cascading selects
 * (algo, game, run, tag), its links, the saliency overlay, how it starts. */

import { copyLink, createPlayer } from "./player.js";
import * as sal from "./saliency.js";
import { KEYS, loadSite, missMessage, wantedFromUrl } from "./site.js";
import { $, ready, showMessage } from "./util.js";

function fill(site, result) {
  for (const key of KEYS) {
    $(key).replaceChildren(...result.options[key].map((v) => new Option(site.label(key, v), v)));
    $(key).value = result.choice[key];
  }
}

/* The URL of this page for `choice`, plus `extra` parameters (null values left out). */
function urlFor(choice, extra) {
  const params = new URLSearchParams(choice);
  for (const [key, value] of Object.entries(extra || {})) {
    if (value != null) params.set(key, value);
  }
  return `${location.pathname}?${params.toString()}`;
}

/* The entry's own page, a/<algo>/<game>/<run>/<tag>/ (it has link previews), which
 * forwards to the viewer with the `extra` parameters. */
function previewFor(choice, extra) {
  const path = KEYS.map((k) => encodeURIComponent(choice[k])).join("/");
  const query = urlFor({}, extra).split("?")[1];
  return `${location.pathname.replace(/[^/]*$/, "")}a/${path}/${query ? `?${query}` : ""}`;
}

/* Fill the selects with the URL's entry (of those with `need`) and call onEntry(entry,
 * choice, game's entries) now and after each change. Returns the result and pick(wanted). */
async function createPicker(site, need, onEntry) {
  const result = await site.resolve(wantedFromUrl(new URLSearchParams(location.search)), need);
  if (!result.entry) return result;
  let latest = 0;
  const pick = async (wanted) => {
    const mine = ++latest;
    showMessage("");
    const next = await site.resolve(wanted, need);
    if (mine !== latest || !next.entry) return; /* a later change won, or nothing to show */
    fill(site, next);
    onEntry(next.entry, next.choice, next.entries);
  };
  showMessage(missMessage(result));
  fill(site, result);
  for (const key of KEYS) {
    $(key).addEventListener("change", () => pick(Object.fromEntries(KEYS.map((k) => [k, $(k).value]))));
  }
  $("picker").addEventListener("submit", (event) => event.preventDefault());
  onEntry(result.entry, result.choice, result.entries);
  return { ...result, pick };
}

export const video = $("video");

export const view = {
  site: null, entry: null, choice: null, details: null, player: null, pick: null,
  sal: sal.settingsFrom(new URLSearchParams(location.search)),
  salData: null, values: null, curves: [], drawn: "",
  page: null, /* the entry page's page= for this viewer (null: video.html) */
  extra: () => ({}), /* the page's own URL parameters */
  overlay: null, /* () => {canvas, rect}: where the saliency map is drawn */
};

export function seek(step) {
  video.pause();
  view.player.seekStep(step);
}

/* This view's URL: the viewer's, or (preview) the entry page's, which forwards here. */
function here(withFrame, preview) {
  const frame = withFrame && view.player.step > 0 ? String(view.player.step) : null;
  const extra = { frame, ...view.extra(), ...sal.urlParams(view.sal) };
  if (!preview) return urlFor(view.choice, extra);
  return previewFor(view.choice, view.page ? { page: view.page, ...extra } : extra);
}

export function remember() {
  history.replaceState(history.state, "", here(video.paused) + location.hash);
}

/* The map of `step` over the game screen (only when what is drawn changes). */
export function drawSaliency(step, force) {
  const data = view.salData;
  const key = data ? `${view.entry.id} ${sal.rowOf(data, step)} ${JSON.stringify(view.sal)}` : "";
  if (key === view.drawn && !force) return;
  view.drawn = key;
  const { canvas, rect } = view.overlay();
  sal.draw(canvas, data, step, view.sal, rect);
}

export const redraw = () => drawSaliency(Math.max(0, view.player.step), true);

/* The heading and title for `entry`; the old entry's analyses forgotten. */
export function switchTo(entry, suffix) {
  const title = `${view.site.label("algo", entry.algo)} playing ${entry.game}${suffix}`;
  $("heading").textContent = title;
  document.title = `${title} · ${view.site.root.site.title}`;
  Object.assign(view, { entry, details: null, salData: null, values: null, curves: [] });
  $("step-values").hidden = $("saliency-section").hidden = $("value-section").hidden = true;
  video.dataset.entry = entry.id;
  drawSaliency(0, true);
}

/* The entry's values, saliency maps and curves; false when another entry came meanwhile. */
export async function loadAnalyses(entry, details) {
  const { values, data, curves } = await sal.loadAnalyses(entry, details, seek);
  if (view.entry !== entry) return false;
  Object.assign(view, { values, salData: data, curves });
  return true;
}

/* Start the page: onEntry(entry, entries, params) for the URL's entry (params: the URL's)
 * and after each change (params null); the page is ready once its first promise is. */
export async function start({ need, onStep, onEntry, empty }) {
  try {
    view.site = await loadSite();
    if (!view.site) return;
    view.player = createPlayer(video, onStep);
    view.player.onPause = remember;
    const counts = need ? view.site.groups.filter((g) => g[need]) : view.site.groups;
    $("saliency-controls").hidden = !counts.some((g) => g.saliency);
    sal.wire(view.sal, () => {
      redraw();
      remember();
    });
    $("copy").addEventListener("click", () => copyLink(new URL(here(true, true), location.href).href));
    const params = new URLSearchParams(location.search);
    let first = null;
    const result = await createPicker(view.site, need, (entry, choice, entries) => {
      view.choice = choice;
      const loading = onEntry(entry, entries, first ? null : params);
      first = first || loading || Promise.resolve();
    });
    view.pick = result.pick;
    if (!result.entry) showMessage(empty);
    else await first;
    ready();
  } catch (err) {
    showMessage(`Could not load this agent: ${err.message}.`);
    ready("error");
  }
}
