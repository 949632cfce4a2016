"""`make demo`'s script, as a new user runs it: generate, install from hashes, migrate, serve."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from .helpers import REPO, free_port


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (loopback only)
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, ""


def test_demo_serves_the_generated_site(tmp_path):
    dest = tmp_path / "demo"
    port = free_port()
    log = tmp_path / "demo.log"
    venv = Path(sys.executable).parent.parent
    with log.open("w") as output:
        server = subprocess.Popen(
            [REPO / "scripts" / "demo", dest],
            cwd=tmp_path,
            env={**os.environ, "PORT": str(port), "VENV": str(venv)},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            assert server.poll() is None, log.read_text()
            try:
                status, page = get(f"http://127.0.0.1:{port}/")
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(1)
        else:
            raise AssertionError("the demo did not start serving:\n" + log.read_text())

        assert status == 200
        assert "<h1>My Site</h1>" in page
        assert get(f"http://127.0.0.1:{port}/backoffice/login/")[0] == 200
        assert (dest / "db.sqlite3").exists()
        assert f"Serving {dest} at http://127.0.0.1:{port}/" in log.read_text()
        assert "Press Ctrl+C to stop." in log.read_text()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
