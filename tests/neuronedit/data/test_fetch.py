"""`neuronedit data fetch` against a local HTTP server on loopback."""

from __future__ import annotations

import functools
import http.server
import subprocess
import sys
import threading
from typing import ClassVar

import pytest
from locations import FIXTURES

from neuronedit.data import fetch as fetch_module
from neuronedit.data.fetch import FetchError, fetch

FIX = FIXTURES


class _Handler(http.server.SimpleHTTPRequestHandler):
    requests: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        type(self).requests.append(self.path)
        super().do_GET()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    (root / "crows_pairs_anonymized.csv").write_bytes((FIX / "crows_small.csv").read_bytes())
    (root / "dev.json").write_bytes((FIX / "stereoset_nested.json").read_bytes())
    _Handler.requests = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Handler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/", root
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_fetch_downloads_verifies_and_skips(server, tmp_path):
    base, root = server
    dest = tmp_path / "data"
    paths = fetch("crows-pairs", dest, base_url=base)
    assert [p.name for p in paths] == ["crows_pairs_anonymized.csv"]
    assert paths[0].read_bytes() == (root / "crows_pairs_anonymized.csv").read_bytes()
    sums = (dest / "crows-pairs" / "SHA256SUMS").read_text()
    assert sums.endswith("  crows_pairs_anonymized.csv\n")
    assert len(_Handler.requests) == 1
    fetch("crows-pairs", dest, base_url=base)
    assert len(_Handler.requests) == 1, "a verified file is not downloaded again"
    paths[0].write_text("damaged")
    fetch("crows-pairs", dest, base_url=base)
    assert len(_Handler.requests) == 2 and paths[0].read_bytes() == (root / "crows_pairs_anonymized.csv").read_bytes()


def test_pinned_checksum_mismatch_keeps_nothing(server, tmp_path, monkeypatch):
    base, _ = server
    monkeypatch.setitem(fetch_module.PINNED_SHA256, "stereoset/dev.json", "0" * 64)
    with pytest.raises(FetchError, match="does not match the pinned"):
        fetch("stereoset", tmp_path, base_url=base)
    assert not (tmp_path / "stereoset").exists()  # a failed first fetch leaves no empty folder


def test_missing_file_is_a_clear_error(server, tmp_path):
    base, _ = server
    with pytest.raises(FetchError, match="could not download .*Religion.jsonl|could not download .*Age.jsonl"):
        fetch("bbq", tmp_path, base_url=base)
    assert not (tmp_path / "bbq").exists()  # nothing was fetched: no folder, no partial file


def test_cli_fetch_then_load(server, tmp_path):
    base, _ = server
    done = subprocess.run([sys.executable, "-m", "neuronedit", "data", "fetch", "stereoset", "--dest",
                           str(tmp_path), "--base-url", base], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    from neuronedit.data import load

    assert len(load(f"stereoset:{tmp_path / 'stereoset' / 'dev.json'}")) == 3
