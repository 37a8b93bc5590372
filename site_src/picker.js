/* zoo-site: the four cascading selects (algo, game, run, tag) of the viewers. */
"use strict";

window.ZooPicker = (function () {
  const $ = (id) => document.getElementById(id);

  function showMessage(text) {
    $("message").textContent = text;
    $("message").hidden = !text;
  }

  function labelOf(manifest, key, value) {
    const list = { algo: manifest.algos, tag: manifest.tags }[key];
    const item = list && list.find((x) => x.id === value);
    return item ? item.label : value;
  }

  function fill(manifest, result) {
    for (const key of Zoo.KEYS) {
      const options = result.options[key].map((v) => new Option(labelOf(manifest, key, v), v));
      $(key).replaceChildren(...options);
      $(key).value = result.choice[key];
    }
  }

  /* The URL of this page for `choice`, plus `extra` parameters (null values left out). */
  function urlFor(choice, extra) {
    const params = new URLSearchParams(choice);
    for (const [key, value] of Object.entries(extra || {})) {
      if (value !== null && value !== undefined) params.set(key, value);
    }
    return `${location.pathname}?${params.toString()}`;
  }

  /* The entry's own page, a/<algo>/<game>/<run>/<tag>/ (it has link previews), which
   * forwards to the viewer with the `extra` parameters. */
  function previewFor(choice, extra) {
    const path = ["algo", "game", "run", "tag"].map((k) => encodeURIComponent(choice[k])).join("/");
    const query = urlFor({}, extra).split("?")[1];
    return `${location.pathname.replace(/[^/]*$/, "")}a/${path}/${query ? `?${query}` : ""}`;
  }

  /*
   * Resolve the URL's entry against `manifest`, fill the selects and call onEntry(entry,
   * choice) now and after every change. Returns the first result (entry null if none) and
   * `pick(wanted)`, which chooses as a change of the selects does (the selects follow).
   */
  function create(manifest, onEntry) {
    const result = Zoo.resolve(manifest, Zoo.wantedFromUrl(new URLSearchParams(location.search)));
    if (!result.entry) return result;
    const pick = (wanted) => {
      showMessage("");
      const next = Zoo.resolve(manifest, wanted);
      fill(manifest, next);
      onEntry(next.entry, next.choice);
    };
    showMessage(Zoo.missMessage(result));
    fill(manifest, result);
    for (const key of Zoo.KEYS) {
      $(key).addEventListener("change", () => {
        const wanted = {};
        for (const k of Zoo.KEYS) wanted[k] = $(k).value;
        pick(wanted);
      });
    }
    $("picker").addEventListener("submit", (event) => event.preventDefault());
    onEntry(result.entry, result.choice);
    return { ...result, pick };
  }

  /* manifest.json, or null after saying why it could not be loaded. */
  async function loadManifest() {
    try {
      return await Zoo.loadJson("manifest.json");
    } catch (err) {
      showMessage(`Could not load the list of agents (manifest.json): ${err.message}.`);
      document.body.dataset.ready = "error";
      return null;
    }
  }

  return { create, showMessage, labelOf, urlFor, previewFor, loadManifest };
})();
