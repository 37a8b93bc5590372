/* zoo-site: data helpers shared by the pages (no DOM access here). */
"use strict";

window.Zoo = (function () {
  const KEYS = ["algo", "game", "run", "tag"];

  function formatNumber(x) {
    return Number(x).toLocaleString("en-US", { maximumFractionDigits: 2 });
  }

  /* The display order of each key's values: the order of the manifest's lists. */
  function displayOrders(manifest) {
    return {
      algo: manifest.algos.map((a) => a.id),
      game: manifest.games.map((g) => g.id),
      run: manifest.runs.map(String),
      tag: manifest.tags.map((t) => t.id),
    };
  }

  /* The values of `key` among `entries`, in display order (unlisted ones last). */
  function valuesOf(entries, key, order) {
    const present = new Set(entries.map((e) => String(e[key])));
    const listed = order.filter((v) => present.has(v));
    return listed.concat([...present].filter((v) => !order.includes(v)));
  }

  /*
   * Choose an entry, key by key (algo, game, run, tag): keep the wanted value when an
   * entry has it given the choices before it, otherwise take the first valid value.
   * Returns {entry, choice, options, misses}; `misses` are the wanted values not kept.
   */
  function resolve(manifest, wanted) {
    const orders = displayOrders(manifest);
    let entries = manifest.entries;
    const choice = {}, options = {}, misses = [];
    for (const key of KEYS) {
      options[key] = valuesOf(entries, key, orders[key]);
      const want = wanted[key];
      const keep = want != null && options[key].includes(want);
      if (want && !keep) misses.push({ key, value: want, prior: { ...choice } });
      choice[key] = keep ? want : options[key][0];
      entries = entries.filter((e) => String(e[key]) === choice[key]);
    }
    return { entry: entries[0] || null, choice, options, misses };
  }

  function describe(choice) {
    return `${choice.algo} / ${choice.game} / run ${choice.run} / ${choice.tag}`;
  }

  function quote(value) {
    return JSON.stringify(value.length > 60 ? value.slice(0, 60) + "…" : value);
  }

  /* A sentence about the values that were asked for but do not exist, or "". */
  function missMessage(result) {
    if (!result.misses.length || !result.entry) return "";
    const parts = result.misses.map(({ key, value, prior }) => {
      const given = Object.values(prior);
      const within = given.length ? ` with ${given.join(" / ")}` : "";
      return `No entry for ${key} ${quote(value)}${within}.`;
    });
    return `${parts.join(" ")} Showing ${describe(result.choice)} instead.`;
  }

  /* The entry the URL asks for: algo, game, run (or the original viewer's run_id), tag. */
  function wantedFromUrl(params) {
    return {
      algo: params.get("algo"),
      game: params.get("game"),
      run: params.get("run") || params.get("run_id"),
      tag: params.get("tag"),
    };
  }

  async function fetchOk(url) {
    const response = await fetch(url, { cache: "no-cache" });
    if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
    return response;
  }

  async function loadJson(url) {
    return (await fetchOk(url)).json();
  }

  /* Raw little-endian float32 values, shape [rows, cols]: an array of rows. */
  async function loadFloat32(url, shape) {
    const buffer = await (await fetchOk(url)).arrayBuffer();
    const [rows, cols] = shape;
    if (buffer.byteLength !== rows * cols * 4) {
      throw new Error(`${url}: ${buffer.byteLength} bytes, expected ${rows * cols * 4}`);
    }
    const all = new Float32Array(buffer);
    const out = [];
    for (let r = 0; r < rows; r++) out.push(all.subarray(r * cols, (r + 1) * cols));
    return out;
  }

  /* Step n of an entry is video frame n: shown from n/fps to (n+1)/fps; seek to its centre. */
  function stepAt(time, fps, frames) {
    return Math.min(frames - 1, Math.max(0, Math.floor(time * fps + 1e-6)));
  }

  function timeOf(step, fps) {
    return (step + 0.5) / fps;
  }

  /* The step a deep link asks for, from frame= or t= (seconds); null when absent or bad. */
  function stepFromUrl(params, fps, frames) {
    const frame = params.get("frame");
    if (frame !== null && /^\d+$/.test(frame)) return Math.min(frames - 1, Number(frame));
    const t = params.get("t");
    if (t !== null && /^\d+(\.\d+)?$/.test(t)) return stepAt(Number(t), fps, frames);
    return null;
  }

  /* The entries of one run (algo, game, run), in the manifest's tag order: its checkpoints
   * in training order. */
  function checkpointsOf(manifest, entry) {
    const same = manifest.entries.filter(
      (e) => e.algo === entry.algo && e.game === entry.game && e.run === entry.run,
    );
    return valuesOf(same, "tag", displayOrders(manifest).tag).map((t) => same.find((e) => e.tag === t));
  }

  /* Up to `most` indices out of 0..count-1, evenly spaced, first and last always in, and
   * `current` in place of the nearest inner pick when it is not already one. */
  function spread(count, current, most) {
    if (count <= most) return [...Array(count).keys()];
    const picks = [...Array(most).keys()].map((i) => Math.round((i * (count - 1)) / (most - 1)));
    if (!picks.includes(current)) {
      let near = 1;
      for (let i = 2; i < most - 1; i++) {
        if (Math.abs(picks[i] - current) < Math.abs(picks[near] - current)) near = i;
      }
      picks[near] = current;
    }
    return picks.sort((a, b) => a - b);
  }

  /* "50,000,000 agent steps" (one agent step is one decision: 4 frames in Atari). */
  function trainingText(step) {
    return `${formatNumber(step)} agent steps`;
  }

  /* A score, or what to say when the rollout recorded none (episode files). */
  function scoreText(score) {
    return score === null || score === undefined ? "not recorded" : formatNumber(score);
  }

  /* Why an entry has no activation pictures, for people. */
  function whyNoActivations(details) {
    if (details.activation_error) return `No activations: ${details.activation_error}.`;
    if (details.files && !details.files.model) {
      return "No activations: the zoo has this agent's recorded episode but not its network.";
    }
    return "No activations for this agent.";
  }

  /* entry.json's `files`: the zoo files an entry came from, as one line of text. */
  function filesText(files) {
    if (!files) return "not recorded";
    const parts = [];
    if (files.model) parts.push(`model ${files.model}`);
    if (files.rollout) parts.push(`rollout ${files.rollout}`);
    if (files.played) parts.push("played by zoo-site");
    return parts.join("; ") || "not recorded";
  }

  /* A viewer's link to the noise-robustness page of the entry's game, at the entry's row;
   * hidden when the entry was not evaluated. */
  function robustnessLink(link, entry) {
    link.hidden = !entry.robustness;
    const page = `robustness/${encodeURIComponent(entry.game)}.html`;
    if (entry.robustness) link.href = `${page}#${encodeURIComponent(entry.id)}`;
  }

  return {
    KEYS, formatNumber, robustnessLink, displayOrders, valuesOf, resolve, describe, missMessage, wantedFromUrl,
    loadJson, loadFloat32, stepAt, timeOf, stepFromUrl, checkpointsOf, spread, trainingText,
    filesText, scoreText, whyNoActivations,
  };
})();
