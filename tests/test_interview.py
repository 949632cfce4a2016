"""The interview refuses bad answers with a message that says what is expected, and leaves nothing
behind: through Copier's API, through `copier copy --data`, and at a real terminal prompt."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import copier
import pexpect
import pytest
from copier.errors import TaskError

from .services import run

COPIER = Path(sys.executable).parent / "copier"

# (question, bad answer, part of the message that must explain what is expected)
BAD_ANSWERS = [
    ("project_name", "   ", "must not be empty"),
    ("project_name", 'Evil "quote', "may not contain"),
    ("project_slug", "my site", "may not contain spaces"),
    ("project_slug", "MySite", "must be lowercase"),
    ("project_slug", "1site", "must start with a letter"),
    ("project_slug", "my-site", "only lowercase letters, digits and underscores"),
    ("project_slug", "class", "Python keyword"),
    ("project_slug", "import", "Python keyword"),
    ("project_slug", "django", "module the project imports"),
    ("project_slug", "config", "module the project imports"),
    ("project_slug", "test", "module the project imports"),
    ("project_slug", "site", "module the project imports"),
    ("project_slug", "logging", "module the project imports"),
    ("project_slug", "", "must not be empty"),
    ("description", "x" * 201, "at most 200 characters"),
    ("author_name", "", "must not be empty"),
    ("domain_name", "https://example.com", "without a scheme"),
    ("domain_name", "example.com/app", "without a path"),
    ("domain_name", "example.com:8443", "without a port"),
    ("domain_name", "*.example.com", "Wildcards are not allowed"),
    ("domain_name", "exa mple.com", "may not contain spaces"),
    ("domain_name", "Example.COM", "lowercase"),
    ("domain_name", "localhost", "not a valid host name"),
    ("domain_name", "192.168.1.10", "not a valid host name"),
    ("domain_name", "-bad-.example.com", "not a valid host name"),
    ("domain_name", "a" * 70 + ".example.com", "at most 80 characters"),
    ("author_email", "not-an-email", "not a valid email address"),
    ("author_email", "dev@localhost", "not a valid email address"),
    ("author_email", "dev..team@example.com", "not a valid email address"),
    ("security_contact", "security at example.com", "not a valid email address"),
    ("security_contact", "security@example.com ", "not a valid email address"),
    # A trailing newline would split the generated Python, TOML and Markdown.
    ("security_contact", "security@example.com\n", "not a valid email address"),
    ("author_email", "dev@example.com\n", "not a valid email address"),
    ("project_slug", "site_tools\n", "may not contain spaces"),
    ("admin_path", "backoffice\n", "may not contain spaces"),
    ("domain_name", "example.com\n", "may not contain spaces"),
    # Bidirectional overrides and other invisible characters would hide what the code says.
    ("project_name", "Admin\u202e\u2066 x", "invisible formatting characters"),
    ("author_name", "Team\u200b", "invisible formatting characters"),
    ("description", "Line\u2028break", "invisible formatting characters"),
    ("admin_path", "admin", "first path scanners try"),
    ("admin_path", "Admin", "first path scanners try"),
    ("admin_path", "staff/console", "without slashes"),
    ("admin_path", "/backoffice/", "without slashes"),
    ("admin_path", "staff console", "may not contain spaces"),
    ("admin_path", "static", "used by other parts of the project"),
    ("admin_path", "ab", "3 to 50"),
    ("admin_path", "", "must not be empty"),
    ("trusted_proxy_count", -1, "at least 1 proxy is trusted"),
    ("trusted_proxy_count", 0, "at least 1 proxy is trusted"),
    ("trusted_proxy_count", 50, "not a plausible deployment"),
    ("python_version", "3.11", "Invalid choice"),
    ("hosting", "kubernetes", "Invalid choice"),
    ("ci", "jenkins", "Invalid choice"),
]

# Answers that must stay accepted: the validators may not be stricter than they claim.
GOOD_ANSWERS = [
    ("project_slug", "site2"),
    ("project_slug", "a_b_c"),
    ("project_name", "O'Brien & Sons"),
    ("domain_name", "xn--bcher-kva.example"),
    ("domain_name", "a-b.c.example.co.uk"),
    ("author_email", "first.last+django@mail.example.org"),
    ("admin_path", "staff-console_2"),
    ("trusted_proxy_count", 1),
    ("trusted_proxy_count", 5),
    ("project_name", "Café Zürich"),
]


def render(template_src: Path, dst: Path, **answers: object) -> None:
    copier.run_copy(str(template_src), dst, data=answers, defaults=True, unsafe=True, quiet=True)


@pytest.mark.parametrize(("question", "answer", "expected"), BAD_ANSWERS)
def test_a_bad_answer_is_refused_and_nothing_is_written(
    template_src, tmp_path, question, answer, expected
):
    dst = tmp_path / "project"

    with pytest.raises(ValueError, match=question) as refused:
        render(template_src, dst, **{question: answer})

    message = str(refused.value)
    assert expected in message
    assert "\n" not in message, "the message should read as one line at the prompt"
    assert not dst.exists()


@pytest.mark.parametrize(
    ("hosting", "proxy", "expected"),
    [
        ("paas", "nginx", "not with hosting paas"),
        ("paas", "caddy", "not with hosting paas"),
        ("vps", "platform", "only with hosting paas"),
        ("docker", "platform", "only with hosting paas"),
    ],
)
def test_a_proxy_that_does_not_fit_the_hosting_is_refused(
    template_src, tmp_path, hosting, proxy, expected
):
    dst = tmp_path / "project"

    with pytest.raises(ValueError, match="proxy") as refused:
        render(template_src, dst, hosting=hosting, proxy=proxy)

    assert expected in str(refused.value)
    assert not dst.exists()


@pytest.mark.parametrize("ci", ["gitlab", "none"])
def test_dependabot_is_refused_without_github(template_src, tmp_path, ci):
    dst = tmp_path / "project"

    with pytest.raises(ValueError, match="dependency_updates") as refused:
        render(template_src, dst, ci=ci, dependency_updates="dependabot")

    assert "only with ci github" in str(refused.value)
    assert not dst.exists()


def test_the_proxy_default_follows_the_hosting(template_src, tmp_path):
    render(template_src, tmp_path / "paas", hosting="paas")
    render(template_src, tmp_path / "vps", hosting="vps")

    assert "proxy: platform" in (tmp_path / "paas" / ".copier-answers.yml").read_text()
    assert "proxy: nginx" in (tmp_path / "vps" / ".copier-answers.yml").read_text()


@pytest.mark.parametrize(("question", "answer"), GOOD_ANSWERS)
def test_a_good_answer_is_accepted(template_src, tmp_path, question, answer):
    render(template_src, tmp_path / "project", **{question: answer})

    assert (tmp_path / "project" / ".copier-answers.yml").exists()


def test_the_command_line_exits_non_zero_with_the_message(template_src, tmp_path):
    dst = tmp_path / "project"

    result = run(
        [
            COPIER,
            "copy",
            "--trust",
            "--defaults",
            "--data",
            "project_slug=My Site",
            template_src,
            dst,
        ],
        cwd=tmp_path,
    )

    assert result.returncode != 0
    assert "Validation error for question 'project_slug'" in result.stderr
    assert "may not contain spaces" in result.stderr
    assert not dst.exists()


def test_a_data_file_is_validated_like_the_prompt(template_src, tmp_path):
    data_file = tmp_path / "company.yml"
    data_file.write_text("domain_name: https://intranet.example.com\n")
    dst = tmp_path / "project"

    result = run(
        [COPIER, "copy", "--trust", "--defaults", "--data-file", data_file, template_src, dst],
        cwd=tmp_path,
    )

    assert result.returncode != 0
    assert "without a scheme" in result.stderr
    assert not dst.exists()


def test_a_failed_task_leaves_no_half_written_project(template_src, tmp_path):
    """If generation fails after rendering began, Copier removes the folder it created."""
    broken = tmp_path / "broken-template"
    shutil.copytree(template_src, broken)
    (broken / "hooks" / "write_env.py").write_text("raise SystemExit('disk full')\n")
    dst = tmp_path / "project"

    with pytest.raises(TaskError, match=r"write_env\.py"):
        render(broken, dst)

    assert not dst.exists()


@pytest.fixture
def terminal(template_src, tmp_path):
    """copier copy at a real pseudo-terminal, as a person would run it."""
    dst = tmp_path / "project"
    child = pexpect.spawn(
        str(COPIER),
        ["copy", "--trust", str(template_src), str(dst)],
        cwd=str(tmp_path),
        env={**os.environ, "TERM": "xterm"},
        encoding="utf-8",
        dimensions=(40, 200),
        timeout=30,
    )
    yield child, dst
    child.close(force=True)


CLEAR_LINE = "\x15"  # Ctrl+U: the prompt is pre-filled with the default.


def answer(child: pexpect.spawn, text: str) -> None:
    child.send(CLEAR_LINE)
    child.send(text + "\r")


def test_the_terminal_prompt_refuses_a_bad_answer_and_accepts_a_corrected_one(terminal):
    child, dst = terminal

    child.expect("human name of the site")
    answer(child, "Acme Billing")
    child.expect("Python package name")
    answer(child, "AcmeBilling")
    child.expect("must be lowercase")
    answer(child, "acme billing")
    child.expect("may not contain spaces")
    answer(child, "import")
    child.expect("Python keyword")
    answer(child, "acme_billing")
    child.expect("One sentence")
    child.sendcontrol("c")
    child.expect(pexpect.EOF)
    child.close()

    assert child.exitstatus != 0
    assert not dst.exists()


def test_the_terminal_prompt_completes_a_whole_interview(terminal):
    child, dst = terminal
    prompts = [
        ("human name of the site", None),
        ("Python package name", None),
        ("One sentence", None),
        ("owns the project", None),
        ("public host name", "https://shop.example.com"),
    ]
    for prompt, reply in prompts:
        child.expect(prompt)
        if reply is None:
            child.send("\r")
        else:
            answer(child, reply)
    child.expect("without a scheme")
    answer(child, "shop.example.com")
    # Every remaining question takes its default.
    child.expect("owner")
    for _ in range(40):
        child.send("\r")
        if child.expect([pexpect.EOF, pexpect.TIMEOUT], timeout=0.5) == 0:
            break
    else:
        child.expect(pexpect.EOF, timeout=60)
    child.close()

    assert child.exitstatus == 0, child.before
    answers = (dst / ".copier-answers.yml").read_text()
    assert "domain_name: shop.example.com" in answers
    assert "security_contact: security@shop.example.com" in answers
    assert (dst / ".env").exists()
