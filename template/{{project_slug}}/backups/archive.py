"""Encrypted backups of the database and the uploaded files, checked, kept and restored.

A backup is a folder BACKUP_DIR/backup-<UTC time>/ of files encrypted with age to the public keys
in BACKUP_RECIPIENTS: the server can write a backup and never read one; the identity (the private
key) that decrypts them is kept away from the server, the backups and the MFA key
(docs/backups.md). The files:

    database.pgdump.age   pg_dump's custom format, one consistent snapshot of the database
    uploads.tar.age       the local folder of uploaded files (absent when there is none)
    manifest.json.age     when, which versions, and the SHA-256 and size of each file above

Nothing is written to disk unencrypted: pg_dump and the tar stream straight into age. A backup is
built in a hidden folder and renamed once complete, so a folder with a backup's name is whole.
Restoring decrypts every file and checks it against the manifest before anything is changed.
"""

import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import django
from django.conf import settings
from django.core.files.storage import FileSystemStorage, storages
from django.db import connection
from django.db.backends.postgresql.client import DatabaseClient
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone

from ..core.events import log_event

NAME = re.compile(r"backup-(\d{8}T\d{6}Z)\Z")
TIME_FORMAT = "%Y%m%dT%H%M%SZ"
DATABASE = "database.pgdump"
UPLOADS = "uploads.tar"
MANIFEST = "manifest.json"
ENCRYPTED = ".age"
# How the last run ended, for check_backups, which runs on its own schedule and may only read.
LAST_RUN = "last-run.json"
# Read and written in pieces of this size, so that a database of any size needs little memory.
CHUNK = 1024 * 1024
# A hidden folder left by a run that died is removed by a later run once it is this old.
ABANDONED_AFTER = timedelta(days=1)
FORMAT_VERSION = 1
# The project a backup belongs to: its package, whatever the folder it is deployed in.
PROJECT = __name__.split(".")[0]


class BackupError(Exception):
    """A backup could not be made, read or restored; the message says why, for the operator."""


@dataclass(frozen=True)
class Backup:
    path: Path
    created: datetime
    # The SHA-256 and size of each file's plaintext, for a backup just made.
    files: dict[str, dict] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.name


def backups(folder: Path) -> list[Backup]:
    """The complete backups in folder, newest first."""
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        match = NAME.match(path.name)
        if match and (path / (MANIFEST + ENCRYPTED)).is_file():
            created = datetime.strptime(match.group(1), TIME_FORMAT).replace(tzinfo=UTC)
            found.append(Backup(path, created))
    return sorted(found, key=lambda backup: backup.created, reverse=True)


def newest(folder: Path) -> Backup | None:
    found = backups(folder)
    return found[0] if found else None


def upload_folder() -> Path | None:
    """The folder of uploaded files, when they are kept on this machine's disk."""
    if "uploads" not in settings.STORAGES:
        return None
    storage = storages["uploads"]
    return Path(storage.location) if isinstance(storage, FileSystemStorage) else None


def upload_bucket() -> Any:
    """The storage of uploaded files when it is a bucket (django-storages' S3), else None."""
    if "uploads" not in settings.STORAGES:
        return None
    storage = storages["uploads"]
    return storage if hasattr(storage, "bucket_name") else None


# Making a backup.


def back_up() -> tuple[Backup, list[Backup]]:
    """Make a backup as the settings say and prune the old ones; return the new backup and the
    removed ones. Success is logged as backup.succeeded; a failure as backup.failed, which alerts
    (security/alerts.py), before the BackupError is raised."""
    folder = Path(settings.BACKUP_DIR)
    try:
        backup = make_backup(folder, settings.BACKUP_RECIPIENTS)
        removed = prune(
            folder,
            daily=settings.BACKUP_KEEP_DAILY,
            weekly=settings.BACKUP_KEEP_WEEKLY,
            monthly=settings.BACKUP_KEEP_MONTHLY,
        )
    except (BackupError, OSError) as error:
        log_event("backup.failed", level=logging.ERROR, error=str(error)[:300])
        record_run(folder, error=str(error)[:300])
        if isinstance(error, BackupError):
            raise
        raise BackupError(str(error)) from error
    record_run(folder, error=None)
    # The database's checksum, kept by the log store, away from the backups and their key.
    database = backup.files[DATABASE]
    log_event(
        "backup.succeeded",
        backup=backup.name,
        database_sha256=database["sha256"],
        database_bytes=database["bytes"],
        pruned=len(removed),
    )
    return backup, removed


def record_run(folder: Path, error: str | None) -> None:
    """Write how this run ended to folder's LAST_RUN, whole or not at all; a folder that cannot
    be written to is left alone (the run has alerted already, and the backup's age will)."""
    record = {"finished": timezone.now().isoformat(), "succeeded": error is None, "error": error}
    try:
        descriptor, partial = tempfile.mkstemp(dir=folder, prefix=f".{LAST_RUN}.")
        with os.fdopen(descriptor, "w") as out:
            json.dump(record, out)
        os.replace(partial, folder / LAST_RUN)
    except OSError:
        pass


def last_run(folder: Path) -> dict[str, Any] | None:
    """How the last backup run ended, as record_run wrote it; None when unknown."""
    try:
        record = json.loads((folder / LAST_RUN).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def make_backup(folder: Path, recipients: list[str], now: datetime | None = None) -> Backup:
    """Write a new backup into folder and return it; raise BackupError when anything fails."""
    if not recipients:
        raise BackupError(
            "BACKUP_RECIPIENTS is empty: set DJANGO_BACKUP_RECIPIENTS to the age public key(s) "
            "the backups are encrypted for (docs/backups.md)."
        )
    private_folder(folder)
    if connection.vendor != "postgresql":
        raise BackupError(f"backups use pg_dump; the database is {connection.vendor}.")
    created = (now or timezone.now()).astimezone(UTC).replace(microsecond=0)
    name = f"backup-{created.strftime(TIME_FORMAT)}"
    remove_abandoned(folder, created)
    partial = folder / f".partial-{name}"
    partial.mkdir(mode=0o700)
    try:
        files = {DATABASE: encrypt(partial / DATABASE, recipients, dump_database)}
        uploads = upload_folder()
        if uploads is not None:
            files[UPLOADS] = encrypt(
                partial / UPLOADS, recipients, lambda out: archive_folder(uploads, out)
            )
        manifest = json.dumps(describe(created, files), indent=2).encode()
        encrypt(partial / MANIFEST, recipients, lambda out: out.write(manifest))
        complete = folder / name
        if complete.exists():
            raise BackupError(f"{complete} exists already: one backup per second at most.")
        partial.rename(complete)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return Backup(complete, created, files)


def private_folder(folder: Path) -> None:
    """Create folder readable by its owner only; refuse one that others can read."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    mode = folder.stat().st_mode & 0o777
    if mode & 0o077:
        raise BackupError(
            f"{folder} can be read or entered by other users (mode {mode:o}): chmod 700 it."
        )


def remove_abandoned(folder: Path, now: datetime) -> None:
    for path in folder.glob(".partial-backup-*"):
        modified = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
        if now - modified > ABANDONED_AFTER:
            shutil.rmtree(path, ignore_errors=True)


class Digest:
    """A writable stream that counts and hashes what passes on to another."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out = out
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.sha256.update(data)
        self.size += len(data)
        self.out.write(data)
        return len(data)

    def summary(self) -> dict[str, Any]:
        return {"sha256": self.sha256.hexdigest(), "bytes": self.size}


def encrypt(path: Path, recipients: list[str], produce: Callable[[Digest], object]) -> dict:
    """Write what produce writes, encrypted by age, to path (mode 600); return its plaintext's
    SHA-256 and size."""
    target = path.with_name(path.name + ENCRYPTED)
    descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        age = subprocess.Popen(  # noqa: S603  # nosec B603 (no shell; recipients are arguments)
            [age_program(), "--encrypt", *(f"--recipient={key}" for key in recipients)],
            stdin=subprocess.PIPE,
            stdout=descriptor,
            stderr=subprocess.PIPE,
        )
    finally:
        os.close(descriptor)
    digest = Digest(age.stdin)
    try:
        produce(digest)
    except BrokenPipeError:
        pass
    finally:
        age.stdin.close()
        error = age.stderr.read().decode(errors="replace").strip()
        age.wait()
    if age.returncode != 0:
        raise BackupError(f"age could not encrypt {path.name}: {error}")
    return digest.summary()


def age_program() -> str:
    program = shutil.which("age")
    if program is None:
        raise BackupError("age is not installed (Debian: apt-get install age).")
    return program


def libpq_environment() -> dict[str, str]:
    """The database of the settings, as libpq's variables: no password on a command line."""
    database = settings.DATABASES["default"]
    _, environment = DatabaseClient.settings_to_cmd_args_env(database, [])
    named = {
        "PGHOST": database.get("HOST"),
        "PGPORT": database.get("PORT"),
        "PGUSER": database.get("USER"),
        "PGDATABASE": database.get("NAME"),
    }
    return {**os.environ, **(environment or {}), **{k: str(v) for k, v in named.items() if v}}


def dump_database(out: Digest) -> None:
    """pg_dump's custom format: one snapshot (pg_dump reads in one repeatable-read transaction,
    so the tables agree with each other), compressed, restorable by a newer pg_restore."""
    program = shutil.which("pg_dump")
    if program is None:
        raise BackupError("pg_dump is not installed (Debian: postgresql-client).")
    dump = subprocess.Popen(  # noqa: S603  # nosec B603 (no shell, fixed arguments)
        [program, "--format=custom", "--no-password"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=libpq_environment(),
    )
    while chunk := dump.stdout.read(CHUNK):
        out.write(chunk)
    error = dump.stderr.read().decode(errors="replace").strip()
    if dump.wait() != 0:
        raise BackupError(f"pg_dump failed: {error}")


def archive_folder(folder: Path, out: Digest) -> None:
    """The folder's files and folders as a tar stream, names relative to the folder.

    Nothing else: storage writes plain files, a restore refuses anything else (check_archive),
    and a link planted among the uploads must not make every later backup unrestorable.
    """
    with tarfile.open(fileobj=out, mode="w|") as archive:
        if folder.is_dir():
            for path in sorted(folder.rglob("*")):
                if path.is_symlink() or not (path.is_file() or path.is_dir()):
                    continue
                archive.add(path, arcname=str(path.relative_to(folder)), recursive=False)


def describe(created: datetime, files: dict[str, dict]) -> dict[str, Any]:
    """The manifest: enough to know what a backup holds and what can restore it."""
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        server_version = cursor.fetchone()[0]
    bucket = upload_bucket()
    return {
        "format": FORMAT_VERSION,
        "project": PROJECT,
        "created": created.isoformat(),
        "template_commit": template_commit(),
        "app_version": app_version(),
        "django_version": django.get_version(),
        "postgresql_version": server_version,
        "migrations": latest_migrations(),
        "uploads": (
            f"s3://{bucket.bucket_name}: kept by the bucket's versioning, not in this backup"
            if bucket is not None
            else "in uploads.tar"
            if UPLOADS in files
            else "none"
        ),
        "files": files,
    }


def template_commit() -> str:
    """The template release the project was generated or last updated from."""
    answers = Path(settings.BASE_DIR) / ".copier-answers.yml"
    if answers.is_file():
        match = re.search(r"^_commit: *(\S+)", answers.read_text(), flags=re.MULTILINE)
        if match:
            return match.group(1)
    return "unknown"


def app_version() -> str:
    pyproject = Path(settings.BASE_DIR) / "pyproject.toml"
    if pyproject.is_file():
        return tomllib.loads(pyproject.read_text()).get("project", {}).get("version", "unknown")
    return "unknown"


def latest_migrations() -> dict[str, str]:
    applied = MigrationRecorder(connection).applied_migrations()
    latest: dict[str, str] = {}
    for app, migration in sorted(applied):
        latest[app] = max(latest.get(app, ""), migration)
    return latest


# Keeping and pruning.


def to_keep(times: Iterable[datetime], daily: int, weekly: int, monthly: int) -> set[datetime]:
    """The times to keep: the newest backup of each of the last `daily` days that have one, of
    the last `weekly` ISO weeks and of the last `monthly` months, and the newest of all."""
    ordered = sorted(times, reverse=True)
    periods: list[tuple[int, Callable[[datetime], object]]] = [
        (daily, lambda moment: moment.date()),
        (weekly, lambda moment: moment.isocalendar()[:2]),
        (monthly, lambda moment: (moment.year, moment.month)),
    ]
    keep = set(ordered[:1])
    for count, period in periods:
        seen: list[object] = []
        for moment in ordered:
            if period(moment) in seen:
                continue
            if len(seen) == count:
                break
            seen.append(period(moment))
            keep.add(moment)
    return keep


def prune(folder: Path, daily: int, weekly: int, monthly: int) -> list[Backup]:
    """Delete the backups that retention no longer keeps; return them."""
    found = backups(folder)
    keep = to_keep([backup.created for backup in found], daily, weekly, monthly)
    removed = [backup for backup in found if backup.created not in keep]
    for backup in removed:
        shutil.rmtree(backup.path)
    return removed


# Reading and restoring.


def decrypt(path: Path, identity: Path, out: IO[bytes]) -> dict[str, Any]:
    """Decrypt path with the age identity file into out; return the plaintext's SHA-256 and
    size. age authenticates every 64 KiB chunk and the end of the stream: a file changed or cut
    short after it was written fails here."""
    digest = Digest(out)
    with path.open("rb") as ciphertext:
        age = subprocess.Popen(  # noqa: S603  # nosec B603 (no shell; paths are arguments)
            [age_program(), "--decrypt", f"--identity={identity}"],
            stdin=ciphertext,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        while chunk := age.stdout.read(CHUNK):
            digest.write(chunk)
        error = age.stderr.read().decode(errors="replace").strip()
        age.wait()
    if age.returncode != 0:
        if f'"{identity}"' in error:
            raise BackupError(f"{identity} is not a usable age identity: {error}")
        if "no identity matched" in error:
            raise BackupError(
                f"{path} was not encrypted for the key in {identity}: use the identity whose "
                f"public key was in DJANGO_BACKUP_RECIPIENTS when the backup was made."
            )
        raise BackupError(
            f"{path} cannot be decrypted: it was changed or cut short after it was written, "
            f"and is refused (age: {error})."
        )
    return digest.summary()


def read_manifest(backup: Path, identity: Path) -> dict[str, Any]:
    encrypted = backup / (MANIFEST + ENCRYPTED)
    if not encrypted.is_file():
        raise BackupError(f"{backup} is not a complete backup: it has no {encrypted.name}.")
    with tempfile.SpooledTemporaryFile() as plaintext:
        decrypt(encrypted, identity, plaintext)
        plaintext.seek(0)
        try:
            manifest = json.loads(plaintext.read())
        except ValueError as error:
            raise BackupError(f"{encrypted} is not a manifest: {error}") from None
    if manifest.get("format") != FORMAT_VERSION:
        raise BackupError(f"{backup} has manifest format {manifest.get('format')!r}.")
    # Anyone with the public key can encrypt a manifest, and its names say which files are read
    # and where their plaintext is written: only the names a backup is made of are followed.
    names = set(manifest.get("files", {}))
    if DATABASE not in names or not names <= {DATABASE, UPLOADS}:
        raise BackupError(
            f"{encrypted} names the files {sorted(names)}; a backup holds {DATABASE} and perhaps "
            f"{UPLOADS}, nothing else: it is refused."
        )
    # Backups made before the manifest named its project carry no name to compare.
    project = manifest.get("project", PROJECT)
    if project != PROJECT:
        raise BackupError(
            f"{backup} is a backup of the project {project!r}, not of {PROJECT!r}: it is refused."
        )
    # An older backup copied under a newer name would pass for the newest.
    named = NAME.match(backup.name)
    if named:
        created = datetime.strptime(named.group(1), TIME_FORMAT).replace(tzinfo=UTC)
        if manifest.get("created") != created.isoformat():
            raise BackupError(
                f"{backup.name} was made at {manifest.get('created')}, not when its name says: "
                "a backup renamed after it was made is refused."
            )
    return manifest


def database_is_empty() -> bool:
    return not connection.introspection.table_names()


def folder_is_empty(folder: Path) -> bool:
    return not folder.exists() or not any(folder.iterdir())


def restore(backup: Path, identity: Path, force: bool = False) -> dict[str, Any]:
    """Restore backup into the settings' database and upload folder; return its manifest.

    Refuses a database with tables or an upload folder with files, unless force: then the
    backup's tables replace those of the same name and the folder's files are removed first.
    Every file is decrypted and checked against the manifest before anything is changed.
    """
    if not identity.is_file():
        raise BackupError(f"{identity} is not a file: give the age identity of the backups.")
    uploads = upload_folder()
    if not force:
        if not database_is_empty():
            raise BackupError(
                f"the database {settings.DATABASES['default']['NAME']} has tables: restore into "
                "an empty database, or pass --force to replace them."
            )
        if uploads is not None and not folder_is_empty(uploads):
            raise BackupError(
                f"{uploads} has files: restore into an empty folder, or pass --force to "
                "replace them."
            )
    manifest = read_manifest(backup, identity)
    files = manifest["files"]
    if UPLOADS in files and uploads is None:
        raise BackupError("the backup has uploaded files, and this project keeps none on disk.")
    with tempfile.TemporaryDirectory(prefix="restore-") as scratch:
        plaintexts = {}
        for name, expected in files.items():
            encrypted = backup / (name + ENCRYPTED)
            if not encrypted.is_file():
                raise BackupError(f"{encrypted} is missing: the backup is incomplete.")
            plaintexts[name] = Path(scratch) / name
            with plaintexts[name].open("wb") as out:
                found = decrypt(encrypted, identity, out)
            if found != expected:
                raise BackupError(
                    f"{encrypted} does not match the manifest (SHA-256 {found['sha256']}, "
                    f"{found['bytes']} bytes; expected {expected['sha256']}, "
                    f"{expected['bytes']} bytes): the backup was altered and is refused."
                )
        if UPLOADS in plaintexts:
            check_archive(plaintexts[UPLOADS])
        restore_database(plaintexts[DATABASE], clean=force)
        if UPLOADS in plaintexts:
            restore_folder(plaintexts[UPLOADS], uploads)
    return manifest


def restore_database(dump: Path, clean: bool) -> None:
    program = shutil.which("pg_restore")
    if program is None:
        raise BackupError("pg_restore is not installed (Debian: postgresql-client).")
    connection.close()
    # Objects are owned by the account that restores, with its privileges: the dump's owners may
    # not exist on a new server.
    command = [program, "--no-owner", "--no-privileges", "--exit-on-error", "--no-password"]
    command += ["--single-transaction", f"--dbname={settings.DATABASES['default']['NAME']}"]
    if clean:
        command += ["--clean", "--if-exists"]
    restored = subprocess.run(  # noqa: S603  # nosec B603 (no shell, fixed arguments)
        [*command, str(dump)], capture_output=True, text=True, env=libpq_environment()
    )
    if restored.returncode != 0:
        raise BackupError(f"pg_restore failed, and changed nothing: {restored.stderr.strip()}")


def check_archive(archive: Path) -> None:
    """Refuse an archive of uploads with anything but files and folders in it.

    archive_folder writes nothing else (storage writes plain files), so a link, device or sparse
    file was put there by someone else; links are what older Pythons' "data" filter let out of
    the folder (CVE-2025-4517), and a sparse file can claim any size.
    """
    try:
        with tarfile.open(archive, mode="r:") as files:
            for member in files:
                if member.issparse() or not (member.isreg() or member.isdir()):
                    raise BackupError(
                        f"the uploaded files cannot be restored: {member.name!r} is not a plain "
                        "file or folder, and an archive of uploads holds nothing else."
                    )
    except tarfile.TarError as error:
        raise BackupError(f"the uploaded files cannot be restored: {error}") from None


def restore_folder(archive: Path, folder: Path) -> None:
    check_archive(archive)
    folder.mkdir(mode=0o750, parents=True, exist_ok=True)
    for path in folder.iterdir():
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    try:
        with tarfile.open(archive, mode="r:") as files:
            # The "data" filter refuses absolute names, names outside the folder and device
            # files: a backup cannot write anywhere else.
            files.extractall(folder, filter="data")
    except tarfile.TarError as error:
        raise BackupError(f"the uploaded files cannot be restored: {error}") from None


# Watching.


def problems(now: datetime | None = None) -> list[str]:
    """What makes the backups unfit to restore from today; each is logged as backup.stale,
    backup.last_run_failed or backup.unprotected, which alert (security/alerts.py). Reads the
    backups folder and writes nothing: the check runs apart from the backups, with read access
    only, so that it sees a schedule that stopped."""
    found = []
    folder = Path(settings.BACKUP_DIR)
    latest = newest(folder)
    age = (now or timezone.now()) - latest.created if latest else None
    if age is None or age > settings.BACKUP_MAX_AGE:
        hours = settings.BACKUP_MAX_AGE.total_seconds() / 3600
        found.append(
            f"No backup in {settings.BACKUP_DIR}."
            if latest is None
            else f"The newest backup, {latest.name}, is {age.total_seconds() / 3600:.1f} hours "
            f"old: more than BACKUP_MAX_AGE ({hours:g} hours)."
        )
        log_event(
            "backup.stale",
            level=logging.ERROR,
            newest=latest.name if latest else "none",
            hours=round(age.total_seconds() / 3600, 1) if age else "none",
        )
    run = last_run(folder)
    if run is not None and not run.get("succeeded"):
        found.append(f"The last backup run, at {run.get('finished')}, failed: {run.get('error')}")
        log_event(
            "backup.last_run_failed",
            level=logging.ERROR,
            finished=str(run.get("finished"))[:40],
            error=str(run.get("error"))[:300],
        )
    bucket = upload_bucket()
    if bucket is not None:
        versioning = bucket_versioning(bucket)
        if versioning != "Enabled":
            found.append(
                f"Versioning of the upload bucket {bucket.bucket_name} is {versioning}: a "
                "deleted or overwritten upload cannot be brought back (docs/backups.md)."
            )
            log_event("backup.unprotected", level=logging.ERROR, versioning=versioning)
    return found


def bucket_versioning(bucket: Any) -> str:
    """The bucket's versioning status as S3 reports it: Enabled, Suspended, or Off."""
    try:
        answer = bucket.connection.meta.client.get_bucket_versioning(Bucket=bucket.bucket_name)
    except Exception as error:  # botocore's errors: no access, no bucket, no network
        return f"unknown ({type(error).__name__}: {error})"[:200]
    return answer.get("Status") or "Off"


def newest_age_hours(now: datetime | None = None) -> float | None:
    latest = newest(Path(settings.BACKUP_DIR))
    if latest is None:
        return None
    return round(((now or timezone.now()) - latest.created).total_seconds() / 3600, 1)
