"""The release's software bill of materials (scripts/sbom.py): the real cyclonedx-py run offline on
requirements/prod.txt, the document checked against the CycloneDX schema and against the lock.

The checks here read the lock on their own, so that a weakened check in the script does not
weaken them too.
"""

import copy
import importlib.util
import json
import re
from pathlib import Path

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

ROOT = Path(__file__).resolve().parent.parent
LOCK = (ROOT / "requirements" / "prod.txt").read_text()
# A pin and the hashes under it, up to the first line that does not continue it.
PINNED = re.compile(r"^([A-Za-z0-9_.-]+)==(\S+)((?: \\\n +--hash=sha256:[0-9a-f]{64})+)$", re.M)


def load_script():
    spec = importlib.util.spec_from_file_location("sbom", ROOT / "scripts" / "sbom.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def script():
    return load_script()


@pytest.fixture(scope="module")
def release_sbom(script, tmp_path_factory) -> dict:
    """The SBOM the release jobs attach, made as they make it."""
    out = tmp_path_factory.mktemp("sbom") / "requirements.cdx.json"
    assert script.main(["--version", "v1.2.3", str(out)]) == 0
    return json.loads(out.read_text())


def test_the_sbom_is_valid_cyclonedx(release_sbom):
    errors = JsonStrictValidator(SchemaVersion.V1_6).validate_str(
        json.dumps(release_sbom), all_errors=True
    )

    assert release_sbom["bomFormat"] == "CycloneDX"
    assert release_sbom["specVersion"] == "1.6"
    assert [error.data.message for error in errors or ()] == []


def test_the_sbom_lists_every_pinned_package_with_its_version_and_hashes(release_sbom):
    components = {c["name"].lower().replace("_", "-"): c for c in release_sbom["components"]}
    pins = PINNED.findall(LOCK)

    assert len(pins) == len(re.findall(r"^\S+==", LOCK, re.M)), "every pin has hashes"
    assert len(components) == len(pins)
    for name, version, hash_lines in pins:
        component = components[name.lower().replace("_", "-")]
        hashes = {
            digest["content"]
            for reference in component["externalReferences"]
            for digest in reference["hashes"]
        }
        assert component["version"] == version, name
        assert component["purl"] == f"pkg:pypi/{name.lower()}@{version}", name
        assert hashes == set(re.findall(r"[0-9a-f]{64}", hash_lines)), name


def test_the_sbom_names_the_release_and_is_reproducible(script, release_sbom):
    assert script.generate(script.LOCK, "v1.2.3") == release_sbom
    assert release_sbom["metadata"]["component"]["version"] == "v1.2.3"
    assert "timestamp" not in release_sbom["metadata"]


def test_the_sbom_has_a_serial_number_of_its_own(script, release_sbom):
    # actions/attest (sbom-path) refuses a document as "Unsupported SBOM format" unless it has
    # bomFormat, serialNumber and specVersion; the serial number names this release's SBOM alone.
    other_release = script.generate(script.LOCK, "v1.2.4")

    assert release_sbom["bomFormat"] and release_sbom["specVersion"]
    assert re.fullmatch(r"urn:uuid:[0-9a-f-]{36}", release_sbom["serialNumber"])
    assert other_release["serialNumber"] != release_sbom["serialNumber"]


def test_a_broken_sbom_is_not_written_and_each_fault_is_named(
    script, release_sbom, monkeypatch, tmp_path, capsys
):
    broken = copy.deepcopy(release_sbom)
    by_name = {c["name"]: c for c in broken["components"]}
    broken["components"].remove(by_name["django"])
    by_name["gunicorn"]["version"] = "0.1"
    by_name["redis"]["externalReferences"][0]["hashes"].pop()
    broken["components"][0]["type"] = "gadget"
    broken["components"].append({**by_name["six"], "name": "six-extra", "bom-ref": "intruder"})
    monkeypatch.setattr(script, "generate", lambda lock, version: broken)
    out = tmp_path / "requirements.cdx.json"

    assert script.main([str(out)]) == 1
    assert not out.exists()
    errors = capsys.readouterr().err
    assert "django: pinned in the lock, missing from the SBOM" in errors
    assert "gunicorn: 0.1 in the SBOM" in errors
    assert "redis: the SBOM's hashes are not the lock's" in errors
    assert "schema: 'gadget' is not one of" in errors
    assert "six-extra: in the SBOM, not in the lock" in errors


def test_a_pin_with_extras_a_marker_or_dots_is_checked_like_any_other(script):
    digest = "0" * 64
    lock = f'Foo.Bar[speedups]==1.0+local;python_version<"3.13" \\\n    --hash=sha256:{digest}\n'
    # As cyclonedx-py lists it: the package URL keeps the name's dots and encodes the "+".
    component = {
        "name": "Foo.Bar",
        "version": "1.0+local",
        "purl": "pkg:pypi/foo.bar@1.0%2Blocal",
        "externalReferences": [{"hashes": [{"alg": "SHA-256", "content": digest}]}],
    }
    sbom = {"components": [component]}

    assert script.pinned(lock) == {"foo-bar": ("1.0+local", {digest})}
    assert [found for found in script.problems(sbom, lock) if not found.startswith("schema")] == []
    component["version"] = "1.1"
    assert "foo-bar: 1.1 in the SBOM, 1.0+local in the lock" in script.problems(sbom, lock)
