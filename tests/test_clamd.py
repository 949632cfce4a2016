"""The virus scan of a generated project against a real ClamAV daemon.

clamd comes from Debian's clamav-daemon (.ci/run installs it). freshclam cannot download the
official signatures here, so clamd loads a database of one signature written by the test: the
EICAR test file, which every antivirus detects and which harms nothing.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from .services import ServiceError, run

pytestmark = pytest.mark.servers

EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
# clamd adds .UNOFFICIAL to the names of signatures from databases it has no signature for.
SIGNATURE = "Fortress-Test-EICAR"
# Smaller than the project's upload limit, so that a file clamd will not take can be sent.
STREAM_MAX_LENGTH = 1024 * 1024


@contextmanager
def clamd_server(workdir: Path) -> Iterator[Path]:
    """clamd with the EICAR signature only, on a Unix socket in workdir; yields the socket's
    path. Nothing is written outside workdir."""
    binary = shutil.which("clamd") or shutil.which("clamd", path="/usr/sbin")
    if not binary:
        raise ServiceError("ClamAV is not installed (Debian: clamav-daemon; .ci/run installs it)")
    # An extended signature (.ndb): any file type, the bytes anywhere in the file.
    (workdir / "fortress.ndb").write_text(f"{SIGNATURE}:0:*:{EICAR.hex()}\n")
    socket_path = workdir / "clamd.sock"
    log = workdir / "clamd.log"
    (workdir / "clamd.conf").write_text(
        f"LocalSocket {socket_path}\n"
        f"DatabaseDirectory {workdir}\n"
        f"TemporaryDirectory {workdir}\n"
        f"LogFile {log}\n"
        "LogSyslog no\n"
        "Foreground yes\n"
        f"StreamMaxLength {STREAM_MAX_LENGTH}\n"
    )
    process = subprocess.Popen(
        [binary, "--config-file", workdir / "clamd.conf"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_socket(socket_path, process, log)
        yield socket_path
    finally:
        process.terminate()
        process.wait(timeout=30)


def wait_for_socket(path: Path, process: subprocess.Popen, log: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.socket(socket.AF_UNIX) as probe:
                probe.connect(str(path))
                return
        except OSError:
            if process.poll() is not None:
                output = log.read_text() if log.exists() else ""
                raise ServiceError(
                    f"clamd exited with status {process.returncode}:\n{output}"
                ) from None
            time.sleep(0.1)
    raise ServiceError(f"clamd did not listen on {path} within {seconds:.0f} s")


# Run in the generated project: each file named on the command line goes through the upload
# pipeline with CLAMD_ADDRESS set to the socket given; prints the outcome of each (accepted, or
# the refusal's reason) and the security events logged.
SCRIPT = """
import json
import logging
import sys

import django

django.setup()

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test.utils import override_settings

from {slug}.uploads.validation import validate_upload

FILES = {{
    "eicar.txt": b"Minutes of the meeting\\n" + {eicar!r} + b"\\nEnd of the minutes\\n",
    "clean.txt": b"Minutes of the meeting\\nNothing to report.\\n",
    "over-clamd-limit.txt": b"A long and harmless line of plain text.\\n" * 40_000,
}}

events = []


class Collect(logging.Handler):
    def emit(self, record):
        events.append(record.security)


logging.getLogger("{slug}.security").addHandler(Collect())
outcomes = {{}}
with override_settings(CLAMD_ADDRESS=sys.argv[1]):
    for name in sys.argv[2:]:
        try:
            validate_upload(SimpleUploadedFile(name, FILES[name]))
            outcomes[name] = "accepted"
        except ValidationError as error:
            outcomes[name] = error.code
print(json.dumps({{"outcomes": outcomes, "events": events}}))
"""


def scan_in_project(project: Path, python: Path, socket_path: Path, *names: str) -> dict:
    slug = yaml.safe_load((project / ".copier-answers.yml").read_text())["project_slug"]
    script = SCRIPT.format(slug=slug, eicar=EICAR)
    result = run(
        [python, "-c", script, socket_path, *names],
        cwd=project,
        DJANGO_SETTINGS_MODULE="config.settings.test",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def events_named(report: dict, name: str) -> list[dict]:
    return [event for event in report["events"] if event["event"] == name]


def test_eicar_is_refused_clean_files_pass_and_the_scan_fails_closed(
    generate, project_python, tmp_path
):
    project = generate(virus_scan=True)
    workdir = tmp_path / "clamd"
    workdir.mkdir()

    with clamd_server(workdir) as socket_path:
        running = scan_in_project(
            project, project_python, socket_path, "eicar.txt", "clean.txt", "over-clamd-limit.txt"
        )
    stopped = scan_in_project(project, project_python, socket_path, "clean.txt")

    assert running["outcomes"] == {
        "eicar.txt": "malware",
        "clean.txt": "accepted",
        # clamd answers "INSTREAM size limit exceeded. ERROR": no verdict, so no upload.
        "over-clamd-limit.txt": "scanner_unavailable",
    }
    [found] = events_named(running, "upload.malware")
    assert found["signature"] == f"{SIGNATURE}.UNOFFICIAL"
    [unavailable] = events_named(running, "upload.scanner_unavailable")
    assert "size limit exceeded" in unavailable["reason"]

    assert stopped["outcomes"] == {"clean.txt": "scanner_unavailable"}
    [unavailable] = events_named(stopped, "upload.scanner_unavailable")
    assert "cannot connect" in unavailable["reason"]
