"""The template's documentation describes the interview that copier.yml actually asks."""

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent


def questions() -> list[str]:
    config = yaml.safe_load((REPO / "copier.yml").read_text())
    # A computed value (when: false) is not a question: the docs list it apart.
    return [
        name
        for name, spec in config.items()
        if not name.startswith("_") and spec.get("when") is not False
    ]


def test_every_question_is_documented_and_nothing_else():
    documented = [
        line.removeprefix("### ").strip()
        for line in (REPO / "docs" / "questions.md").read_text().splitlines()
        if line.startswith("### ")
    ]

    assert documented == questions()


def test_the_readme_links_the_docs():
    readme = (REPO / "README.md").read_text()

    for doc in ["docs/questions.md", "docs/controls.md", "docs/performance.md"]:
        assert doc in readme
        assert (REPO / doc).exists(), doc
