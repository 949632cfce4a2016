"""Update the project from its template, and say plainly what is left to do.

    .venv/bin/python scripts/update.py [--skip-checks] [copier update options, e.g. --defaults]

It refuses a working tree with uncommitted changes, runs `copier update --trust --skip-answered`
(Copier asks only the questions the newer release added), prints the template's CHANGELOG
entries for the releases crossed, recompiles the lock files (requirements/*.txt) when the update
left a conflict in one, and lists every file that still has a conflict. When none is left it runs
the project's checks (the README's "Checks" that need no network: ruff, bandit, the tests), so
that a template change that breaks the project's own code is seen before the commit. The exit
status is 0 when nothing is left to do, 1 while a conflict remains, 2 when the update could not
start, 3 when a check failed.

Run it with the project's virtualenv: the lock files are recompiled with its pip-tools and the
checks run with its tools. Copier itself is found on PATH (`pipx install copier`).
scripts/update_pr.py runs it in CI and turns its outcome into a pull request.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ANSWERS = ROOT / ".copier-answers.yml"
REQUIREMENTS = ROOT / "requirements"
# Lock files are compiled in this order: prod.in is constrained by base.txt, dev.in by prod.txt.
LAYERS = ["base", "prod", "dev"]
# Copier's conflict markers (the template's updating guide); .rej files with --conflict rej.
CONFLICT = re.compile(
    r"^<<<<<<< before updating$(.*?)^=======$\n(.*?)^>>>>>>> after updating$\n", re.M | re.S
)
MARKER = re.compile(r"^(<<<<<<<|>>>>>>>) ", re.M)
RELEASE_HEADING = re.compile(r"^## (\S+)", re.M)
GIT = shutil.which("git") or "git"
# The README's "Checks" that run offline, cheapest first; pip-audit needs PyPI and the deployment
# checklist a production environment, so CI runs those on the commit.
CHECKS = {
    "ruff check": ["-m", "ruff", "check", "--quiet", "."],
    "ruff format": ["-m", "ruff", "format", "--check", "--quiet", "."],
    "bandit": [
        "-m",
        "bandit",
        "--quiet",
        "--configfile",
        "pyproject.toml",
        "--severity-level",
        "medium",
        "-r",
        ".",
    ],
    "tests": ["-m", "pytest", "-q", "-p", "no:cacheprovider"],
}
# Exit statuses; a pull request job tells them apart.
CLEAN, CONFLICTS, NOT_STARTED, CHECK_FAILED = 0, 1, 2, 3


@dataclass
class Outcome:
    """What an update did, for a person at the terminal or for a pull request's description."""

    status: int
    old: str = ""
    new: str = ""
    changelog: str | None = None
    conflicts: list[Path] = field(default_factory=list)
    # check name -> passed; empty when the checks did not run (a conflict remains).
    checks: dict[str, bool] = field(default_factory=dict)


def git(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    # The arguments are this script's own, or the template address and release Copier recorded.
    command = [GIT, *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)  # noqa: S603


def answer(name: str) -> str:
    """A top-level answer of .copier-answers.yml (Copier writes one `name: value` per line)."""
    found = re.search(rf"^{name}: ['\"]?(.*?)['\"]?$", ANSWERS.read_text(), re.M)
    return found.group(1) if found else ""


def refuse_a_dirty_tree() -> str | None:
    if not (ROOT / ".git").exists():
        return "This project is not a git repository: Copier updates only git-tracked projects."
    status = git("status", "--porcelain")
    if status.returncode != 0:
        return status.stderr.strip()
    if status.stdout.strip():
        return (
            "The working tree has uncommitted changes; commit or stash them first, so that the\n"
            "update is a change of its own that you can review and undo:\n" + status.stdout
        )
    return None


def conflicted_files() -> list[Path]:
    """Files with Copier's conflict markers, and .rej files, tracked or new."""
    listed = git("ls-files", "--cached", "--others", "--exclude-standard").stdout.splitlines()
    found = []
    for name in sorted(set(listed)):
        path = ROOT / name
        if not path.is_file():
            continue
        if path.suffix == ".rej" or MARKER.search(path.read_text(errors="replace")):
            found.append(path)
    return found


def compile_command(lock_file: Path) -> list[str]:
    """The pip-compile options the lock file was made with, from the header pip-compile writes."""
    for line in lock_file.read_text().splitlines():
        if line.startswith("#    pip-compile "):
            return line.removeprefix("#    pip-compile ").split()
    # The README's command (section "Dependencies") for a lock file that lost its header.
    return [
        "--generate-hashes",
        "--allow-unsafe",
        "--strip-extras",
        "--no-emit-index-url",
        "--no-emit-find-links",
        str(lock_file.relative_to(ROOT).with_suffix(".in")),
    ]


def resolve_lock_files(conflicted: list[Path]) -> list[Path]:
    """Recompile the lock files when one has a conflict; return the files still conflicted.

    A lock file is never merged by hand: its conflicting pins keep the template's side, and
    pip-compile then resolves the merged .in files again, so the team's added packages get pinned
    (with hashes) beside the template's. Every layer is recompiled, as each constrains the next.
    """
    locks = [path for path in conflicted if path.parent == REQUIREMENTS and path.suffix == ".txt"]
    if not locks:
        return conflicted
    inputs_conflicted = [
        path for path in conflicted if path.parent == REQUIREMENTS and path.suffix == ".in"
    ]
    if inputs_conflicted:
        print("Resolve the conflicts in requirements/*.in first, then run this script again")
        print("(or recompile the lock files as the README says, section Dependencies).")
        return conflicted
    for lock in locks:
        lock.write_text(CONFLICT.sub(lambda hunk: hunk.group(2), lock.read_text()))
    layers = [REQUIREMENTS / f"{layer}.txt" for layer in LAYERS]
    layers += sorted(set(REQUIREMENTS.glob("*.txt")) - set(layers))
    for lock in layers:
        if not lock.exists():
            continue
        print(f"Recompiling {lock.relative_to(ROOT)} from {lock.stem}.in ...")
        compiled = subprocess.run(  # noqa: S603 (the options pip-compile wrote in the lock file)
            [sys.executable, "-m", "piptools", "compile", "--quiet", *compile_command(lock)],
            cwd=ROOT,
            check=False,
        )
        if compiled.returncode != 0:
            print(f"pip-compile failed for {lock.name}: resolve it by hand (README, Dependencies).")
            return conflicted
    return [path for path in conflicted if path not in locks]


def changelog_entries(src: str, old: str, new: str) -> str | None:
    """The template's CHANGELOG.md sections newer than the release the project came from."""
    with tempfile.TemporaryDirectory() as clone:
        location = Path(src).expanduser()
        if location.is_dir():
            repository = location
        else:
            url = re.sub(
                r"^gh:", "https://github.com/", re.sub(r"^gl:", "https://gitlab.com/", src)
            )
            if git("clone", "--quiet", "--no-checkout", url, clone, cwd=ROOT).returncode != 0:
                return None
            repository = Path(clone)
        changelog = git("show", f"{new}:CHANGELOG.md", cwd=repository)
    if changelog.returncode != 0:
        return None
    version = old.removeprefix("v").split("-")[0]
    headings = list(RELEASE_HEADING.finditer(changelog.stdout))
    sections = []
    for index, heading in enumerate(headings):
        if heading.group(1) == version:
            break
        end = headings[index + 1].start() if index + 1 < len(headings) else len(changelog.stdout)
        section = changelog.stdout[heading.start() : end].strip()
        if section.count("\n") > 0:
            sections.append(section)
    return "\n\n".join(sections)


def run_checks() -> dict[str, bool]:
    """Each check with whether it passed; its output goes to the terminal (or the CI log)."""
    results = {}
    for name, arguments in CHECKS.items():
        print(f"\nCheck: {name}", flush=True)
        done = subprocess.run([sys.executable, *arguments], cwd=ROOT, check=False)  # noqa: S603
        results[name] = done.returncode == 0
    return results


def update(copier_options: list[str], checks: bool = True) -> Outcome:
    refused = refuse_a_dirty_tree()
    if refused:
        print(refused, file=sys.stderr)
        return Outcome(NOT_STARTED)
    copier = shutil.which("copier")
    if copier is None:
        print("Copier is not on PATH: install it with `pipx install copier`.", file=sys.stderr)
        return Outcome(NOT_STARTED)
    old = answer("_commit")
    updated = subprocess.run(  # noqa: S603 (Copier, with the options the team passed)
        [copier, "update", "--trust", "--skip-answered", *copier_options], cwd=ROOT, check=False
    )
    if updated.returncode != 0:
        print(f"copier update failed (exit status {updated.returncode}).", file=sys.stderr)
        return Outcome(NOT_STARTED, old)
    outcome = Outcome(CLEAN, old, answer("_commit"))
    if outcome.new != old:
        outcome.changelog = changelog_entries(answer("_src_path"), old, outcome.new)
        print(f"\nThe template went from {old} to {outcome.new}.")
        if outcome.changelog is None:
            print("Its CHANGELOG.md could not be read: read it in the template's repository.")
        elif outcome.changelog:
            print("Its CHANGELOG.md for the releases crossed (do every step it asks by hand):\n")
            print(outcome.changelog)
    outcome.conflicts = resolve_lock_files(conflicted_files())
    if outcome.conflicts:
        print("\nConflicts to resolve (between `<<<<<<< before updating` and")
        print("`>>>>>>> after updating`, or in .rej files), then commit:")
        for path in outcome.conflicts:
            print(f"  {path.relative_to(ROOT)}")
        outcome.status = CONFLICTS
        return outcome
    print("\nNo conflict left.")
    if checks:
        outcome.checks = run_checks()
        failed = [name for name, passed in outcome.checks.items() if not passed]
        if failed:
            print(f"\nChecks failed: {', '.join(failed)}. Fix them before committing.")
            outcome.status = CHECK_FAILED
            return outcome
        print("\nThe checks pass.", end=" ")
    print("Review `git diff`, then commit.")
    return outcome


def main(arguments: list[str]) -> int:
    checks = "--skip-checks" not in arguments
    return update([a for a in arguments if a != "--skip-checks"], checks).status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
