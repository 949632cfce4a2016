"""hosting: docker. gunicorn's socket, which only the proxy container may open, served for real.

No Docker engine runs on these machines (test_docker.py reads the files), so what a container is
to this socket is made here from the parts Docker makes it of, with the generated files' values:

- each container is a process in a mount and a network namespace of its own, with a /run of its
  own: the app's loopback is its alone;
- the `app-socket` volume is one folder, owned and moded as Docker makes a new volume from the
  folder of the image it is first mounted on (the Dockerfile's `install --directory` line), and
  mounted where compose.yaml mounts it in each service, read-only where compose.yaml says so;
- each process has the user, group and supplementary groups its image and compose.yaml give it
  (USER, the groups the Dockerfiles write to /etc/group for the proxy's workers, group_add), with
  no capability and no new privileges;
- gunicorn runs as the image's CMD, with the generated deploy/gunicorn.conf.py and the production
  settings; PostgreSQL and Redis are out of reach, which the liveness endpoint does not need.
"""

from __future__ import annotations

import base64
import json
import os
import posixpath
import pwd
import re
import shlex
import signal
import subprocess
import time
from pathlib import Path
from typing import NamedTuple

import copier
import pytest
import yaml

from .deployment import PYTHON_VIEW
from .test_docker import DOCKER_SETS, gunicorn_binds, instructions, parse_dockerfile

pytestmark = pytest.mark.root

# A process that connects to the socket and prints the status line of the answer, or the error:
# the request the proxy sends, with a host name the site serves and the client's scheme.
CLIENT = """
import socket, sys
client = socket.socket(socket.AF_UNIX)
try:
    client.connect(sys.argv[1])
except OSError as error:
    print(type(error).__name__)
else:
    client.sendall(b"GET /health/live/ HTTP/1.0\\r\\nHost: www.example.com\\r\\n"
                   b"X-Forwarded-Proto: https\\r\\n\\r\\n")
    print(client.makefile("rb").readline().decode().strip())
"""


class Identity(NamedTuple):
    uid: int
    gid: int
    groups: tuple[int, ...] = ()


def as_started_by_docker(who: Identity) -> list[str]:
    """setpriv as Docker starts a container's process: these ids and no capability."""
    groups = f"--groups={','.join(map(str, who.groups))}" if who.groups else "--clear-groups"
    return [
        "setpriv",
        f"--reuid={who.uid}",
        f"--regid={who.gid}",
        groups,
        "--no-new-privs",
        "--inh-caps=-all",
        "--bounding-set=-all",
    ]


def in_container(
    mounts: dict[str, Path], who: Identity, command: list[str], env: dict[str, str]
) -> list[str]:
    """command as who in a container of its own: new mount and network namespaces, a private
    /run, each source folder mounted on its target (`folder` or `folder:ro`, as compose.yaml
    writes them), and root's home showing only the Python installations, as an image has them."""
    setup = ["ip link set lo up", "mount -t tmpfs -o mode=0755 tmpfs /run", "mkdir /run/view"]
    for target, source in mounts.items():
        folder, _, mode = target.partition(":")
        setup += [f"mkdir -p {folder}", f"mount --bind {shlex.quote(str(source))} {folder}"]
        if mode == "ro":
            setup.append(f"mount -o remount,bind,ro {folder}")
    script = " && ".join(setup) + ' && exec sh -c "$0" /run/view "$@"'
    assignments = [f"{name}={value}" for name, value in env.items()]
    return [
        *("unshare", "--mount", "--net", "--propagation", "private", "sh", "-c", script),
        PYTHON_VIEW,
        *as_started_by_docker(who),
        *("env", "-i", *assignments),
        *command,
    ]


def socket_mount(compose: dict, service: str) -> str:
    (mount,) = [
        volume.removeprefix("app-socket:")
        for volume in compose["services"][service].get("volumes", [])
        if volume.startswith("app-socket:")
    ]
    return mount


def user_line(stage) -> Identity:
    (user,) = instructions(stage, "USER")
    uid, gid = map(int, user.split(":"))
    return Identity(uid, gid)


def proxy_worker(project: Path, compose: dict, proxy: str) -> Identity:
    """Who the proxy's process that opens the socket runs as: Caddy as the image's USER with
    compose.yaml's group_add; nginx's and Apache's workers as www-data (uid 33 in every Debian)
    with the groups the proxy's Dockerfile adds it to."""
    text = (project / "deploy" / "proxy.Dockerfile").read_text()
    if proxy == "caddy":
        added = compose["services"]["proxy"].get("group_add", [])
        return user_line(parse_dockerfile(text)[-1])._replace(
            groups=tuple(int(group) for group in added)
        )
    gids = {
        name: int(gid) for gid, name in re.findall(r"groupadd --system --gid (\d+) (\w+)", text)
    }
    joined = re.findall(r"usermod --append --groups (\w+) www-data", text)
    www_data = pwd.getpwnam("www-data")
    return Identity(www_data.pw_uid, www_data.pw_gid, tuple(gids[name] for name in joined))


class App(NamedTuple):
    project: Path
    compose: dict
    answers: dict
    volume: Path
    socket_path: str
    identity: Identity
    process: subprocess.Popen
    env: dict[str, str]


@pytest.fixture(params=list(DOCKER_SETS), ids=list(DOCKER_SETS))
def deployed(request, template_src, tmp_path, project_python) -> App:
    """The app container of a generated docker project, serving, with its socket's volume."""
    answers = DOCKER_SETS[request.param]
    project = tmp_path / "project"
    copier.run_copy(
        str(template_src), project, data=answers, defaults=True, unsafe=True, quiet=True
    )
    compose = yaml.safe_load((project / "compose.yaml").read_text())
    dockerfile = (project / "Dockerfile").read_text()
    app_image = parse_dockerfile(dockerfile)[-1]
    socket_path = gunicorn_binds(project)[0].removeprefix("unix:")
    folder = posixpath.dirname(socket_path)

    # The volume, as Docker makes it from the app image's folder.
    (mode,) = re.findall(
        rf"install --directory --owner=app --group=app --mode=(\d+) {folder}\n", dockerfile
    )
    app = user_line(app_image)
    volume = tmp_path / "app-socket"
    volume.mkdir()
    os.chown(volume, app.uid, app.gid)
    volume.chmod(int(mode, 8))

    (cmd,) = instructions(app_image, "CMD")
    env = {
        "PATH": f"{project_python.parent.absolute()}:/usr/bin:/bin",
        "PYTHONDONTWRITEBYTECODE": "1",
        "DJANGO_SETTINGS_MODULE": "config.settings.prod",
        "DJANGO_SECRET_KEY": base64.urlsafe_b64encode(os.urandom(48)).decode(),
        "DJANGO_MFA_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
        "DJANGO_ALLOWED_HOSTS": "www.example.com",
        "DATABASE_URL": "postgres://app:unused@127.0.0.1:1/unused",
        "REDIS_URL": "redis://127.0.0.1:1/0",
        "DJANGO_EMAIL_HOST": "127.0.0.1",
        # For private S3 storage; the other answers read no such variable.
        "DJANGO_UPLOAD_S3_BUCKET": "unused-bucket",
        "DJANGO_UPLOAD_S3_REGION": "unused",
        "WEB_CONCURRENCY": "2",
    }
    command = ["sh", "-c", 'cd /run/app && exec "$@"', "sh", *json.loads(cmd)]
    mounts = {socket_mount(compose, "app"): volume, "/run/app:ro": project}
    log = tmp_path / "gunicorn.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            in_container(mounts, app, command, env), stdout=output, stderr=subprocess.STDOUT
        )
    try:
        for _ in range(300):
            if (volume / posixpath.basename(socket_path)).exists() or process.poll() is not None:
                break
            time.sleep(0.1)
        time.sleep(1)  # the workers boot after the socket is made
        assert process.poll() is None, log.read_text()
        yield App(project, compose, answers, volume, socket_path, app, process, env)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=40)


def connect(volume: Path, compose: dict, who: Identity, socket_path: str) -> str:
    command = ["/usr/bin/python3", "-c", CLIENT, socket_path]
    mounts = {socket_mount(compose, "proxy"): volume}
    result = subprocess.run(
        in_container(mounts, who, command, {"PATH": "/usr/bin:/bin"}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_only_the_proxys_process_opens_gunicorns_socket(deployed):
    volume, compose, socket_path, app = (
        deployed.volume,
        deployed.compose,
        deployed.socket_path,
        deployed.identity,
    )
    made = (volume / posixpath.basename(socket_path)).stat()
    assert (made.st_uid, made.st_gid, oct(made.st_mode & 0o777)) == (app.uid, app.gid, "0o660")

    proxy = proxy_worker(deployed.project, compose, deployed.answers["proxy"])
    # Through the volume mounted read-only, as compose.yaml mounts it in the proxy.
    assert connect(volume, compose, proxy, socket_path) == "HTTP/1.0 200 OK"
    # Without the app's group, the same user is refused: the group is what opens it.
    assert connect(volume, compose, proxy._replace(groups=()), socket_path) == "PermissionError"
    # And so is any other container's user (the db image's postgres, 999).
    assert connect(volume, compose, Identity(999, 999), socket_path) == "PermissionError"


def test_composes_health_check_reaches_gunicorn_on_the_containers_loopback(deployed):
    check = deployed.compose["services"]["app"]["healthcheck"]
    assert check["test"][0] == "CMD"
    result = subprocess.run(
        [
            "nsenter",
            f"--target={deployed.process.pid}",
            "--mount",
            "--net",
            *as_started_by_docker(deployed.identity),
            *("env", "-i", *(f"{name}={value}" for name, value in deployed.env.items())),
            *check["test"][1:],
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    # The readiness check fails here, as it must without PostgreSQL and Redis: the answer is
    # Django's 503, which is the proof that the check's request reached gunicorn.
    assert result.returncode != 0
    assert "HTTP Error 503" in result.stderr, result.stderr
