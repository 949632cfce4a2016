"""`copier update` from every release in CHANGELOG.md to the working tree keeps the team's edits,
brings the template's changes, and leaves the project working.

Each release's template comes from the commit that added its CHANGELOG heading (docs/releasing.md),
so these tests need the repository's history but not its tags.
"""

from __future__ import annotations

import importlib.util
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import copier
import pytest
import yaml
from copier._cli import CopierApp

from .answer_sets import ANSWER_SETS
from .helpers import REPO, TEMPLATE_FILES, copy_template
from .services import run

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_CONFIG_NOSYSTEM": "1",
}
NEXT_VERSION = "v999.0.0"  # the working tree, as the release after every listed one


def _keep_behaviour_module():
    spec = importlib.util.spec_from_file_location(
        "keep_behaviour", REPO / "hooks" / "keep_behaviour.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The answers an update writes for questions a project predates (hooks/keep_behaviour.py).
KEEP_BEHAVIOUR = _keep_behaviour_module().KEEP_BEHAVIOUR


def git(*args: str | Path, cwd: Path) -> str:
    result = run(["git", *args], cwd=cwd, **GIT_ENV)
    assert result.returncode == 0, result.stderr
    return result.stdout


def releases() -> list[tuple[str, str]]:
    """(version, commit) of every release in CHANGELOG.md, oldest first."""
    if git("rev-parse", "--is-shallow-repository", cwd=REPO).strip() == "true":
        pytest.fail(
            "This clone is shallow: the update tests need the commits of earlier releases. "
            "Fetch them with `git fetch --unshallow` (.ci/run does)."
        )
    versions = re.findall(r"^## (\d+\.\d+\.\d+) \(", (REPO / "CHANGELOG.md").read_text(), re.M)
    found = []
    for version in reversed(versions):
        commits = git(
            "log",
            "--reverse",
            "--format=%H",
            "-S",
            f"## {version} (",
            "--",
            "CHANGELOG.md",
            cwd=REPO,
        ).split()
        if not commits:
            pytest.fail(
                f"No commit adds release {version} to CHANGELOG.md: is this a shallow clone? "
                "Fetch the history with `git fetch --unshallow`."
            )
        found.append((version, commits[0]))
    return found


def template_at(commit: str, dst: Path) -> Path:
    """The template's files as they were at commit."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", commit, *TEMPLATE_FILES],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout
    dst.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(dst, filter="data")
    return dst


def template_repository(tmp_path: Path, release: tuple[str, str]) -> Path:
    """A git repository of the template: the release, tagged, then the working tree as the next."""
    version, commit = release
    repo = template_at(commit, tmp_path / "template")
    git("init", "--quiet", "--initial-branch=main", cwd=repo)
    git("add", "--all", cwd=repo)
    git("commit", "--quiet", f"--message=release {version}", cwd=repo)
    git("tag", f"v{version}", cwd=repo)
    for name in TEMPLATE_FILES:
        run(["rm", "-rf", name], cwd=repo)
    copy_template(repo)
    git("add", "--all", cwd=repo)
    git("commit", "--quiet", "--allow-empty", "--message=the working tree", cwd=repo)
    git("tag", NEXT_VERSION, cwd=repo)
    return repo


def generate_and_commit(template: Path, project: Path, version: str, answers: dict) -> None:
    copier.run_copy(
        str(template),
        project,
        data=answers,
        defaults=True,
        unsafe=True,
        quiet=True,
        vcs_ref=version,
    )
    git("init", "--quiet", "--initial-branch=main", cwd=project)
    git("add", "--all", cwd=project)
    git("commit", "--quiet", "--message=generated", cwd=project)


def update(project: Path, **options) -> None:
    """`copier update` as the tests run it: the documented command's choices, without prompts."""
    copier.run_update(project, defaults=True, overwrite=True, unsafe=True, quiet=True, **options)


def oldest_release_project(tmp_path: Path) -> tuple[Path, Path]:
    """(template repository, project): a project generated and committed at the oldest release
    with the defaults, and the template whose next release is the working tree."""
    oldest = releases()[0]
    template = template_repository(tmp_path, oldest)
    project = tmp_path / "project"
    generate_and_commit(template, project, f"v{oldest[0]}", {})
    return template, project


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{path} no longer contains {old!r}: update the test's team edits"
    path.write_text(text.replace(old, new, 1))


def make_team_edits(project: Path, slug: str) -> dict[Path, str]:
    """The edits a real team makes after generating; return each file with a line it must keep."""
    edit(
        project / "config" / "settings" / "base.py",
        f'    "{slug}.core",\n',
        f'    "{slug}.core",\n    "{slug}.billing",\n',
    )
    edit(
        project / "README.md",
        "## Run it locally\n",
        "Owned by the payments team; on call: #payments-oncall.\n\n## Run it locally\n",
    )
    with (project / "requirements" / "base.in").open("a") as base_in:
        base_in.write("stripe\n")
    edit(
        project / "config" / "urls.py",
        '    path("accounts/", include("allauth.urls")),\n',
        '    path("accounts/", include("allauth.urls")),\n'
        '    path("billing/", include("billing.urls")),\n',
    )
    git("commit", "--quiet", "--all", "--message=team edits", cwd=project)
    return {
        project / "config" / "settings" / "base.py": f'"{slug}.billing",',
        project / "README.md": "Owned by the payments team",
        project / "requirements" / "base.in": "stripe",
        project / "config" / "urls.py": 'include("billing.urls")',
    }


def assert_no_conflicts(project: Path) -> None:
    marked = [
        str(path.relative_to(project))
        for path in project.rglob("*")
        if path.is_file()
        and ".git" not in path.parts
        and re.search(r"^(<<<<<<<|>>>>>>>) ", path.read_text(errors="replace"), re.M)
    ]
    assert marked == [], f"conflict markers in {marked}"
    assert list(project.rglob("*.rej")) == []


# Between them: MFA with WebAuthn, MFA for everyone with open signup, and no MFA at all.
UPDATE_ANSWER_SETS = ["defaults", "docker-apache", "vps-caddy"]


@pytest.mark.parametrize("release", releases(), ids=lambda release: release[0])
@pytest.mark.parametrize("answer_set", UPDATE_ANSWER_SETS)
def test_update_from_a_release_keeps_the_teams_edits(
    tmp_path, release, answer_set, project_python_for
):
    template = template_repository(tmp_path, release)
    project = tmp_path / "project"
    answers = ANSWER_SETS[answer_set]
    generate_and_commit(template, project, f"v{release[0]}", answers)
    stored = yaml.safe_load((project / ".copier-answers.yml").read_text())
    env_before = (project / ".env").read_bytes()
    kept = make_team_edits(project, stored["project_slug"])

    update(project, skip_answered=answer_set == "vps-caddy")

    assert_no_conflicts(project)
    for path, line in kept.items():
        assert line in path.read_text(), f"the team's edit of {path.name} was lost"
    after = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert after["_commit"] == NEXT_VERSION
    # The release's answers stay; a question that switches a feature on and that the release did
    # not ask yet keeps the project's behaviour; the others take the defaults they have for those
    # answers (as a new project generated with the same answers gets them).
    old = {name: value for name, value in stored.items() if not name.startswith("_")}
    kept_off = {name: value for name, value in KEEP_BEHAVIOUR.items() if name not in old}
    fresh = tmp_path / "fresh"
    copier.run_copy(
        str(template), fresh, data=old | kept_off, defaults=True, unsafe=True, quiet=True
    )
    expected = yaml.safe_load((fresh / ".copier-answers.yml").read_text())
    assert {name: after[name] for name in after if not name.startswith("_")} == {
        name: value for name, value in expected.items() if not name.startswith("_")
    }
    assert {name: after[name] for name in old} == old
    assert (project / ".env").read_bytes() == env_before

    # The team's app and URLs do not exist in this test; everything else must still pass.
    edit(
        project / "config" / "settings" / "base.py",
        f'    "{stored["project_slug"]}.billing",\n',
        "",
    )
    edit(project / "config" / "urls.py", '    path("billing/", include("billing.urls")),\n', "")
    suite = run(
        [
            project_python_for(stored["python_version"]),
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
        ],
        cwd=project,
    )
    assert suite.returncode == 0, suite.stdout[-3000:]


# A settings comment that the next release of the update tests rewords.
SETTINGS_LINE = "# Every environment sets these; DEBUG is never on unless"


def edit_as_the_next_release(repo: Path, settings_line: str) -> None:
    """The template's next release: a README paragraph more, and SETTINGS_LINE reworded."""
    edit(
        repo / "template" / "README.md.jinja",
        "## Run it locally\n",
        "## Run it locally\n\nA paragraph the next release adds.\n",
    )
    edit(repo / "template" / "config" / "settings" / "base.py.jinja", SETTINGS_LINE, settings_line)


@pytest.fixture
def next_release_changes(tmp_path):
    """A template repository whose next release changes a README paragraph and a settings line."""
    release = releases()[-1]
    repo = template_repository(tmp_path, release)
    edit_as_the_next_release(repo, "# Every environment sets these, and DEBUG is never on unless")
    git("commit", "--quiet", "--all", "--message=next release", cwd=repo)
    git("tag", "--force", NEXT_VERSION, cwd=repo)
    return repo, release


def test_the_next_releases_changes_arrive_beside_the_teams_edits(tmp_path, next_release_changes):
    template, release = next_release_changes
    project = tmp_path / "project"
    generate_and_commit(template, project, f"v{release[0]}", {})
    kept = make_team_edits(project, "my_site")

    update(project)

    assert_no_conflicts(project)
    assert "A paragraph the next release adds." in (project / "README.md").read_text()
    assert (
        "these, and DEBUG is never on" in (project / "config" / "settings" / "base.py").read_text()
    )
    for path, line in kept.items():
        assert line in path.read_text()


def test_a_line_both_sides_changed_is_marked_and_nothing_is_lost(tmp_path, next_release_changes):
    """docs/updating.md: both versions stay in the file between conflict markers."""
    template, release = next_release_changes
    project = tmp_path / "project"
    generate_and_commit(template, project, f"v{release[0]}", {})
    base = project / "config" / "settings" / "base.py"
    edit(base, SETTINGS_LINE, "# Ours: DEBUG stays off unless")
    git("commit", "--quiet", "--all", "--message=our wording", cwd=project)

    update(project)

    text = base.read_text()
    assert re.search(
        r"<<<<<<< before updating\n# Ours: DEBUG stays off unless.*\n=======\n"
        r"# Every environment sets these, and DEBUG is never on unless.*\n>>>>>>> after updating",
        text,
    ), text
    assert "A paragraph the next release adds." in (project / "README.md").read_text()


def test_turning_mfa_on_by_update_adds_only_the_missing_key(tmp_path, project_python_for):
    template = template_repository(tmp_path, releases()[-1])
    project = tmp_path / "project"
    generate_and_commit(template, project, f"v{releases()[-1][0]}", {"mfa": "none"})
    env_before = (project / ".env").read_text()
    assert "DJANGO_MFA_KEY" not in env_before

    update(project, data={"mfa": "totp"})

    env_after = (project / ".env").read_text()
    assert env_after.startswith(env_before)
    assert re.fullmatch(r"DJANGO_MFA_KEY='[A-Za-z0-9_-]{43}='\n", env_after[len(env_before) :])
    check = run([project_python_for("3.12"), "manage.py", "check"], cwd=project)
    assert check.returncode == 0, check.stderr


def test_generation_tasks_do_not_run_again_on_update(tmp_path):
    release = releases()[-1]
    template = template_repository(tmp_path, release)
    project = tmp_path / "project"
    generate_and_commit(template, project, f"v{release[0]}", {})
    (project / ".env").unlink()  # git-ignored: the tree stays clean

    update(project)

    assert not (project / ".env").exists()
    assert NEXT_VERSION in (project / ".copier-answers.yml").read_text()


def asked_questions(copier_yml: str) -> dict[str, dict]:
    """The questions of a copier.yml, without the settings and the computed values."""
    return {
        name: spec
        for name, spec in yaml.safe_load(copier_yml).items()
        if not name.startswith("_") and spec.get("when") is not False
    }


# Questions added since a release that switch nothing on, so an update may take their defaults.
# A question belongs here only when its default changes nothing the project exposes or runs.
NOT_A_FEATURE: set[str] = set()


@pytest.mark.parametrize("release", releases(), ids=lambda release: release[0])
def test_every_question_added_since_a_release_keeps_an_old_projects_behaviour(release):
    """hooks/keep_behaviour.py answers every new unconditional question, or it switches nothing on.

    A question with a `when` is asked only after another answer switched its feature on.
    """
    then = asked_questions(git("show", f"{release[1]}:copier.yml", cwd=REPO))
    now = asked_questions((REPO / "copier.yml").read_text())
    added = {name for name, spec in now.items() if name not in then and "when" not in spec}
    assert added - KEEP_BEHAVIOUR.keys() - NOT_A_FEATURE == set(), (
        "a new question's default would reach existing projects on `copier update --defaults`: "
        "add the answer that keeps their behaviour to hooks/keep_behaviour.py, or the question "
        "to NOT_A_FEATURE if its default switches nothing on"
    )
    for name, value in KEEP_BEHAVIOUR.items():
        question = now[name]
        choices = question.get("choices")
        if choices:
            values = [c["value"] if isinstance(c, dict) else c for c in choices.values()]
            assert value in values, f"{name}: {value!r} is not one of its choices"
        else:
            assert question["type"] == "bool" and isinstance(value, bool), name


@pytest.mark.parametrize("skip_answered", [False, True], ids=["all", "skip-answered"])
def test_update_with_defaults_switches_on_no_feature_the_project_predates(tmp_path, skip_answered):
    """docs/updating.md, "New questions": the oldest release had no uploads, CI or Sentry."""
    template, project = oldest_release_project(tmp_path)
    slug = yaml.safe_load((project / ".copier-answers.yml").read_text())["project_slug"]

    update(project, skip_answered=skip_answered)

    after = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert after["_commit"] == NEXT_VERSION
    assert {name: after[name] for name in KEEP_BEHAVIOUR} == {
        "uploads": "none",
        "ci": "none",
        "dependency_updates": "none",
        "sentry": False,
    }
    assert not (project / slug / "uploads").exists()
    assert f'"{slug}.uploads"' not in (project / "config" / "settings" / "base.py").read_text()
    assert "uploads.urls" not in (project / "config" / "urls.py").read_text()
    assert not (project / ".github").exists()
    assert not (project / ".gitlab-ci.yml").exists()
    assert not (project / "renovate.json").exists()
    assert not (project / "config" / "sentry.py").exists()

    # A new project from the same release still gets every feature by default.
    fresh = tmp_path / "fresh"
    copier.run_copy(str(template), fresh, defaults=True, unsafe=True, quiet=True)
    assert (fresh / slug / "uploads").is_dir()
    assert (fresh / ".github" / "dependabot.yml").exists()
    assert list((fresh / ".github" / "workflows").iterdir())
    assert (fresh / "config" / "sentry.py").exists()


@pytest.fixture
def next_release_asks(tmp_path):
    """A template repository whose next release (the working tree) also adds one question."""
    oldest = releases()[0]
    repo = template_repository(tmp_path, oldest)
    with (repo / "copier.yml").open("a") as config:
        config.write(
            "\nteam_channel:\n"
            "  type: str\n"
            "  help: The chat channel of the team on call.\n"
            '  default: "#ops"\n'
        )
    git("commit", "--quiet", "--all", "--message=next release asks more", cwd=repo)
    git("tag", "--force", NEXT_VERSION, cwd=repo)
    return repo, oldest


@pytest.mark.parametrize(
    ("flags", "asks_only_new"),
    [(["--skip-answered"], True), ([], False)],
    ids=["documented", "without-skip-answered"],
)
def test_the_documented_update_command_asks_only_the_new_questions(
    tmp_path, monkeypatch, next_release_asks, flags, asks_only_new
):
    """README, docs/updating.md and the generated README: `copier update --trust --skip-answered`.

    Copier's own command line runs here; its prompt is replaced by one that records each question
    and takes its default, as a person pressing Enter would.
    """
    template, oldest = next_release_asks
    project = tmp_path / "project"
    generate_and_commit(template, project, f"v{oldest[0]}", {})
    asked = []

    def prompt(questions, answers):
        # As questionary's prompt: a question whose `when` is false is not shown.
        (question,) = questions
        if question.get("when", lambda _: True)(answers):
            asked.append(question["name"])
        return answers

    monkeypatch.setattr("copier._main.unsafe_prompt", prompt)
    monkeypatch.chdir(project)
    _, status = CopierApp.run(["copier", "update", "--trust", *flags], exit=False)

    assert status == 0
    assert yaml.safe_load((project / ".copier-answers.yml").read_text())["team_channel"] == "#ops"
    if asks_only_new:
        # The release's 16 questions are not asked again, nor those the migration answered to
        # keep the project's behaviour (hooks/keep_behaviour.py); the new one is.
        assert asked == ["team_channel"]
    else:
        assert len(asked) > len(asked_questions(git("show", f"{oldest[1]}:copier.yml", cwd=REPO)))


@pytest.mark.parametrize(
    "doc", ["README.md", "docs/updating.md", "template/README.md.jinja"], ids=str
)
def test_every_documented_update_command_is_the_one_tested(doc):
    """The command the test above runs is the one each document tells users to run."""
    commands = re.findall(r"`?(copier update [^`#\n]*)", (REPO / doc).read_text())
    assert commands
    for command in commands:
        assert command.startswith("copier update --trust --skip-answered"), command


UPDATE_SCRIPT = ["scripts/update.py", "--defaults", "--skip-checks"]
VIA_BASE_IN = "    # via -r requirements/base.in\n"


@pytest.fixture
def next_release_conflicts(tmp_path, next_release_changes):
    """The next release also changes a lock-file line, and carries its CHANGELOG.md."""
    repo, release = next_release_changes
    edit(
        repo / "template" / "requirements" / "base.txt",
        VIA_BASE_IN,
        "    # via\n    #   -r requirements/base.in\n    #   django-allauth\n",
    )
    shutil.copy(REPO / "CHANGELOG.md", repo / "CHANGELOG.md")
    git("add", "CHANGELOG.md", cwd=repo)
    git("commit", "--quiet", "--all", "--message=next release: a lock file", cwd=repo)
    git("tag", "--force", NEXT_VERSION, cwd=repo)
    return repo, release


def add_update_script(project: Path) -> None:
    """The script as a project generated at a release that has it holds it (0.1.0 did not)."""
    (project / "scripts").mkdir(exist_ok=True)
    shutil.copy2(REPO / "template" / "scripts" / "update.py", project / "scripts" / "update.py")
    git("add", "scripts", cwd=project)
    git("commit", "--quiet", "--message=generated with the update script", cwd=project)


def run_update_script(
    project: Path, python: Path, script: list[str] = UPDATE_SCRIPT
) -> subprocess.CompletedProcess[str]:
    return run(
        [python, *script],
        cwd=project,
        PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}",  # where copier is
        **GIT_ENV,
    )


def test_the_update_script_resolves_lock_files_and_lists_the_conflicts_left(
    tmp_path, next_release_conflicts, project_python_for
):
    """The generated README's update command: a team edit that conflicts, a recompiled lock file."""
    template, release = next_release_conflicts
    project = tmp_path / "project"
    generate_and_commit(template, project, f"v{release[0]}", {})
    add_update_script(project)
    settings = project / "config" / "settings" / "base.py"
    edit(
        settings,
        "# Every environment sets these; DEBUG is never on unless",
        "# Ours: DEBUG stays off unless",
    )
    # A dependency added, and the lock file recompiled (the line pip-compile changes).
    with (project / "requirements" / "base.in").open("a") as base_in:
        base_in.write("tomli-w\n")
    edit(
        project / "requirements" / "base.txt",
        VIA_BASE_IN,
        "    # via\n    #   -r requirements/base.in\n    #   tomli-w\n",
    )
    git("commit", "--quiet", "--all", "--message=team edits", cwd=project)

    result = run_update_script(project, project_python_for("3.12"))

    assert result.returncode == 1, result.stdout + result.stderr
    left = result.stdout.split("Conflicts to resolve")[1]
    assert re.findall(r"^  (\S+)$", left, re.M) == ["config/settings/base.py"], result.stdout
    assert "<<<<<<< before updating\n# Ours: DEBUG stays off" in settings.read_text()
    for lock in (project / "requirements").glob("*.txt"):
        assert not re.search(r"^(<<<<<<<|=======|>>>>>>>)", lock.read_text(), re.M), lock.name
    assert re.search(
        r"^tomli-w==\S+ \\\n    --hash=sha256:",
        (project / "requirements" / "base.txt").read_text(),
        re.M,
    )
    assert "tomli-w" in (project / "requirements" / "dev.txt").read_text()
    # The CHANGELOG entries of the releases crossed, newest first, down to the project's release.
    assert f"from v{release[0]} to {NEXT_VERSION}" in result.stdout
    assert "## Unreleased" in result.stdout
    assert f"## {release[0]} (" not in result.stdout


def test_the_update_script_refuses_a_dirty_tree(
    tmp_path, next_release_conflicts, project_python_for
):
    template, release = next_release_conflicts
    project = tmp_path / "project"
    generate_and_commit(template, project, f"v{release[0]}", {})
    add_update_script(project)
    (project / "README.md").write_text("work in progress\n")
    answers = (project / ".copier-answers.yml").read_text()

    result = run_update_script(project, project_python_for("3.12"))

    assert result.returncode == 2
    assert "uncommitted changes; commit or stash them first" in result.stderr
    assert " M README.md" in result.stderr
    assert (project / ".copier-answers.yml").read_text() == answers


def test_the_update_script_exits_zero_when_nothing_is_left(
    tmp_path, next_release_changes, project_python_for
):
    template, release = next_release_changes
    project = tmp_path / "project"
    generate_and_commit(template, project, f"v{release[0]}", {})
    add_update_script(project)
    make_team_edits(project, "my_site")

    result = run_update_script(project, project_python_for("3.12"))

    assert result.returncode == 0, result.stdout + result.stderr
    assert "No conflict left" in result.stdout
    assert "A paragraph the next release adds." in (project / "README.md").read_text()
    # This template repository has no CHANGELOG.md: the script says so rather than failing.
    assert "CHANGELOG.md could not be read" in result.stdout


def changelog_sections() -> dict[str, str]:
    """Each `## ` section of CHANGELOG.md by its first word: a version, or "Unreleased"."""
    parts = re.split(r"^## ", (REPO / "CHANGELOG.md").read_text(), flags=re.M)[1:]
    return {part.split()[0]: part for part in parts}


@pytest.mark.parametrize("release", releases(), ids=lambda release: release[0])
def test_every_question_added_after_a_release_is_named_in_the_next_entry(release):
    """docs/releasing.md: the entry names each new question, with its defaults."""
    ordered = releases()
    following = ordered.index(release) + 1
    if following < len(ordered):
        section = changelog_sections()[ordered[following][0]]
        config = git("show", f"{ordered[following][1]}:copier.yml", cwd=REPO)
    else:
        section = changelog_sections()["Unreleased"]
        config = (REPO / "copier.yml").read_text()
    then = asked_questions(git("show", f"{release[1]}:copier.yml", cwd=REPO))
    added = sorted(set(asked_questions(config)) - set(then))
    missing = [name for name in added if f"`{name}`" not in section]
    assert missing == [], f"CHANGELOG.md's entry after {release[0]} does not name {missing}"


def test_a_feature_the_project_predates_is_switched_on_by_choosing_it(tmp_path):
    """docs/updating.md, "New questions": `--data` wins over the answer that keeps behaviour."""
    _, project = oldest_release_project(tmp_path)

    update(project, data={"uploads": "images", "ci": "github"}, skip_answered=True)

    after = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert (after["uploads"], after["ci"], after["sentry"]) == ("images", "github", False)
    assert (project / "my_site" / "uploads").is_dir()
    assert list((project / ".github" / "workflows").iterdir())
    # Dependabot is a feature of its own: choosing CI does not switch it on.
    assert after["dependency_updates"] == "none"


# The template's files that the layout release moved (hooks/carry_moves.py carries the team's
# edits of what they generate); the release before is the parent of the first commit deleting one.
MOVED_TEMPLATE_FILES = [
    "template/{{project_slug}}/security/client_ip.py",
    "template/{{project_slug}}/security/account_guard.py",
    "template/{{project_slug}}/templates/{% if uploads != 'none' %}uploads{% endif %}/files.html",
    "template/{{project_slug}}/{% if uploads != 'none' %}uploads{% endif %}/validation.py.jinja",
]


def release_before_the_moves() -> tuple[str, str]:
    """(version, commit) of the template just before the layout moved files, as a release."""
    deleting = git(
        "log", "--diff-filter=D", "--format=%H", "--", *MOVED_TEMPLATE_FILES, cwd=REPO
    ).split()
    assert deleting, "no commit moves the files: is this a shallow clone?"
    return "0.1.1", git("rev-parse", f"{deleting[-1]}^", cwd=REPO).strip()


@pytest.fixture
def moved_files_project(tmp_path):
    """A project generated before the moves, committed with the team's edits of files that the
    working tree moves, a split included; returns it with each edit's new home and line."""
    release = release_before_the_moves()
    template = template_repository(tmp_path, release)
    project = tmp_path / "project"
    answers = {"uploads": "images_and_documents"}
    generate_and_commit(template, project, f"v{release[0]}", answers)
    site = project / "my_site"
    edit(
        site / "security" / "client_ip.py",
        "    # Several X-Forwarded-For headers in one request arrive joined by commas, in order.\n",
        "    # Our CDN sends two X-Forwarded-For headers, which arrive joined by commas.\n",
    )
    edit(
        site / "templates" / "uploads" / "files.html",
        "  <h1>Your files</h1>\n",
        "  <h1>Your files</h1>\n  <p>Invoices only, please.</p>\n",
    )
    validation = site / "uploads" / "validation.py"
    edit(validation, "MAX_PDF_OBJECTS = 100_000\n", "MAX_PDF_OBJECTS = 250_000\n")
    edit(
        validation,
        '        raise refuse("empty", "The file is empty.", extension, size)\n',
        '        raise refuse("empty", "The file is empty.", extension, size)  # from our forms\n',
    )
    git(
        "commit", "--quiet", "--all", "--message=team edits of files the release moves", cwd=project
    )
    return (
        template,
        project,
        {
            site / "core" / "client_ip.py": "Our CDN sends two X-Forwarded-For headers, which",
            site / "uploads" / "templates" / "uploads" / "files.html": "Invoices only, please.",
            site / "uploads" / "validation" / "pdf.py": "MAX_PDF_OBJECTS = 250_000\n",
            site / "uploads" / "validation" / "__init__.py": "size)  # from our forms\n",
        },
    )


def test_the_teams_edits_of_moved_files_follow_them(moved_files_project):
    """docs/updating.md, "Moved files": a file moved whole is merged into its new place, a file
    split into modules has each edit carried to the module that holds its lines."""
    _, project, carried = moved_files_project

    update(project)

    assert_no_conflicts(project)
    for path, line in carried.items():
        assert line in path.read_text(), f"the team's edit did not reach {path.name}"
    site = project / "my_site"
    for old in ["security/client_ip.py", "templates/uploads/files.html", "uploads/validation.py"]:
        assert not (site / old).exists(), old
    # The new release's own changes to the moved files arrived with the edits.
    assert (
        "from my_site.core.counting import increment"
        in (site / "uploads" / "limits.py").read_text()
    )
    assert "def check_pdf(" in (site / "uploads" / "validation" / "pdf.py").read_text()


def test_without_the_migration_copier_loses_a_moved_files_edit(moved_files_project):
    """Why hooks/carry_moves.py exists: Copier merges by path, so it deletes the old file, edits and
    all, and reports nothing. If Copier learns to follow moves, this fails: drop the hook then."""
    template, project, carried = moved_files_project
    copier_yml = template / "copier.yml"
    edit(copier_yml, '      - "{{ _copier_conf.src_path }}/hooks/carry_moves.py"\n', "")
    edit(copier_yml, '      - "{{ _copier_conf.src_path }}"\n', '      - "-c"\n      - "pass"\n')
    git("commit", "--quiet", "--all", "--message=no carrying", cwd=template)
    git("tag", "--force", NEXT_VERSION, cwd=template)

    update(project)

    assert_no_conflicts(project)
    assert not any(line in path.read_text() for path, line in carried.items())


def test_a_moved_files_edit_that_fits_nowhere_is_a_conflict_the_update_script_lists(
    moved_files_project, project_python_for
):
    """An edit of lines the release changed as it moved them: kept between conflict markers in the
    new file, and the update script lists it and exits non-zero."""
    _, project, _ = moved_files_project
    assert (project / "scripts" / "update.py").exists()  # generated by the release before the moves
    site = project / "my_site"
    edit(
        site / "uploads" / "validation.py",
        "from my_site.security.events import log_event\n",
        "from my_site.security.events import log_event  # and our audit trail\n",
    )
    edit(
        site / "security" / "account_guard.py",
        "from .counting import increment\n",
        "from .counting import increment  # shared with billing\n",
    )
    git("commit", "--quiet", "--all", "--message=edits of lines the release changes", cwd=project)

    # The project's own update.py, of the release before the moves: it predates --skip-checks.
    result = run_update_script(
        project, project_python_for("3.12"), ["scripts/update.py", "--defaults"]
    )

    assert result.returncode == 1, result.stdout + result.stderr
    left = result.stdout.split("Conflicts to resolve")[1]
    assert re.findall(r"^  (\S+)$", left, re.M) == [
        "my_site/accounts/account_guard.py",
        "my_site/uploads/validation/__init__.py",
    ], result.stdout
    guard = (site / "accounts" / "account_guard.py").read_text()
    assert re.search(
        r"<<<<<<< before updating\n.*# shared with billing\n.*=======\n"
        r"from \.\.core\.counting import increment\n.*>>>>>>> after updating\n",
        guard,
        re.S,
    ), guard
    init = (site / "uploads" / "validation" / "__init__.py").read_text()
    assert re.search(
        r"\n<<<<<<< before updating \(your edit of my_site/uploads/validation.py, .*\)\n"
        r".*import log_event  # and our audit trail\n.*=======\n"
        r".*import log_event\n.*>>>>>>> after updating\n\Z",
        init,
        re.S,
    ), init
    # The edits that fit are carried all the same.
    assert (
        "Invoices only, please."
        in (site / "uploads" / "templates" / "uploads" / "files.html").read_text()
    )


def release_before_the_deploy_notes_moved() -> tuple[str, str]:
    """(version, commit) of the template just before the deploy notes moved from README.md to
    deploy/README.md, as a release."""
    adding = git(
        "log", "--diff-filter=A", "--format=%H", "--", "template/deploy/README.md.jinja", cwd=REPO
    ).split()
    assert adding, "no commit adds deploy/README.md: is this a shallow clone?"
    return "0.1.2", git("rev-parse", f"{adding[-1]}^", cwd=REPO).strip()


def test_an_edit_of_the_deploy_notes_stays_in_the_readme_as_a_conflict(
    tmp_path, project_python_for
):
    """docs/updating.md, "Moved files": a team's edit of the deploy notes that left README.md is
    kept there between conflict markers, and the update script lists it; never dropped."""
    release = release_before_the_deploy_notes_moved()
    template = template_repository(tmp_path, release)
    project = tmp_path / "project"
    generate_and_commit(template, project, f"v{release[0]}", {})
    ours = "Our servers are web1 and web2, behind the office VPN."
    edit(
        project / "README.md",
        "The project runs on your own server: gunicorn under systemd",
        f"{ours} The project runs on your own server: gunicorn under systemd",
    )
    git("commit", "--quiet", "--all", "--message=our servers", cwd=project)

    result = run_update_script(project, project_python_for("3.12"))

    assert result.returncode == 1, result.stdout + result.stderr
    left = result.stdout.split("Conflicts to resolve")[1]
    assert re.findall(r"^  (\S+)$", left, re.M) == ["README.md"], result.stdout
    readme = (project / "README.md").read_text()
    assert re.search(
        rf"<<<<<<< before updating\n(?:.*\n)*?.*{re.escape(ours)}.*\n(?:.*\n)*?=======\n", readme
    ), readme
    assert (project / "deploy" / "README.md").exists()
