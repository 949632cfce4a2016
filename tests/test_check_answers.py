"""scripts/check-answers lists every problem of a data file at once, in Copier's own words."""

from __future__ import annotations

import sys
from pathlib import Path

import copier
import pytest

from .helpers import REPO
from .services import run

CHECK = [sys.executable, REPO / "scripts" / "check-answers"]


def refusal(template_src: Path, tmp_path: Path, question: str, answer: object) -> str:
    """What `copier copy` says of this one answer (Copier's validators, nothing restated)."""
    with pytest.raises(ValueError) as refused:
        copier.run_copy(
            str(template_src),
            tmp_path / "alone",
            data={question: answer},
            defaults=True,
            unsafe=True,
            quiet=True,
        )
    return str(refused.value).split(": ", 1)[1]


def test_every_bad_answer_of_a_data_file_is_listed_with_copiers_message(template_src, tmp_path):
    bad = {
        "domain_name": "https://intranet.example.com",
        "admin_path": "admin",
        "security_contact": "security at example.com",
    }
    data_file = tmp_path / "company.yml"
    data_file.write_text(
        "".join(f"{name}: {value}\n" for name, value in bad.items()) + "hosting: docker\n"
    )

    result = run([*CHECK, data_file], cwd=tmp_path)

    assert result.returncode == 1, result.stderr
    assert f"{data_file}: 3 problems" in result.stdout
    for question, answer in bad.items():
        message = refusal(template_src, tmp_path, question, answer)
        assert f"  {question}: {message}\n" in result.stdout
    assert "hosting:" not in result.stdout


def test_a_refused_choice_and_a_misspelt_question_are_listed(tmp_path):
    data_file = tmp_path / "company.yml"
    data_file.write_text("hosting: paas\nproxy: nginx\ndomian_name: intranet.example.com\n")

    result = run([*CHECK, data_file], cwd=tmp_path)

    assert result.returncode == 1
    assert "  proxy: not with hosting paas\n" in result.stdout
    assert "  domian_name: not a question of the template\n" in result.stdout


def test_a_valid_data_file_passes(tmp_path):
    data_file = tmp_path / "company.yml"
    data_file.write_text("domain_name: intranet.example.com\nhosting: docker\nproxy: caddy\n")

    result = run([*CHECK, data_file], cwd=tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == f"{data_file}: every answer is valid\n"
