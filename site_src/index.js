/* zoo-site catalog: filter the agents by algorithm, game and checkpoint, or search them. */
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const form = $("filters");
  if (!form) {
    document.body.dataset.ready = "1";
    return;
  }
  const fields = { algo: $("f-algo"), game: $("f-game"), tag: $("f-tag"), q: $("f-q") };
  const cards = [...document.querySelectorAll(".card")];
  const groups = [...document.querySelectorAll(".algo, .game, .toc li")];

  function apply() {
    const want = {};
    for (const [key, field] of Object.entries(fields)) want[key] = field.value.trim();
    const words = want.q.toLowerCase().split(/\s+/).filter(Boolean);
    let shown = 0;
    for (const card of cards) {
      const d = card.dataset;
      const ok = ["algo", "game", "tag"].every((k) => !want[k] || d[k] === want[k]) &&
        words.every((w) => d.search.includes(w));
      card.hidden = !ok;
      shown += ok;
    }
    for (const group of groups) {
      const inside = group.matches(".toc li")
        ? cards.filter((c) => c.dataset.game === group.dataset.game)
        : [...group.querySelectorAll(".card")];
      group.hidden = !inside.some((c) => !c.hidden);
    }
    $("count").textContent = shown === cards.length ? `${cards.length} agents` : `${shown} of ${cards.length} agents`;
    $("none").hidden = shown > 0;
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(want)) if (value) params.set(key, value);
    const query = params.toString();
    history.replaceState(history.state, "", `${location.pathname}${query ? "?" + query : ""}${location.hash}`);
  }

  /* Restore the filters from the URL: only values the page offers are taken. */
  const params = new URLSearchParams(location.search);
  for (const [key, field] of Object.entries(fields)) {
    const value = params.get(key);
    if (value === null) continue;
    if (field.tagName === "SELECT") {
      if ([...field.options].some((o) => o.value === value)) field.value = value;
    } else {
      field.value = value.slice(0, 100);
    }
  }
  form.addEventListener("input", apply);
  form.addEventListener("change", apply);
  form.addEventListener("submit", (event) => event.preventDefault());
  apply();
  document.body.dataset.ready = "1";
})();
