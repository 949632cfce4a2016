"""The template's documentation describes the interview that copier.yml actually asks."""

import importlib.util
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

    for doc in ["docs/questions.md", "docs/controls.md", "docs/performance.md", "docs/design.md"]:
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


def test_the_design_doc_counts_the_jinja_left_in_generated_python():
    """docs/design.md says where Jinja statements remain inside generated Python; the count is the
    script's, so the doc cannot drift from the templates."""
    spec = importlib.util.spec_from_file_location(
        "jinja_in_python", REPO / "scripts" / "jinja_in_python.py"
    )
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    doc = (REPO / "docs" / "design.md").read_text()

    recorded = doc[doc.index(script.BEGIN) + len(script.BEGIN) : doc.index(script.END)].strip()

    assert recorded == script.table(), (
        "run: .venv/bin/python scripts/jinja_in_python.py --write docs/design.md"
    )
