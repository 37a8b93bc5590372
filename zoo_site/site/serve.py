"""A static file server for previewing a site, with the HTTP Range support video needs.

Python's http.server answers every request with the whole file; browsers seek (and
Safari even starts) an mp4 only with `Range: bytes=…` requests answered by 206.
"""

from __future__ import annotations

import functools
import re
import shutil
import socket
import urllib.parse
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
UNSATISFIABLE = (-1, -1)


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive byte range a `Range` header asks of a file of `size` bytes.

    None means "send the whole file" (no header, or one this server ignores, such as
    several ranges); UNSATISFIABLE means answer 416.
    """
    match = _RANGE.fullmatch((header or "").strip())
    if not match or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if not first:  # bytes=-n: the last n bytes
        n = int(last)
        return (max(0, size - n), size - 1) if n and size else UNSATISFIABLE
    start, end = int(first), int(last) if last else size - 1
    if last and end < start:
        return None  # malformed: ignored, as RFC 9110 says
    return (start, min(end, size - 1)) if start < size else UNSATISFIABLE


class RangeRequestHandler(SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: with Nagle's algorithm the body then waits for
    # the browser's delayed ACK of the headers, 40 ms on Linux, on every keep-alive request.
    disable_nagle_algorithm = True
    extensions_map = {
        **SimpleHTTPRequestHandler.extensions_map,
        ".html": "text/html; charset=utf-8",
        ".mp4": "video/mp4",
        ".json": "application/json",
        ".js": "text/javascript; charset=utf-8",
        ".css": "text/css; charset=utf-8",
        ".png": "image/png",
        ".svg": "image/svg+xml",
    }

    def do_GET(self) -> None:
        self._serve(with_body=True)

    def do_HEAD(self) -> None:
        self._serve(with_body=False)

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def _serve(self, with_body: bool) -> None:
        path = self._file_for_request()
        if path is None:
            return
        size = path.stat().st_size
        byte_range = parse_range(self.headers.get("Range"), size)
        if byte_range == UNSATISFIABLE:
            self._send_headers(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE, path, 0)
            self.send_header("Content-Range", f"bytes */{size}")
            self.end_headers()
            return
        start, end = byte_range or (0, size - 1)
        status = HTTPStatus.PARTIAL_CONTENT if byte_range else HTTPStatus.OK
        self._send_headers(status, path, end - start + 1)
        if byte_range:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        if with_body:
            self._copy(path, start, end - start + 1)

    def _file_for_request(self) -> Path | None:
        """The file to send, or None once a redirect or a 404 has been sent instead."""
        asks_folder = urllib.parse.urlsplit(self.path).path.endswith("/")
        path = Path(self.translate_path(self.path))
        if path.is_dir() and not asks_folder:
            self._redirect_to_folder()
            return None
        if asks_folder:  # a folder's index.html (a file asked for as a folder has none)
            path = path / "index.html"
        if not path.is_file():
            self.send_error(HTTPStatus.NOT_FOUND, "File not found")
            return None
        return path

    def _redirect_to_folder(self) -> None:
        parts = urllib.parse.urlsplit(self.path)
        self.send_response(HTTPStatus.MOVED_PERMANENTLY)
        self.send_header("Location", urllib.parse.urlunsplit(parts._replace(path=parts.path + "/")))
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _send_headers(self, status: int, path: Path, length: int) -> None:
        self.send_response(status)
        self.send_header("Content-Type", self.guess_type(str(path)))
        self.send_header("Content-Length", str(length))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Cache-Control", "no-cache")

    def _copy(self, path: Path, start: int, length: int) -> None:
        with open(path, "rb") as f:
            f.seek(start)
            try:
                shutil.copyfileobj(_Limited(f, length), self.wfile)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the browser stopped reading: normal for video

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        page = Path(self.directory) / "404.html"
        if code != HTTPStatus.NOT_FOUND or not page.is_file():
            super().send_error(code, message, explain)
            return
        body = page.read_bytes()
        self.send_response(code, message)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class _Limited:
    """A file object that reads at most `length` bytes of another."""

    def __init__(self, f, length: int) -> None:
        self._f, self._left = f, length

    def read(self, n: int = -1) -> bytes:
        n = self._left if n < 0 else min(n, self._left)
        data = self._f.read(n)
        self._left -= len(data)
        return data


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        pass  # a browser dropping a connection mid-video is not worth a traceback


class _QuietServer6(_QuietServer):
    address_family = socket.AF_INET6


def make_server(directory: Path, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """A server for `directory` on host:port (port 0 picks a free one); call serve_forever."""
    handler = functools.partial(RangeRequestHandler, directory=str(directory))
    server_class = _QuietServer6 if ":" in host else _QuietServer
    return server_class((host, port), handler)


def serve(directory: Path, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve `directory` until interrupted, printing the URL to open."""
    server = make_server(directory, host, port)
    shown_host = f"[{host}]" if ":" in host else host
    print(f"Serving {directory} at http://{shown_host}:{server.server_address[1]}/ (Ctrl-C stops)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
