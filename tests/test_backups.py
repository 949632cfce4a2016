"""Backups restore what was saved, exactly, on real PostgreSQL (issue 25).

A generated project with accounts, second factors, sessions and uploaded files is backed up by
an unprivileged user, as the systemd timer runs it; its database and upload folder are destroyed;
the restore brings back every row and every byte. A backup that was changed, cut short, swapped
for another file, or encrypted for another key is refused before anything is touched.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import copier
import pytest

from .deployment import PYTHON_VIEW
from .services import LiveSite, create_database, prepare_site, run

# Servers: PostgreSQL; root: switching to unprivileged users. One worker runs them all, in order.
pytestmark = [pytest.mark.servers, pytest.mark.root, pytest.mark.xdist_group("backups")]

# The unprivileged accounts: the one that runs the project (as the service's user would), and
# another one that must not read its backups.
SERVICE_USER = "daemon"
OTHER_USER = "nobody"

MAKE_DATA = """
import os
from allauth.account.models import EmailAddress
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.db import SessionStore
from django.core.files.base import ContentFile
from my_site.uploads.models import Upload

for number in range(3):
    user = get_user_model().objects.create_user(
        f"user{number}@example.org", f"a long passphrase number {number}"
    )
    EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=True)
    if number:
        TOTP.activate(user, generate_totp_secret())
        RecoveryCodes.activate(user)
    session = SessionStore()
    session["_auth_user_id"] = str(user.pk)
    session.create()
    for index, size in enumerate((0, 1, 70_000, 1_500_000)):
        data = os.urandom(size)
        Upload.objects.create(
            owner=user,
            file=ContentFile(data, name=f"file.pdf"),
            name=f"report {index}.pdf",
            extension="pdf",
            content_type="application/pdf",
            size=size,
        )
"""

# Every row of every table, as PostgreSQL writes it, sorted: equal snapshots are equal data.
SNAPSHOT = """
import json
from django.db import connection
with connection.cursor() as cursor:
    tables = connection.introspection.table_names(cursor)
    rows = {}
    for table in tables:
        cursor.execute(f'SELECT t::text FROM "{table}" t')
        rows[table] = sorted(row[0] for row in cursor.fetchall())
print(json.dumps(rows))
"""


def as_user(user: str, command: list[str | Path], cwd: Path, env: dict[str, str]):
    """command as user, with no capability left, and the Python installations (under root's
    home) in reach."""
    view = tempfile.mkdtemp(prefix="python-view-")
    try:
        return run(
            [
                *("unshare", "--mount", "--propagation", "private", "sh", "-c", PYTHON_VIEW, view),
                *(
                    "setpriv",
                    f"--reuid={user}",
                    f"--regid={pwd.getpwnam(user).pw_gid}",
                    "--init-groups",
                ),
                *("--no-new-privs", "--inh-caps=-all", "--bounding-set=-all"),
                *command,
            ],
            cwd=cwd,
            **env,
        )
    finally:
        os.rmdir(view)


@dataclass
class Saved:
    site: LiveSite
    root: Path
    backup: Path
    identity: Path
    recipient: str
    snapshot: dict
    uploads_copy: Path
    server_url: str

    def manage(self, *arguments: str, **env: str) -> subprocess.CompletedProcess[str]:
        return as_user(
            SERVICE_USER,
            [self.site.python, "manage.py", *arguments],
            self.site.project,
            {**self.site.env, **env},
        )

    def empty_target(self, name: str) -> dict[str, str]:
        """A new empty database and upload folder; the environment that points at them."""
        database = create_database(self.site.python, self.server_url, name)
        uploads = self.root / f"uploads-{name}"
        uploads.mkdir(mode=0o750)
        shutil.chown(uploads, SERVICE_USER)
        return {"DATABASE_URL": database, "DJANGO_UPLOAD_ROOT": str(uploads)}

    def copy_of_backup(self, name: str) -> Path:
        copy = self.root / name
        shutil.copytree(self.backup, copy)
        for path in [copy, *copy.iterdir()]:
            shutil.chown(path, SERVICE_USER)
        return copy


def service_owned(path: Path, mode: int) -> Path:
    path.mkdir(mode=mode)
    path.chmod(mode)
    shutil.chown(path, SERVICE_USER)
    return path


def snapshot(saved_site: LiveSite, env: dict[str, str] | None = None) -> dict:
    result = run(
        [saved_site.python, "manage.py", "shell", "--no-imports", "-c", SNAPSHOT],
        cwd=saved_site.project,
        **{**saved_site.env, **(env or {})},
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def tree(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(path.relative_to(folder)): (path.read_bytes(), path.stat().st_mode & 0o777)
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


@pytest.fixture(scope="module")
def saved(template_src, project_python, postgres, redis) -> Iterator[Saved]:
    if os.geteuid() != 0:
        pytest.fail("these tests switch to unprivileged users with setpriv: run them as root")
    if shutil.which("age-keygen") is None:
        pytest.fail("age is not installed (Debian: age; .ci/run installs it)")
    # Not under pytest's temporary folder, which only root may enter.
    root = Path(tempfile.mkdtemp(prefix="fortress-backups-"))
    root.chmod(0o755)
    try:
        project = root / "project"
        copier.run_copy(str(template_src), project, defaults=True, unsafe=True, quiet=True)
        identity = root / "identity.txt"
        subprocess.run(["age-keygen", "-o", identity], check=True, capture_output=True)
        recipient = subprocess.run(
            ["age-keygen", "-y", identity], check=True, capture_output=True, text=True
        ).stdout.strip()
        backups = service_owned(root / "backups", 0o700)
        uploads = service_owned(root / "uploads", 0o750)
        database = create_database(project_python, postgres, "backup_source")
        site = prepare_site(
            project,
            project_python,
            database,
            f"{redis}/9",
            environ={
                "DJANGO_BACKUP_DIR": str(backups),
                "DJANGO_BACKUP_RECIPIENTS": recipient,
                "DJANGO_UPLOAD_ROOT": str(uploads),
            },
        )
        made = as_user(
            SERVICE_USER, [project_python, "manage.py", "shell", "-c", MAKE_DATA], project, site.env
        )
        assert made.returncode == 0, made.stderr
        before = snapshot(site)
        uploads_copy = root / "uploads-as-made"
        shutil.copytree(uploads, uploads_copy)

        backed_up = as_user(
            SERVICE_USER, [project_python, "manage.py", "backup"], project, site.env
        )
        assert backed_up.returncode == 0, backed_up.stderr
        (backup,) = [path for path in backups.iterdir() if path.name.startswith("backup-")]
        # The service's user may read it for the restore; the operator's key is another matter.
        restore_key = root / "restore-key.txt"
        shutil.copy(identity, restore_key)
        restore_key.chmod(0o600)
        shutil.chown(restore_key, SERVICE_USER)
        yield Saved(site, root, backup, restore_key, recipient, before, uploads_copy, postgres)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_the_data_made_is_the_data_worth_saving(saved):
    assert len(saved.snapshot["accounts_user"]) == 3
    assert len(saved.snapshot["mfa_authenticator"]) == 4
    assert len(saved.snapshot["django_session"]) == 3
    assert len(saved.snapshot["uploads_upload"]) == 12
    assert len(tree(saved.uploads_copy)) == 12


def test_only_the_service_user_can_read_the_backups(saved):
    files = sorted(saved.backup.iterdir())
    assert [path.name for path in files] == [
        "database.pgdump.age",
        "manifest.json.age",
        "uploads.tar.age",
    ]
    for path in [saved.backup.parent, saved.backup, *files]:
        assert path.owner() == SERVICE_USER
        assert path.stat().st_mode & 0o077 == 0, path
    read = as_user(OTHER_USER, ["cat", files[0]], saved.root, {})
    assert read.returncode != 0
    assert "Permission denied" in read.stderr


def test_nothing_is_written_unencrypted(saved):
    for path in saved.backup.iterdir():
        assert path.read_bytes().startswith(b"age-encryption.org/v1\n")
    dump = saved.backup / "database.pgdump.age"
    assert b"PGDMP" not in dump.read_bytes()
    assert b"user0@example.org" not in dump.read_bytes()


def test_a_restore_brings_back_every_row_and_every_byte(saved):
    site = saved.site
    dropped = run(
        [
            site.python,
            "-c",
            "import sys, psycopg\n"
            "with psycopg.connect(sys.argv[1], autocommit=True) as db:\n"
            "    db.execute('DROP DATABASE backup_source WITH (FORCE)')\n"
            "    db.execute('CREATE DATABASE backup_source')",
            f"{saved.server_url}/postgres",
        ],
        cwd=site.project,
    )
    assert dropped.returncode == 0, dropped.stderr
    uploads = Path(site.env["DJANGO_UPLOAD_ROOT"])
    for path in uploads.iterdir():
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    assert snapshot(site) == {}

    restored = saved.manage("restore_backup", saved.backup.name, "--identity", saved.identity)

    assert restored.returncode == 0, restored.stderr
    assert snapshot(site) == saved.snapshot
    assert tree(uploads) == tree(saved.uploads_copy)


def test_a_restore_refuses_a_database_with_tables(saved):
    target = saved.empty_target("backup_not_empty")
    first = saved.manage("restore_backup", saved.backup, "--identity", saved.identity, **target)
    assert first.returncode == 0, first.stderr
    for path in Path(target["DJANGO_UPLOAD_ROOT"]).iterdir():
        path.unlink()

    again = saved.manage("restore_backup", saved.backup, "--identity", saved.identity, **target)

    assert again.returncode != 0
    assert "has tables: restore into an empty database, or pass --force" in again.stderr
    forced = saved.manage(
        "restore_backup", saved.backup, "--identity", saved.identity, "--force", **target
    )
    assert forced.returncode == 0, forced.stderr
    assert snapshot(saved.site, target) == saved.snapshot


def test_a_restore_refuses_an_upload_folder_with_files(saved):
    target = saved.empty_target("backup_files_there")
    (Path(target["DJANGO_UPLOAD_ROOT"]) / "left-over").write_bytes(b"x")

    refused = saved.manage("restore_backup", saved.backup, "--identity", saved.identity, **target)

    assert refused.returncode != 0
    assert "has files: restore into an empty folder, or pass --force" in refused.stderr
    assert snapshot(saved.site, target) == {}


def refused_untouched(saved: Saved, backup: Path, name: str, identity: Path | None = None) -> str:
    """Restore backup into a new empty target; assert it is refused and the target left empty;
    return the message."""
    target = saved.empty_target(name)
    refused = saved.manage(
        "restore_backup", backup, "--identity", identity or saved.identity, **target
    )
    assert refused.returncode != 0
    assert snapshot(saved.site, target) == {}
    assert list(Path(target["DJANGO_UPLOAD_ROOT"]).iterdir()) == []
    return refused.stderr


def test_a_tampered_backup_is_refused(saved):
    backup = saved.copy_of_backup("tampered")
    dump = backup / "database.pgdump.age"
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0x01
    dump.write_bytes(bytes(data))

    message = refused_untouched(saved, backup, "backup_tampered")

    assert "database.pgdump.age cannot be decrypted: it was changed or cut short" in message


def test_a_truncated_backup_is_refused(saved):
    backup = saved.copy_of_backup("truncated")
    uploads = backup / "uploads.tar.age"
    uploads.write_bytes(uploads.read_bytes()[: uploads.stat().st_size - 100])

    message = refused_untouched(saved, backup, "backup_truncated")

    assert "uploads.tar.age cannot be decrypted: it was changed or cut short" in message


def test_a_file_swapped_for_another_is_refused(saved):
    """Anyone can encrypt for the public key: a well-formed file that is not the one the
    manifest describes is still refused."""
    backup = saved.copy_of_backup("swapped")
    dump = backup / "database.pgdump.age"
    dump.unlink()
    subprocess.run(
        ["age", "--encrypt", "--recipient", saved.recipient, "-o", dump],
        input=b"not the dump",
        check=True,
    )
    shutil.chown(dump, SERVICE_USER)

    message = refused_untouched(saved, backup, "backup_swapped")

    assert "database.pgdump.age does not match the manifest" in message
    assert "the backup was altered and is refused" in message


def test_a_backup_for_another_key_is_refused(saved):
    other = saved.root / "other-key.txt"
    subprocess.run(["age-keygen", "-o", other], check=True, capture_output=True)
    shutil.chown(other, SERVICE_USER)

    message = refused_untouched(saved, saved.backup, "backup_other_key", identity=other)

    assert f"was not encrypted for the key in {other}" in message


def run_the_hourly_check(saved: Saved, backups: Path) -> tuple[subprocess.CompletedProcess, str]:
    """The command of deploy/<slug>-backup-check.service, as its timer runs it apart from the
    backups: as their owner, on backups it may read and not change, alerts mailed to files.
    Returns what it printed and the subjects of the mail it sent."""
    unit = saved.site.project / "deploy" / "my_site-backup-check.service"
    (command,) = re.findall(r"^ExecStart=(.+)$", unit.read_text(), flags=re.MULTILINE)
    program, *arguments = command.split()
    assert program == "/srv/my_site/.venv/bin/python", program
    mail = saved.root / f"mail-{backups.name}"
    service_owned(mail, 0o700)
    (saved.site.project / "hourly_check_settings.py").write_text(
        "from live_settings import *  # noqa: F403\n\n"
        'MAILERS = {"default": {"BACKEND": "django.core.mail.backends.filebased.EmailBackend",'
        f' "OPTIONS": {{"file_path": {str(mail)!r}}}}}}}\n'
    )
    listing = {path: path.stat().st_mtime_ns for path in backups.rglob("*")}
    backups.chmod(0o500)
    try:
        checked = as_user(
            SERVICE_USER,
            [saved.site.python, *arguments],
            saved.site.project,
            {
                **saved.site.env,
                "DJANGO_SETTINGS_MODULE": "hourly_check_settings",
                "DJANGO_BACKUP_DIR": str(backups),
                "DJANGO_ADMINS": "ops@example.org",
            },
        )
    finally:
        backups.chmod(0o700)
    # It read the backups and changed nothing among them.
    assert {path: path.stat().st_mtime_ns for path in backups.rglob("*")} == listing
    subjects = [
        line.removeprefix("Subject: ")
        for message in mail.iterdir()
        for line in message.read_text().splitlines()
        if line.startswith("Subject: ")
    ]
    return checked, subjects


def test_the_hourly_check_is_quiet_after_a_good_backup(saved):
    checked, subjects = run_the_hourly_check(saved, saved.backup.parent)

    assert checked.returncode == 0, checked.stderr
    assert "The newest backup is 0.0 hours old." in checked.stdout
    assert subjects == []


def test_the_hourly_check_alerts_when_the_backups_stopped(saved):
    """The backup timer stopped: the newest backup is 27 hours old, nothing newer came, and the
    check that runs on its own timer alerts."""
    stopped = service_owned(saved.root / "backups-stopped", 0o700)
    aged = datetime.now(UTC) - timedelta(hours=27)
    copy = stopped / f"backup-{aged.strftime('%Y%m%dT%H%M%SZ')}"
    shutil.copytree(saved.backup, copy)
    for path in [copy, *copy.iterdir()]:
        shutil.chown(path, SERVICE_USER)

    checked, subjects = run_the_hourly_check(saved, stopped)

    assert checked.returncode != 0
    assert "is 27.0 hours old: more than BACKUP_MAX_AGE (26 hours)" in checked.stderr
    assert subjects == ["[My Site] Security alert: backup.stale"]


def age_encrypt(saved: Saved, path: Path, data: bytes) -> None:
    """What anyone can do who has the public key, which is no secret."""
    path.unlink(missing_ok=True)
    subprocess.run(
        ["age", "--encrypt", "--recipient", saved.recipient, "-o", path], input=data, check=True
    )
    shutil.chown(path, SERVICE_USER)


def manifest_of(saved: Saved, backup: Path) -> dict:
    decrypted = subprocess.run(
        ["age", "--decrypt", "-i", saved.identity, backup / "manifest.json.age"],
        check=True,
        capture_output=True,
    )
    return json.loads(decrypted.stdout)


def test_the_manifest_names_the_project_and_the_time_of_the_folders_name(saved):
    manifest = manifest_of(saved, saved.backup)

    assert manifest["project"] == next(saved.site.project.glob("*/backups")).parent.name
    stamp = manifest["created"].replace("-", "").replace(":", "").removesuffix("+0000")
    assert saved.backup.name == f"backup-{stamp}Z"


def test_a_forged_manifest_cannot_write_through_a_planted_link(saved):
    """The forger encrypts a manifest naming a file by its absolute path, whose plaintext path
    is a link to a file the restoring user may write."""
    backup = saved.copy_of_backup("forged")
    victim = saved.root / "victim.conf"
    victim.write_text("kept\n")
    shutil.chown(victim, SERVICE_USER)
    planted = backup / "planted"
    age_encrypt(saved, backup / "planted.age", b"written by the forger\n")
    planted.symlink_to(victim)
    manifest = manifest_of(saved, saved.backup)
    size = len(b"written by the forger\n")
    digest = subprocess.run(
        ["sha256sum"], input=b"written by the forger\n", capture_output=True, check=True
    ).stdout.split()[0]
    manifest["files"] = {str(planted): {"sha256": digest.decode(), "bytes": size}}
    manifest["files"].update(manifest_of(saved, saved.backup)["files"])
    age_encrypt(saved, backup / "manifest.json.age", json.dumps(manifest).encode())

    message = refused_untouched(saved, backup, "backup_forged")

    assert "nothing else: it is refused" in message
    assert victim.read_text() == "kept\n"


def test_an_older_backup_under_a_newer_name_is_refused(saved):
    newer = saved.backup.name[:-3] + "59Z" if not saved.backup.name.endswith("59Z") else None
    newer = newer or saved.backup.name[:-3] + "58Z"
    backup = saved.copy_of_backup(newer)

    message = refused_untouched(saved, backup, "backup_renamed")

    assert "a backup renamed after it was made is refused" in message
