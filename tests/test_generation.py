"""The generation matrix: every answer set renders a clean project whose own checks pass."""

from __future__ import annotations

import json
import re
import shutil
import stat
import sys
from importlib.metadata import version
from pathlib import Path

import copier
import pytest
import yaml

from .answer_sets import ANSWER_SETS
from .services import run

PROD_ENV = {
    "DJANGO_SETTINGS_MODULE": "config.settings.prod",
    "DJANGO_SECRET_KEY": "t7#kq2$wz9!pm4@rx8%vn3^bc6&hj5*fd1(gs0)ly-e_u+oa=i",
    "DATABASE_URL": "postgres://site:password@127.0.0.1:5432/site",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "DJANGO_EMAIL_HOST": "smtp.example.net",
    # Read only by projects with MFA; a Fernet key (32 bytes, URL-safe base64).
    "DJANGO_MFA_KEY": "ZmFrZS1rZXktb2YtdGhpcnR5LXR3by1ieXRlcy0xMjM=",
    # Read only by projects that keep uploads in S3, or scan them with ClamAV.
    "DJANGO_UPLOAD_S3_BUCKET": "site-uploads",
    "DJANGO_UPLOAD_S3_REGION": "eu-west-1",
    "CLAMD_ADDRESS": "/run/clamav/clamd.ctl",
}

# copier.yml's computed values (when: false): facts derived from the answers, never answers.
COMPUTED_VALUES = {
    name
    for name, spec in yaml.safe_load(
        (Path(__file__).parent.parent / "copier.yml").read_text()
    ).items()
    if not name.startswith("_") and spec.get("when") is False
}

# GitHub Actions expressions (${{ ... }}) are not Jinja.
JINJA_MARKERS = re.compile(r"(?<!\$)\{\{|\{%|\{#")
# Jinja's whitespace control has no meaning in Django templates: left there, it is residue.
JINJA_ONLY_IN_DJANGO_TEMPLATES = re.compile(r"\{%-|-%\}|\{\{-|-\}\}|\{#-|-#\}|\bendraw\b|\{% raw")
TEXT_SUFFIXES = {".py", ".toml", ".md", ".txt", ".in", ".yml", ".yaml", ".cfg", ".html", ".css", ""}
TEXT_NAMES = {".env.example", ".gitignore"}


def answer_set_params():
    return [pytest.param(name, marks=pytest.mark.xdist_group(name)) for name in ANSWER_SETS]


@pytest.fixture(scope="module", params=answer_set_params())
def project(request, template_src, tmp_path_factory) -> Path:
    answers = ANSWER_SETS[request.param]
    dst = tmp_path_factory.mktemp(request.param) / "project"
    copier.run_copy(str(template_src), dst, data=answers, defaults=True, unsafe=True, quiet=True)
    return dst


@pytest.fixture(scope="module")
def project_python(project, project_python_for) -> Path:
    """The interpreter of the Python version the project was generated for."""
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    return project_python_for(answers["python_version"])


def text_files(project: Path) -> list[Path]:
    return sorted(
        path
        for path in project.rglob("*")
        if path.is_file()
        and (path.suffix in TEXT_SUFFIXES or path.name in TEXT_NAMES)
        and ".git" not in path.parts
    )


def test_nothing_is_left_of_the_template_language(project):
    leftovers = []
    for path in text_files(project):
        text = path.read_text()
        if path.name.endswith(".jinja"):
            leftovers.append(f"{path}: unrendered .jinja file")
        django_template = "templates" in path.relative_to(project).parts
        pattern = JINJA_ONLY_IN_DJANGO_TEMPLATES if django_template else JINJA_MARKERS
        leftovers += [
            f"{path.relative_to(project)}:{number}: {line.strip()}"
            for number, line in enumerate(text.splitlines(), start=1)
            if pattern.search(line)
        ]
    assert leftovers == []


def test_no_blank_line_scars_or_stray_whitespace(project):
    scars = []
    for path in text_files(project):
        text = path.read_text()
        name = path.relative_to(project)
        if not text:
            continue
        if not text.endswith("\n") or text.endswith("\n\n"):
            scars.append(f"{name}: must end with exactly one newline")
        if text.startswith("\n"):
            scars.append(f"{name}: starts with a blank line")
        if "\n\n\n\n" in text or (path.suffix != ".py" and "\n\n\n" in text):
            scars.append(f"{name}: a run of blank lines")
        scars += [
            f"{name}:{number}: trailing whitespace"
            for number, line in enumerate(text.splitlines(), start=1)
            if line != line.rstrip()
        ]
    assert scars == []


def test_ruff_finds_nothing(project, project_python):
    lint = run([project_python, "-m", "ruff", "check", "--no-cache", "."], cwd=project)
    assert lint.returncode == 0, lint.stdout + lint.stderr

    formatting = run(
        [project_python, "-m", "ruff", "format", "--check", "--no-cache", "."], cwd=project
    )
    assert formatting.returncode == 0, formatting.stdout + formatting.stderr


# A back-import against each layer of the contract (pyproject.toml, [tool.importlinter]): core
# importing an app, a feature app importing security, and one feature app importing the other.
BACK_IMPORTS = {
    "core/counting.py": "from ..security import alerts",
    "accounts/roles.py": "from ..security import lockout",
    "uploads/storage.py": "from ..accounts import roles",
}


def test_the_apps_depend_one_way(project, project_python, tmp_path):
    """lint-imports keeps the project's contract as generated, and fails a copy in which one
    module imports an app it must not (appended at the end: import-linter reads every import)."""
    lint_imports = [project_python.parent / "lint-imports", "--no-cache"]
    kept = run(lint_imports, cwd=project)
    assert kept.returncode == 0, kept.stdout + kept.stderr
    assert "Contracts: 1 kept, 0 broken." in kept.stdout

    slug = yaml.safe_load((project / ".copier-answers.yml").read_text())["project_slug"]
    for module, line in BACK_IMPORTS.items():
        path = Path(slug, module)
        if not (project / path).exists():
            continue
        copy = tmp_path / path.stem
        shutil.copytree(project, copy, ignore=shutil.ignore_patterns("__pycache__"))
        (copy / path).write_text((copy / path).read_text() + line + "\n")
        broken = run(lint_imports, cwd=copy)
        importer = ".".join(path.with_suffix("").parts)
        imported = f"{slug}.{line.split()[1].strip('.')}.{line.split()[-1]}"
        assert broken.returncode == 1, broken.stdout + broken.stderr
        # The report wraps long module names to the terminal's width.
        assert f"{importer} -> {imported}" in " ".join(broken.stdout.split()), broken.stdout


TOOLS = Path(sys.executable).parent


def test_the_pre_commit_configuration_is_valid_and_its_hooks_pass(project, tmp_path):
    """pre-commit cannot fetch the hooks' repositories here, so the same tools, at the same
    versions, run from PyPI on a copy of the project (several of them rewrite files)."""
    config = project / ".pre-commit-config.yaml"
    validated = run([TOOLS / "pre-commit", "validate-config", config], cwd=project)
    assert validated.returncode == 0, validated.stdout + validated.stderr
    revs = dict(
        re.findall(r"repo: https://github.com/\S+/(\S+)\n\s+rev: \"?v?([\d.]+)", config.read_text())
    )
    for hooks, package in [
        ("ruff-pre-commit", "ruff"),
        ("pre-commit-hooks", "pre-commit-hooks"),
        ("django-upgrade", "django-upgrade"),
        ("bandit", "bandit"),
        ("detect-secrets", "detect-secrets"),
    ]:
        assert revs[hooks] == version(package), f"{hooks} rev differs from the tested {package}"
    # The local lint-imports hook installs the import-linter that CI runs from the lock file
    # (test_the_apps_depend_one_way runs it).
    [pinned] = re.findall(r'"import-linter==([\d.]+)"', config.read_text())
    locked = re.search(
        r"^import-linter==([\d.]+) ", (project / "requirements" / "dev.txt").read_text(), re.M
    )
    assert pinned == locked.group(1), "the lint-imports hook's import-linter is not the locked one"

    # A fresh clone of the project, as the hooks see it: what git tracks (no .env, no database).
    copy = tmp_path / "copy"
    shutil.copytree(project, copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert run(["git", "init", "--quiet"], cwd=copy).returncode == 0
    assert run(["git", "add", "--all"], cwd=copy).returncode == 0
    files = [copy / name for name in run(["git", "ls-files"], cwd=copy).stdout.split()]
    python_files = [path for path in files if path.suffix == ".py"]
    commands = [
        ["check-added-large-files", *files],
        ["check-merge-conflict", *files],
        ["check-toml", copy / "pyproject.toml"],
        ["check-yaml", *[path for path in files if path.suffix in {".yml", ".yaml"}]],
        ["detect-private-key", *files],
        ["end-of-file-fixer", *files],
        ["trailing-whitespace-fixer", *files],
        ["django-upgrade", "--target-version", "6.1", *python_files],
        ["bandit", "--configfile", "pyproject.toml", "--severity-level", "medium", "-q", "-r", "."],
    ]
    for command in commands:
        result = run([TOOLS / command[0], *command[1:]], cwd=copy)
        assert result.returncode == 0, f"{command[0]}: {result.stdout}{result.stderr}"

    scan = run(
        [TOOLS / "detect-secrets", "scan", "--exclude-files", r"^(requirements/.*\.txt|tests/.*)$"],
        cwd=copy,
    )
    assert json.loads(scan.stdout)["results"] == {}


def test_the_generated_test_suite_passes(project, project_python):
    result = run([project_python, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=project)

    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    assert " passed" in result.stdout
    assert "skipped" not in result.stdout


# A file of the project as its docs and comments name it, from one of its top-level folders.
NAMED_PATH = re.compile(
    r"(?<![\w./-])((?:docs|tests|deploy|config|requirements|\.github)/[\w./-]*"
    r"\w\.(?:md|py|txt|in|conf|yml|yaml|service|socket))\b"
)


def test_generated_files_name_only_files_of_the_project(project):
    """The project stands alone: a file it points to, for figures or proof, is one of its own,
    never one of the template's (its docs/performance.md or tests/test_slow_dependencies.py)."""
    missing = [
        f"{path.relative_to(project)} names {named}"
        for path in text_files(project)
        for named in sorted(set(NAMED_PATH.findall(path.read_text())))
        if not (project / named).exists()
    ]
    assert missing == []


def test_every_test_the_security_doc_names_exists(project):
    """docs/security.md names the test that proves each control, as `test_x.py::test_y` or, for
    the same file again, `::test_y`; each must be a test of the generated suite."""
    doc = (project / "docs" / "security.md").read_text()
    named = []
    for row in (line for line in doc.splitlines() if line.startswith("|")):
        current = None
        for module, test in re.findall(r"`(test_\w+\.py)?::(test_\w+)`", row):
            current = module or current
            assert current, f"`::{test}` without a file before it in: {row}"
            named.append((current, test))
    assert len(named) > 20
    missing = [
        f"{module}::{test}"
        for module, test in named
        if not re.search(
            rf"^def {test}\(", (project / "tests" / module).read_text(errors="replace"), re.M
        )
    ]
    assert missing == []


def test_check_deploy_is_clean_with_prod_settings(project, project_python):
    result = run(
        [project_python, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=project,
        **PROD_ENV,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_dev_settings_run_migrations_on_sqlite(project, project_python):
    result = run([project_python, "manage.py", "migrate", "--noinput"], cwd=project)

    assert result.returncode == 0, result.stdout + result.stderr
    assert (project / "db.sqlite3").exists()
    assert run([project_python, "manage.py", "check"], cwd=project).returncode == 0


def test_the_answers_file_records_the_answers_and_no_secret(project, request):
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    secret = env_secret(project)

    for name, value in ANSWER_SETS[request.node.callspec.params["project"]].items():
        assert answers[name] == value
    assert secret not in (project / ".copier-answers.yml").read_text()
    # A computed value is derived from the answers again at every update: recorded, it would
    # be taken for an answer and keep its old value.
    assert sorted(COMPUTED_VALUES & answers.keys()) == []


def env_secret(project: Path) -> str:
    match = re.search(r"^DJANGO_SECRET_KEY='([^']+)'$", (project / ".env").read_text(), re.M)
    assert match, ".env has no DJANGO_SECRET_KEY"
    return match.group(1)


def test_env_holds_a_strong_private_dev_secret(project):
    secret = env_secret(project)

    assert len(secret) >= 50
    assert len(set(secret)) >= 5
    assert not secret.startswith("django-insecure")
    assert stat.S_IMODE((project / ".env").stat().st_mode) == 0o600
    assert ".env" in (project / ".gitignore").read_text().splitlines()
