"""The named mutants of tests/mutants.py still apply: each edit's text occurs exactly once in the
file it weakens, in a project generated from the working tree or in the template itself. A
mutant whose text moved would otherwise stop weakening anything, and `make mutants` would report
it instead of testing the control."""

import pytest

from .answer_sets import ANSWER_SETS
from .helpers import REPO
from .mutants import PROJECT_MUTANTS, TEMPLATE_MUTANTS


def test_mutant_names_are_unique():
    names = [mutant.name for mutant in PROJECT_MUTANTS + TEMPLATE_MUTANTS]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("answers", sorted({mutant.answers for mutant in PROJECT_MUTANTS}))
def test_each_project_mutant_applies_once(generate, answers):
    project = generate(**ANSWER_SETS[answers])

    for mutant in PROJECT_MUTANTS:
        if mutant.answers == answers:
            text = (project / mutant.path).read_text()
            assert text.count(mutant.old) == 1, mutant.name


def test_each_template_mutant_applies_once():
    for mutant in TEMPLATE_MUTANTS:
        assert (REPO / mutant.path).read_text().count(mutant.old) == 1, mutant.name
