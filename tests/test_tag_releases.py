"""scripts/tag-releases recreates the release tags from CHANGELOG.md, idempotently, and never moves
a tag (docs/releasing.md). Each test runs it in a temporary clone of this repository."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .helpers import REPO
from .services import run
from .test_update import GIT_ENV, git, releases


def clone(tmp_path: Path, *options: str) -> Path:
    repo = tmp_path / "clone"
    git("clone", "--quiet", *options, f"file://{REPO}", repo, cwd=tmp_path)
    for tag in git("tag", "--list", cwd=repo).split():
        git("tag", "--delete", tag, cwd=repo)
    # The script of the working tree, which the clone's commit may not have yet.
    shutil.copy2(REPO / "scripts" / "tag-releases", repo / "scripts" / "tag-releases")
    return repo


def tag_releases(repo: Path):
    return run([repo / "scripts" / "tag-releases"], cwd=repo, **GIT_ENV)


@pytest.fixture
def repo(tmp_path):
    return clone(tmp_path)


def test_each_release_in_the_changelog_is_tagged_on_the_commit_that_added_it(repo):
    result = tag_releases(repo)

    assert result.returncode == 0, result.stderr
    expected = {f"v{version}": commit for version, commit in releases()}
    assert expected
    tagged = {
        tag: git("rev-parse", f"{tag}^{{commit}}", cwd=repo).strip()
        for tag in git("tag", "--list", cwd=repo).split()
    }
    assert tagged == expected
    # Copier reads the release from the tag: a template clone is versioned again.
    newest = releases()[-1][0]
    assert git("describe", "--tags", "--abbrev=0", cwd=repo).strip() == f"v{newest}"


def test_running_it_again_changes_nothing(repo):
    assert tag_releases(repo).returncode == 0
    before = git("show-ref", "--tags", cwd=repo)

    again = tag_releases(repo)

    assert again.returncode == 0, again.stderr
    assert "already on" in again.stdout
    assert git("show-ref", "--tags", cwd=repo) == before


def test_a_tag_on_another_commit_is_named_and_never_moved(repo):
    version, release_commit = releases()[0]
    elsewhere = git("rev-parse", "HEAD", cwd=repo).strip()
    assert elsewhere != release_commit
    git("tag", f"v{version}", elsewhere, cwd=repo)

    result = tag_releases(repo)

    assert result.returncode == 1
    assert f"v{version}: points at {elsewhere}" in result.stderr
    assert git("rev-parse", f"v{version}^{{commit}}", cwd=repo).strip() == elsewhere


def test_a_shallow_clone_is_refused(tmp_path):
    repo = clone(tmp_path, "--depth=1")

    result = tag_releases(repo)

    assert result.returncode == 2
    assert "git fetch --unshallow" in result.stderr
    assert git("tag", "--list", cwd=repo).strip() == ""
