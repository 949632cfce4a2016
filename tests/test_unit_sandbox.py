"""The systemd unit's sandbox, item by item: systemd's own assessment of the generated unit lists
exactly the exposures the app needs, so that weakening any one directive (ProtectSystem=strict
to no, a capability kept) fails here, not only when the overall score drops past its threshold,
which one directive alone does not move far enough (tests/test_proxy.py checks the score)."""

import shutil
import subprocess

import pytest
import yaml

# What systemd-analyze marks as exposed in the generated unit, and why each stays open.
ACCEPTED_EXPOSURES = {
    # gunicorn runs from the host's virtualenv, not from an image of its own.
    "RootDirectory=/RootImage=",
    # The proxy's socket and the journal.
    "RestrictAddressFamilies=~AF_UNIX",
    # PostgreSQL, Redis, mail and the error reporter, at addresses only the deployer knows.
    "RestrictAddressFamilies=~AF_(INET|INET6)",
    "PrivateNetwork=",
    "IPAddressDeny=",
    # Read access to the real-time clock, which ProtectClock= itself adds.
    "DeviceAllow=",
    # UMask=0027: the uploads' group (the proxy's) reads what the app writes.
    "UMask=",
}


def test_the_units_only_exposures_are_the_ones_it_needs(generate):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.fail("systemd-analyze is missing: install Debian's systemd (.ci/run does)")
    project = generate()
    slug = yaml.safe_load((project / ".copier-answers.yml").read_text())["project_slug"]
    # The app's unit; the backup unit has a test of its own (tests/test_backup_units.py).
    unit = project / "deploy" / f"{slug}.service"

    result = subprocess.run(
        [analyze, "security", "--offline=true", "--no-pager", unit],
        capture_output=True,
        text=True,
        check=False,
    )

    exposed = {line.split()[1] for line in result.stdout.splitlines() if line.startswith("✗")}
    assert exposed == ACCEPTED_EXPOSURES, result.stdout
