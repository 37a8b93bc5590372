"""Links that preview: a small static page per entry, `a/<algo>/<game>/<run>/<tag>/` (the
folder that holds its entry.json and media too), with
its title, description and poster as Open Graph and Twitter-card metadata and a canonical
link; it forwards to the viewer with the same parameters (`site_src/forward.js`). Plus
`sitemap.xml` and `robots.txt`.

Chats and social sites read those tags without running scripts; they need absolute URLs,
so the pages carry them only with a base URL (`--base-url`, `base_url =`, or GitHub Pages'
project URL inside GitHub Actions). Without one, the pages still forward, and the build
says previews are off."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urljoin
from xml.sax.saxutils import escape

from zoo_site.site.manifest import ENTRY_FOLDER as FOLDER
from zoo_site.site.templating import format_number

ROOT = "../../../../../"
"""From an entry page back to the site's root."""

SHARED = ("site", "version", "asset", "media_origin", "map_pages")
"""What an entry page's template sees besides its entry (`contexts`), `page` and `root`:
values that are the same on every page. Narrower than the other pages' context (no
`manifest`, which changes with every entry), so a rebuild reuses every entry page whose
own context did not change (`PageKeys`)."""


@dataclass
class PageKeys:
    """Each entry page's key (a digest of its templates, shared context and own context),
    by its file: `old` those of the site being replaced, `new` filled by this build. A
    page whose key is unchanged is linked from the old site, not rendered again (25,500
    renders are about 5 s of a build)."""

    old: dict[str, str] = field(default_factory=dict)
    new: dict[str, str] = field(default_factory=dict)


def shared_key(sources: list[str], shared: dict[str, Any], assets: list[str]) -> bytes:
    """The part of every page's key that all share: the template sources, the shared
    context's values and the assets' versioned URLs."""
    h = hashlib.blake2b(digest_size=16)
    for part in (*sources, json.dumps(shared, sort_keys=True), *assets):
        h.update(part.encode("utf-8") + b"\0")
    return h.digest()


def page_key(shared: bytes, own: dict[str, Any]) -> str:
    """A page's key. Its own context is pickled, four times faster than JSON here: the
    same values give the same bytes, and different values never do."""
    data = pickle.dumps(own, protocol=5)
    return hashlib.blake2b(shared + data, digest_size=12).hexdigest()


def page_dir(entry: dict) -> str:
    """'a/apex/Seaquest/2/final/' (each part URL-quoted as the viewers quote it)."""
    parts = (entry["algo"], entry["game"], str(entry["run"]), entry["tag"])
    return f"{FOLDER}/" + "/".join(quote(p, safe="") for p in parts) + "/"


def file_of(entry: dict) -> str:
    """The page's file, relative to the site: the folder's index.html (unquoted names)."""
    parts = (entry["algo"], entry["game"], str(entry["run"]), entry["tag"])
    return f"{FOLDER}/" + "/".join(parts) + "/index.html"


def github_pages_url(environ: dict[str, str] | None = None) -> str | None:
    """Inside GitHub Actions, the Pages URL of the repository being built:
    https://<owner>.github.io/<name>/ (or https://<owner>.github.io/ for <owner>.github.io)."""
    env = os.environ if environ is None else environ
    repo = env.get("GITHUB_REPOSITORY", "")
    if env.get("GITHUB_ACTIONS") != "true" or repo.count("/") != 1:
        return None
    owner, name = repo.split("/")
    host = f"https://{owner.lower()}.github.io/"
    return host if name.lower() == f"{owner.lower()}.github.io" else f"{host}{name}/"


def normalise(url: str | None) -> str | None:
    """An absolute http(s) URL ending in '/', or None; ValueError for anything else."""
    if not url:
        return None
    if not url.startswith(("https://", "http://")):
        raise ValueError(f"the base URL must start with https:// or http://, not {url!r}")
    return url.rstrip("/") + "/"


def describe(entry: dict, algo: str, tag: str) -> tuple[str, str]:
    """The page's title and description."""
    title = f"{algo} playing {entry['game']}, run {entry['run']}, {tag}"
    returns = entry.get("episode_returns") or []
    parts = [f"{entry['frames']} steps of gameplay"]
    if returns:
        n = len(returns)
        parts.append(f"mean episode return {format_number(sum(returns) / n)} over {n} episode"
                     + ("s" if n != 1 else ""))  # fmt: skip
    elif entry.get("score") is not None:
        parts.append(f"score {format_number(entry['score'])}")
    if entry.get("activations"):
        parts.append("with its network's activations")
    if entry.get("saliency"):
        parts.append("saliency maps")
    return title, "; ".join(parts) + "."


def contexts(manifest: dict, base: str | None) -> Iterator[tuple[str, dict[str, Any]]]:
    """(file, template context) of every entry's page."""
    algos = {a["id"]: a["label"] for a in manifest["algos"]}
    tags = {t["id"]: t["label"] for t in manifest["tags"]}
    quoted: dict[str, str] = {}  # a zoo has few names and many entries
    for entry in manifest["entries"]:
        title, description = describe(entry, algos.get(entry["algo"], entry["algo"]),
                                      tags.get(entry["tag"], entry["tag"]))  # fmt: skip
        query = "&".join(f"{k}={_quote(str(entry[k]), quoted)}"
                         for k in ("algo", "game", "run", "tag"))  # fmt: skip
        poster = entry["poster"]
        yield file_of(entry), {
            "entry": entry, "title": title, "description": description,
            "viewer": f"{ROOT}video.html?{query}",
            "poster": poster if "://" in poster else ROOT + poster,
            "canonical": urljoin(base, page_dir(entry)) if base else None,
            "image": (poster if "://" in poster else urljoin(base, poster)) if base else None,
        }  # fmt: skip


def _quote(name: str, done: dict[str, str]) -> str:
    if name not in done:
        done[name] = quote(name, safe="")
    return done[name]


def sitemap(base: str, manifest: dict, pages: list[str]) -> str:
    """sitemap.xml: the site's pages and every entry's page, absolute."""
    urls = [urljoin(base, p) for p in pages] + [urljoin(base, page_dir(e))
                                                for e in manifest["entries"]]  # fmt: skip
    body = "".join(f"<url><loc>{escape(u)}</loc></url>\n" for u in urls)
    xmlns = "http://www.sitemaps.org/schemas/sitemap/0.9"
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="{xmlns}">\n{body}</urlset>\n'


def robots(base: str | None) -> str:
    text = "User-agent: *\nAllow: /\n"
    return text + (f"Sitemap: {urljoin(base, 'sitemap.xml')}\n" if base else "")
