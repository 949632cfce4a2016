"""The generation matrix covers every choice of every question in copier.yml."""

from pathlib import Path

import yaml

from .answer_sets import ANSWER_SETS

COPIER_YML = Path(__file__).resolve().parent.parent / "copier.yml"


def questions() -> dict[str, dict]:
    config = yaml.safe_load(COPIER_YML.read_text())
    # A computed value (when: false) is not a question: nothing answers it.
    return {
        name: spec
        for name, spec in config.items()
        if not name.startswith("_") and spec.get("when") is not False
    }


def choice_values(spec: dict) -> list[object]:
    choices = spec["choices"]
    if isinstance(choices, list):
        return choices
    return [value["value"] if isinstance(value, dict) else value for value in choices.values()]


def test_every_choice_of_every_question_is_generated():
    uncovered = []
    for name, spec in questions().items():
        if "choices" in spec:
            expected = choice_values(spec)
        elif spec.get("type") == "bool":
            expected = [True, False]
        else:
            continue
        # A set that leaves a question out takes its default; a default computed from other
        # answers (Jinja) counts as no value, so those choices must be given explicitly.
        default = spec.get("default")
        if isinstance(default, str) and "{{" in default:
            default = None
        used = {answers.get(name, default) for answers in ANSWER_SETS.values()}
        uncovered += [f"{name}={value!r}" for value in expected if value not in used]

    assert uncovered == [], f"no answer set generates: {', '.join(uncovered)}"


def test_every_free_text_question_is_answered_other_than_by_default():
    untouched = [
        name
        for name, spec in questions().items()
        if "choices" not in spec
        and spec.get("type") != "bool"
        and not any(name in answers for answers in ANSWER_SETS.values())
    ]

    assert untouched == []
