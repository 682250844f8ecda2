"""`profile fetch applied-compute` against a local HTTP server serving the trie sample."""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentload.profiles.fetch import FILES, PINS_FILE
from tests.profiles.conftest import assert_one_line_error, run_cli


class _Server:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.requests: list[str] = []
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, directory=str(root), **kwargs)

            def do_GET(self) -> None:
                server.requests.append(self.path)
                super().do_GET()

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/workloads"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)


@pytest.fixture
def server(tmp_path: Path, trie_sample: Path) -> Iterator[_Server]:
    root = tmp_path / "www"
    (root / "workloads").mkdir(parents=True)
    for name in FILES:
        (root / "workloads" / name).write_bytes(trie_sample.read_bytes())
    srv = _Server(root)
    srv.thread.start()
    try:
        yield srv
    finally:
        srv.httpd.shutdown()
        srv.httpd.server_close()
        srv.thread.join()


def _fetch_args(server: _Server, cache: Path) -> tuple[str, ...]:
    """`agentload profile fetch applied-compute` against the local server into `cache`."""
    return (
        "profile",
        "fetch",
        "applied-compute",
        "--base-url",
        server.url,
        "--cache-dir",
        str(cache),
    )


def test_fetch_downloads_pins_caches_and_rejects_a_changed_file(
    server: _Server, tmp_path: Path, trie_sample: Path
) -> None:
    cache = tmp_path / "cache"
    args = _fetch_args(server, cache)
    first = run_cli(*args)
    digest = hashlib.sha256(trie_sample.read_bytes()).hexdigest()
    assert sorted(server.requests) == sorted(f"/workloads/{n}" for n in FILES)
    for name in FILES:
        assert (cache / "applied-compute" / name).read_bytes() == trie_sample.read_bytes()
    pins = json.loads((cache / "applied-compute" / PINS_FILE).read_text())
    assert pins == dict.fromkeys(FILES, digest)
    assert "pinned" in first.stderr and "downloaded" in first.stdout

    second = run_cli(*args)  # served from the cache, verified against the pins
    assert len(server.requests) == len(FILES)
    assert "cached" in second.stdout

    tampered = server.root / "workloads" / FILES[0]
    tampered.write_bytes(trie_sample.read_bytes().replace(b"6342", b"6343", 1))
    proc = run_cli(*args, "--refresh", check=False)
    assert_one_line_error(proc, FILES[0], "sha256", "does not match", digest)
    kept = cache / "applied-compute" / FILES[0]
    assert kept.read_bytes() == trie_sample.read_bytes()  # the bad download was not kept
    assert not list((cache / "applied-compute").glob(".download.*"))

    kept.write_bytes(b"corrupted\n")  # a corrupted cache entry is caught without network
    assert_one_line_error(run_cli(*args, check=False), str(kept), "does not match")


def test_fetch_http_error_is_one_line(server: _Server, tmp_path: Path) -> None:
    (server.root / "workloads" / FILES[1]).unlink()
    proc = run_cli(*_fetch_args(server, tmp_path / "c"), check=False)
    assert_one_line_error(proc, FILES[1], "HTTP 404")


def test_fetch_refuses_to_pin_a_file_that_is_not_trie(server: _Server, tmp_path: Path) -> None:
    (server.root / "workloads" / FILES[2]).write_text("<html>rate limited</html>\n")
    cache = tmp_path / "c"
    proc = run_cli(*_fetch_args(server, cache), check=False)
    assert_one_line_error(proc, FILES[2], "not a trie workload file")
    pins = json.loads((cache / "applied-compute" / PINS_FILE).read_text())
    assert FILES[2] not in pins and not (cache / "applied-compute" / FILES[2]).exists()
