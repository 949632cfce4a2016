"""The backup's systemd units of `hosting: vps` are as sandboxed as the app's and load as
systemd would load them on the server: the backup itself, on its nightly timer, and the check
that watches it, on an hourly timer of its own. The round trip, and the check alerting on real
backups, are tests/test_backups.py."""

from .helpers import sandbox_exposure, verify_units

SLUG = "edge_portal_customer_self_service_centre"


def test_the_backup_and_its_check_are_sandboxed_and_timed(generate):
    deploy = generate(project_slug=SLUG) / "deploy"
    backup, check = deploy / f"{SLUG}-backup.service", deploy / f"{SLUG}-backup-check.service"
    timers = [deploy / f"{SLUG}-backup.timer", deploy / f"{SLUG}-backup-check.timer"]

    for unit in (backup, check):
        exposure, output = sandbox_exposure(unit)
        assert exposure <= 2.0, output
        assert "does not match strict user/group name rules" not in output
    verified = verify_units(backup, check, *timers)
    assert verified.returncode == 0, verified.stderr
    assert verified.stderr == ""


def test_no_backup_unit_outside_vps(generate):
    project = generate(hosting="docker")

    assert not list((project / "deploy").glob("*-backup*"))
    assert (project / "deploy" / "backup.Dockerfile").exists()
