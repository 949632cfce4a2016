"""The generated test suites pass on PostgreSQL and Redis too, as the generated CI runs them.

The servers come from Debian's packages (postgresql, redis-server; .ci/run installs them) and are
started here on loopback ports, in temporary folders, for this test session only.
"""

from __future__ import annotations

import copier
import pytest

from .answer_sets import ANSWER_SETS
from .services import run

pytestmark = pytest.mark.servers


@pytest.mark.parametrize("answer_set", ["defaults", "docker-apache"])
def test_the_generated_suite_passes_on_postgresql_and_redis(
    answer_set, template_src, tmp_path, postgres, redis, project_python_for
):
    answers = ANSWER_SETS[answer_set]
    project = tmp_path / "project"
    copier.run_copy(
        str(template_src), project, data=answers, defaults=True, unsafe=True, quiet=True
    )
    python = project_python_for(answers.get("python_version", "3.12"))
    # Each suite gets its own database (pytest-django adds the test_ prefix) and Redis database.
    database = f"{postgres}/fortress_{answer_set.replace('-', '_')}"
    redis_db = f"{redis}/{1 + list(ANSWER_SETS).index(answer_set)}"

    result = run(
        [python, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project,
        TEST_DATABASE_URL=database,
        TEST_REDIS_URL=redis_db,
    )

    assert result.returncode == 0, result.stdout[-4000:]
    assert " passed" in result.stdout
