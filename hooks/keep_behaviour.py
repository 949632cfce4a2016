"""Answer, for a project that predates them, the questions that switch on something new.

Copier runs this before an update (`_migrations` in copier.yml), in the project's folder. A new
question's default is right for a new project: the full-featured, secure choice. For a project
generated before the question existed, that default would add a feature the team never chose
(uploads put a `/files/` page in front of every signed-in user; CI workflows and Dependabot run
in the team's repository), and `copier update --defaults` would take it silently. So the answers
file gets, for each such question it lacks, the answer that keeps what the project does today;
Copier then reads it as a recorded answer. The team turns a feature on by choosing it:
`copier update --trust --skip-answered --data uploads=images_and_documents`.

A question missing from the answers file means the project predates it: these questions have no
`when`, so every project generated since they exist records their answer.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

ANSWERS_FILE = Path(".copier-answers.yml")

# question -> the answer that keeps the behaviour of a project generated before it was asked.
# Every question added since 0.1.0 that changes what the project exposes or runs belongs here
# (tests/test_update.py checks it against copier.yml).
KEEP_BEHAVIOUR = {
    "uploads": "none",
    "ci": "none",
    "dependency_updates": "none",
    "sentry": False,
}


def keep_behaviour(answers_file: Path) -> dict[str, object]:
    """Write the missing answers into answers_file; return those written."""
    text = answers_file.read_text()
    answers = yaml.safe_load(text) or {}
    missing = {name: value for name, value in KEEP_BEHAVIOUR.items() if name not in answers}
    if missing:
        # Appended rather than re-dumped, so Copier's own header comment stays.
        added = yaml.safe_dump(missing, default_flow_style=False, sort_keys=False)
        answers_file.write_text(text if text.endswith("\n") else text + "\n")
        with answers_file.open("a") as out:
            out.write(added)
    return missing


def main() -> int:
    kept = keep_behaviour(ANSWERS_FILE)
    if kept:
        print(
            "This project predates these questions; they are answered to keep what it does today:"
        )
        for name, value in kept.items():
            print(f"  {name}: {yaml.safe_dump(value).splitlines()[0]}")
        print(
            "To turn one on, choose it: copier update --trust --skip-answered --data NAME=VALUE "
            "(docs: the template's docs/updating.md)."
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
