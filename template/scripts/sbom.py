"""Write the software bill of materials of requirements/prod.txt, as CycloneDX JSON, and check it.

    .venv/bin/python scripts/sbom.py [--version VERSION] [OUT]     (OUT: sbom/requirements.cdx.json)

The release jobs of CI run this command on each tag and attach OUT to the release; run it on a
checkout of the tag to get the same file byte for byte (it carries no timestamp, its serial number
is derived from its content, and cyclonedx-bom is pinned in requirements/dev.txt). VERSION names
the release in the document's root component, which otherwise carries pyproject.toml's version.

The document is made by cyclonedx-py, offline: it reads the lock file and asks no index. It is
written only after it passes the CycloneDX schema (cyclonedx-python-lib's strict JSON validator,
which ships the schemas), names every package pinned in the lock with its version and the lock's
hashes, and names nothing the lock does not list; otherwise the problems are listed and the exit
status is 1.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from urllib.parse import unquote

from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements" / "prod.txt"
DEFAULT_OUT = ROOT / "sbom" / "requirements.cdx.json"
SPEC_VERSION = SchemaVersion.V1_6
# A requirement line: its name, then extras, a pin and a marker that pip-compile may write.
REQUIREMENT = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_.-]*)(?:\[[^\]]*\])? *(?:==([^\s;\\]+))?")
HASH = re.compile(r"--hash=sha256:([0-9a-f]{64})")
PURL = re.compile(r"pkg:pypi/([^@?#]+)@([^?#]+)")


def pinned(lock: str) -> dict[str, tuple[str, set[str]]]:
    """Each package the lock pins, by normalised name: its version and its sha256 hashes."""
    packages: dict[str, tuple[str, set[str]]] = {}
    current = None
    for line in lock.splitlines():
        if (match := REQUIREMENT.match(line)) and match.group(2):
            current = normalise(match.group(1))
            packages[current] = (match.group(2), set())
        if current:
            packages[current][1].update(HASH.findall(line))
        if not line.rstrip().endswith("\\"):
            current = None
    return packages


def normalise(name: str) -> str:
    """PEP 503: the name an index knows a package by, whatever its spelling in a file."""
    return re.sub(r"[-_.]+", "-", name).lower()


def problems(document: dict, lock: str) -> list[str]:
    """What keeps `document` from being a valid and complete SBOM of `lock`."""
    found = [
        f"schema: {error.data.message} at {'/'.join(map(str, error.data.absolute_path))}"
        for error in JsonStrictValidator(SPEC_VERSION).validate_str(
            json.dumps(document), all_errors=True
        )
        or ()
    ]
    components = {normalise(c.get("name", "")): c for c in document.get("components", [])}
    in_lock = {
        normalise(match.group(1)) for match in map(REQUIREMENT.match, lock.splitlines()) if match
    }
    found += [
        f"{name}: in the SBOM, not in the lock" for name in sorted(components.keys() - in_lock)
    ]
    for name, (version, hashes) in pinned(lock).items():
        component = components.get(name)
        if component is None:
            found.append(f"{name}: pinned in the lock, missing from the SBOM")
            continue
        if component.get("version") != version:
            found.append(f"{name}: {component.get('version')} in the SBOM, {version} in the lock")
        # The package URL keeps the dots of a name (zope.interface), which PEP 503 does not, and
        # percent-encodes a local version's "+".
        purl = PURL.fullmatch(component.get("purl") or "")
        if not purl or normalise(purl.group(1)) != name or unquote(purl.group(2)) != version:
            found.append(f"{name}: package URL {component.get('purl')}")
        listed = {
            digest["content"]
            for reference in component.get("externalReferences", [])
            for digest in reference.get("hashes", [])
            if digest.get("alg") == "SHA-256"
        }
        if listed != hashes:
            found.append(f"{name}: the SBOM's hashes are not the lock's")
    return found


def generate(lock: Path, version: str | None) -> dict:
    """The SBOM cyclonedx-py makes of `lock`, its root component named after pyproject.toml."""
    with tempfile.TemporaryDirectory() as work:
        out = Path(work) / "sbom.json"
        subprocess.run(  # noqa: S603 (this Python's cyclonedx-py, on paths of this project)
            [
                sys.executable,
                # A lock file says which packages, not which needs which: the dependency graph
                # stays flat, which cyclonedx-python-lib warns about on every run.
                "-W",
                "ignore:The Component this BOM is describing:UserWarning",
                "-m",
                "cyclonedx_py",
                "requirements",
                "--pyproject",
                str(ROOT / "pyproject.toml"),
                "--sv",
                SPEC_VERSION.to_version(),
                "--of",
                "JSON",
                "--output-reproducible",
                # Validated below, with the completeness check, once.
                "--no-validate",
                "--output-file",
                str(out),
                str(lock),
            ],
            check=True,
        )
        document = json.loads(out.read_text())
    if version:
        document["metadata"]["component"]["version"] = version
    # GitHub's actions/attest takes a CycloneDX document for an SBOM only when it has a serial
    # number, which --output-reproducible leaves out; a random one would change the file on every
    # run. A UUID of the content is the same for the same lock and release, and differs otherwise.
    content = json.dumps(document, sort_keys=True)
    document["serialNumber"] = uuid.uuid5(uuid.NAMESPACE_URL, content).urn
    return document


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--version", help="the release, as the root component's version")
    args = parser.parse_args(argv)

    document = generate(LOCK, args.version)
    if found := problems(document, LOCK.read_text()):
        print(f"No SBOM written: it does not match {LOCK.relative_to(ROOT)}", file=sys.stderr)
        for problem in found:
            print(f"  {problem}", file=sys.stderr)
        return 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    print(f"{args.out}: {len(document['components'])} packages of {LOCK.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
