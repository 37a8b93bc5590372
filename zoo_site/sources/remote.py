"""Read a zoo over HTTP: a local mirror of the files the catalog reads, kept in the cache.

``--zoo https://host/path/`` makes (or refreshes) a mirror under
``<cache>/remote/<host>_<port>/<path…>/`` and the build reads that folder as an ordinary zoo.

Static hosts do not list folders, so the files are found from ``<url>/zoo-index.json``
(written by :func:`write_zoo_index`, i.e. ``zoo-site index ZOO``); without one (404), the
HTML directory listings that Python's http.server, nginx ``autoindex`` or Apache produce are
walked instead. Only the files the catalog reads are mirrored.

A file already mirrored is not fetched again when its size (and sha256, when the index gives
one) match; otherwise the request is conditional (``If-None-Match`` / ``If-Modified-Since``
from the validators kept beside it) and a 304 reuses it. Downloads are written to a temporary
file and renamed into place only once complete and verified, so an interrupted download
never looks finished. Files gone from the remote zoo are removed from the mirror.

Bookkeeping lives in ``<mirror>/.zoo-site-remote/`` (a dot folder, which the catalog skips):
one small JSON per file (``files/<path>.json``: validators, size, sha256 and the stat of
the local copy it describes) and ``mirror.json`` (the URL and the list of mirrored files).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from zoo_site import __version__
from zoo_site.demo import MARKER
from zoo_site.errors import ZooNotFound, ZooSiteError
from zoo_site.fsutil import atomic_path, write_json
from zoo_site.sources.base import Source

INDEX_NAME = "zoo-index.json"
#: The mirror's own bookkeeping, inside the mirror (the catalog skips dot folders).
META_DIR = ".zoo-site-remote"
TIMEOUT = 60.0
RETRIES = 3
BACKOFF = 0.5  # seconds before the 2nd attempt; doubled for each further one
JOBS = 4  # parallel downloads
_CHUNK = 1 << 20
_ROOT_FILES = frozenset({"zoo-site.toml", MARKER})
_SHA256 = re.compile(r"[0-9a-f]{64}")
_USER_AGENT = f"zoo-site/{__version__} (+remote zoo mirror)"
#: Status codes that mean "no such file" (S3 answers 403 for a missing key it may not list).
_ABSENT = frozenset({403, 404, 410})


class RemoteZooError(ZooSiteError):
    """A remote zoo (or one of its files) could not be read; `url` says which."""

    def __init__(self, url: str, message: str):
        self.url = url
        super().__init__(f"{url}: {message}")


class RemoteZooNotFound(RemoteZooError, ZooNotFound):
    """The URL answers, but no zoo is there: no index, no listing, or no zoo files."""


def is_remote(zoo: str | Path | None) -> bool:
    """True when `zoo` is an http:// or https:// URL rather than a folder."""
    if isinstance(zoo, Path):
        return False
    return str(zoo).strip().lower().startswith(("http://", "https://"))


# --- which files a zoo is made of -----------------------------------------------------------


def _safe_component(name: str) -> bool:
    """A path component that is safe to create locally (and is not hidden)."""
    return (
        bool(name)
        and name not in (".", "..")
        and not name.startswith(".")
        and not any(c in name for c in "/\\:")
        and all(c.isprintable() for c in name)
    )


def is_zoo_file(rel: str) -> bool:
    """True when `rel` (a '/'-separated path inside a zoo) is a file some source reads:
    ``zoo-site.toml`` and the demo marker at the top, else whatever a source's
    `is_zoo_file` accepts (each source knows its own layout)."""
    if rel in _ROOT_FILES:
        return True
    parts = rel.split("/")
    if not all(_safe_component(p) for p in parts):
        return False
    return any(src.is_zoo_file(parts) for src in _sources())


def _is_zoo_folder(rel: str) -> bool:
    """True when the folder `rel` ('a' or 'a/b/…', no slashes around) may hold zoo files."""
    parts = rel.split("/")
    if not all(_safe_component(p) for p in parts):
        return False
    return any(src.is_zoo_folder(parts) for src in _sources())


def _sources() -> list[Source]:
    from zoo_site.sources import SOURCES, source

    return [source(name) for name in SOURCES]


def _local_zoo_files(zoo: Path) -> list[str]:
    """Every file of the zoo folder that a source reads, walking only folders that may
    hold some."""
    found = {name for name in _ROOT_FILES if (zoo / name).is_file()}
    folders = [""]
    while folders:
        folder = folders.pop()
        for path in sorted((zoo / folder).iterdir()):
            rel = f"{folder}/{path.name}" if folder else path.name
            if path.is_dir() and _is_zoo_folder(rel):
                folders.append(rel)
            elif path.is_file() and rel != INDEX_NAME and is_zoo_file(rel):
                found.add(rel)
    return sorted(found)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(_CHUNK):
            h.update(block)
    return h.hexdigest()


def write_zoo_index(zoo_dir: Path) -> Path:
    """Write ``<zoo_dir>/zoo-index.json``: every file the catalog reads, sorted by path,
    with its size and sha256, so the zoo can be read over HTTP from a static host.
    Returns the index's path (written atomically)."""
    zoo_dir = Path(zoo_dir)
    if not zoo_dir.is_dir():
        raise ZooNotFound(f"{zoo_dir}: no such zoo folder")
    files = []
    for rel in _local_zoo_files(zoo_dir):
        path = zoo_dir / rel
        files.append({"path": rel, "size": path.stat().st_size, "sha256": _sha256(path)})
    target = zoo_dir / INDEX_NAME
    write_json(target, {"files": files})
    return target


# --- the remote zoo's file list -------------------------------------------------------------


@dataclass(frozen=True)
class RemoteFile:
    path: str  # '/'-separated, relative to the zoo URL
    url: str
    size: int | None = None
    sha256: str | None = None


@dataclass
class MirrorResult:
    files: int = 0
    downloaded: int = 0
    reused: int = 0
    removed: int = 0


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag.lower() == "a":
            self.hrefs.extend(v for k, v in attrs if k.lower() == "href" and v)


class _Transient(Exception):
    """A failure worth another attempt (a short body, a dropped connection)."""


class _Remote:
    """One remote zoo: its URL, its local mirror folder and the HTTP client for it."""

    def __init__(self, url: str, cache_dir: Path, timeout: float, retries: int) -> None:
        self.url = url
        parts = urllib.parse.urlsplit(url.strip())
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise RemoteZooError(url, "not an http(s) URL of a zoo")
        if parts.query or parts.fragment:
            raise RemoteZooError(url, "a zoo URL takes no query or fragment")
        try:
            port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
        except ValueError:
            raise RemoteZooError(url, "invalid port") from None
        self.host, self.port = parts.hostname, port
        path = parts.path.rstrip("/") + "/"
        self.base = urllib.parse.urlunsplit((parts.scheme.lower(), parts.netloc, path, "", ""))
        self.base_path = path
        components = [urllib.parse.unquote(c) for c in path.split("/") if c]
        if any(c in (".", "..") or not _safe_component("x" + c) for c in components):
            raise RemoteZooError(url, "its path has a component that cannot be a local folder")
        host = re.sub(r"[^A-Za-z0-9.-]", "-", self.host)
        self.root = Path(cache_dir) / "remote" / f"{host}_{port}"
        for c in components:
            self.root = self.root / c
        self.timeout = timeout
        self.retries = max(1, retries)

    # HTTP ------------------------------------------------------------------------------------

    def _request(self, url: str, headers: dict[str, str] | None = None):
        req = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT, **(headers or {})})
        return urllib.request.urlopen(req, timeout=self.timeout)

    def retrying(self, url: str, attempt: Callable[[], Any]) -> Any:
        """Run `attempt` (which requests `url`), again with backoff on connection errors,
        timeouts and 5xx answers; every failure becomes a RemoteZooError naming `url`."""
        for n in range(self.retries):
            last = n == self.retries - 1
            try:
                return attempt()
            except urllib.error.HTTPError as exc:
                if exc.code < 500 or last:
                    raise RemoteZooError(url, f"HTTP {exc.code} {exc.reason}") from None
            except urllib.error.URLError as exc:
                if last:
                    raise self._unreachable(url, exc.reason) from None
            except (TimeoutError, ConnectionError, http.client.HTTPException, _Transient) as exc:
                if last:
                    raise self._unreachable(url, exc) from None
            time.sleep(BACKOFF * 2**n)
        raise AssertionError("unreachable")  # pragma: no cover

    def _unreachable(self, url: str, reason: object) -> RemoteZooError:
        if isinstance(reason, (_Transient, http.client.IncompleteRead)):
            why = f"the download from {self.host}:{self.port} broke off ({reason})"
        elif isinstance(reason, TimeoutError):
            why = f"no answer from {self.host}:{self.port} within {self.timeout:g} s"
        elif isinstance(reason, OSError) and reason.strerror:
            why = f"cannot reach {self.host}:{self.port} ({reason.strerror})"
        else:
            why = f"cannot reach {self.host}:{self.port} ({reason})"
        return RemoteZooError(url, f"{why} after {self.retries} attempt(s)")

    def get_small(self, url: str) -> tuple[int, bytes, str]:
        """(status, body, content type) of a small document; 403/404/410 give (code, b"", "")."""

        def attempt() -> tuple[int, bytes, str]:
            try:
                with self._request(url) as resp:
                    return resp.status, resp.read(), resp.headers.get("Content-Type", "")
            except urllib.error.HTTPError as exc:
                if exc.code in _ABSENT:
                    exc.close()
                    return exc.code, b"", ""
                raise

        return self.retrying(url, attempt)

    # Finding the files -----------------------------------------------------------------------

    def list_files(self) -> list[RemoteFile]:
        index_url = self.base + INDEX_NAME
        status, body, _ = self.get_small(index_url)
        if status in _ABSENT:
            files = self._walk_listings()
        else:
            files = self._parse_index(index_url, body)
        if not files:
            raise RemoteZooNotFound(
                self.base,
                "no zoo files found there (expected <algo>/<Game>NoFrameskip-v4/model<run>_<tag>"
                ".pb or ..._rollout.npz; see docs/zoo-layout.md)",
            )
        return files

    def _file(self, rel: str, size: int | None = None, sha256: str | None = None) -> RemoteFile:
        return RemoteFile(rel, self.base + urllib.parse.quote(rel), size, sha256)

    def _parse_index(self, index_url: str, body: bytes) -> list[RemoteFile]:
        def bad(why: str) -> RemoteZooError:
            return RemoteZooError(
                index_url,
                f"not a zoo index ({why}); expected "
                '{"files": [{"path": "<algo>/<Game>NoFrameskip-v4/model1_final.pb", '
                '"size": 123, "sha256": "…"}, …]} as written by `zoo-site index ZOO`',
            )

        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise bad(f"invalid JSON: {exc}") from None
        if not isinstance(data, dict) or not isinstance(data.get("files"), list):
            raise bad('no "files" list')
        files: dict[str, RemoteFile] = {}
        for i, item in enumerate(data["files"]):
            if not isinstance(item, dict) or not isinstance(item.get("path"), str):
                raise bad(f'files[{i}] has no "path" string')
            rel, size, sha = item["path"], item.get("size"), item.get("sha256")
            if size is not None and (type(size) is not int or size < 0):
                raise bad(f"files[{i}] ({rel}): size must be a whole number of bytes")
            if sha is not None and (not isinstance(sha, str) or not _SHA256.fullmatch(sha)):
                raise bad(f"files[{i}] ({rel}): sha256 must be 64 lowercase hex digits")
            if rel in files:
                raise bad(f"{rel} is listed twice")
            if is_zoo_file(rel):  # anything else (or any unsafe path) is not mirrored
                files[rel] = self._file(rel, size, sha)
        return sorted(files.values(), key=lambda f: f.path)

    def _walk_listings(self) -> list[RemoteFile]:
        found: dict[str, RemoteFile] = {}
        folders = [""]
        seen = {""}
        while folders:
            folder = folders.pop(0)
            url = self.base + urllib.parse.quote(folder + "/" if folder else "")
            status, body, ctype = self.get_small(url)
            is_html = "html" in ctype.lower() or body.lstrip()[:1] == b"<"
            if status in _ABSENT or not is_html:
                if not folder:
                    raise RemoteZooNotFound(
                        self.base,
                        f"no {INDEX_NAME} and no directory listing there; run "
                        f"`zoo-site index ZOO` and upload {INDEX_NAME} with the zoo "
                        "(see docs/remote.md)",
                    )
                raise RemoteZooError(url, f"HTTP {status}: a listed folder has no listing")
            for rel, is_dir in self._links(url, body):
                if is_dir and rel not in seen and _is_zoo_folder(rel):
                    seen.add(rel)
                    folders.append(rel)
                elif not is_dir and is_zoo_file(rel):
                    found.setdefault(rel, self._file(rel))
        return sorted(found.values(), key=lambda f: f.path)

    def _links(self, page_url: str, body: bytes) -> Iterator[tuple[str, bool]]:
        """(path relative to the zoo, is a folder) of each link under the zoo URL."""
        parser = _Links()
        with contextlib.suppress(Exception):  # a broken page just yields fewer links
            parser.feed(body.decode("utf-8", errors="replace"))
            parser.close()
        base = urllib.parse.urlsplit(self.base)
        for href in parser.hrefs:
            target = urllib.parse.urlsplit(urllib.parse.urljoin(page_url, href.strip()))
            if (target.scheme, target.netloc) != (base.scheme, base.netloc):
                continue  # another host (or scheme): never followed
            if not target.path.startswith(self.base_path):
                continue  # the parent folder, or elsewhere on the host
            raw = target.path[len(self.base_path) :]
            is_dir = raw.endswith("/")
            parts = [urllib.parse.unquote(p) for p in raw.strip("/").split("/")]
            if not raw.strip("/") or any(p in ("", ".", "..") or "/" in p for p in parts):
                continue
            rel = "/".join(parts)
            yield rel, is_dir

    # Mirroring -------------------------------------------------------------------------------

    def meta_path(self, rel: str) -> Path:
        return self.root / META_DIR / "files" / f"{rel}.json"

    def sync(self, rf: RemoteFile) -> bool:
        """Make the mirror's copy of `rf` current; True when it was downloaded."""
        local = self.root / rf.path
        meta = _read_json(self.meta_path(rf.path))
        stamp = _stamp(local)
        fresh = stamp is not None and meta.get("stamp") == stamp
        headers: dict[str, str] = {}
        if stamp is not None and (rf.size is not None or rf.sha256 is not None):
            # The index knows the file: it alone decides whether the local copy is current.
            if (rf.size is None or stamp[0] == rf.size) and self._same_hash(rf, local, meta):
                return False
        elif fresh:  # no index: ask the server whether our copy is still current
            if meta.get("etag"):
                headers["If-None-Match"] = meta["etag"]
            if meta.get("last_modified"):
                headers["If-Modified-Since"] = meta["last_modified"]
        return self.retrying(rf.url, lambda: self._fetch(rf, local, headers))

    def _same_hash(self, rf: RemoteFile, local: Path, meta: dict[str, Any]) -> bool:
        """Whether `local` has the index's sha256 (True when the index gives none). The
        hash is remembered against the file's stat, so an unchanged file is read once."""
        if rf.sha256 is None:
            return True
        fresh = meta.get("stamp") == _stamp(local)
        known = meta.get("sha256") if fresh else None
        if known is None:
            known = _sha256(local)
            self._write_meta(rf, local, {**(meta if fresh else {}), "sha256": known})
        return known == rf.sha256

    def _fetch(self, rf: RemoteFile, local: Path, headers: dict[str, str]) -> bool:
        try:
            resp = self._request(rf.url, headers)
        except urllib.error.HTTPError as exc:
            if exc.code == 304 and headers:
                exc.close()
                return False
            raise
        with resp, atomic_path(local) as tmp:
            expected = resp.headers.get("Content-Length")
            h, n = hashlib.sha256(), 0
            with open(tmp, "wb") as out:
                while block := resp.read(_CHUNK):
                    out.write(block)
                    h.update(block)
                    n += len(block)
            if expected is not None and expected.isdigit() and int(expected) != n:
                raise _Transient(f"the download stopped after {n} of {expected} bytes")
            if rf.size is not None and n != rf.size:
                raise RemoteZooError(
                    rf.url, f"size {n} bytes differs from the zoo index's {rf.size}; not kept"
                )
            digest = h.hexdigest()
            if rf.sha256 is not None and digest != rf.sha256:
                raise RemoteZooError(
                    rf.url,
                    f"sha256 {digest} differs from the zoo index's {rf.sha256}; not kept",
                )
            validators = {
                "etag": resp.headers.get("ETag"),
                "last_modified": resp.headers.get("Last-Modified"),
            }
        self._write_meta(rf, local, {**validators, "sha256": digest})
        return True

    def _write_meta(self, rf: RemoteFile, local: Path, meta: dict[str, Any]) -> None:
        write_json(self.meta_path(rf.path), {**meta, "url": rf.url, "stamp": _stamp(local)})

    def known_files(self) -> set[str]:
        """Every file an earlier mirror of this zoo holds (its record, and every sidecar)."""
        known = set(_read_json(self.root / META_DIR / "mirror.json").get("files", []))
        files = self.root / META_DIR / "files"
        if files.is_dir():
            for meta in files.rglob("*.json"):
                known.add(meta.relative_to(files).as_posix()[: -len(".json")])
        return {rel for rel in known if isinstance(rel, str) and is_zoo_file(rel)}

    def remove(self, rel: str) -> bool:
        removed = False
        for path in (self.root / rel, self.meta_path(rel)):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed = removed or path == self.root / rel
            _prune_empty(path.parent, self.root)
        return removed


def _stamp(path: Path) -> list[int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns, st.st_ino]


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _prune_empty(folder: Path, root: Path) -> None:
    while folder != root and root in folder.parents:
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent


def mirror_zoo(
    url: str,
    cache_dir: Path,
    reporter=None,
    *,
    timeout: float = TIMEOUT,
    retries: int = RETRIES,
    jobs: int = JOBS,
) -> Path:
    """Make (or refresh) the local mirror of the zoo at `url` and return its folder,
    ``<cache_dir>/remote/<host>_<port>/<path…>``, to be read as an ordinary zoo.

    Raises RemoteZooError (a ZooSiteError naming the URL) when the host cannot be reached,
    the URL holds no zoo (RemoteZooNotFound), the index is not valid, or a file fails to
    download or verify; a file that fails is never left looking finished.
    """
    remote = _Remote(url, cache_dir, timeout, retries)
    files = remote.list_files()  # raises before the mirror is touched
    result = MirrorResult(files=len(files))
    remote.root.mkdir(parents=True, exist_ok=True)
    wanted = {f.path for f in files}
    for rel in sorted(remote.known_files() - wanted):
        result.removed += remote.remove(rel)
    task = reporter.task("remote zoo: downloading", total=len(files)) if reporter else None
    with task or contextlib.nullcontext(lambda: None) as advance:
        pool = ThreadPoolExecutor(max_workers=max(1, jobs))
        try:
            for future in as_completed([pool.submit(remote.sync, f) for f in files]):
                downloaded = future.result()  # the first failure stops the mirror
                result.downloaded += downloaded
                result.reused += not downloaded
                advance()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    write_json(
        remote.root / META_DIR / "mirror.json", {"url": remote.base, "files": sorted(wanted)}
    )
    if reporter:
        removed = f", {result.removed} removed" if result.removed else ""
        reporter.info(
            f"Remote zoo {remote.base}: {result.files} files, {result.downloaded} downloaded, "
            f"{result.reused} reused{removed} (mirror: {remote.root})"
        )
    return remote.root


def mirror_folder(url: str, cache_dir: Path) -> Path:
    """Where `mirror_zoo(url, cache_dir)` keeps its mirror (nothing is requested)."""
    return _Remote(url, cache_dir, TIMEOUT, RETRIES).root


__all__ = [
    "INDEX_NAME",
    "RemoteZooError",
    "RemoteZooNotFound",
    "is_remote",
    "is_zoo_file",
    "mirror_folder",
    "mirror_zoo",
    "write_zoo_index",
]
