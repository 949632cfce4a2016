"""The generated project's update pull requests (scripts/update_pr.py and the CI jobs that run it).

A template repository holds the working tree twice: as a release, and as the next release with a
README paragraph, a new question, a changed workflow and a CHANGELOG entry. A project generated at
the first release lives in a bare git repository, the remote. The update job's step runs in one
clone of it, the push step in another clone with only the update job's output, and pushes to the
bare remote. Opening the request through the forge's API is the one step not run here.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

import copier
import pytest
import yaml

from .helpers import copy_template
from .services import run
from .test_update import (
    GIT_ENV,
    NEXT_VERSION,
    SETTINGS_LINE,
    edit,
    edit_as_the_next_release,
    generate_and_commit,
    git,
)

RELEASE = "v998.0.0"
BRANCH = f"template-update/{NEXT_VERSION}"
WORKFLOW_LINE = (
    '# The commands are the README\'s ("Checks"). Every action is pinned to a full commit SHA.'
)
# Where copier is (the template's virtualenv), for scripts/update.py.
PATH = f"{Path(sys.executable).parent}:{os.environ['PATH']}"


@pytest.fixture
def template(tmp_path) -> Path:
    """The working tree as release v998.0.0, and as v999.0.0 with a few changes of every kind."""
    repo = copy_template(tmp_path / "template")
    changelog = repo / "CHANGELOG.md"
    changelog.write_text("# Changelog\n\n## 998.0.0 (2026-12-01)\n\n- The release before.\n")
    git("init", "--quiet", "--initial-branch=main", cwd=repo)
    git("add", "--all", cwd=repo)
    git("commit", "--quiet", "--message=release", cwd=repo)
    git("tag", RELEASE, cwd=repo)
    edit_as_the_next_release(repo, "# Every environment sets these: DEBUG is never on unless")
    edit(
        repo
        / "template"
        / "{% if ci == 'github' %}.github{% endif %}"
        / "workflows"
        / "ci.yml.jinja",
        WORKFLOW_LINE,
        WORKFLOW_LINE + "\n# A line the next release adds.",
    )
    with (repo / "copier.yml").open("a") as config:
        config.write(
            '\nteam_channel:\n  type: str\n  help: The team\'s chat channel.\n  default: "#ops"\n'
        )
    changelog.write_text(
        "# Changelog\n\n## 999.0.0 (2026-12-04)\n\n- A README paragraph; the question "
        "`team_channel` (`#ops`).\n\n## 998.0.0 (2026-12-01)\n\n- The release before.\n"
    )
    git("commit", "--quiet", "--all", "--message=next release", cwd=repo)
    git("tag", NEXT_VERSION, cwd=repo)
    return repo


def remote_with_project(tmp_path: Path, template: Path, answers: dict) -> Path:
    """A bare repository holding a project generated at RELEASE, as the forge would."""
    project = tmp_path / "generated"
    generate_and_commit(template, project, RELEASE, answers)
    remote = tmp_path / "remote.git"
    git("clone", "--quiet", "--bare", project, remote, cwd=tmp_path)
    return remote


def checkout(remote: Path, dst: Path) -> Path:
    """A CI job's checkout of the default branch."""
    git("clone", "--quiet", remote, dst, cwd=remote.parent)
    return dst


def conflicting_team_edit(remote: Path, clone: Path) -> None:
    """The team rewords a settings line that the next release rewords too."""
    checkout(remote, clone)
    edit(clone / "config" / "settings" / "base.py", SETTINGS_LINE, "# Ours: DEBUG stays off unless")
    git("commit", "--quiet", "--all", "--message=team edits", cwd=clone)
    git("push", "--quiet", "origin", "main", cwd=clone)


def update_job(remote: Path, out: Path, python: Path, *hold_back: str):
    """The unprivileged job: a fresh checkout, `prepare`, and OUT as its only output."""
    job = checkout(remote, out.parent / "update-job")
    options = [option for path in hold_back for option in ("--hold-back", path)]
    return run(
        [python, "scripts/update_pr.py", "prepare", out, *options], cwd=job, PATH=PATH, **GIT_ENV
    )


def push_job(remote: Path, out: Path, name: str = "push-job"):
    """The job that holds the token: a fresh checkout, and a Python without the project's tools."""
    job = checkout(remote, out.parent / name)
    return run(
        [
            shutil.which("python3"),
            "-E",
            "-s",
            "scripts/update_pr.py",
            "push",
            out,
            "--remote",
            remote,
        ],
        cwd=job,
        **GIT_ENV,
    )


def show(remote: Path, ref: str, path: str) -> str:
    return git("show", f"{ref}:{path}", cwd=remote)


def test_the_update_job_pushes_a_branch_with_its_conflicts_for_review(
    tmp_path, template, project_python_for
):
    remote = remote_with_project(tmp_path, template, {})
    conflicting_team_edit(remote, tmp_path / "team")
    main = git("rev-parse", "main", cwd=remote).strip()
    out = tmp_path / "update"

    prepared = update_job(remote, out, project_python_for("3.12"), ".github/workflows")
    assert prepared.returncode == 0, prepared.stdout[-3000:] + prepared.stderr[-3000:]
    assert not git("branch", "--list", "template-update/*", cwd=remote).strip()

    pushed = push_job(remote, out)
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr

    # One commit on top of main, with the team's side of the conflict kept beside the template's.
    assert git("rev-list", "--parents", "-n", "1", BRANCH, cwd=remote).split()[1:] == [main]
    assert f"_commit: {NEXT_VERSION}" in show(remote, BRANCH, ".copier-answers.yml")
    settings = show(remote, BRANCH, "config/settings/base.py")
    assert "<<<<<<< before updating\n# Ours: DEBUG stays off unless" in settings
    assert "A paragraph the next release adds." in show(remote, BRANCH, "README.md")
    # The workflow change is held back (GitHub's token may not push it), as a patch that applies.
    assert show(remote, BRANCH, ".github/workflows/ci.yml") == show(
        remote, "main", ".github/workflows/ci.yml"
    )
    review = checkout(remote, tmp_path / "review")
    git("switch", "--quiet", BRANCH, cwd=review)
    git("apply", "template-update.patch", cwd=review)
    assert "# A line the next release adds." in (review / ".github/workflows/ci.yml").read_text()

    description = (out / "description.md").read_text()
    assert f"from the template release `{RELEASE}` to `{NEXT_VERSION}`" in description
    conflicts = description.split("## Conflicts left")[1].split("##")[0]
    assert "- `config/settings/base.py`" in conflicts
    assert conflicts.count("\n- ") == 1
    assert "Not run: they run once no conflict is left." in description
    assert "| `team_channel` | `'#ops'` |" in description
    assert "`template-update.patch`" in description
    changelog = description.split("## The template's CHANGELOG")[1]
    assert "### 999.0.0 (2026-12-04)" in changelog
    assert "the question `team_channel`" in changelog
    assert "998.0.0" not in changelog

    # Next week's run finds the branch and pushes nothing over it.
    tip = git("rev-parse", BRANCH, cwd=remote)
    again = push_job(remote, out, "push-job-again")
    assert again.returncode == 0, again.stderr
    assert "already exists on the remote" in again.stdout
    assert git("rev-parse", BRANCH, cwd=remote) == tip


def test_the_push_job_refuses_what_the_update_job_did_not_make(
    tmp_path, template, project_python_for
):
    """The update job ran the template's code: its output is checked, never trusted."""
    remote = remote_with_project(tmp_path, template, {})
    conflicting_team_edit(remote, tmp_path / "team")  # so that the update job runs no checks
    out = tmp_path / "update"
    prepared = update_job(remote, out, project_python_for("3.12"))
    assert prepared.returncode == 0, prepared.stdout[-3000:] + prepared.stderr[-3000:]
    main = git("rev-parse", "main", cwd=remote)

    (out / "branch").write_text("main\n")
    refused = push_job(remote, out)
    assert refused.returncode != 0
    assert "Refusing the branch name 'main'" in refused.stderr

    # A branch that carries history besides the update: two commits on top of main.
    job = out.parent / "update-job"
    (job / "extra").write_text("not the update\n")
    git("add", "extra", cwd=job)
    git("commit", "--quiet", "--message=extra", cwd=job)
    git("bundle", "create", out / "update.bundle", BRANCH, "^main", cwd=job)
    (out / "branch").write_text(BRANCH + "\n")
    refused = push_job(remote, out, "push-job-2")
    assert refused.returncode != 0
    assert "is not one commit on top of" in refused.stderr

    assert git("rev-parse", "main", cwd=remote) == main
    assert not git("branch", "--list", "template-update/*", cwd=remote).strip()


def test_a_clean_update_runs_the_projects_checks_and_says_so(
    tmp_path, template, project_python_for
):
    """GitLab: no held-back path; the checks ran and passed, and the description says so."""
    remote = remote_with_project(tmp_path, template, {"ci": "gitlab"})
    out = tmp_path / "update"

    prepared = update_job(remote, out, project_python_for("3.12"))
    assert prepared.returncode == 0, prepared.stdout[-3000:] + prepared.stderr[-3000:]
    pushed = push_job(remote, out)
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr

    description = (out / "description.md").read_text()
    assert "## Conflicts left\n\nNone" in description
    checks = description.split("## Checks run by the update job")[1].split("##")[0]
    assert re.findall(r"^- (.*)$", checks, re.M) == [
        "ruff check: passed",
        "ruff format: passed",
        "bandit: passed",
        "tests: passed",
    ]
    assert "Changes held back" not in description
    assert "# A line the next release adds." not in show(remote, BRANCH, ".gitlab-ci.yml")


def test_the_update_script_fails_while_a_check_fails(tmp_path, template, project_python_for):
    """The team's settings name an app that is not there: the update merges, the tests fail."""
    remote = remote_with_project(tmp_path, template, {})
    project = checkout(remote, tmp_path / "project")
    edit(
        project / "config" / "settings" / "base.py",
        '    "my_site.core",\n',
        '    "my_site.core",\n    "my_site.billing",\n',
    )
    git("commit", "--quiet", "--all", "--message=team edits", cwd=project)

    result = run(
        [project_python_for("3.12"), "scripts/update.py", "--defaults"],
        cwd=project,
        PATH=PATH,
        **GIT_ENV,
    )

    assert result.returncode == 3, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Checks failed: tests." in result.stdout, result.stdout[-8000:]
    assert "No conflict left." in result.stdout


@pytest.fixture(scope="module")
def generated(tmp_path_factory, template_src):
    def generate(answers):
        dst = tmp_path_factory.mktemp("ci") / "project"
        copier.run_copy(
            str(template_src), dst, data=answers, defaults=True, unsafe=True, quiet=True
        )
        return dst

    return generate


def test_github_runs_template_code_without_a_write_token(generated):
    workflow = generated({"ci": "github"}) / ".github" / "workflows" / "template-updates.yml"
    spec = yaml.safe_load(workflow.read_text())
    update, publish = spec["jobs"]["update"], spec["jobs"]["pull-request"]

    assert spec["permissions"] == {"contents": "read"}
    assert "permissions" not in update
    update_text = yaml.safe_dump(update)
    assert "secrets." not in update_text and "github.token" not in update_text
    assert "update_pr.py prepare" in update_text

    assert publish["permissions"] == {"contents": "write", "pull-requests": "write"}
    publish_text = yaml.safe_dump(publish)
    assert "prepare" not in publish_text and "pip install" not in publish_text
    assert "copier" not in publish_text.lower()
    assert "secrets." not in publish_text


def test_gitlab_gives_the_token_only_to_the_job_that_runs_no_template_code(generated):
    spec = yaml.safe_load((generated({"ci": "gitlab"}) / ".gitlab-ci.yml").read_text())
    update, publish = spec["template-update"], spec["template-update-request"]

    assert "environment" not in update
    assert "update_pr.py prepare" in " ".join(update["script"])
    assert publish["environment"]["name"] == "template-updates"
    assert publish["needs"] == ["template-update"]
    publish_text = yaml.safe_dump(publish)
    assert "prepare" not in publish_text and "pip install" not in publish_text
    assert "copier" not in publish_text.lower()
    # Only these two jobs run on the schedule's own behalf; neither runs on a merge request.
    for job in (update, publish):
        assert job["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "schedule"'}]
