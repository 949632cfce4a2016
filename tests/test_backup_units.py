"""The backup's systemd unit of `hosting: vps` is as sandboxed as the app's, and its timer is
valid; the round trip itself is tests/test_backups.py."""

import re
import shutil
import subprocess

import pytest


def test_the_backup_unit_is_sandboxed_and_timed(generate):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.fail("systemd-analyze is missing (Debian: systemd)")
    project = generate(project_slug="edge_portal_customer_self_service_centre")
    deploy = project / "deploy"
    unit = deploy / "edge_portal_customer_self_service_centre-backup.service"
    timer = deploy / "edge_portal_customer_self_service_centre-backup.timer"

    rated = subprocess.run(
        [analyze, "security", "--offline=true", "--no-pager", unit],
        capture_output=True,
        text=True,
        check=False,
    )
    exposure = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", rated.stdout)
    assert exposure, rated.stdout + rated.stderr
    assert float(exposure.group(1)) <= 2.0, rated.stdout
    assert "does not match strict user/group name rules" not in rated.stderr
    text = unit.read_text()
    # The app's user, which may read the uploads; its own state directory, private.
    assert "\nUser=edge_portal_customer_self_servi\n" in text
    assert "\nStateDirectoryMode=0700\n" in text
    assert "manage.py backup\n" in text and "manage.py check_backups\n" in text
    verified = subprocess.run(
        [analyze, "verify", "--man=no", timer], capture_output=True, text=True, check=False
    )
    assert "OnCalendar=" in timer.read_text() and "Persistent=true" in timer.read_text()
    assert "Unknown" not in verified.stderr and "Failed" not in verified.stderr, verified.stderr


def test_no_backup_unit_outside_vps(generate):
    project = generate(hosting="docker")

    assert not list((project / "deploy").glob("*-backup.*"))
    assert (project / "deploy" / "backup.Dockerfile").exists()
