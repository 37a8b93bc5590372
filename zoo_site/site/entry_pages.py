"""Every entry's own page (`a/<algo>/<game>/<run>/<tag>/index.html`, see previews.py),
rendered from `templates/entry.html`.

A zoo of 25,500 entries has 25,500 of them. A rebuild links each page whose key did not
change from the site it replaces (previews.PageKeys); the pages left to render are
rendered by a few worker processes when there are many, so Jinja2's time (0.1-0.25 ms a
page) is spread over the cores instead of holding the one interpreter lock that the
build's file-writing threads also need; in a build, the workers write their pages into the
staged site too (stage.put), so 25,500 pages' bytes neither travel back nor queue behind
the writer thread's media links and entry.json files."""

from __future__ import annotations

import functools
import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import jinja2

from zoo_site import fsutil
from zoo_site.errors import ZooSiteError
from zoo_site.site import previews
from zoo_site.site.templating import make_environment
from zoo_site.stage import Kept, put

IN_PROCESSES_FROM = 2_000
"""Render in worker processes from this many pages (a worker starts in about 0.3 s)."""
CHUNK = 500
"""Pages handed to a worker at once."""


def write_entry_pages(site_dir: Path, manifest: dict, template_override: Path | None,
                      shared: dict[str, Any], keys: tuple[bytes, previews.PageKeys | None],
                      ) -> list[Path]:  # fmt: skip
    """Write every entry's page into `site_dir`. `shared`: what every entry page sees of
    the site (previews.SHARED; `asset` as a name -> URL dict); `keys`: the shared part of
    the pages' keys and the old and new keys (a page whose key is unchanged is linked
    from the previous site). Return the paths written."""
    shared_key, page_keys = keys
    stage = fsutil.stage_of(site_dir)
    render_one = functools.partial(_render, _template(template_override), _context(shared))
    todo: list[tuple[str, dict[str, Any]]] = []
    names = []
    folder = os.path.join(site_dir, "")  # the stage takes strings made from its root as they are
    for name, own in previews.contexts(manifest, manifest["site"].get("base_url")):
        names.append(name)
        if page_keys is not None:
            key = page_keys.new[name] = previews.page_key(shared_key, own)
            if stage is not None and page_keys.old.get(name) == key:
                stage.reuse(folder + name, functools.partial(render_one, own))
                continue
        todo.append((name, own))
    if stage is not None and _in_processes(todo):
        # the workers write the pages too: their bytes need not come back to this process
        # and wait for its writer thread
        rel, known = folder[len(stage.root) :], stage.known
        job = functools.partial(_write_chunk, template_override, shared,
                                (stage.root, stage.previous))  # fmt: skip
        for done in _pool_map(job, [[(rel + name, own, known.get(rel + name))
                                     for name, own in c] for c in _chunks(todo)]):  # fmt: skip
            for page, args in done:
                stage.record(page, *args)
    else:
        for name, html in _rendered(todo, template_override, shared, render_one):
            if stage is not None:
                stage.write(folder + name, html)
            else:
                fsutil.write_bytes(site_dir / name, html)
    return [site_dir / name for name in names]


def _in_processes(todo: list[tuple[str, dict[str, Any]]]) -> bool:
    return len(todo) >= IN_PROCESSES_FROM and _workers() >= 2


def _workers() -> int:
    return min(4, len(os.sched_getaffinity(0)))


def _chunks(todo: list[tuple[str, dict[str, Any]]]) -> list[list[tuple[str, dict[str, Any]]]]:
    return [todo[i : i + CHUNK] for i in range(0, len(todo), CHUNK)]


def _pool_map(job: Callable[[Any], Any], chunks: list[Any]) -> Iterator[Any]:
    """`job` of each chunk, in order, in worker processes."""
    # spawn, not fork: the build's writer threads are running
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(_workers(), mp_context=context) as pool:
        yield from pool.map(job, chunks)


def _rendered(todo: list[tuple[str, dict[str, Any]]], template_override: Path | None,
              shared: dict[str, Any], render_one: functools.partial[bytes],
              ) -> Iterator[tuple[str, bytes]]:  # fmt: skip
    """(file, HTML) of each page to render, in order: here, or in worker processes."""
    if not _in_processes(todo):
        for name, own in todo:
            yield name, render_one(own)
        return
    chunks = _chunks(todo)
    job = functools.partial(_render_chunk, template_override, shared)
    for chunk, pages in zip(chunks, _pool_map(job, [[o for _, o in c] for c in chunks]),
                            strict=True):  # fmt: skip
        yield from zip([name for name, _ in chunk], pages, strict=True)


def _template(template_override: Path | None) -> jinja2.Template:
    return make_environment(template_override).get_template("entry.html")


_WORKER_TEMPLATES: dict[Path | None, jinja2.Template] = {}
"""A worker process's template, loaded by its first chunk."""


def _context(shared: dict[str, Any]) -> dict[str, Any]:
    """`shared` as the template sees it: `asset(name)` a function, as on every page."""
    return {**shared, "asset": shared["asset"].__getitem__}


def _render_chunk(template_override: Path | None, shared: dict[str, Any],
                  owns: list[dict[str, Any]]) -> list[bytes]:  # fmt: skip
    """In a worker process: the pages of these entries."""
    template, context = _in_worker(template_override), _context(shared)
    return [_render(template, context, own) for own in owns]


def _in_worker(template_override: Path | None) -> jinja2.Template:
    """The template, loaded once in each worker process."""
    if template_override not in _WORKER_TEMPLATES:
        _WORKER_TEMPLATES[template_override] = _template(template_override)
    return _WORKER_TEMPLATES[template_override]


def _write_chunk(template_override: Path | None, shared: dict[str, Any],
                 stage: tuple[str, str | None],
                 pages: list[tuple[str, dict[str, Any], Kept | None]],
                 ) -> list[tuple[str, tuple[int, bool, Kept]]]:  # fmt: skip
    """In a worker process: render these pages (path relative to the stage, own context,
    what was kept of the previous site's page if known) and write them into the stage
    (`root`, `previous`); what `Stage.record` takes of each."""
    template, context = _in_worker(template_override), _context(shared)
    return [(rel, put((*stage, known), rel, _render(template, context, own)))
            for rel, own, known in pages]  # fmt: skip


def _render(template: jinja2.Template, shared: dict[str, Any], own: dict[str, Any]) -> bytes:
    try:
        html = template.render(shared, page="entry", root=previews.ROOT, **own)
    except jinja2.UndefinedError as err:
        raise ZooSiteError(
            f"templates/entry.html: {err.message}. An entry page sees its own values and "
            f"only {', '.join(previews.SHARED)} of the site's (docs/site.md)"
        ) from err
    return html.encode("utf-8")
