"""The generated proxy configurations and systemd unit, checked by the real programs.

- Every proxy answer's `deploy/` configuration loads in Debian's own server: `nginx -t`,
  `apache2 -t` (the binary behind `apachectl -t`) with the modules the file names enabled, and
  `caddy validate`. A test certificate stands in for Let's Encrypt's, and the compose network's
  `app` for 127.0.0.1 (nginx resolves upstream names when it loads); nothing else is changed.
- The systemd unit of `hosting: vps` rates 2.0 or lower in `systemd-analyze security`.
- End to end, for nginx: the generated project runs under gunicorn with the generated
  `deploy/gunicorn.conf.py` and production settings (PostgreSQL, Redis), behind the generated
  nginx configuration, which listens on ports 80 and 443 of a network namespace of its own. A
  client in that namespace checks what the proxy promises; the MDN HTTP Observatory scores the
  site and testssl.sh grades its TLS, both reaching it by its real name.
"""

from __future__ import annotations

import atexit
import base64
import json
import os
import re
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import copier
import pytest
from filelock import FileLock

from .answer_sets import ANSWER_SETS
from .deployment import (
    ACCOUNTS_LOCK,
    Deployment,
    as_caddy,
    claim,
    deployed,
    hand_over,
    remove_leftovers,
    sh_block,
    unit_settings,
)
from .helpers import CACHE, REPO, sandbox_exposure, verify_units
from .services import ServiceError, create_database

pytestmark = pytest.mark.servers

OBSERVATORY_NPM = "@mdn/mdn-http-observatory@1.4.8"
# The score the issue asks of the home page; 100 is a bare pass, bonuses add to it.
OBSERVATORY_MINIMUM = 130

# Proxy answers beyond the matrix's, so that each proxy is checked for both hostings that use it
# and both ways of treating X-Forwarded-For.
EXTRA_SETS: dict[str, dict[str, object]] = {
    "vps-nginx-cdn": {"hosting": "vps", "proxy": "nginx", "trusted_proxy_count": 2},
    "vps-apache": {"hosting": "vps", "proxy": "apache", "trusted_proxy_count": 1},
    "docker-caddy-cdn": {"hosting": "docker", "proxy": "caddy", "trusted_proxy_count": 3},
}
PROXY_SETS = {
    **{
        name: answers for name, answers in ANSWER_SETS.items() if answers.get("proxy") != "platform"
    },
    **EXTRA_SETS,
}
CONFIG_FILES = {"nginx": "nginx.conf", "apache": "apache.conf", "caddy": "Caddyfile"}


@dataclass
class TLS:
    ca: Path
    cert: Path
    key: Path


def make_tls(folder: Path, *names: str) -> TLS:
    """A test CA and a certificate it signs for names (ECDSA P-256), shaped like Let's
    Encrypt's: valid for 90 days, with a CRL address and no OCSP address."""
    folder.mkdir(parents=True, exist_ok=True)
    tls = TLS(folder / "ca.pem", folder / "cert.pem", folder / "key.pem")
    ca_key, request, extensions = folder / "ca-key.pem", folder / "request.pem", folder / "ext.cnf"
    extensions.write_text(
        "subjectAltName=" + ",".join(f"DNS:{name}" for name in names) + "\n"
        "extendedKeyUsage=serverAuth\nbasicConstraints=critical,CA:FALSE\n"
        "crlDistributionPoints=URI:http://crl.example.org/test-ca.crl\n"
    )
    key = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
    for command in (
        f"req -x509 {key} -keyout {ca_key} -out {tls.ca} -days 90 -subj /CN=fortress-test-CA"
        " -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign",
        f"req -new {key} -keyout {tls.key} -out {request} -subj /CN={names[0]}",
        f"x509 -req -in {request} -CA {tls.ca} -CAkey {ca_key} -CAcreateserial -out {tls.cert}"
        f" -days 90 -extfile {extensions}",
    ):
        subprocess.run(["openssl", *command.split()], check=True, capture_output=True)
    # nginx wants the chain in the certificate file, as Let's Encrypt's fullchain.pem has it.
    tls.cert.write_text(tls.cert.read_text() + tls.ca.read_text())
    return tls


def replace_once(text: str, old: str, new: str) -> str:
    """text with its one old replaced by new."""
    assert text.count(old) == 1, f"expected {old!r} once"
    return text.replace(old, new)


def replace(text: str, old: str, new: str) -> str:
    """text with every old replaced by new; old must be there."""
    assert old in text, f"the generated configuration no longer contains {old!r}"
    return text.replace(old, new)


def site_config(project: Path, answers: dict[str, object], tls: TLS) -> str:
    """The generated proxy configuration, with the test certificate for Let's Encrypt's."""
    proxy = answers.get("proxy", "nginx")
    text = (project / "deploy" / CONFIG_FILES[proxy]).read_text()
    domain = answers.get("domain_name", "example.com")
    if proxy != "caddy":
        live = f"/etc/letsencrypt/live/{domain}"
        text = replace(text, f"{live}/fullchain.pem", str(tls.cert))
        text = replace(text, f"{live}/privkey.pem", str(tls.key))
    return text


# Where each configuration snippet of the generated docs goes, by the comment on its first line.
SNIPPET_LANGUAGE = {"nginx": "nginx", "apache": "apache", "caddy": "caddy"}


def with_doc_snippets(project: Path, proxy: str, config: str) -> tuple[str, int]:
    """config with every snippet for proxy that the project's README and docs give, placed where
    each one's first line says, as a team following them would; and how many there were."""
    language = SNIPPET_LANGUAGE[proxy]
    docs = [
        project / "README.md",
        project / "deploy" / "README.md",
        *sorted((project / "docs").glob("*.md")),
    ]
    snippets = [
        snippet
        for doc in docs
        for snippet in re.findall(rf"```{language}\n(.*?)```", doc.read_text(), re.DOTALL)
    ]
    for snippet in snippets:
        where = snippet.splitlines()[0]
        if where == "# At the top of the file: which clients may reach the admin.":
            config = snippet + "\n" + config
        elif where == "# In the HTTPS server block, above the first location.":
            https = config.index("    listen 443 ")
            first = config.index("\n    location ", https) + 1
            block = "".join(f"    {line}\n" if line else "\n" for line in snippet.splitlines())
            config = config[:first] + block + "\n" + config[first:]
        elif where == "# In the HTTPS virtual host of the site.":
            end = config.rindex("</VirtualHost>")
            block = "".join(f"    {line}\n" for line in snippet.splitlines())
            config = config[:end] + block + config[end:]
        elif where == "# In the site's block.":
            anchor = "\timport security_headers\n"
            at = config.index(anchor) + len(anchor)
            block = "".join(f"\t{line}\n" for line in snippet.splitlines())
            config = config[:at] + block + config[at:]
        else:
            pytest.fail(
                f"a {language} snippet says nothing the test knows of where it goes: {where!r}"
            )
    return config, len(snippets)


def nginx_main(folder: Path, site: Path) -> Path:
    """Debian's own /etc/nginx/nginx.conf with site as the one enabled site, its pid and logs in
    folder, and its temporary files in a folder laid out as Debian's /var/lib/nginx: the
    generated file must fit beside Debian's http settings, and its workers run as www-data."""
    debian = Path("/etc/nginx/nginx.conf").read_text()
    temp_root = open_folder("fortress-nginx-")
    temp_root.chmod(0o755)
    for temp in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (temp_root / temp).mkdir(mode=0o700)
        shutil.chown(temp_root / temp, "www-data", "www-data")
    temp_paths = "".join(
        f"\t{temp}_temp_path {temp_root}/{temp};\n" for temp in ("proxy", "fastcgi")
    )
    temp_paths += "".join(f"\t{temp}_temp_path {temp_root}/{temp};\n" for temp in ("uwsgi", "scgi"))
    temp_paths += f"\tclient_body_temp_path {temp_root}/body;\n"
    main = folder / "nginx-main.conf"
    main.write_text(
        debian.replace("pid /run/nginx.pid;", f"pid {folder}/nginx.pid;")
        .replace("error_log /var/log/nginx/error.log;", f"error_log {folder}/error.log;")
        .replace("access_log /var/log/nginx/access.log;", f"access_log {folder}/access.log;")
        .replace("include /etc/nginx/sites-enabled/*;", f"{temp_paths}\tinclude {site};")
    )
    assert f"include {site};" in main.read_text()
    assert "user www-data;" in main.read_text().splitlines()
    return main


APACHE_MODULES = [
    # Debian's defaults, then what the site's install line enables.
    *("mpm_event", "authz_core", "authz_host", "alias", "mime", "socache_shmcb", "filter"),
    *("deflate", "ssl", "proxy", "proxy_http", "headers", "unique_id", "setenvif", "xsendfile"),
]


def apache_main(folder: Path, site: Path) -> Path:
    """An apache2.conf with Debian's modules and their settings (mods-available/*.conf, such
    as ssl.conf's own SSLProtocol and SSLCipherSuite), including site after them as Debian's
    apache2.conf includes sites-enabled."""
    lines = [
        f"ServerRoot {folder}",
        "ServerName localhost",
        f"PidFile {folder}/apache.pid",
        f"ErrorLog {folder}/apache-error.log",
        f"DefaultRuntimeDir {folder}",
        "Mutex posixsem",
        # Debian's envvars: the workers run as www-data.
        "User www-data",
        "Group www-data",
        "Listen 127.0.0.1:80",
        "Listen 127.0.0.1:443",
    ]
    for name in APACHE_MODULES:
        lines.append(f"LoadModule {name}_module /usr/lib/apache2/modules/mod_{name}.so")
        settings = Path(f"/etc/apache2/mods-available/{name}.conf")
        if settings.exists():
            lines.append(f"Include {settings}")
    lines.append(f"Include {site}")
    main = folder / "apache-main.conf"
    main.write_text("\n".join(lines) + "\n")
    return main


def open_folder(prefix: str) -> Path:
    """A new folder outside pytest's own (which only root may enter), removed when the tests end:
    where a server's unprivileged user finds what it needs, as in /srv or /var/lib."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    claim(folder.name)
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def need(program: str, package: str) -> str:
    path = shutil.which(program) or shutil.which(program, path="/usr/sbin:/sbin")
    if path is None:
        pytest.fail(f"{program} is missing: install Debian's {package} (.ci/run does)")
    return path


@pytest.fixture(scope="module")
def tls(tmp_path_factory) -> TLS:
    return make_tls(tmp_path_factory.mktemp("tls"), "example.com")


def proxy_sets():
    return [pytest.param(name, id=name) for name in PROXY_SETS]


@pytest.mark.parametrize("name", proxy_sets())
def test_proxy_config_loads_in_the_real_server(name, template_src, tmp_path, tls):
    answers = PROXY_SETS[name]
    project = tmp_path / "project"
    copier.run_copy(
        str(template_src), project, data=answers, defaults=True, unsafe=True, quiet=True
    )
    proxy = answers.get("proxy", "nginx")
    generated = {path.name for path in (project / "deploy").iterdir()}
    assert CONFIG_FILES[proxy] in generated
    assert not generated & (set(CONFIG_FILES.values()) - {CONFIG_FILES[proxy]})
    site = tmp_path / "site.conf"
    if proxy == "nginx":
        site.write_text(site_config(project, answers, tls))
        command = [need("nginx", "nginx"), "-t", "-c", nginx_main(tmp_path, site)]
        command += ["-e", tmp_path / "error.log"]
        env = {}
    elif proxy == "apache":
        site.write_text(site_config(project, answers, tls))
        command = [need("apache2", "apache2"), "-t", "-f", apache_main(tmp_path, site)]
        env = {"APACHE_RUN_DIR": str(tmp_path)}
    else:
        site = tmp_path / "Caddyfile"
        site.write_text(site_config(project, answers, tls))
        command = [need("caddy", "caddy"), "validate", "--config", site, "--adapter", "caddyfile"]
        env = {"XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path / "config")}
        if answers.get("trusted_proxy_count", 1) > 1:
            env["CADDY_TRUSTED_PROXIES"] = "192.0.2.0/24 198.51.100.0/24"
    result = subprocess.run(
        command, capture_output=True, text=True, env={**os.environ, **env}, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # With every snippet the docs give for this proxy added as they say.
    config, count = with_doc_snippets(project, proxy, site.read_text())
    assert count == (0 if answers.get("trusted_proxy_count", 1) > 1 else {"nginx": 2}.get(proxy, 1))
    site.write_text(config)
    result = subprocess.run(
        command, capture_output=True, text=True, env={**os.environ, **env}, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    if proxy == "caddy" and answers.get("trusted_proxy_count", 1) > 1:
        # Without the CDN's addresses Caddy refuses to start rather than trust no one.
        env.pop("CADDY_TRUSTED_PROXIES")
        result = subprocess.run(
            command, capture_output=True, text=True, env={**os.environ, **env}, timeout=60
        )
        assert result.returncode != 0
        assert "CADDY_TRUSTED_PROXIES-is-not-set" in result.stdout + result.stderr


def test_systemd_unit_is_sandboxed(generate):
    project = generate(project_slug="edge_portal_customer_self_service_centre")
    unit = project / "deploy" / "edge_portal_customer_self_service_centre.service"
    exposure, output = sandbox_exposure(unit)
    assert exposure <= 2.0, output
    text = unit.read_text()
    # systemd's strict rules allow 31 characters in a user name, and warn about more.
    assert "\nUser=edge_portal_customer_self_servi\n" in text
    assert "does not match strict user/group name rules" not in output
    assert "--config deploy/gunicorn.conf.py" in text
    assert "\nNoNewPrivileges=yes\n" in text
    socket_unit = unit.with_suffix(".socket")
    verified = verify_units(unit, socket_unit)
    assert verified.returncode == 0, verified.stderr


def test_no_proxy_files_for_paas(generate):
    project = generate(hosting="paas", proxy="platform")
    assert sorted(path.name for path in (project / "deploy").iterdir()) == [
        "README.md",
        "gunicorn.conf.py",
    ]


# What a run killed before its clean-up leaves on the machine: run by a child process, which
# claims the name (argv[1]) as the harness does, makes a folder, a socket, a system user and a
# process named after it, then waits to be killed.
KILLED_RUN = r"""
import subprocess, sys
sys.path.insert(0, sys.argv[2])
from tests.deployment import claim
name = claim(sys.argv[1])
for folder in ("/srv", "/var/lib"):
    subprocess.run(["mkdir", f"{folder}/{name}"], check=True)
open(f"/run/{name}.sock", "w").close()
subprocess.run(["adduser", "--quiet", "--system", "--group", "--no-create-home", name], check=True)
as_user = ["setpriv", f"--reuid={name}", f"--regid={name}", "--clear-groups"]
subprocess.Popen([*as_user, "sleep", "600"])
subprocess.Popen(["sh", "-c", "exec sleep 600", name], start_new_session=True)
print("ready", flush=True)
sys.stdin.read()
"""


def command_lines() -> list[bytes]:
    """The command line of every process."""
    lines = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with suppress(OSError):
                lines.append((entry / "cmdline").read_bytes())
    return lines


@pytest.mark.root
def test_the_harness_removes_what_a_killed_run_left_and_nothing_a_live_run_holds():
    dead, live = f"fortress_{uuid.uuid4().hex[:10]}", claim(f"fortress_{uuid.uuid4().hex[:10]}")
    (Path("/srv") / live).mkdir()
    try:
        with FileLock(str(ACCOUNTS_LOCK)):
            child = subprocess.Popen(
                [sys.executable, "-c", KILLED_RUN, dead, REPO],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            assert child.stdout.readline() == "ready\n"
        child.kill()
        child.wait()
        assert (Path("/srv") / dead).exists()

        removed = remove_leftovers()

        assert dead in removed
        assert live not in removed
        assert not (Path("/srv") / dead).exists()
        assert not (Path("/var/lib") / dead).exists()
        assert not Path(f"/run/{dead}.sock").exists()
        assert subprocess.run(["getent", "passwd", dead], capture_output=True).returncode == 2
        assert not [command for command in command_lines() if dead.encode() in command]
        assert (Path("/srv") / live).exists()
    finally:
        shutil.rmtree(Path("/srv") / live, ignore_errors=True)


# End to end through nginx. -------------------------------------------------------------------

DOMAIN = "example.com"
GZIP = {"Accept-Encoding": "gzip"}

# Run in the namespace as `python -c PROBE REQUESTS CA`: each request goes to 127.0.0.1 on port 80
# or 443 (TLS with the given SNI name, verified against CA) and its answer, or the error that
# ended it, is printed as JSON. A request with "content_length" sends only its headers; one with
# "body_size" sends a body of that size, until the server answers.
PROBE = r"""
import base64, http.client, io, json, select, socket, ssl, sys

# A connection's bytes, after those already read from it.
class Prefixed(io.RawIOBase):
    def __init__(self, sock, prefix):
        self.sock, self.prefix = sock, prefix
    def readable(self):
        return True
    def readinto(self, buffer):
        if self.prefix:
            size = min(len(buffer), len(self.prefix))
            buffer[:size], self.prefix = self.prefix[:size], self.prefix[size:]
            return size
        return self.sock.recv_into(buffer)
    def makefile(self, mode):
        return io.BufferedReader(self)

# What the server has sent (b"" once it closed), or None: a TLS record that carries no data,
# such as a session ticket, makes the socket readable too.
def early_answer(sock):
    sock.setblocking(False)
    try:
        return sock.recv(65536)
    except (ssl.SSLWantReadError, BlockingIOError):
        return None
    finally:
        sock.settimeout(30)

requests, ca = json.loads(sys.argv[1]), sys.argv[2]
answers = []
for request in requests:
    try:
        sock = socket.create_connection(("127.0.0.1", request["port"]), timeout=30)
        if request["port"] == 443:
            context = ssl.create_default_context(cafile=ca)
            sni = request.get("sni", "example.com")
            # An attacker's client may send no name (sni None), or ignore the certificate's.
            context.check_hostname = sni is not None and request.get("check_name", True)
            sock = context.wrap_socket(sock, server_hostname=sni)
        connection = http.client.HTTPConnection("example.com")
        response = None
        connection.sock = sock
        headers = {"Host": "example.com", **request.get("headers", {})}
        body = request.get("body")
        if "body_b64" in request:
            body = base64.b64decode(request["body_b64"])
        if "content_length" in request or "body_size" in request:
            connection.putrequest(request["method"], request["path"], skip_host=True)
            size = request.get("content_length", request.get("body_size"))
            headers["Content-Length"] = str(size)
            for name, value in headers.items():
                connection.putheader(name, value)
            connection.endheaders()
            # A body of body_size is sent as a browser sends it: until the server answers,
            # which a proxy refusing it may do before it has all of it.
            left, early = (size if "body_size" in request else 0), None
            while left and early is None:
                if select.select([sock], [], [], 0)[0]:
                    early = early_answer(sock)
                    continue
                try:
                    sock.sendall(b"x" * min(left, 65536))
                except (BrokenPipeError, ConnectionResetError):
                    break
                left -= min(left, 65536)
            if early is not None:
                response = http.client.HTTPResponse(Prefixed(sock, early))
                response.begin()
        else:
            connection.request(request["method"], request["path"], body=body, headers=headers)
        response = response or connection.getresponse()
        raw = response.read()
        answers.append({
            "status": response.status,
            "headers": [[name.lower(), value] for name, value in response.getheaders()],
            "body": raw.decode(errors="replace"),
            "raw": base64.b64encode(raw).decode(),
        })
    except Exception as error:
        answers.append({"error": f"{type(error).__name__}: {error}"})
print(json.dumps(answers))
"""


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    header_list: list[tuple[str, str]]
    cookies: list[str]
    body: str
    raw: bytes


Namespace = Callable[[list], list]


@contextmanager
def network_namespace(folder: Path) -> Iterator[Namespace]:
    """A network namespace with only loopback, in which example.com is 127.0.0.1; yields a
    function that turns a command into one that runs inside it."""
    if os.geteuid() != 0:
        pytest.fail("the proxy's end-to-end test needs root, for its network namespace")
    ip = need("ip", "iproute2")
    hosts = folder / "hosts"
    hosts.write_text(f"127.0.0.1 localhost {DOMAIN}\n::1 localhost\n")
    name = claim(f"fortress-{uuid.uuid4().hex[:10]}")
    subprocess.run([ip, "netns", "add", name], check=True)
    try:
        subprocess.run([ip, "netns", "exec", name, ip, "link", "set", "lo", "up"], check=True)

        def inside(command: list) -> list:
            # `ip netns exec` gives the command a mount namespace of its own, so the bind mount
            # of /etc/hosts is seen by it alone.
            script = 'mount --bind "$0" /etc/hosts && exec "$@"'
            return [ip, "netns", "exec", name, "sh", "-c", script, hosts, *command]

        yield inside
    finally:
        subprocess.run([ip, "netns", "delete", name], check=False)


def probe(inside: Namespace, ca: Path, *requests: dict) -> list[Answer | str]:
    done = subprocess.run(
        inside([sys.executable, "-c", PROBE, json.dumps(requests), ca]),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    answers: list[Answer | str] = []
    for raw in json.loads(done.stdout):
        if "error" in raw:
            answers.append(raw["error"])
            continue
        headers = {name: value for name, value in raw["headers"] if name != "set-cookie"}
        cookies = [value for name, value in raw["headers"] if name == "set-cookie"]
        body = base64.b64decode(raw["raw"])
        header_list = [(name, value) for name, value in raw["headers"]]
        answers.append(Answer(raw["status"], headers, header_list, cookies, raw["body"], body))
    return answers


@contextmanager
def background(
    command: list, log: Path, what: str, ready: Callable[[], bool], **kwargs
) -> Iterator:
    """Run command until the block ends, once ready() says it serves."""
    with log.open("w") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, **kwargs
        )
    try:
        deadline = time.monotonic() + 60
        while not ready():
            if process.poll() is not None:
                raise ServiceError(f"{what} stopped:\n{log.read_text()}")
            if time.monotonic() > deadline:
                raise ServiceError(f"{what} did not start:\n{log.read_text()}")
            time.sleep(0.2)
        yield process
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def serves_unix(path: Path) -> Callable[[], bool]:
    def ready() -> bool:
        try:
            with socket.socket(socket.AF_UNIX) as sock:
                sock.connect(str(path))
        except OSError:
            return False
        return True

    return ready


@pytest.fixture(scope="session")
def observatory() -> list[str]:
    """The command that scans a host with the MDN HTTP Observatory (installed once into .cache).

    Its install script downloads Mozilla's HSTS preload list and a TLD list, which these machines
    cannot reach, so it is skipped and the files written here: an empty preload list (the site
    is in none, and earns no preload bonus) and the TLDs the scan needs (used only by its API).
    The scan runs src/scan.js itself: bin/wrapper.js would replace NODE_EXTRA_CA_CERTS, which
    carries the test CA, with Mozilla's bundle.
    """
    node, npm = need("node", "nodejs"), need("npm", "npm")
    home = CACHE / "observatory"
    package = home / "node_modules" / "@mdn" / "mdn-http-observatory"
    with FileLock(str(CACHE / "observatory.lock")):
        if not (package / "src" / "scan.js").exists():
            home.mkdir(exist_ok=True)
            subprocess.run(
                [
                    npm,
                    "install",
                    "--silent",
                    "--no-audit",
                    "--no-fund",
                    "--ignore-scripts",
                    OBSERVATORY_NPM,
                ],
                cwd=home,
                check=True,
            )
        (package / "conf").mkdir(exist_ok=True)
        (package / "conf" / "hsts-preload.json").write_text("{}")
        (package / "conf" / "tld-list.json").write_text('["com"]')
    return [node, str(package / "src" / "scan.js")]


@dataclass
class Served:
    """A project deployed as its README says (tests/deployment.py), behind one proxy."""

    proxy: str
    inside: Namespace
    tls: TLS
    deployment: Deployment
    gunicorn_log: Path
    proxy_log: Path

    def logs(self) -> str:
        """The end of gunicorn's and the proxy's logs, for a failure's message."""
        return "\n".join(
            f"--- {log.name}\n" + log.read_text(errors="replace")[-3000:]
            for log in (self.gunicorn_log, self.proxy_log)
        )

    def get(self, path: str, **request) -> Answer | str:
        (answer,) = probe(
            self.inside, self.tls.ca, {"port": 443, "method": "GET", "path": path, **request}
        )
        return answer


def proxy_runtime(proxy: str, served: Deployment, tls: TLS) -> tuple[list, Path, dict[str, str]]:
    """The command that runs the site's configuration in Debian's own server, as Debian runs it,
    with only the certificate paths changed (and Caddy's admin socket, one per test server);
    its log; its environment."""
    folder = served.runtime / proxy
    folder.mkdir(mode=0o755)
    config = site_config(served.code, {"proxy": proxy, "hosting": "vps"}, tls)
    env = dict(os.environ)
    if proxy == "nginx":
        (folder / "site.conf").write_text(config)
        main = nginx_main(folder, folder / "site.conf")
        main.write_text(
            replace(
                main.read_text(),
                f"access_log {folder}/access.log;",
                "log_format ids '$request_id $request_uri';\n"
                f"\taccess_log {folder}/access.log ids;",
            )
        )
        command = [
            need("nginx", "nginx"),
            "-c",
            main,
            "-e",
            folder / "error.log",
            "-g",
            "daemon off;",
        ]
    elif proxy == "apache":
        (folder / "site.conf").write_text(config)
        main = apache_main(folder, folder / "site.conf")
        command = [need("apache2", "apache2"), "-f", main, "-D", "FOREGROUND"]
        env["APACHE_RUN_DIR"] = str(folder)
    else:
        command = caddy_command(config, tls)
    return command, folder / "proxy.log", env


@pytest.fixture(scope="module", params=["nginx", "apache", "caddy"])
def served(request, template_src, project_python, postgres, redis) -> Iterator[Served]:
    """The default project with request.param as its proxy, deployed and served as production
    serves it (PostgreSQL, Redis, gunicorn as the systemd unit runs it) in a network namespace
    of its own."""
    proxy = request.param
    database = create_database(project_python, postgres, f"proxy_{uuid.uuid4().hex[:8]}")
    environ = {
        "DJANGO_SECRET_KEY": "live-" + os.urandom(32).hex(),
        "DJANGO_ALLOWED_HOSTS": DOMAIN,
        "DATABASE_URL": database,
        "REDIS_URL": f"{redis}/9",
        "DJANGO_EMAIL_HOST": "127.0.0.1",
        "DJANGO_MFA_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
        "WEB_CONCURRENCY": "2",
        # What a team used to a platform might set. Connections on gunicorn's socket have no
        # address and must still count each client apart (the login.failed events of
        # test_nginx_passes_requests_with_its_own_forwarded_headers), not as one empty address.
        "DJANGO_TRUSTED_PROXY_NETWORKS": "10.0.0.0/8",
        # A value with what a shell or systemd could read otherwise: the file the README
        # describes must give both the same (test_the_variables_file_...).
        "DJANGO_EMAIL_HOST_PASSWORD": 'p&ss $HOME "w0rd" back\\slash ;|<>* #end',
    }
    with ExitStack() as stack:
        deployment = stack.enter_context(
            deployed(template_src, {"proxy": proxy, "domain_name": DOMAIN}, project_python, environ)
        )
        tls = make_tls(deployment.runtime / "tls", DOMAIN)
        inside = stack.enter_context(network_namespace(deployment.runtime))
        gunicorn_log = deployment.runtime / "gunicorn.log"
        listener = stack.enter_context(deployment.socket())
        stack.enter_context(
            background(
                deployment.start_command(),
                gunicorn_log,
                "gunicorn",
                lambda: "Booting worker" in gunicorn_log.read_text(),
                env=deployment.service_env(),
                pass_fds=(3,),
                preexec_fn=hand_over(listener),
            )
        )
        command, proxy_log, env = proxy_runtime(proxy, deployment, tls)
        stack.enter_context(background(inside(command), proxy_log, proxy, lambda: True, env=env))
        site = Served(proxy, inside, tls, deployment, gunicorn_log, proxy_log)
        deadline = time.monotonic() + 30
        while not (isinstance(home := site.get("/"), Answer) and home.status == 200):
            if time.monotonic() > deadline:
                raise ServiceError(f"{proxy} did not pass a page on:\n{proxy_log.read_text()}")
            time.sleep(0.3)
        yield site


# What every answer a proxy makes itself carries (deploy/ configurations): as strict as Django's
# for a page that runs nothing.
PROXY_HEADERS = {
    "strict-transport-security": "max-age=31536000; includeSubDomains",
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
}
# What a page of Django's and a download share, whole values compared.
SHARED_HEADERS = [
    *(name for name in PROXY_HEADERS if name != "content-security-policy"),
    "permissions-policy",
]


def assert_each_header_once(answer: Answer) -> None:
    names = [name for name, _ in answer.header_list if name != "set-cookie"]
    assert len(names) == len(set(names)), sorted(names)


def assert_proxy_headers(answer: Answer, cache_control: str | None = None) -> None:
    """The headers of an answer the proxy made itself; cache_control is the only Cache-Control
    it may carry: none on an error, so that no cache keeps a missing static file for a year."""
    for name, value in {**PROXY_HEADERS, "cache-control": cache_control}.items():
        assert answer.headers.get(name) == value, (answer.status, name, answer.headers)
    assert_each_header_once(answer)
    assert answer.headers.get("server", "") in {"nginx", "Apache", ""}, answer.headers


def cookie_header(cookies: dict[str, str]) -> str:
    """The Cookie header a browser sends with cookies."""
    return "; ".join(f"{name}={value}" for name, value in cookies.items())


def sign_in(site: Served, email: str, password: str) -> dict[str, str]:
    """The cookies of a session signed in through the proxy."""
    page = site.get("/accounts/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.body).group(1)
    cookies = dict(cookie.split(";", 1)[0].split("=", 1) for cookie in page.cookies)
    form = f"login={quote(email)}&password={quote(password)}&csrfmiddlewaretoken={token}"
    (signed_in,) = probe(
        site.inside,
        site.tls.ca,
        {
            "port": 443,
            "method": "POST",
            "path": "/accounts/login/",
            "body": form,
            "headers": {
                "Content-Type": "application/x-www-form-urlencoded",
                "Origin": f"https://{DOMAIN}",
                "Referer": f"https://{DOMAIN}/accounts/login/",
                "Cookie": cookie_header(cookies),
            },
        },
    )
    assert signed_in.status == 302, site.logs()
    cookies.update(dict(cookie.split(";", 1)[0].split("=", 1) for cookie in signed_in.cookies))
    return cookies


def upload_through_the_proxy(site: Served, cookies: dict[str, str], name: str, data: bytes) -> None:
    """Send a file with the form of /files/, as a browser does."""
    jar = cookie_header(cookies)
    page = site.get("/files/", headers={"Cookie": jar})
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.body).group(1)
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="csrfmiddlewaretoken"\r\n\r\n'
            f'{token}\r\n--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{name}"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    (sent,) = probe(
        site.inside,
        site.tls.ca,
        {
            "port": 443,
            "method": "POST",
            "path": "/files/",
            "body_b64": base64.b64encode(body).decode(),
            "headers": {
                "Content-Type": f"multipart/form-data; boundary={boundary}",
                "Origin": f"https://{DOMAIN}",
                "Referer": f"https://{DOMAIN}/files/",
                "Cookie": jar,
            },
        },
    )
    assert sent.status == 302, site.logs()


def png() -> bytes:
    """A small real PNG, made without the project's dependencies."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    rows = b"".join(b"\x00" + b"\x20\x80\x80" * 8 for _ in range(8))
    header = struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="module")
def stored_upload(served):
    """A file its owner sent through the proxy: (cookies of the owner, its download path, the
    stored file)."""
    password = "a long passphrase for the owner"  # noqa: S105 (the test account's)
    email = f"owner-{served.proxy}@example.org"
    created = served.deployment.manage(
        "shell",
        "-c",
        "from allauth.account.models import EmailAddress\n"
        "from django.contrib.auth import get_user_model\n"
        f"user = get_user_model().objects.create_user({email!r}, {password!r})\n"
        "EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=True)\n",
    )
    assert created.returncode == 0, created.stderr
    cookies = sign_in(served, email, password)
    upload_through_the_proxy(served, cookies, "holiday photo.png", png())
    listed = served.deployment.manage(
        "shell",
        "-c",
        f"from {served.deployment.slug}.uploads.models import Upload\n"
        f"upload = Upload.objects.get(owner__email={email!r})\n"
        "print(upload.pk, upload.file.path)\n",
    )
    assert listed.returncode == 0, listed.stderr
    pk, path = listed.stdout.splitlines()[-1].split()
    return cookies, f"/files/{pk}/", Path(path)


@pytest.mark.root
def test_a_download_reaches_its_owner_through_the_proxy_with_the_download_headers(
    served, stored_upload
):
    cookies, path, stored = stored_upload
    jar = {"Cookie": cookie_header(cookies)}
    page = served.get("/", headers=jar)

    download = served.get(path, headers=jar)
    anonymous = served.get(path)

    assert download.status == 200, download.body[:500]
    assert download.raw == stored.read_bytes()
    assert download.headers["content-type"] == "image/png"
    assert download.headers["content-disposition"] == 'attachment; filename="holiday photo.png"'
    assert download.headers["content-security-policy"] == "default-src 'none'; sandbox"
    for name in SHARED_HEADERS:
        assert download.headers.get(name) == page.headers[name], name
    assert_each_header_once(download)
    assert anonymous.status == 302
    assert anonymous.headers["location"].startswith("/accounts/login/")
    # Stored by the service's user under the unit's umask, readable by its group alone.
    user = served.deployment.user
    info = stored.stat()
    assert (stored.owner(), stored.group()) == (user, user)
    assert stat.S_IMODE(info.st_mode) == 0o640
    assert stat.S_IMODE(stored.parent.stat().st_mode) == 0o750
    assert stat.S_IMODE(served.deployment.state.stat().st_mode) == 0o750


@pytest.mark.root
@pytest.mark.parametrize("served", ["nginx"], indirect=True)
def test_nginx_keeps_its_internal_location_to_itself(served, stored_upload):
    cookies, _, stored = stored_upload
    jar = {"Cookie": cookie_header(cookies)}

    direct = served.get(f"/internal-uploads/{stored.name}", headers=jar)

    assert direct.status == 404
    assert_proxy_headers(direct)


@pytest.mark.root
def test_a_stored_file_that_leads_out_of_the_uploads_folder_is_not_sent(served, stored_upload):
    cookies, path, stored = stored_upload
    jar = {"Cookie": cookie_header(cookies)}
    kept = stored.with_name(stored.name + ".kept")
    user = served.deployment.user
    # What whoever can write the folder (the service's user) could leave there.
    moved = subprocess.run(
        [
            "runuser",
            "-u",
            user,
            "--",
            "sh",
            "-c",
            'mv "$0" "$1" && ln -s /etc/passwd "$0"',
            stored,
            kept,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert moved.returncode == 0, moved.stderr
    try:
        answer = served.get(path, headers=jar)
    finally:
        stored.unlink()
        kept.rename(stored)

    assert answer.status == 400
    assert "root:" not in answer.body


@pytest.mark.root
def test_static_files_reach_the_proxys_user_with_the_sites_headers(served):
    manifest = json.loads((served.deployment.code / "staticfiles" / "staticfiles.json").read_text())
    hashed = next(name for name in manifest["paths"].values() if name.endswith(".css"))

    answer = served.get(f"/static/{hashed}", headers=GZIP)
    escape = served.get("/static/../manage.py")

    assert answer.status == 200, (answer.status, served.proxy_log.read_text()[-2000:])
    assert answer.headers["content-type"].startswith("text/css")
    assert_proxy_headers(answer, cache_control="public, max-age=31536000, immutable")
    if served.proxy == "nginx":
        assert answer.headers["content-encoding"] == "gzip"
    assert "import" not in escape.body


@pytest.mark.root
def test_the_documented_readiness_check_answers_through_the_socket(served):
    """deploy/README.md's check after each release, run as it is written, as root."""
    deployment = served.deployment
    notes = (deployment.code / "deploy" / "README.md").read_text()
    check = sh_block(notes, "After the first start and each release, check that the app is ready")

    result = subprocess.run(
        ["sh", "-c", "\n".join(check)], capture_output=True, text=True, timeout=60, check=False
    )

    assert result.returncode == 0, result.stderr + served.logs()
    assert result.stdout == "ok\n"


@pytest.mark.root
@pytest.mark.parametrize("served", ["nginx"], indirect=True)
def test_the_variables_file_reads_the_same_for_systemd_and_the_readmes_shell(served):
    deployment = served.deployment
    written = deployment.env["DJANGO_EMAIL_HOST_PASSWORD"]

    # What systemd's own parser gave the service, and what the README's release commands load.
    systemd = deployment.service_env()["DJANGO_EMAIL_HOST_PASSWORD"]
    shell = deployment.manage(
        "shell",
        "-c",
        "from django.conf import settings\n"
        "print(settings.MAILERS['default']['OPTIONS']['password'])",
    )

    assert systemd == written
    assert shell.returncode == 0, shell.stderr
    assert shell.stdout.splitlines()[-1] == written


@pytest.mark.root
def test_answers_the_proxy_makes_itself_carry_the_sites_headers(served):
    missing, too_large = probe(
        served.inside,
        served.tls.ca,
        {"port": 443, "method": "GET", "path": "/static/missing.css"},
        {"port": 443, "method": "POST", "path": "/accounts/login/", "body_size": 12 * 2**20},
    )

    assert missing.status == 404
    assert_proxy_headers(missing)
    # The default upload limit is 10 MiB, and the proxy allows 1 MiB more for the form.
    assert isinstance(too_large, Answer), too_large
    assert too_large.status in {403, 413}, too_large.status
    assert_proxy_headers(too_large)


@pytest.mark.root
@pytest.mark.parametrize("served", ["nginx"], indirect=True)
def test_nginx_sends_http_to_https_on_the_sites_name(served):
    own, other = probe(
        served.inside,
        served.tls.ca,
        {"port": 80, "method": "GET", "path": "/accounts/login/?next=/a"},
        {"port": 80, "method": "GET", "path": "/", "headers": {"Host": "evil.example"}},
    )
    assert own.status == 301
    assert own.headers["location"] == f"https://{DOMAIN}/accounts/login/?next=/a"
    assert other.status == 301
    assert other.headers["location"] == f"https://{DOMAIN}/"
    assert own.headers["server"] == "nginx"


@pytest.mark.root
@pytest.mark.parametrize("served", ["nginx"], indirect=True)
def test_nginx_passes_requests_with_its_own_forwarded_headers(served):
    inside, tls = served.inside, served.tls
    forged = {
        "X-Forwarded-For": "203.0.113.7",
        "X-Forwarded-Proto": "http",
        "X-Request-ID": "chosen-by-the-client-0123456789",
    }
    (home,) = probe(
        inside, tls.ca, {"port": 443, "method": "GET", "path": "/", "headers": {**forged, **GZIP}}
    )
    assert home.status == 200, home.body[:500]
    assert home.headers["server"] == "nginx"
    assert home.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
    assert "default-src 'none'" in home.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in home.headers["content-security-policy"]
    assert "unsafe" not in home.headers["content-security-policy"]
    assert home.headers["x-content-type-options"] == "nosniff"
    assert home.headers["cross-origin-resource-policy"] == "same-origin"
    # Pages are not compressed (BREACH), although the client asked for it.
    assert "content-encoding" not in home.headers
    # The id of the request is nginx's, not the client's, and Django logged it.
    request_id = home.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    assert f"{request_id} /\n" in (served.deployment.runtime / "nginx" / "access.log").read_text()
    assert f"request_id={request_id}" in served.gunicorn_log.read_text()

    # A failed sign-in is logged with the address nginx saw, not the one the client wrote.
    (page,) = probe(inside, tls.ca, {"port": 443, "method": "GET", "path": "/accounts/login/"})
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.body).group(1)
    cookies = "; ".join(cookie.split(";", 1)[0] for cookie in page.cookies)
    form = f"login=nobody%40example.org&password=wrong-password-123456&csrfmiddlewaretoken={token}"
    (failed,) = probe(
        inside,
        tls.ca,
        {
            "port": 443,
            "method": "POST",
            "path": "/accounts/login/",
            "body": form,
            "headers": {
                **forged,
                "Cookie": cookies,
                "Content-Type": "application/x-www-form-urlencoded",
                "Origin": f"https://{DOMAIN}",
                "Referer": f"https://{DOMAIN}/accounts/login/",
            },
        },
    )
    assert failed.status == 200, failed.body[:500]
    events = [
        json.loads(line)
        for line in served.gunicorn_log.read_text().splitlines()
        if line.startswith("{") and '"login.failed"' in line
    ]
    assert [event["client_ip"] for event in events] == ["127.0.0.1"]


@pytest.mark.root
@pytest.mark.parametrize("served", ["nginx"], indirect=True)
def test_nginx_refuses_other_names_and_large_bodies(served):
    inside, tls = served.inside, served.tls
    other_name, other_host, too_large = probe(
        inside,
        tls.ca,
        {"port": 443, "method": "GET", "path": "/", "sni": "evil.example"},
        {"port": 443, "method": "GET", "path": "/", "headers": {"Host": "evil.example"}},
        {"port": 443, "method": "POST", "path": "/accounts/login/", "content_length": 12 * 2**20},
    )
    # The handshake for another name fails, and a request for another Host over the site's
    # handshake is closed without an answer.
    assert isinstance(other_name, str) and "SSL" in other_name, other_name
    assert isinstance(other_host, str) and "RemoteDisconnected" in other_host, other_host
    # The default limit of an upload is 10 MiB, and nginx allows 1 MiB more for the form.
    assert too_large.status == 413


@pytest.mark.root
def test_observatory_score(served, observatory):
    inside, tls = served.inside, served.tls
    done = subprocess.run(
        inside([*observatory, DOMAIN]),
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NODE_EXTRA_CA_CERTS": str(tls.ca)},
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)
    scan, tests = result["scan"], result["tests"]
    summary = {name: (test["result"], test["scoreModifier"]) for name, test in tests.items()}
    print(
        f"Observatory ({served.proxy}): {scan['grade']} {scan['score']}",
        json.dumps(summary, indent=1),
    )
    # The certificate was trusted (an untrusted one costs 20 points on each of these two).
    assert tests["redirection"]["result"] == "redirection-to-https", summary
    assert tests["strict-transport-security"]["result"].startswith("hsts-implemented"), summary
    assert scan["testsFailed"] == 0, summary
    assert scan["score"] >= OBSERVATORY_MINIMUM, summary


@pytest.mark.root
@pytest.mark.parametrize("served", ["nginx"], indirect=True)
def test_testssl_finds_nothing_high_or_critical(served, tmp_path):
    inside, tls = served.inside, served.tls
    testssl = need("testssl", "testssl.sh")
    report = tmp_path / "testssl.json"
    done = subprocess.run(
        inside(
            [
                testssl,
                "--quiet",
                "--color",
                "0",
                "--warnings",
                "batch",
                "--add-ca",
                tls.ca,
                "--ip",
                "127.0.0.1",
                "--jsonfile",
                report,
                f"https://{DOMAIN}/",
            ]
        ),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert report.exists(), done.stdout + done.stderr
    findings = json.loads(report.read_text())
    severe = [item for item in findings if item["severity"] in {"HIGH", "CRITICAL"}]
    print(
        "testssl:",
        json.dumps([f for f in findings if f["severity"] not in {"OK", "INFO"}], indent=1),
    )
    assert not severe, json.dumps(severe, indent=1)
    by_id = {item["id"]: item for item in findings}
    assert by_id["BREACH"]["severity"] == "OK", by_id["BREACH"]
    for old in ("SSLv2", "SSLv3", "TLS1", "TLS1_1"):
        assert by_id[old]["finding"] == "not offered", by_id[old]
    assert by_id["TLS1_2"]["finding"].startswith("offered")
    assert by_id["TLS1_3"]["finding"].startswith("offered")


# Each proxy's promises, with a stand-in for gunicorn. -----------------------------------------

# Run in the namespace on gunicorn's address: answers every request with what arrived, as JSON,
# and names itself in Server as gunicorn does.
ECHO_BACKEND = r"""
import json, os, shutil, socket, socketserver, sys
from http.server import BaseHTTPRequestHandler

uploads, path, owner, group = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
mode = int(sys.argv[5], 8)
# What Django sends with a download it allowed, besides the file's name for the proxy.
DOWNLOAD = json.loads(sys.argv[6])

class Echo(BaseHTTPRequestHandler):
    def answer(self):
        if self.path == "/hang-up":
            # As a worker killed mid-request: the proxy answers 502 itself.
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if self.path.startswith(("/sendfile/", "/accel/")):
            kind, name = self.path[1:].split("/", 1)
            self.send_response(200)
            for header, value in DOWNLOAD.items():
                self.send_header(header, value)
            if kind == "sendfile":
                # /sendfile/escape names a file beside the uploads folder, as a bug might.
                target = "/../secret.txt" if name == "escape" else "/" + name
                self.send_header("X-Sendfile", uploads + target)
            else:
                self.send_header("X-Accel-Redirect", "/internal-uploads/" + name)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        seen = {"path": self.path, "headers": dict(self.headers.items()), "length": len(body)}
        data = json.dumps(seen).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = answer

    def version_string(self):
        return "gunicorn"

    def log_message(self, *args):
        pass  # a Unix socket's client has no address to log

class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

server = Server(path, Echo)
# As the .socket unit makes it: only the proxy's user may open it.
shutil.chown(path, owner, group)
os.chmod(path, mode)
server.serve_forever()
"""

ECHO_SETS = {
    **{
        proxy: {"proxy": proxy, "upload_max_mb": 1, "trusted_proxy_count": 1}
        for proxy in ("nginx", "apache", "caddy")
    },
    # Behind a CDN the proxy appends to the entries the CDN wrote instead of replacing them.
    "nginx-cdn": {"proxy": "nginx", "upload_max_mb": 1, "trusted_proxy_count": 2},
    "apache-cdn": {"proxy": "apache", "upload_max_mb": 1, "trusted_proxy_count": 2},
}


def uploads_folder(folder: Path) -> Path:
    """A folder of uploads laid out as a deployment has it (the README's permission model):
    readable by its group alone, which the proxy's user (www-data) joins, with a file in it; and
    a file beside it that no download may reach. The same for the same test folder."""
    outer = Path(tempfile.gettempdir()) / f"fortress-{folder.parent.name}-{folder.name}"
    uploads = outer / "uploads"
    if not uploads.exists():
        claim(outer.name)
        # As /var/lib is on every server, the folder above the service's state is open to all.
        outer.mkdir(mode=0o755)
        outer.chmod(0o755)
        atexit.register(shutil.rmtree, outer, ignore_errors=True)
        uploads.mkdir(mode=0o750)
        uploads.chmod(0o750)
        shutil.chown(uploads, "root", "www-data")
        note = uploads / "note.txt"
        note.write_text("the owner's note\n")
        note.chmod(0o640)
        shutil.chown(note, "root", "www-data")
        (outer / "secret.txt").write_text("outside the uploads folder\n")
        (outer / "secret.txt").chmod(0o600)
        # What whoever can write the folder could leave there: a link to a file the proxy's
        # user may read.
        (uploads / "passwd-link").symlink_to("/etc/passwd")
    return uploads


def static_folder() -> Path:
    """Collected static files with the modes STATIC_FILE_MODES gives them (files 644, folders
    755, a generated test of the project proves it), in a folder open to all, as /srv is."""
    static = open_folder("fortress-static-")
    static.chmod(0o755)
    (static / "site.css").write_text("body { color: teal; }\n")
    (static / "site.css").chmod(0o644)
    return static


# The headers Django sends with a download it allowed (uploads/views.py), whole values.
ECHO_DOWNLOAD = {
    "Content-Type": "text/plain",
    "Content-Disposition": 'attachment; filename="note.txt"',
    "Cache-Control": "private, no-store",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), geolocation=(), microphone=()",
}


def echo_proxy_command(proxy: str, answers: dict, project: Path, tls: TLS, folder: Path):
    """The command that runs the generated configuration of proxy in the foreground."""
    slug = answers["project_slug"]
    # With the snippets of the docs added, as a team that follows them would.
    config, _ = with_doc_snippets(project, proxy, site_config(project, answers, tls))
    config = replace(config, f"/srv/{slug}/staticfiles", str(static_folder()))
    if proxy != "caddy":
        config = replace(config, f"/var/lib/{slug}/uploads", str(uploads_folder(folder)))
    if proxy == "nginx":
        (folder / "site.conf").write_text(config)
        main = nginx_main(folder, folder / "site.conf")
        return [need("nginx", "nginx"), "-c", main, "-e", folder / "error.log", "-g", "daemon off;"]
    if proxy == "apache":
        (folder / "site.conf").write_text(config)
        main = apache_main(folder, folder / "site.conf")
        main.write_text(
            replace_once(
                main.read_text(),
                "Listen 127.0.0.1:80\nListen 127.0.0.1:443\n",
                "Listen 80\nListen 443\n",
            )
        )
        return [need("apache2", "apache2"), "-f", main, "-D", "FOREGROUND"]
    return caddy_command(config, tls)


def caddy_command(config: str, tls: TLS) -> list:
    """Caddy running config as Debian's caddy.service runs it (as_caddy), from a home of its own
    that only its user may enter, as /var/lib/caddy: the test certificate in place of the one
    it would obtain, and its admin socket there, one per test server."""
    home = open_folder("fortress-caddy-")
    for source in (tls.cert, tls.key):
        shutil.copy(source, home / source.name)
    config = replace(config, "\ttls {", f"\ttls {home / tls.cert.name} {home / tls.key.name} {{")
    config = replace(config, "unix//var/lib/caddy/admin.sock", f"unix/{home}/admin.sock")
    (home / "Caddyfile").write_text(config)
    for path in (home, *home.iterdir()):
        shutil.chown(path, "caddy", "caddy")
    return as_caddy(
        [
            "env",
            f"XDG_DATA_HOME={home}/data",
            f"XDG_CONFIG_HOME={home}/config",
            need("caddy", "caddy"),
            "run",
            "--config",
            home / "Caddyfile",
            "--adapter",
            "caddyfile",
        ]
    )


@pytest.fixture(scope="module", params=sorted(ECHO_SETS))
def proxy_with_echo(request, template_src, tmp_path_factory):
    """The generated configuration of one proxy, run by the real server on ports 80 and 443 of a
    network namespace, in front of ECHO_BACKEND on gunicorn's address; yields (proxy, inside,
    tls)."""
    # A slug of its own: gunicorn's socket, /run/<slug>.sock, is one per test server.
    remove_leftovers()
    slug = claim(f"echo_{request.param.replace('-', '_')}_{uuid.uuid4().hex[:8]}")
    answers = {**ECHO_SETS[request.param], "project_slug": slug}
    proxy = answers["proxy"]
    folder = tmp_path_factory.mktemp(f"echo-{request.param}")
    project = folder / "project"
    copier.run_copy(
        str(template_src), project, data=answers, defaults=True, unsafe=True, quiet=True
    )
    tls = make_tls(folder / "tls", DOMAIN)
    command = echo_proxy_command(proxy, answers, project, tls, folder)
    env = {
        **os.environ,
        "APACHE_RUN_DIR": str(folder),
        "XDG_DATA_HOME": str(folder / "data"),
        "XDG_CONFIG_HOME": str(folder / "config"),
    }
    socket_unit = unit_settings(project / "deploy" / f"{slug}.socket")
    (path,), (owner,), (group,), (mode,) = (
        socket_unit[key] for key in ("ListenStream", "SocketUser", "SocketGroup", "SocketMode")
    )
    backend = [
        sys.executable,
        "-c",
        ECHO_BACKEND,
        uploads_folder(folder),
        path,
        owner,
        group,
        mode,
        json.dumps(ECHO_DOWNLOAD),
    ]
    with ExitStack() as stack:
        stack.callback(Path(path).unlink, missing_ok=True)
        inside = stack.enter_context(network_namespace(folder))
        stack.enter_context(
            background(
                inside(backend),
                folder / "echo.log",
                "echo",
                lambda: True,
            )
        )
        stack.enter_context(
            background(inside(command), folder / "proxy.log", proxy, lambda: True, env=env)
        )
        # Ready when a request reaches the backend through the proxy: until then the proxy
        # refuses the connection, or answers 502 or 503 itself.
        deadline = time.monotonic() + 30
        home = {"port": 443, "method": "GET", "path": "/"}
        while not reaches_backend(probe(inside, tls.ca, home)[0]):
            if time.monotonic() > deadline:
                raise ServiceError(f"{proxy} did not answer:\n{(folder / 'proxy.log').read_text()}")
            time.sleep(0.3)
        yield proxy, inside, tls, answers["trusted_proxy_count"]


def reaches_backend(answer: Answer | str) -> bool:
    return isinstance(answer, Answer) and answer.status == 200 and '"path"' in answer.body


def echoed(answer: Answer) -> dict:
    assert answer.status == 200, (answer.status, answer.body[:300])
    return json.loads(answer.body)


@pytest.mark.root
def test_each_proxy_sets_the_forwarding_headers_itself(proxy_with_echo):
    _, inside, tls, trusted = proxy_with_echo
    forged = {
        "X-Forwarded-For": "203.0.113.7",
        "X-Forwarded-Proto": "http",
        "X-Request-ID": "chosen-by-the-client-0123456789",
    }
    (answer,) = probe(
        inside, tls.ca, {"port": 443, "method": "GET", "path": "/a?b=c", "headers": forged}
    )
    seen = {name.lower(): value for name, value in echoed(answer)["headers"].items()}
    # One trusted proxy: the client's address alone. Behind a CDN, the entry the CDN wrote (here
    # forged, as the test client is no CDN) is kept, and the address of the peer appended.
    expected = "127.0.0.1" if trusted == 1 else "203.0.113.7, 127.0.0.1"
    assert seen["x-forwarded-for"] == expected
    assert seen["x-forwarded-proto"] == "https"
    assert seen["x-request-id"] != forged["X-Request-ID"]
    assert re.fullmatch(r"[A-Za-z0-9@_+=/-]{16,64}", seen["x-request-id"])
    assert seen["host"] == DOMAIN
    # No proxy names its version, and none passes gunicorn's name on.
    server = answer.headers.get("server", "")
    assert server in {"nginx", "Apache", ""}, server
    assert "gunicorn" not in server


@pytest.mark.root
def test_each_proxy_sends_http_to_https_and_serves_static_files(proxy_with_echo):
    _, inside, tls, _ = proxy_with_echo
    redirect, static = probe(
        inside,
        tls.ca,
        {"port": 80, "method": "GET", "path": "/accounts/login/"},
        {"port": 443, "method": "GET", "path": "/static/site.css"},
    )
    assert redirect.status in {301, 308}
    assert redirect.headers["location"] == f"https://{DOMAIN}/accounts/login/"
    assert static.status == 200
    assert static.body == "body { color: teal; }\n"
    assert_proxy_headers(static, cache_control="public, max-age=31536000, immutable")


@pytest.mark.root
@pytest.mark.parametrize("proxy_with_echo", ["caddy"], indirect=True)
def test_caddys_admin_api_is_not_on_a_tcp_port(proxy_with_echo):
    _, inside, tls, _ = proxy_with_echo
    # Its default, 127.0.0.1:2019, would let any local user stop or reconfigure Caddy.
    (admin,) = probe(inside, tls.ca, {"port": 2019, "method": "GET", "path": "/config/"})
    assert isinstance(admin, str) and "ConnectionRefused" in admin, admin


@pytest.mark.root
def test_each_proxy_keeps_large_bodies_and_other_hosts_from_django(proxy_with_echo):
    proxy, inside, tls, _ = proxy_with_echo
    limit = 2 * 2**20  # upload_max_mb 1, and a MiB for the form around the file
    small, large, other_host = probe(
        inside,
        tls.ca,
        {"port": 443, "method": "POST", "path": "/files/", "body": "x" * 1000},
        {"port": 443, "method": "POST", "path": "/files/", "body_size": limit + 1},
        {"port": 443, "method": "GET", "path": "/", "headers": {"Host": "evil.example"}},
    )
    assert echoed(small)["length"] == 1000
    # nginx and Caddy answer 413 for the length declared, before reading the body; Apache
    # answers 403 once it has read it. None passes the request on.
    assert isinstance(large, Answer), large
    assert large.status == {"nginx": 413, "apache": 403, "caddy": 413}[proxy]
    assert_proxy_headers(large)
    assert '"length"' not in large.body
    # Another Host: nginx closes the connection unanswered, Apache refuses it, and Caddy answers
    # an empty 200 of its own: none passes it on.
    if proxy == "nginx":
        assert isinstance(other_host, str) and "RemoteDisconnected" in other_host, other_host
    else:
        assert other_host.status == {"apache": 403, "caddy": 200}[proxy]
        assert '"path"' not in other_host.body
    if proxy == "apache":
        # A body of unknown length could exceed the limit unseen: Apache refuses it.
        (chunked,) = probe(
            inside,
            tls.ca,
            {
                "port": 443,
                "method": "POST",
                "path": "/files/",
                "headers": {"Transfer-Encoding": "chunked"},
                "body": "3\r\nabc\r\n0\r\n\r\n",
            },
        )
        assert chunked.status == 403


@pytest.mark.root
@pytest.mark.parametrize("proxy_with_echo", ["apache"], indirect=True)
def test_apache_sends_a_file_django_allowed_from_the_uploads_folder_only(proxy_with_echo):
    _, inside, tls, _ = proxy_with_echo
    sent, outside = probe(
        inside,
        tls.ca,
        {"port": 443, "method": "GET", "path": "/sendfile/note.txt"},
        {"port": 443, "method": "GET", "path": "/sendfile/escape"},
    )
    assert sent.status == 200
    assert sent.body == "the owner's note\n"
    assert sent.headers["content-disposition"] == 'attachment; filename="note.txt"'
    assert "x-sendfile" not in sent.headers
    # mod_xsendfile sends nothing outside XSendFilePath, whatever the answer names.
    assert outside.status == 404
    assert "outside" not in outside.body
    assert_proxy_headers(outside)


@pytest.mark.root
@pytest.mark.parametrize("proxy_with_echo", ["nginx", "apache"], indirect=True)
def test_a_download_the_proxy_sends_keeps_the_headers_django_set(proxy_with_echo):
    proxy, inside, tls, _ = proxy_with_echo
    path = {"nginx": "/accel/note.txt", "apache": "/sendfile/note.txt"}[proxy]

    (sent,) = probe(inside, tls.ca, {"port": 443, "method": "GET", "path": path})

    assert sent.status == 200
    assert sent.body == "the owner's note\n"
    for name, value in ECHO_DOWNLOAD.items():
        assert sent.headers.get(name.lower()) == value, name
    assert_each_header_once(sent)
    assert "x-accel-redirect" not in sent.headers
    assert "x-sendfile" not in sent.headers


@pytest.mark.root
@pytest.mark.parametrize("proxy_with_echo", ["nginx"], indirect=True)
def test_nginx_sends_no_file_through_a_symbolic_link_in_the_uploads_folder(proxy_with_echo):
    _, inside, tls, _ = proxy_with_echo

    (link,) = probe(inside, tls.ca, {"port": 443, "method": "GET", "path": "/accel/passwd-link"})

    assert link.status == 403
    assert "root:" not in link.body
    # The answer keeps the headers Django set for the download.
    assert link.headers["content-security-policy"] == "default-src 'none'; sandbox"
    assert_each_header_once(link)


@pytest.mark.root
def test_answers_each_proxy_makes_itself_carry_the_sites_headers(proxy_with_echo):
    proxy, inside, tls, _ = proxy_with_echo
    requests = [
        # gunicorn's worker gone mid-request: the proxy answers 502.
        {"port": 443, "method": "GET", "path": "/hang-up"},
        {"port": 443, "method": "GET", "path": "/static/missing.css"},
    ]
    if proxy != "caddy":
        # A request line longer than the proxy reads (Caddy's limit is 1 MiB of headers).
        requests.append({"port": 443, "method": "GET", "path": "/" + "a" * 20000})
    if proxy == "apache":
        requests.append({"port": 443, "method": "TRACE", "path": "/"})

    answers = probe(inside, tls.ca, *requests)

    statuses = [answer.status for answer in answers]
    assert statuses == [502, 404, 414, 405][: len(requests)], statuses
    for answer in answers:
        assert_proxy_headers(answer)


@pytest.mark.root
@pytest.mark.parametrize("proxy_with_echo", ["nginx", "apache", "caddy"], indirect=True)
def test_the_readmes_admin_allow_list_refuses_every_other_network(proxy_with_echo):
    _, inside, tls, _ = proxy_with_echo

    admin, deeper, page = probe(
        inside,
        tls.ca,
        {"port": 443, "method": "GET", "path": "/backoffice/"},
        {"port": 443, "method": "GET", "path": "/backoffice/login/?next=/backoffice/"},
        {"port": 443, "method": "GET", "path": "/backoffice-not/"},
    )

    # The test client, 127.0.0.1, is not in 203.0.113.0/24.
    assert (admin.status, deeper.status) == (403, 403)
    assert '"path"' not in admin.body + deeper.body
    assert_proxy_headers(admin)
    assert echoed(page)["path"] == "/backoffice-not/"


@pytest.mark.root
@pytest.mark.parametrize("proxy_with_echo", ["apache"], indirect=True)
def test_apache_refuses_a_handshake_without_a_name_and_serves_by_host_otherwise(proxy_with_echo):
    # What the comment on SSLStrictSNIVHostCheck in deploy/apache.conf says it does.
    _, inside, tls, _ = proxy_with_echo

    nameless, other_name = probe(
        inside,
        tls.ca,
        {"port": 443, "method": "GET", "path": "/", "sni": None},
        {"port": 443, "method": "GET", "path": "/", "sni": "evil.example", "check_name": False},
    )

    assert nameless.status == 403
    assert '"path"' not in nameless.body
    # Another name in the handshake: the same certificate and TLS settings, and the request goes
    # to the virtual host its Host names; Django sees only its own Host.
    assert echoed(other_name)["headers"]["Host"] == DOMAIN


@pytest.mark.parametrize("proxy_with_echo", ["apache"], indirect=True)
def test_apache_sends_its_headers_whatever_the_case_of_the_name_in_the_handshake(proxy_with_echo):
    # Host names are case-insensitive; the headers of Apache's own answers may not depend on it.
    _, inside, tls, _ = proxy_with_echo

    (missing,) = probe(
        inside,
        tls.ca,
        {"port": 443, "method": "GET", "path": "/static/missing.css", "sni": "EXAMPLE.COM"},
    )

    assert missing.status == 404
    assert_proxy_headers(missing)
