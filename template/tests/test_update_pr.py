"""The step of an update pull request that holds the forge's token pushes only what the update
job makes (scripts/update_pr.py push).

The update job runs the template's code, so its output is untrusted: the push step accepts a
branch named `template-update/<version>` that is exactly one commit on the commit it checked out,
and never moves an existing branch. Each test plays a tampered update job against a real bare
git repository standing for the forge.
"""

import importlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_CONFIG_NOSYSTEM": "1",
}
BRANCH = "template-update/v2.0.0"


def git(*args, cwd: Path) -> str:
    done = subprocess.run(
        [shutil.which("git"), *map(str, args)],
        cwd=cwd,
        env=GIT_ENV,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def commit(repo: Path, name: str) -> str:
    (repo / name).write_text(f"{name}\n")
    git("add", name, cwd=repo)
    git("commit", "--quiet", f"--message={name}", cwd=repo)
    return git("rev-parse", "HEAD", cwd=repo)


@pytest.fixture
def forge(tmp_path):
    """A bare repository whose main holds the project's update scripts, and two clones of it:
    the update job's, and the push job's checkout (the commit the update job started from)."""
    seed = tmp_path / "seed"
    (seed / "scripts").mkdir(parents=True)
    for name in ("update.py", "update_pr.py"):
        shutil.copy2(SCRIPTS / name, seed / "scripts" / name)
    (seed / ".copier-answers.yml").write_text("_commit: v1.0.0\n")
    git("init", "--quiet", "--initial-branch=main", cwd=seed)
    git("add", "--all", cwd=seed)
    git("commit", "--quiet", "--message=generated", cwd=seed)
    remote = tmp_path / "forge.git"
    git("clone", "--quiet", "--bare", seed, remote, cwd=tmp_path)
    update_job = tmp_path / "update-job"
    push_job = tmp_path / "push-job"
    git("clone", "--quiet", remote, update_job, cwd=tmp_path)
    git("clone", "--quiet", remote, push_job, cwd=tmp_path)
    return remote, update_job, push_job


def hand_over(update_job: Path, out: Path, ref: str, name: str = BRANCH) -> None:
    """What the update job leaves for the push job: a bundle of ref over main, and its name."""
    out.mkdir(exist_ok=True)
    git("bundle", "create", out / "update.bundle", ref, "^origin/main", cwd=update_job)
    (out / "branch").write_text(f"{name}\n")


def push(push_job: Path, out: Path, remote: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "scripts/update_pr.py", "push", str(out), "--remote", str(remote)],
        cwd=push_job,
        env={**GIT_ENV, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_update_branch_is_pushed(forge, tmp_path):
    remote, update_job, push_job = forge
    git("switch", "--quiet", "--create", BRANCH, cwd=update_job)
    tip = commit(update_job, "updated")
    hand_over(update_job, tmp_path / "out", BRANCH)

    pushed = push(push_job, tmp_path / "out", remote)

    assert pushed.returncode == 0, pushed.stderr
    assert git("rev-parse", BRANCH, cwd=remote) == tip


def test_a_push_to_the_default_branch_is_refused(forge, tmp_path):
    """A fast-forward of main itself, which git alone would accept."""
    remote, update_job, push_job = forge
    main = git("rev-parse", "main", cwd=remote)
    commit(update_job, "straight-to-main")
    hand_over(update_job, tmp_path / "out", "main", name="main")

    refused = push(push_job, tmp_path / "out", remote)

    assert refused.returncode != 0
    assert "Refusing the branch name 'main'" in refused.stderr
    assert git("rev-parse", "main", cwd=remote) == main


def test_a_branch_with_more_than_the_update_is_refused(forge, tmp_path):
    remote, update_job, push_job = forge
    git("switch", "--quiet", "--create", BRANCH, cwd=update_job)
    commit(update_job, "hidden")
    commit(update_job, "updated")
    hand_over(update_job, tmp_path / "out", BRANCH)

    refused = push(push_job, tmp_path / "out", remote)

    assert refused.returncode != 0
    assert "is not one commit on top of" in refused.stderr
    assert git("branch", "--list", BRANCH, cwd=remote) == ""


def test_an_existing_update_branch_is_left_alone(forge, tmp_path):
    """Next week's run, or another update job's output: the open request keeps its branch."""
    remote, update_job, push_job = forge
    git("switch", "--quiet", "--create", BRANCH, cwd=update_job)
    first = commit(update_job, "updated")
    git("push", "--quiet", "origin", BRANCH, cwd=update_job)
    git("switch", "--quiet", "--force-create", BRANCH, "origin/main", cwd=update_job)
    commit(update_job, "updated-differently")
    hand_over(update_job, tmp_path / "out", BRANCH)

    again = push(push_job, tmp_path / "out", remote)

    assert again.returncode == 0, again.stderr
    assert "already exists on the remote" in again.stdout
    assert git("rev-parse", BRANCH, cwd=remote) == first


def test_a_description_gives_gitlab_no_quick_action(monkeypatch):
    """The description is the update job's output, a template release's CHANGELOG in it: a line
    GitLab would run as a quick action in the token's name (/merge once the pipeline passes,
    /approve) reaches the merge request as text."""
    monkeypatch.syspath_prepend(str(SCRIPTS))
    update_pr = importlib.import_module("update_pr")
    monkeypatch.setenv("TEMPLATE_UPDATE_TOKEN", "token")
    monkeypatch.setenv("CI_API_V4_URL", "https://gitlab.example.org/api/v4")
    monkeypatch.setenv("CI_PROJECT_ID", "7")
    changelog = "## v2.0.0\n\nFaster.\n/merge\n  /approve\n\t/target_branch other\nSee a/b /c.\n"

    request = update_pr.request_for("gitlab", BRANCH, "main", changelog)

    description = json.loads(request.data)["description"]
    assert not re.search(r"^\s*/", description, re.M)
    assert description.replace("\\/", "/") == changelog


@pytest.mark.parametrize("planted", ["description.md", "branch"])
def test_a_link_handed_over_is_not_followed_into_the_request(monkeypatch, tmp_path, planted):
    """Where artifacts keep links (GitLab's runner does), the update job can hand over
    description.md as a link to /proc/self/environ: the request step would read its own token
    into the request's description."""
    monkeypatch.syspath_prepend(str(SCRIPTS))
    update_pr = importlib.import_module("update_pr")
    monkeypatch.setenv("TEMPLATE_UPDATE_TOKEN", "the-write-token")
    monkeypatch.setenv("CI_API_V4_URL", "https://gitlab.example.org/api/v4")
    monkeypatch.setenv("CI_PROJECT_ID", "7")
    sent = []
    monkeypatch.setattr(
        update_pr.urllib.request, "urlopen", lambda request, **_: sent.append(request)
    )
    secret = tmp_path / "environ"
    secret.write_text(f"{BRANCH}\nTEMPLATE_UPDATE_TOKEN=the-write-token\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / "branch").write_text(f"{BRANCH}\n")
    (out / "description.md").write_text("Updates the project.\n")
    (out / "pushed").write_text(f"{BRANCH}\n")
    (out / planted).unlink()
    (out / planted).symlink_to(secret)

    with pytest.raises(SystemExit, match=f"Refusing {planted} from the update job"):
        update_pr.main(["open", str(out), "--forge", "gitlab", "--base", "main"])

    assert sent == []


def test_a_pushed_mark_handed_over_is_not_written_through(forge, tmp_path):
    """Only the push step says what it pushed; a mark from the update job, a link to a file of
    the push job's checkout, is replaced, not written through."""
    remote, update_job, push_job = forge
    git("switch", "--quiet", "--create", BRANCH, cwd=update_job)
    commit(update_job, "updated")
    hand_over(update_job, tmp_path / "out", BRANCH)
    (tmp_path / "out" / "pushed").symlink_to(push_job / "scripts" / "update.py")

    pushed = push(push_job, tmp_path / "out", remote)

    assert pushed.returncode == 0, pushed.stderr
    assert (push_job / "scripts" / "update.py").read_text() == (SCRIPTS / "update.py").read_text()
    assert not (tmp_path / "out" / "pushed").is_symlink()
    assert (tmp_path / "out" / "pushed").read_text() == f"{BRANCH}\n"
