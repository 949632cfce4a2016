"""The interview refuses bad answers with a message that says what is expected, and leaves nothing
behind: through Copier's API, through `copier copy --data`, and at a real terminal prompt."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import copier
import pexpect
import pytest
import yaml
from copier.errors import TaskError
from prompt_toolkit.utils import get_cwidth

from .services import run

COPIER = Path(sys.executable).parent / "copier"

# (question, bad answer, part of the message that must explain what is expected)
BAD_ANSWERS = [
    ("project_name", "   ", "must not be empty"),
    ("project_name", 'Evil "quote', "may not contain"),
    ("description", "a {{ b }}", "may not contain"),
    ("project_slug", "my site", "may not contain spaces"),
    ("project_slug", "MySite", "must be lowercase"),
    ("project_slug", "1site", "must start with a letter"),
    ("project_slug", "my-site", "only a-z, 0-9 and _"),
    ("project_slug", "class", "Python keyword or module name"),
    ("project_slug", "import", "Python keyword or module name"),
    ("project_slug", "django", "Python keyword or module name"),
    ("project_slug", "config", "Python keyword or module name"),
    ("project_slug", "test", "Python keyword or module name"),
    ("project_slug", "site", "Python keyword or module name"),
    ("project_slug", "logging", "Python keyword or module name"),
    ("project_slug", "", "must not be empty"),
    ("description", "x" * 201, "at most 200 characters"),
    ("author_name", "", "must not be empty"),
    ("domain_name", "https://example.com", "remove the scheme"),
    ("domain_name", "example.com/app", "remove the path"),
    ("domain_name", "example.com:8443", "remove the port"),
    ("domain_name", "*.example.com", "no wildcard"),
    ("domain_name", "exa mple.com", "may not contain spaces"),
    ("domain_name", "Example.COM", "lowercase"),
    ("domain_name", "localhost", "not a valid host name"),
    ("domain_name", "192.168.1.10", "not a valid host name"),
    ("domain_name", "-bad-.example.com", "not a valid host name"),
    ("domain_name", "a" * 70 + ".example.com", "at most 80 characters"),
    ("author_email", "not-an-email", "not a valid email address"),
    ("author_email", "dev@Example.com", "domain in lowercase"),
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
    ("project_name", "Admin\u202e\u2066 x", "invisible character"),
    ("author_name", "Team\u200b", "invisible character"),
    ("description", "Line\u2028break", "invisible character"),
    ("admin_path", "admin", "first path scanners try"),
    ("admin_path", "Admin", "first path scanners try"),
    ("admin_path", "staff/console", "without slashes"),
    ("admin_path", "/backoffice/", "without slashes"),
    ("admin_path", "staff console", "may not contain spaces"),
    ("admin_path", "static", "used by other parts of the project"),
    ("admin_path", "ab", "3 to 50"),
    ("admin_path", "-staff", "start with a letter or digit"),
    ("admin_path", "staff.console", "only a-z, 0-9, - and _"),
    ("admin_path", "", "must not be empty"),
    ("trusted_proxy_count", -1, "at least 1"),
    ("trusted_proxy_count", 0, "at least 1"),
    ("trusted_proxy_count", 50, "at most 5"),
    ("upload_max_mb", 0, "at least 1"),
    ("upload_max_mb", 2048, "at most 1024"),
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
    assert fits_the_validation_toolbar(message)
    assert not dst.exists()


def fits_the_validation_toolbar(message: str) -> bool:
    """The prompt shows a refusal in a one-line toolbar: at 80 columns, 79 are read."""
    return "\n" not in message and get_cwidth(message) < 80


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
    assert fits_the_validation_toolbar(str(refused.value))
    assert not dst.exists()


@pytest.mark.parametrize("ci", ["gitlab", "none"])
def test_dependabot_is_refused_without_github(template_src, tmp_path, ci):
    dst = tmp_path / "project"

    with pytest.raises(ValueError, match="dependency_updates") as refused:
        render(template_src, dst, ci=ci, dependency_updates="dependabot")

    assert "only with ci github" in str(refused.value)
    assert fits_the_validation_toolbar(str(refused.value))
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
    assert "remove the scheme" in result.stderr
    assert not dst.exists()


def test_a_failed_task_leaves_no_half_written_project(template_src, tmp_path):
    """If generation fails after rendering began, Copier removes the folder it created."""
    broken = tmp_path / "broken-template"
    shutil.copytree(template_src, broken)
    script = broken / "template" / "scripts" / "write_env.py.jinja"
    script.write_text("raise SystemExit('disk full')\n")
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
        dimensions=(24, 80),
        timeout=30,
    )
    yield child, dst
    child.close(force=True)


CLEAR_LINE = "\x15"  # Ctrl+U: the prompt is pre-filled with the default.


def answer(child: pexpect.spawn, text: str) -> None:
    child.send(CLEAR_LINE)
    child.send(text + "\r")


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
    child.expect("remove the scheme")
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


class Screen:
    """A real 80x24 terminal: tmux runs the command, and capture-pane reads back what a person sees
    (what the prompt cut at the edge is not there)."""

    def __init__(self, command: list[str], cwd: Path, width: int = 80, height: int = 24) -> None:
        if shutil.which("tmux") is None:
            pytest.fail("tmux is not installed (Debian: tmux; .ci/run installs it)")
        self.width = width
        # A server of its own, so that the test never touches anyone's tmux sessions.
        self.tmux = ["tmux", "-L", f"interview-{uuid.uuid4().hex}", "-f", "/dev/null"]
        env = ["env", "TERM=xterm-256color", "LANG=C.UTF-8"]
        # The shell stays after the command ends, so that its last screen can still be read.
        shell_command = " ".join(map(shlex.quote, [*env, *command])) + "; sleep 600"
        size = ["-x", str(width), "-y", str(height)]
        subprocess.run(
            [*self.tmux, "new-session", "-d", *size, "-c", str(cwd), shell_command], check=True
        )

    def lines(self) -> list[str]:
        captured = subprocess.run(
            [*self.tmux, "capture-pane", "-p"], check=True, capture_output=True, text=True
        )
        return captured.stdout.splitlines()

    def wait_for(self, text: str, timeout: float = 30) -> list[str]:
        """Wait until text is on the screen, whole (line breaks and runs of spaces aside)."""
        wanted = " ".join(text.split())
        deadline = time.monotonic() + timeout
        while True:
            lines = self.lines()
            if wanted in " ".join(" ".join(lines).split()):
                return lines
            if time.monotonic() > deadline:
                screen = "\n".join(lines)
                pytest.fail(f"not on the screen, or not whole: {text!r}\n{screen}")
            time.sleep(0.1)

    def type(self, text: str) -> None:
        subprocess.run([*self.tmux, "send-keys", "-l", "--", text], check=True)

    def press(self, *keys: str) -> None:
        subprocess.run([*self.tmux, "send-keys", *keys], check=True)

    def close(self) -> None:
        subprocess.run([*self.tmux, "kill-server"], check=False)


def asked_questions() -> dict[str, dict]:
    """copier.yml's questions that the interview asks, in its order (computed values are not)."""
    questions = yaml.safe_load((Path(__file__).parent.parent / "copier.yml").read_text())
    return {
        name: question
        for name, question in questions.items()
        if not name.startswith("_") and question.get("when") is not False
    }


@pytest.fixture
def screen(template_src, tmp_path):
    opened: list[Screen] = []

    def open_interview(dst: Path) -> Screen:
        opened.append(
            Screen([str(COPIER), "copy", "--trust", str(template_src), str(dst)], tmp_path)
        )
        return opened[-1]

    yield open_interview
    for each in opened:
        each.close()


def assert_nothing_cut(screen: Screen, lines: list[str]) -> None:
    """A line that reaches the right edge is one the prompt cut off."""
    cut = [line for line in lines if get_cwidth(line) >= screen.width]
    assert not cut, "\n".join(lines)


# Arrow presses that pick an answer other than the default, so that choices refused by another
# answer (and the questions that answer brings) are on the screen too.
PAAS_ON_GITLAB = {"hosting": ["Down", "Down"], "ci": ["Down"], "dependency_updates": []}


@pytest.mark.parametrize("moves", [{}, PAAS_ON_GITLAB], ids=["defaults", "paas-on-gitlab"])
def test_every_question_reads_whole_in_an_80_column_terminal(screen, tmp_path, moves):
    terminal = screen(tmp_path / "project")

    for name, question in asked_questions().items():
        lines = terminal.wait_for(question["help"])
        assert_nothing_cut(terminal, lines)
        if name == "proxy" and moves:
            for refused in ("nginx (not with hosting paas)", "caddy (not with hosting paas)"):
                terminal.wait_for(refused)
        if name == "dependency_updates" and moves:
            terminal.wait_for("dependabot (only with ci github)")
        terminal.press(*moves.get(name, []), "Enter")

    terminal.wait_for("Your project is ready", timeout=60)
    assert (tmp_path / "project" / ".copier-answers.yml").exists()


def typed_at_the_prompt(answer: object) -> bool:
    """Answers a person can type into the text prompt (Enter submits, so no line break)."""
    return isinstance(answer, int) or (str(answer).isprintable() and answer != "")


# What a person types after each refusal, to move on to the next question.
CORRECTED = {
    "project_name": "Acme Billing",
    "project_slug": "acme_billing",
    "description": "Invoices for Acme.",
    "author_name": "The Billing Team",
    "domain_name": "billing.example.com",
    "author_email": "team@billing.example.com",
    "trusted_proxy_count": "1",
    "admin_path": "staff-console",
    "upload_max_mb": "10",
    "security_contact": "security@billing.example.com",
}


def test_every_refusal_reads_whole_in_an_80_column_terminal(template_src, screen, tmp_path):
    refusals: dict[str, list[tuple[str, str]]] = {}
    for question, answer, _ in BAD_ANSWERS:
        if not typed_at_the_prompt(answer) or question in {"python_version", "hosting", "ci"}:
            continue
        with pytest.raises(ValueError) as refused:
            render(template_src, tmp_path / "api", **{question: answer})
        refusals.setdefault(question, []).append((str(answer), str(refused.value)))
    terminal = screen(tmp_path / "project")

    for name, question in asked_questions().items():
        terminal.wait_for(question["help"])
        for answer, message in refusals.pop(name, []):
            terminal.press("C-u")
            terminal.type(answer)
            terminal.press("Enter")
            lines = terminal.wait_for(message)
            assert message in lines, f"{message!r} is not on one line:\n" + "\n".join(lines)
            terminal.press("C-u")
            terminal.type(CORRECTED[name])
            # The refusal stays on screen until the answer changes; wait for it to go.
            deadline = time.monotonic() + 10
            while message in terminal.lines() and time.monotonic() < deadline:
                time.sleep(0.1)
        terminal.press("Enter")
        if not refusals:
            break

    assert not refusals, f"questions not reached: {sorted(refusals)}"


def test_the_terminal_prompt_refuses_a_bad_answer_and_accepts_a_corrected_one(screen, tmp_path):
    dst = tmp_path / "project"
    terminal = screen(dst)

    terminal.wait_for("human name of the site")
    terminal.press("C-u")
    terminal.type("Acme Billing")
    terminal.press("Enter")
    for bad, refusal in [
        ("AcmeBilling", "must be lowercase"),
        ("acme billing", "may not contain spaces"),
        ("import", "a Python keyword"),
    ]:
        terminal.wait_for("Python package name")
        terminal.press("C-u")
        terminal.type(bad)
        terminal.press("Enter")
        terminal.wait_for(f"Validation error for question 'project_slug': {refusal}")
    terminal.press("C-u")
    terminal.type("acme_billing")
    terminal.press("Enter")
    terminal.wait_for("One sentence")
    terminal.press("C-c")
    terminal.wait_for("Execution stopped by user")

    assert not dst.exists()
