"""The production environment is one list: the variables config/settings/prod.py reads are those
.env.example documents, those the README's table explains, and those the tests clear before
loading production's settings."""

import re

import pytest

from config.environment import Environment

from .conftest import ENV_EXAMPLE, PROD_ENV_NAMES, VALID_PROD_ENV

README = ENV_EXAMPLE.parent / "README.md"


@pytest.fixture
def names_read(monkeypatch):
    """Every variable name production's settings read while they load, through Environment."""
    names = []
    get = Environment._get

    def recording_get(self, name):
        names.append(name)
        return get(self, name)

    monkeypatch.setattr(Environment, "_get", recording_get)
    return names


def test_production_reads_exactly_the_variables_env_example_documents(
    names_read, load_prod_settings
):
    load_prod_settings(**VALID_PROD_ENV)

    read, documented = set(names_read), set(PROD_ENV_NAMES)
    assert sorted(read - documented) == [], "read by production, missing from .env.example"
    assert sorted(documented - read) == [], "in .env.example, but production never reads it"
    assert len(PROD_ENV_NAMES) == len(documented), ".env.example documents a variable twice"


def test_no_variable_of_the_test_runners_environment_reaches_production_settings(
    monkeypatch, names_read, load_prod_settings
):
    load_prod_settings(**VALID_PROD_ENV)
    # A value most readers refuse, in every variable production reads: the settings still load,
    # because the tests clear each one before loading them (ImproperlyConfigured names any that
    # leaked through).
    for name in set(names_read):
        monkeypatch.setenv(name, "not a valid value")

    prod = load_prod_settings(**VALID_PROD_ENV)

    assert [name for name in dir(prod) if "not a valid value" in repr(getattr(prod, name))] == []


def test_the_readme_explains_every_variable_env_example_documents():
    table = README.read_text().split("| variable | required | meaning |", 1)[1].split("\n\n", 1)[0]
    first_cells = "\n".join(row.split(" | ", 1)[0] for row in table.splitlines())
    explained = set(re.findall(r"`([A-Z][A-Z0-9_]*)`", first_cells))
    # Commented out in .env.example: read by other software (boto3's credentials, for example).
    documented = set(re.findall(r"^(?:# )?([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(), re.M))

    assert sorted(set(PROD_ENV_NAMES) - explained) == [], "missing from the README's table"
    assert sorted(explained - documented) == [], "in the README's table, not in .env.example"
