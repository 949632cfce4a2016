"""The template's documentation describes the interview that copier.yml actually asks."""

import re
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


def test_the_readme_names_every_package_ci_installs():
    """A contributor reads the package list in the README; CI installs scripts/check-machine's."""
    check_machine = (REPO / "scripts" / "check-machine").read_text()
    ci_packages = {
        package
        for quoted, bare in re.findall(r'need (?:"([^"]+)"|(\S+)) "', check_machine)
        for package in (quoted or bare).split()
    }
    readme = (REPO / "README.md").read_text()

    assert ci_packages
    assert sorted(package for package in ci_packages if f"`{package}`" not in readme) == []
