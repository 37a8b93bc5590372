"""`--zoo https://…`: a remote zoo is mirrored into the cache over real HTTP (127.0.0.1 only)."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import socket
import threading
import time
import urllib.parse
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from zoo_site.demo import MARKER
from zoo_site.errors import ZooNotFound, ZooSiteError
from zoo_site.site.serve import RangeRequestHandler, make_server
from zoo_site.sources import read_catalog
from zoo_site.sources.remote import (
    INDEX_NAME,
    META_DIR,
    is_remote,
    is_zoo_file,
    mirror_folder,
    mirror_zoo,
    write_zoo_index,
)

GOOD = {
    "zoo-site.toml": b'title = "remote test zoo"\n',
    MARKER: b'{"version": 1}\n',
    "apex/SeaquestNoFrameskip-v4/model1_final.pb": b"graph 1 final",
    "apex/SeaquestNoFrameskip-v4/model1_final_rollout.npz": b"rollout 1 final" * 50,
    "apex/SeaquestNoFrameskip-v4/model2.pb": b"graph 2 untagged",
    "apex/checkpoints/SeaquestNoFrameskip-v4_1.json": b'[{"criteria": "final"}]',
    "apex/checkpoints/SeaquestNoFrameskip-v4_1_log.json": b'[{"time": 1, "score": 2}]',
    "dqn/PongNoFrameskip-v4/model3_initial_rollout.npz": b"rollout 3",
    "dqn/PongNoFrameskip-v4/model3-bad.pb": b"misnamed: the catalog reports it",
}
JUNK = {
    "notes.txt": b"not a zoo file",
    "apex/README.md": b"# readme",
    "apex/SeaquestNoFrameskip-v4/video.mp4": b"not a zoo file",
    "apex/SeaquestNoFrameskip-v4/model1_final.pb.bak": b"backup",
    "apex/checkpoints/other.json": b"[]",
    "dqn/PongNoFrameskip-v4/sub/model9_final.pb": b"too deep",
    ".hidden/SeaquestNoFrameskip-v4/model1_final.pb": b"hidden algo",
}


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    """Requests go straight to 127.0.0.1, whatever proxy the environment names."""
    for name in ("http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


def make_zoo(root: Path, files: dict[str, bytes] | None = None) -> Path:
    for rel, data in {**GOOD, **JUNK, **(files or {})}.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def _logging(handler: type, log: list) -> type:
    class Logging(handler):
        def log_request(self, code="-", size="-") -> None:
            log.append((self.command, urllib.parse.unquote(self.path), int(code)))

    return Logging


@pytest.fixture
def http_zoo():
    """http_zoo(folder, listing=False) -> (base URL, request log) of a server on 127.0.0.1.

    listing=False: zoo-site's own server (zoo_site.site.serve.make_server; no folder listings).
    listing=True: Python's http.server, which lists folders and answers If-Modified-Since.
    The log holds (method, path, status) for every request, as the server saw it.
    """
    servers = []

    def start(folder: Path, listing: bool = False, handler: type | None = None):
        log: list[tuple[str, str, int]] = []
        if listing or handler:
            cls = _logging(handler or SimpleHTTPRequestHandler, log)
            httpd = ThreadingHTTPServer(
                ("127.0.0.1", 0), functools.partial(cls, directory=str(folder))
            )
        else:
            httpd = make_server(folder)
            cls = _logging(RangeRequestHandler, log)
            httpd.RequestHandlerClass = functools.partial(cls, directory=str(folder))
        threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(httpd)
        return f"http://127.0.0.1:{httpd.server_address[1]}/", log

    yield start
    for httpd in servers:
        httpd.shutdown()
        httpd.server_close()


class FakeReporter:
    def __init__(self) -> None:
        self.tasks: list[list] = []
        self.infos: list[str] = []

    @contextlib.contextmanager
    def task(self, description: str, total: int):
        record = [description, total, 0]
        self.tasks.append(record)

        def advance() -> None:
            record[2] += 1

        yield advance

    def info(self, message: str) -> None:
        self.infos.append(message)


def mirrored(mirror: Path) -> dict[str, bytes]:
    """Every file of the mirror but its bookkeeping, by '/'-path."""
    out = {}
    for path in mirror.rglob("*"):
        rel = path.relative_to(mirror).as_posix()
        if path.is_file() and not rel.startswith(META_DIR + "/"):
            out[rel] = path.read_bytes()
    return out


def catalog_view(zoo: Path):
    catalog = read_catalog(zoo)

    def rel(path):
        return path and path.relative_to(zoo).as_posix()

    entries = [
        (e.id, rel(e.model and e.model.path), rel(e.rollout), rel(e.checkpoints), rel(e.log))
        for e in catalog.entries
    ]
    problems = sorted((rel(Path(p.path)), p.message, p.level) for p in catalog.problems)
    return entries, problems


def file_gets(log) -> list[str]:
    """Paths of the zoo files the server sent in full (200) or in part (206)."""
    return sorted(p for m, p, code in log if m == "GET" and code in (200, 206) and p[-1] != "/")


def stats(mirror: Path) -> dict[str, tuple[int, int]]:
    return {rel: ((mirror / rel).stat().st_ino, (mirror / rel).stat().st_mtime_ns) for rel in GOOD}


# --- (7) the index ------------------------------------------------------------------------


def test_write_zoo_index_lists_only_catalog_files_sorted_with_sizes_and_hashes(tmp_path):
    zoo = make_zoo(tmp_path / "zoo")
    path = write_zoo_index(zoo)
    assert path == zoo / INDEX_NAME
    files = json.loads(path.read_text())["files"]
    assert [f["path"] for f in files] == sorted(GOOD)
    for f in files:
        data = GOOD[f["path"]]
        assert f["size"] == len(data)
        assert f["sha256"] == hashlib.sha256(data).hexdigest()
    assert not list(zoo.glob(f".{INDEX_NAME}*")), "no temporary file is left"
    # Run again: the index itself is never listed, and the result is the same.
    assert json.loads(write_zoo_index(zoo).read_text())["files"] == files


def test_is_remote_and_is_zoo_file():
    assert is_remote("https://example.org/zoo") and is_remote("HTTP://127.0.0.1:8000/")
    assert not is_remote("zoo") and not is_remote(Path("http:/x")) and not is_remote("ftp://x")
    assert all(is_zoo_file(rel) for rel in GOOD)
    assert not any(is_zoo_file(rel) for rel in JUNK)
    assert not is_zoo_file("../apex/SeaquestNoFrameskip-v4/model1.pb")
    assert not is_zoo_file("apex/../SeaquestNoFrameskip-v4/model1.pb")
    assert not is_zoo_file("/apex/SeaquestNoFrameskip-v4/model1.pb")


# --- (1) and (2): a mirror from the index, and from folder listings --------------------------


def test_mirror_from_index_has_exactly_the_indexed_files_and_the_same_catalog(tmp_path, http_zoo):
    served = tmp_path / "served"
    zoo = make_zoo(served / "pub" / "zoo")
    write_zoo_index(zoo)
    base, log = http_zoo(served)  # zoo-site's server: no folder listings at all
    url = base + "pub/zoo"  # no trailing slash: the zoo URL is a folder all the same
    reporter = FakeReporter()

    mirror = mirror_zoo(url, tmp_path / "cache", reporter)

    port = urllib.parse.urlsplit(base).port
    assert mirror == tmp_path / "cache" / "remote" / f"127.0.0.1_{port}" / "pub" / "zoo"
    assert mirror == mirror_folder(url, tmp_path / "cache")
    assert mirrored(mirror) == GOOD
    assert catalog_view(mirror) == catalog_view(zoo)
    assert catalog_view(mirror)[1], "the misnamed model is reported in the mirror too"
    assert file_gets(log) == sorted(["/pub/zoo/" + INDEX_NAME] + ["/pub/zoo/" + r for r in GOOD])
    assert reporter.tasks == [["remote zoo: downloading", len(GOOD), len(GOOD)]]
    assert f"{len(GOOD)} files, {len(GOOD)} downloaded, 0 reused" in reporter.infos[-1]


def test_mirror_from_folder_listings_finds_the_same_files(tmp_path, http_zoo):
    zoo = make_zoo(tmp_path / "zoo")
    base, log = http_zoo(zoo, listing=True)

    mirror = mirror_zoo(base, tmp_path / "cache")

    assert mirrored(mirror) == GOOD
    assert catalog_view(mirror) == catalog_view(zoo)
    assert ("GET", "/" + INDEX_NAME, 404) in log
    requested = {p for _, p, _ in log}
    for rel in JUNK:  # neither junk files nor junk folders are even asked for
        assert "/" + rel not in requested
    assert "/dqn/PongNoFrameskip-v4/sub/" not in requested
    assert "/.hidden/" not in requested


def test_listing_walk_never_leaves_the_zoo_url(tmp_path, http_zoo):
    """Links to other hosts, to parent folders or elsewhere on the host are not followed."""
    served = tmp_path / "served"
    zoo = make_zoo(served / "zoo")
    make_zoo(served / "elsewhere")  # a whole other zoo beside it, on the same host
    (zoo / "index.html").write_text(  # the zoo's "listing" is this page
        '<html><body><a href="http://other.invalid/apex/">x</a>'
        '<a href="//other.invalid/zoo/apex/">x</a><a href="../">up</a>'
        '<a href="/elsewhere/apex/">x</a><a href="../elsewhere/dqn/">x</a>'
        '<a href="apex/../../elsewhere/">x</a><a href="%2e%2e/elsewhere/">x</a>'
        '<a href="apex/?C=N;O=D">sorted</a><a href="zoo-site.toml#top">toml</a>'
        '<a href="mailto:x@y">m</a><a>no href</a><a href="apex/">apex</a>'
        "</body></html>"
    )
    base, log = http_zoo(served, listing=True)

    mirror = mirror_zoo(base + "zoo/", tmp_path / "cache")

    assert set(mirrored(mirror)) == {"zoo-site.toml"} | {r for r in GOOD if r.startswith("apex/")}
    assert all(path.startswith("/zoo/") for _, path, _ in log), log


# --- (3) and (4): the cache ----------------------------------------------------------------


@pytest.mark.parametrize("listing", [False, True], ids=["index", "listing"])
def test_second_mirror_downloads_nothing(tmp_path, http_zoo, listing):
    zoo = make_zoo(tmp_path / "zoo")
    if not listing:
        write_zoo_index(zoo)
    base, log = http_zoo(zoo, listing=listing)
    mirror = mirror_zoo(base, tmp_path / "cache")
    before = stats(mirror)
    log.clear()
    reporter = FakeReporter()

    assert mirror_zoo(base, tmp_path / "cache", reporter) == mirror

    assert file_gets(log) == ([] if listing else ["/" + INDEX_NAME])
    if listing:  # every file was asked for conditionally, and the server said 304
        assert sorted(p for _, p, code in log if code == 304) == sorted("/" + r for r in GOOD)
    assert stats(mirror) == before
    assert f"{len(GOOD)} files, 0 downloaded, {len(GOOD)} reused" in reporter.infos[-1]


@pytest.mark.parametrize("listing", [False, True], ids=["index", "listing"])
def test_changed_files_are_downloaded_again_and_deleted_ones_removed(tmp_path, http_zoo, listing):
    zoo = make_zoo(tmp_path / "zoo")
    if not listing:
        write_zoo_index(zoo)
    base, log = http_zoo(zoo, listing=listing)
    mirror = mirror_zoo(base, tmp_path / "cache")
    changed = "apex/SeaquestNoFrameskip-v4/model1_final.pb"
    gone = "apex/checkpoints/SeaquestNoFrameskip-v4_1_log.json"
    added = "dqn/PongNoFrameskip-v4/model4_final.pb"
    new_bytes = GOOD[changed].upper()  # the same size: only the hash or the date tells
    (zoo / changed).write_bytes(new_bytes)
    later = time.time() + 10  # Last-Modified has whole seconds
    os.utime(zoo / changed, (later, later))
    (zoo / gone).unlink()
    (zoo / added).write_bytes(b"new graph")
    if not listing:
        write_zoo_index(zoo)
    log.clear()
    reporter = FakeReporter()

    mirror_zoo(base, tmp_path / "cache", reporter)

    expected = {**GOOD, changed: new_bytes, added: b"new graph"}
    del expected[gone]
    assert mirrored(mirror) == expected
    assert not (mirror / META_DIR / "files" / f"{gone}.json").exists()
    fetched = ["/" + changed, "/" + added] + ([] if listing else ["/" + INDEX_NAME])
    assert file_gets(log) == sorted(fetched)
    n = len(expected)
    assert f"{n} files, 2 downloaded, {n - 2} reused, 1 removed" in reporter.infos[-1]
    assert catalog_view(mirror) == catalog_view(zoo)


def test_a_mirrored_file_changed_locally_is_restored(tmp_path, http_zoo):
    zoo = make_zoo(tmp_path / "zoo")
    write_zoo_index(zoo)
    base, _ = http_zoo(zoo)
    mirror = mirror_zoo(base, tmp_path / "cache")
    rel = "apex/SeaquestNoFrameskip-v4/model2.pb"
    (mirror / rel).write_bytes(GOOD[rel].upper())  # same size, other bytes
    mirror_zoo(base, tmp_path / "cache")
    assert (mirror / rel).read_bytes() == GOOD[rel]


# --- (5) and (6): errors -------------------------------------------------------------------


@pytest.mark.parametrize("field", ["sha256", "size"])
def test_a_wrong_hash_or_size_raises_naming_the_file_and_keeps_nothing(tmp_path, http_zoo, field):
    zoo = make_zoo(tmp_path / "zoo")
    bad = "apex/SeaquestNoFrameskip-v4/model1_final_rollout.npz"
    index = json.loads(write_zoo_index(zoo).read_text())
    for f in index["files"]:
        if f["path"] == bad:
            f[field] = "0" * 64 if field == "sha256" else f["size"] + 1
    (zoo / INDEX_NAME).write_text(json.dumps(index))
    base, _ = http_zoo(zoo)

    with pytest.raises(ZooSiteError, match=field) as info:
        mirror_zoo(base, tmp_path / "cache", jobs=1)

    assert f"{base}{bad}" in str(info.value)
    mirror = mirror_folder(base, tmp_path / "cache")
    folder = mirror / bad.rsplit("/", 1)[0]
    assert not (mirror / bad).exists()
    assert not [p.name for p in folder.iterdir() if "rollout" in p.name], "no partial file"
    assert not (mirror / META_DIR / "files" / f"{bad}.json").exists()


class _BrokenHandler(SimpleHTTPRequestHandler):
    """Sends the rollouts' headers and half their bytes, then hangs up."""

    def do_GET(self) -> None:
        if not self.path.endswith("_rollout.npz"):
            return super().do_GET()
        data = Path(self.translate_path(self.path)).read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[: len(data) // 2])
        self.wfile.flush()
        self.close_connection = True


def test_an_interrupted_download_never_looks_finished(tmp_path, http_zoo):
    zoo = make_zoo(tmp_path / "zoo")  # no index: nothing but the server's length to check
    base, log = http_zoo(zoo, handler=_BrokenHandler)

    with pytest.raises(ZooSiteError, match="rollout.npz") as info:
        mirror_zoo(base, tmp_path / "cache", retries=2, jobs=1)

    assert "broke off" in str(info.value)
    mirror = mirror_folder(base, tmp_path / "cache")
    assert not [rel for rel in mirrored(mirror) if "rollout" in rel], "no partial rollout"
    assert not [p for p in mirror.rglob(".*rollout*")], "no temporary file left"
    assert len([p for _, p, _ in log if p.endswith("model1_final_rollout.npz")]) == 2, "retried"


def test_an_unreachable_host_raises_quickly_naming_the_url(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/zoo/"
    start = time.monotonic()
    with pytest.raises(ZooSiteError, match="cannot reach") as info:
        mirror_zoo(url, tmp_path / "cache")
    assert time.monotonic() - start < 10
    assert url in str(info.value)
    assert not (tmp_path / "cache" / "remote").exists(), "nothing is made for a failed mirror"


def test_no_index_and_no_listing_is_a_zoo_not_found(tmp_path, http_zoo):
    zoo = make_zoo(tmp_path / "zoo")
    base, _ = http_zoo(zoo)  # zoo-site's server lists no folders
    with pytest.raises(ZooNotFound, match="no zoo-index.json and no directory listing") as info:
        mirror_zoo(base + "zoo", tmp_path / "cache")
    assert base + "zoo/" in str(info.value)


@pytest.mark.parametrize(
    "index, why",
    [
        (b"<html>not json</html>", "invalid JSON"),
        (b'{"entries": []}', 'no "files" list'),
        (b'{"files": [{"size": 1}]}', 'no "path"'),
        (b'{"files": [{"path": "zoo-site.toml", "size": -1}]}', "size must be"),
        (b'{"files": [{"path": "zoo-site.toml", "sha256": "abc"}]}', "sha256 must be"),
    ],
)
def test_a_bad_index_raises_naming_it_and_keeps_the_old_mirror(tmp_path, http_zoo, index, why):
    zoo = make_zoo(tmp_path / "zoo")
    write_zoo_index(zoo)
    base, _ = http_zoo(zoo)
    mirror = mirror_zoo(base, tmp_path / "cache")
    (zoo / INDEX_NAME).write_bytes(index)
    with pytest.raises(ZooSiteError, match=why) as info:
        mirror_zoo(base, tmp_path / "cache")
    assert base + INDEX_NAME in str(info.value)
    assert mirrored(mirror) == GOOD


def test_a_missing_file_raises_naming_its_url(tmp_path, http_zoo):
    zoo = make_zoo(tmp_path / "zoo")
    write_zoo_index(zoo)
    rel = "dqn/PongNoFrameskip-v4/model3_initial_rollout.npz"
    (zoo / rel).unlink()  # listed in the index, but not uploaded
    base, _ = http_zoo(zoo)
    with pytest.raises(ZooSiteError, match="HTTP 404") as info:
        mirror_zoo(base, tmp_path / "cache")
    assert base + rel in str(info.value)


def test_a_zoo_url_with_a_query_or_dots_is_refused(tmp_path):
    for url in ("http://127.0.0.1:9/zoo?x=1", "http://127.0.0.1:9/a/%2e%2e/b", "http:///zoo"):
        with pytest.raises(ZooSiteError, match="zoo|folder"):
            mirror_zoo(url, tmp_path / "cache")


def test_progress_and_summary_go_through_the_build_reporter(tmp_path, http_zoo):
    import io

    from rich.console import Console

    from zoo_site.build.report import Reporter

    zoo = make_zoo(tmp_path / "zoo")
    write_zoo_index(zoo)
    base, _ = http_zoo(zoo)
    out = io.StringIO()
    mirror_zoo(base, tmp_path / "cache", Reporter(Console(file=out, width=200)))
    text = out.getvalue()
    assert "remote zoo: downloading" in text
    assert f"{len(GOOD)} files, {len(GOOD)} downloaded, 0 reused" in text


# --- every source kind, not only the Atari Model Zoo's layout --------------------------------

AGENTS = {
    "models/DQN_modern/Pong/0/model_1000000.gz": b"checkpoint 1M",
    "models/DQN_modern/Pong/0/model_50000000.gz": b"checkpoint 50M",
    "models/C51_classic/Breakout/1/model_49000000.gz": b"c51",
    "models/C51_classic/Breakout/1/model_final.gz": b"misnamed: the catalog reports it",
}
AGENTS_JUNK = {
    "models/README.md": b"# readme",
    "models/DQN_modern/Pong/0/notes.txt": b"notes",
    "models/DQN_modern/Pong/0/deeper/model_1.gz": b"too deep",
    "models/not-an-algo/Pong/0/model_1.gz": b"no protocol in the name",
}


@pytest.mark.parametrize("listing", [False, True])
def test_an_atari_agents_zoo_is_indexed_and_mirrored(tmp_path, http_zoo, listing):
    served = tmp_path / "served"
    for rel, data in {**AGENTS, **AGENTS_JUNK}.items():
        (served / rel).parent.mkdir(parents=True, exist_ok=True)
        (served / rel).write_bytes(data)
    if not listing:
        indexed = json.loads(write_zoo_index(served).read_text())["files"]
        assert [f["path"] for f in indexed] == sorted(AGENTS)
    base, _ = http_zoo(served, listing=listing)
    mirror = mirror_zoo(base, tmp_path / "cache", FakeReporter())
    assert mirrored(mirror) == AGENTS  # the checkpoints, none of the junk
    catalog = read_catalog(mirror)
    assert sorted(e.id for e in catalog.entries) == [
        "C51_classic/Breakout/1/49000000",
        "DQN_modern/Pong/0/1000000",
        "DQN_modern/Pong/0/50000000",
    ]
    assert [Path(p.path).name for p in catalog.problems] == ["model_final.gz"]


@pytest.mark.parametrize(
    "files, junk",
    [
        (  # Dopamine's release: the index and data shards; never the .meta graph
            ["dqn/Pong/1/tf_ckpt-199.index", "dqn/Pong/1/tf_ckpt-199.data-00000-of-00001",
             "rainbow/Pong/2/checkpoints/tf_ckpt-3.index"],
            ["dqn/Pong/1/tf_ckpt-199.meta", "dqn/Pong/1/notes.txt", "dqn/Pong/x/tf_ckpt-1.index"],
        ),
        (  # episode files, with the config that says their game
            ["zoo-site.toml", "record/1.npz", "record/2.npz", "0.npz"],
            ["record/readme.txt", "record/sub/3.npz", "other/4.npz"],
        ),
    ],
)  # fmt: skip
def test_every_source_kind_is_indexed(tmp_path, files, junk):
    for rel in [*files, *junk]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(rel.encode())
    indexed = [f["path"] for f in json.loads(write_zoo_index(tmp_path).read_text())["files"]]
    assert indexed == sorted(files)
