"""Carry the team's edits of files that a release moved or split to where those files now live.

Copier runs this after an update (`_migrations` in copier.yml), in the project's folder. Copier
merges the team's edits file by file, at the same path: a file the new release no longer has at
its old path is deleted, edited or not, and its new path gets the template's version. The team's
edits would be lost without a word. So, for each move listed below whose old path the project
still had when the update started (its last commit, HEAD), this script compares the team's file
with what the old release generated there (rendered again, with the project's answers, at the
commit the answers file records) and, when the team changed it:

- a file moved whole: a three-way merge into the new path (the team's file, the old release's,
  the new release's), with Copier's own conflict markers where both changed the same lines;
- a file split into several: each changed hunk goes to the one new file that holds its lines
  unchanged; a hunk that fits nowhere is written, between conflict markers, at the end of the
  first new file.

scripts/update.py (and `git diff`) then show the merged files and list the conflicts: nothing is
lost silently. The team's old file stays in the last commit; the update deletes it, as Copier
does. Without release tags on the template Copier runs no migration (docs/updating.md).
"""

from __future__ import annotations

import difflib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

# The moves, paths relative to the project ("{slug}": the project_slug answer). A list of new
# paths is a split: the first is where a hunk that fits nowhere goes. Every file the template
# has moved since its first release belongs here (tests/test_update.py moves and edits them).
MOVES: dict[str, list[str]] = {
    # One-way dependencies between the apps: the plumbing every app uses moved to core, the
    # account guard to accounts.
    "{slug}/security/client_ip.py": ["{slug}/core/client_ip.py"],
    "{slug}/security/counting.py": ["{slug}/core/counting.py"],
    "{slug}/security/request_id.py": ["{slug}/core/request_id.py"],
    "{slug}/security/events.py": ["{slug}/core/events.py"],
    "{slug}/security/account_guard.py": ["{slug}/accounts/account_guard.py"],
    # One feature, one folder: the uploads page's template lives in the uploads app.
    "{slug}/templates/uploads/files.html": ["{slug}/uploads/templates/uploads/files.html"],
    # The upload pipeline became a package, a module per kind of file.
    "{slug}/uploads/validation.py": [
        "{slug}/uploads/validation/__init__.py",
        "{slug}/uploads/validation/kinds.py",
        "{slug}/uploads/validation/refusals.py",
        "{slug}/uploads/validation/sniffing.py",
        "{slug}/uploads/validation/names.py",
        "{slug}/uploads/validation/images.py",
        "{slug}/uploads/validation/pdf.py",
        "{slug}/uploads/validation/office.py",
        "{slug}/uploads/validation/svg.py",
        "{slug}/uploads/validation/text.py",
    ],
}

# Copier's labels (copier/_main.py), which scripts/update.py and docs/updating.md know.
LABELS = ["before updating", "last update", "after updating"]
UNPLACED = (
    "<<<<<<< before updating (your edit of {old}, which this release split: "
    "move it to the right module)\n{team}=======\n{base}>>>>>>> after updating\n"
)


GIT = shutil.which("git") or "git"


def git(*args: str) -> subprocess.CompletedProcess[str]:
    # The arguments are this script's own: paths of the move table and Copier's recorded commit.
    return subprocess.run([GIT, *args], capture_output=True, text=True, check=False)  # noqa: S603


def committed(path: str) -> str | None:
    """The file at path in the project's last commit, or None."""
    shown = git("show", f"HEAD:{path}")
    return shown.stdout if shown.returncode == 0 else None


def render_old_release(template: str, commit: str, answers: dict, into: Path) -> None:
    """What the release the project was last updated to generated, with the project's answers."""
    from copier import run_copy

    run_copy(
        template,
        into,
        data={name: value for name, value in answers.items() if not name.startswith("_")},
        vcs_ref=commit,
        defaults=True,
        quiet=True,
        unsafe=True,
        skip_tasks=True,
    )


def merge(team: str, base: str, new: str) -> tuple[str, bool]:
    """Three-way merge: the team's changes from base, applied to new. Returns (text, conflicted)."""
    with tempfile.TemporaryDirectory() as folder:
        files = []
        for name, text in [("team", team), ("base", base), ("new", new)]:
            path = Path(folder, name)
            path.write_text(text)
            files.append(str(path))
        labels = [option for label in LABELS for option in ("-L", label)]
        merged = git("merge-file", "-p", *labels, *files)
    if merged.returncode < 0 or merged.returncode > 127:
        raise RuntimeError(merged.stderr)
    return merged.stdout, merged.returncode > 0


def hunks(base: str, team: str) -> list[tuple[list[str], list[str]]]:
    """The team's changes as (lines before, lines after) pairs, each with its context lines."""
    old, new = base.splitlines(keepends=True), team.splitlines(keepends=True)
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    return [
        (old[group[0][1] : group[-1][2]], new[group[0][3] : group[-1][4]])
        for group in matcher.get_grouped_opcodes(3)
    ]


def place(hunk: tuple[list[str], list[str]], texts: dict[str, str]) -> str | None:
    """Apply hunk where its old lines are, when they are in one place of one text; return the
    path of that text, or None."""
    before, after = "".join(hunk[0]), "".join(hunk[1])
    holders = [path for path, text in texts.items() if before and before in text]
    if len(holders) != 1 or texts[holders[0]].count(before) != 1:
        return None
    texts[holders[0]] = texts[holders[0]].replace(before, after)
    return holders[0]


def carry_split(old: str, team: str, base: str, targets: list[Path]) -> tuple[list[Path], bool]:
    """Spread the team's hunks over the new files; return (files changed, any hunk unplaced)."""
    texts = {str(path): path.read_text() for path in targets if path.exists()}
    changed, unplaced = set(), []
    for before, after in hunks(base, team):
        placed = place((before, after), texts)
        # With fewer context lines, a hunk beside a line that went to another module still fits.
        for trim in range(1, 4):
            if placed or len(before) <= 2 * trim:
                break
            if before[:trim] != after[:trim] or before[-trim:] != after[-trim:]:
                break
            placed = place((before[trim:-trim], after[trim:-trim]), texts)
        if placed:
            changed.add(placed)
        else:
            unplaced.append((before, after))
    if unplaced:
        first = str(targets[0])
        for before, after in unplaced:
            texts[first] += UNPLACED.format(old=old, team="".join(after), base="".join(before))
        changed.add(first)
    for path in changed:
        Path(path).write_text(texts[path])
    return [Path(path) for path in sorted(changed)], bool(unplaced)


def main(template: str) -> int:
    answers_text = committed(".copier-answers.yml")
    commit = os.environ.get("VERSION_FROM")
    if answers_text is None or not commit:
        return 0
    answers = yaml.safe_load(answers_text) or {}
    slug = str(answers.get("project_slug", ""))
    moves = {
        old.format(slug=slug): [Path(new.format(slug=slug)) for new in news]
        for old, news in MOVES.items()
    }
    # Only the moves this update crosses: the old path was in the project and is gone now.
    crossed = {
        old: news
        for old, news in moves.items()
        if not Path(old).exists()
        and any(new.exists() for new in news)
        and committed(old) is not None
    }
    if not crossed:
        return 0
    with tempfile.TemporaryDirectory() as folder:
        old_release = Path(folder, "old")
        render_old_release(template, commit, answers, old_release)
        conflicts, carried = [], []
        for old, news in crossed.items():
            team = committed(old)
            base_path = old_release / old
            base = base_path.read_text() if base_path.exists() else ""
            if team == base:
                continue
            if len(news) == 1:
                merged, conflicted = merge(team, base, news[0].read_text())
                news[0].write_text(merged)
                changed = [news[0]]
            else:
                changed, conflicted = carry_split(old, team, base, news)
            carried.append(f"{old} -> {', '.join(str(path) for path in changed)}")
            if conflicted:
                conflicts.append(old)
    if carried:
        print("Your edits of files this update moved were carried to their new place:")
        for line in carried:
            print(f"  {line}")
    if conflicts:
        print(
            "Some could not be merged: resolve the conflict markers (scripts/update.py lists them)."
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
