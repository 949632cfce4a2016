"""Benchmark: what a new gunicorn worker costs with the project preloaded in the master
(`preload_app`, as deploy/gunicorn.conf.py sets it) and without, and what that does to a busy
server that replaces its workers every `max_requests`.

Generates a project with the defaults and serves it as production does (config.settings.prod,
PostgreSQL and Redis from Debian's packages on loopback), with the generated
deploy/gunicorn.conf.py itself: a configuration file that runs it and then changes only the
address (a loopback port instead of the socket systemd holds) and `preload_app`.

- Start-up: a server of one worker; the worker is stopped (TERM, as `max_requests` ends it) and
  the master forks a new one, which then gets one request. The new worker's CPU time until its
  first answer, and the master's over the same span, are read from /proc; so is the wall time
  from the stop to the answer.
- Recycling: the generated worker model (2 x cores + 1 synchronous workers, `max_requests` 1,000
  plus up to 100), `GET /rows/` (ten rows from PostgreSQL in a template, as
  benchmarks/requests.py serves it) under wrk for --runs rounds of ROUND each, the two servers
  back to back in an order that rotates. CPU a request counts every process of the server,
  including the workers that were replaced during the round (their time is in the master's
  cutime and cstime once it has reaped them), and the PostgreSQL backends of its database.
- Releases: the generated worker model on a Unix socket, restarted (TERM to the master, then a
  new gunicorn) while CLIENTS clients request `GET /rows/` on the socket back to back, as the
  proxy would. Once with the socket held across the restart by another process, as the .socket
  unit of `hosting: vps` holds it (handed over with LISTEN_FDS, as systemd does), and once made
  by gunicorn itself, as under `hosting: docker`, where a release replaces the app's container.
  No Docker engine runs on these machines: the second is only the part of a container's
  replacement that gunicorn makes, without the release service, the health check or the proxy's
  own restart, all of which come on top.

The machine is shared, so each figure is the median of the rounds' ratios (preloaded over not),
with a 95% confidence interval for that median.

With --write, it rewrites the "worker-startup" block of docs/performance.md.

    .venv/bin/python benchmarks/worker_startup.py [--runs 6] [--write docs/performance.md]
"""

from __future__ import annotations

import http.client
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import copier
from common import (
    BENCH_URLS,
    CLOCK_TICK,
    PAGES,
    backend,
    cpu_seconds,
    find_project_python,
    median_interval,
    own_cpu,
    run,
    seed,
    stat,
)

from tests.helpers import copy_template, free_port
from tests.services import (
    create_database,
    postgres_server,
    prepare_site,
    project_bin,
    redis_server,
    wait_for_port,
)

# The generated configuration, run as it is, then the two changes the benchmark needs.
CONFIG = """import runpy

globals().update(runpy.run_path("deploy/gunicorn.conf.py"))
bind = [{bind!r}]
preload_app = {preload}
{extra}"""
PAGE = "/rows/"
HEADERS = {
    "Host": "www.example.com",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-For": "203.0.113.7",
}
STARTS = 10
RELEASES = 3
ROUND = "20s"
WRK_OPTIONS = ["--threads=2", "--connections=16", "--timeout=10s"]
REQUESTS_PER_SECOND = re.compile(r"^Requests/sec:\s+([\d.]+)\s*$", re.M)
REQUESTS = re.compile(r"^\s+(\d+) requests in ", re.M)
FAILURES = re.compile(r"^\s+(Non-2xx or 3xx responses|Socket errors):.*$", re.M)
SETTINGS = {False: "not preloaded", True: "preloaded (as generated)"}
HOLDERS = {
    True: "held by another process (`hosting: vps`, the .socket unit)",
    False: "made by gunicorn (`hosting: docker`)",
}


def precise_cpu(pid: int) -> float:
    """The CPU time of pid's main thread to the nanosecond (/proc/pid/stat counts clock ticks of
    10 ms): all of it for gunicorn's single-threaded master and sync workers."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9


def children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int(stat(int(entry.name))[1]) == pid:
                    found.add(int(entry.name))
            except OSError:
                continue
    return found


@dataclass
class Server:
    process: subprocess.Popen
    port: int
    log: Path
    database: str

    def cpu(self) -> float:
        """Every process of the server: the master, its live workers, and the workers it reaped
        (cutime and cstime), plus its PostgreSQL backends."""
        master = self.process.pid
        fields = stat(master)
        total = (int(fields[13]) + int(fields[14])) * CLOCK_TICK + own_cpu(master)
        for worker in children(master):
            try:
                total += own_cpu(worker)
            except OSError:  # reaped meanwhile: now in cutime
                continue
        return total + cpu_seconds(backend(self.database))

    def get(self) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            connection.request("GET", PAGE, headers=HEADERS)
            answer = connection.getresponse()
            body = answer.read().decode(errors="replace")
        finally:
            connection.close()
        if answer.status != 200 or PAGES[PAGE] not in body:
            log = self.log.read_text()[-2000:]
            sys.exit(f"GET {PAGE} answered {answer.status}: {body[:300]!r}\n{log}")


@contextmanager
def serve(project: Path, env: dict[str, str], database: str, preload: bool, extra: str = ""):
    port = free_port()
    config = project / f"bench-gunicorn-{port}.conf.py"
    config.write_text(CONFIG.format(bind=f"127.0.0.1:{port}", preload=preload, extra=extra))
    log = project / f"gunicorn-{port}.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [project_bin(find_project_python(), "gunicorn"), "--config", config.name],
            cwd=project,
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for_port(port, process, "gunicorn", seconds=60)
        server = Server(process, port, log, database)
        server.get()
        yield server
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)


@dataclass
class Start:
    worker: float
    master: float
    wall: float


def new_worker(server: Server) -> Start:
    """Stop the one worker, and measure its replacement until its first answer."""
    master = server.process.pid
    (old,) = children(master)
    master_before = precise_cpu(master)
    stopped = time.monotonic()
    os.kill(old, signal.SIGTERM)
    deadline = stopped + 60
    while not (new := children(master) - {old}):
        if time.monotonic() > deadline:
            sys.exit(f"no new worker:\n{server.log.read_text()[-2000:]}")
        time.sleep(0.005)
    (worker,) = new
    server.get()
    wall = time.monotonic() - stopped
    return Start(precise_cpu(worker), precise_cpu(master) - master_before, wall)


@dataclass
class Load:
    requests_per_second: float
    cpu: float


def load(server: Server) -> Load:
    headers = [option for name, value in HEADERS.items() for option in ("-H", f"{name}: {value}")]
    before = server.cpu()
    done = subprocess.run(
        [
            "wrk",
            *WRK_OPTIONS,
            f"--duration={ROUND}",
            *headers,
            f"http://127.0.0.1:{server.port}{PAGE}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    after = server.cpu()
    if done.returncode != 0 or FAILURES.search(done.stdout):
        sys.exit(f"wrk failed against {PAGE}:\n{done.stdout}{done.stderr}")
    throughput, served = REQUESTS_PER_SECOND.search(done.stdout), REQUESTS.search(done.stdout)
    return Load(float(throughput.group(1)), (after - before) / int(served.group(1)))


# Clients of the release runs, more than the workers, as behind a busy proxy; seconds of load
# before the restart and after it.
CLIENTS = 8
STEADY = 3.0
# A client whose request failed waits this long before its next one, as requests keep arriving.
RETRY = 0.01


def ask(path: str) -> tuple[bool, float, float]:
    """GET /rows/ on the Unix socket at path, as the proxy sends it: whether it was answered 200,
    when it was sent and when its answer (or its failure) came."""
    sent = time.monotonic()
    request = f"GET {PAGE} HTTP/1.0\r\n" + "".join(f"{k}: {v}\r\n" for k, v in HEADERS.items())
    answer = b""
    try:
        with socket.socket(socket.AF_UNIX) as client:
            client.settimeout(90)
            client.connect(path)
            client.sendall(f"{request}\r\n".encode())
            while chunk := client.recv(65536):
                answer += chunk
    except OSError:
        return False, sent, time.monotonic()
    return answer.startswith((b"HTTP/1.0 200 ", b"HTTP/1.1 200 ")), sent, time.monotonic()


@dataclass
class Release:
    served: int
    failed: int
    # From the first failed request to the last one's answer; the longest request that succeeded.
    outage: float
    longest: float


def release(project: Path, env: dict[str, str], held: bool) -> Release:
    """Restart gunicorn under load, the socket held by this process (held) or made by gunicorn."""
    path = f"{project}/release-{held}.sock"
    config = project / f"bench-gunicorn-release-{held}.conf.py"
    config.write_text(CONFIG.format(bind=f"unix:{path}", preload=True, extra=""))
    command = [project_bin(find_project_python(), "gunicorn"), "--config", config.name]
    listener = None
    if held:
        listener = socket.socket(socket.AF_UNIX)
        listener.bind(path)
        listener.listen(128)
        # As systemd starts the unit: the socket on descriptor 3, LISTEN_PID the shell's own,
        # which gunicorn replaces.
        command = ["sh", "-c", 'export LISTEN_FDS=1 LISTEN_PID=$$ && exec "$@"', "sh", *command]
    logs = []

    def start() -> subprocess.Popen:
        log = project / f"gunicorn-release-{held}-{len(logs)}.log"
        logs.append(log)
        with log.open("w") as out:
            process = subprocess.Popen(
                command,
                cwd=project,
                env={**os.environ, **env},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                pass_fds=(3,) if listener else (),
                preexec_fn=(lambda: os.dup2(listener.fileno(), 3)) if listener else None,
            )
        deadline = time.monotonic() + 60
        while "Booting worker" not in log.read_text():
            if process.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"gunicorn did not start:\n{log.read_text()[-2000:]}")
            time.sleep(0.05)
        return process

    answers: list[tuple[bool, float, float]] = []
    stop = threading.Event()

    def client() -> None:
        while not stop.is_set():
            answers.append(ask(path))
            if not answers[-1][0]:
                time.sleep(RETRY)

    process = start()
    clients = [threading.Thread(target=client) for _ in range(CLIENTS)]
    try:
        for thread in clients:
            thread.start()
        time.sleep(STEADY)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
        process = start()
        time.sleep(STEADY)
    finally:
        stop.set()
        for thread in clients:
            thread.join()
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)
        if listener:
            listener.close()
        Path(path).unlink(missing_ok=True)
    failed = [(sent, answered) for ok, sent, answered in answers if not ok]
    return Release(
        served=len(answers) - len(failed),
        failed=len(failed),
        outage=max(answered for _, answered in failed) - min(sent for sent, _ in failed)
        if failed
        else 0.0,
        longest=max(answered - sent for ok, sent, answered in answers if ok),
    )


def replaced_workers(server: Server) -> int:
    return server.log.read_text().count("Autorestarting worker")


@dataclass
class Measured:
    starts: dict[bool, list[Start]]
    loads: dict[bool, list[Load]]
    replaced: dict[bool, int]
    releases: dict[bool, list[Release]]


def measure(runs: int) -> Measured:
    python = find_project_python()
    starts: dict[bool, list[Start]] = {False: [], True: []}
    loads: dict[bool, list[Load]] = {False: [], True: []}
    replaced: dict[bool, int] = {}
    releases: dict[bool, list[Release]] = {False: [], True: []}
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as scratch_name:
        scratch = Path(scratch_name)
        with postgres_server() as postgres, redis_server(scratch) as redis:
            project = scratch / "project"
            copier.run_copy(
                str(copy_template(scratch / "template")),
                project,
                defaults=True,
                unsafe=True,
                quiet=True,
            )
            (project / "bench_urls.py").write_text(BENCH_URLS.format(urls="config.urls"))
            database_url = create_database(python, postgres, "bench_startup")
            site = prepare_site(
                project, python, database_url, f"{redis}/1", 'ROOT_URLCONF = "bench_urls"'
            )
            seed(python, database_url)
            env = {**site.env, "PYTHONDONTWRITEBYTECODE": "1"}
            with ExitStack() as stack:
                single = {
                    preload: stack.enter_context(
                        serve(project, env, "bench_startup", preload, "workers = 1\n")
                    )
                    for preload in (False, True)
                }
                for number in range(STARTS + 1):
                    for preload in (False, True) if number % 2 else (True, False):
                        start = new_worker(single[preload])
                        if number:  # the first one warms the machine's caches
                            starts[preload].append(start)
            with ExitStack() as stack:
                busy = {
                    preload: stack.enter_context(serve(project, env, "bench_startup", preload))
                    for preload in (False, True)
                }
                for server in busy.values():
                    load(server)  # every worker loads the page's code and connects
                for number in range(runs):
                    for preload in (False, True) if number % 2 else (True, False):
                        loads[preload].append(load(busy[preload]))
                replaced = {preload: replaced_workers(server) for preload, server in busy.items()}
            for number in range(RELEASES):
                for held in (False, True) if number % 2 else (True, False):
                    releases[held].append(release(project, env, held))
    return Measured(starts, loads, replaced, releases)


def ratio(values: list[float]) -> str:
    median, low, high = median_interval(values)
    return f"{median:.2f} ({low:.2f} to {high:.2f})"


def report(runs: int) -> str:
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install wrk (Debian)")
    measured = measure(runs)
    starts, loads, replaced = measured.starts, measured.loads, measured.replaced
    rows = []
    for preload, label in SETTINGS.items():
        own = starts[preload]
        rows.append(
            f"| {label} | {statistics.median(s.worker for s in own) * 1000:.0f} ms "
            f"| {statistics.median(s.master for s in own) * 1000:.1f} ms "
            f"| {statistics.median(s.wall for s in own) * 1000:.0f} ms "
            f"| {statistics.median(load.requests_per_second for load in loads[preload]):.0f} "
            f"| {statistics.median(load.cpu for load in loads[preload]) * 1e6:.0f} µs "
            f"| {replaced[preload]} |"
        )
    pairs = list(zip(starts[True], starts[False], strict=True))
    load_pairs = list(zip(loads[True], loads[False], strict=True))
    worker = ratio([on.worker / off.worker for on, off in pairs])
    both = ratio([(on.worker + on.master) / (off.worker + off.master) for on, off in pairs])
    throughput = ratio([on.requests_per_second / off.requests_per_second for on, off in load_pairs])
    cpu = ratio([on.cpu / off.cpu for on, off in load_pairs])
    workers = 2 * (os.cpu_count() or 1) + 1
    release_rows = [
        f"| {label} | {one.served} | **{one.failed}** | {one.outage:.2f} s | {one.longest:.2f} s |"
        for held, label in HOLDERS.items()
        for one in measured.releases[held]
    ]
    return "\n".join(
        [
            f"Measured {date.today()} on {platform.machine()} with {os.cpu_count()} cores: "
            f"{STARTS} new workers of a one-worker server each; {runs} rounds of {ROUND} of wrk "
            f"({' '.join(WRK_OPTIONS)}) on `GET {PAGE}` against the generated worker model "
            f"({workers} synchronous workers, `max_requests` 1,000 plus up to 100).",
            "",
            "| gunicorn | a new worker's CPU until its first answer | the master's | wall time "
            "from the stop to that answer | requests/s under load | CPU a request: every "
            "process + PostgreSQL | workers replaced under load |",
            "| --- | --- | --- | --- | --- | --- | --- |",
            *rows,
            "",
            "| preloaded / not preloaded | ratio (95% interval) |",
            "| --- | --- |",
            f"| a new worker's CPU until its first answer | {worker} |",
            f"| the same plus the master's | {both} |",
            f"| requests/s with `max_requests` | {throughput} |",
            f"| CPU a request with `max_requests` | {cpu} |",
            "",
            f"Releases: {RELEASES} restarts of the preloaded server each, {CLIENTS} clients on its "
            f"socket, {STEADY:.0f} s before and after; a client whose request failed sends its "
            f"next one {RETRY * 1000:.0f} ms later.",
            "",
            "| the socket during a restart | served | failed | from the first failure to the "
            "last | longest request served |",
            "| --- | --- | --- | --- | --- |",
            *release_rows,
        ]
    )


def main() -> int:
    return run(__doc__.splitlines()[0], "worker-startup", 6, report)


if __name__ == "__main__":
    sys.exit(main())
