/* zoo-site: the manifests. manifest.json is the root index (its `groups`: which game,
 * algo and run has which tags); a game's shard (its entries) and card file are each
 * fetched once, when a page needs them (docs/manifest.schema.json). */

import { $, loadJson, quote, ready, showMessage } from "./util.js";

export const KEYS = ["algo", "game", "run", "tag"];

/* The values of `key` among `items`, in display `order` (unlisted ones last). */
export function inOrder(values, order) {
  const present = new Set(values);
  const listed = order.filter((v) => present.has(v));
  return listed.concat([...present].filter((v) => !order.includes(v)));
}

/* The part of a protocol's label before its first ":" ("modern", "Dopamine"). */
export const protocolShort = (p) => (p ? p.label.split(":")[0].trim() : "");

class Site {
  constructor(root) {
    this.root = root;
    this.files = new Map();
    this.orders = {
      algo: root.algos.map((a) => a.id),
      game: root.games.map((g) => g.id),
      run: root.runs.map(String),
      tag: root.tags.map((t) => t.id),
    };
    this.labels = {
      algo: new Map(root.algos.map((a) => [a.id, a.label])),
      tag: new Map(root.tags.map((t) => [t.id, t.label])),
    };
    /* the schema's columns */
    this.groups = root.groups.rows.map(([game, algo, run, source, protocol, tags, activations, saliency]) => ({
      game: root.games[game].id, algo: root.algos[algo].id, run: String(run), source: root.sources[source],
      protocol: protocol === null ? null : root.protocols[protocol], tags, activations, saliency,
    }));
  }

  /* The display label of a key's value ("Ape-X" for apex); the value itself otherwise. */
  label(key, value) {
    return this.labels[key]?.get(value) || value;
  }

  /* A game's `shard` or `cards` file as `read` makes it, fetched once. */
  file(game, kind, read) {
    const url = this.root.games.find((g) => g.id === game)[kind];
    if (!this.files.has(url)) {
      const loading = loadJson(url).then(read);
      loading.catch(() => this.files.delete(url)); /* a later call may try again */
      this.files.set(url, loading);
    }
    return this.files.get(url);
  }

  entries(game) {
    return this.file(game, "shard", (shard) => shard.entries);
  }

  /* Choose an entry key by key (algo, game from the index; run, tag from the game's
   * shard): the wanted value where one exists given the choices before, else the first.
   * With `need`, only entries that have it. {entry, entries, choice, options, misses}. */
  async resolve(wanted, need) {
    const ok = (x) => !need || x[need];
    let items = this.groups.filter(ok);
    let entries = [];
    const choice = {}, options = {}, misses = [];
    for (const key of KEYS) {
      if (key === "run" && choice.game !== undefined) {
        entries = (await this.entries(choice.game)).filter(ok);
        items = entries.filter((e) => e.algo === choice.algo);
      }
      options[key] = inOrder(items.map((x) => String(x[key])), this.orders[key]);
      const want = wanted[key];
      const keep = want != null && options[key].includes(want);
      if (want && !keep) misses.push({ key, value: want, prior: { ...choice } });
      choice[key] = keep ? want : options[key][0];
      items = items.filter((x) => String(x[key]) === choice[key]);
    }
    const entry = items.find((x) => x.id) || null;
    return { entry, entries, choice, options, misses };
  }

  /* The checkpoints of `entry`'s run among `entries`, in training (tag) order. */
  checkpointsOf(entries, entry) {
    const same = entries.filter((e) => e.algo === entry.algo && e.run === entry.run);
    return inOrder(same.map((e) => e.tag), this.orders.tag).map((t) => same.find((e) => e.tag === t));
  }
}

const describe = (choice) => `${choice.algo} / ${choice.game} / run ${choice.run} / ${choice.tag}`;

/* A sentence about the values that were asked for but do not exist, or "". */
export function missMessage(result) {
  if (!result.misses.length || !result.entry) return "";
  const parts = result.misses.map(({ key, value, prior }) => {
    const given = Object.values(prior);
    const within = given.length ? ` with ${given.join(" / ")}` : "";
    return `No entry for ${key} ${quote(value)}${within}.`;
  });
  return `${parts.join(" ")} Showing ${describe(result.choice)} instead.`;
}

/* The entry the URL asks for: algo, game, run (or the original viewer's run_id), tag. */
export function wantedFromUrl(params) {
  return {
    algo: params.get("algo"),
    game: params.get("game"),
    run: params.get("run") || params.get("run_id"),
    tag: params.get("tag"),
  };
}

/* The root index as a Site, or null after saying why it could not be loaded. */
export async function loadSite() {
  try {
    return new Site(await loadJson("manifest.json"));
  } catch (err) {
    if ($("message")) showMessage(`Could not load the list of agents (manifest.json): ${err.message}.`);
    ready("error");
    return null;
  }
}
