"""Benchmark: where a request's time goes, middleware by middleware, in one process.

benchmarks/requests.py compares whole servers, whose figures drift with the machine's load by more
than one middleware costs. This one serves GET /bench/ (the same trivial view) in one process,
without a network, as gunicorn's synchronous worker serves each request, less the socket: gunicorn
parses the request and builds the WSGI environ, Django's WSGIHandler runs it with the production
settings, and gunicorn checks the response's headers and writes them and the body to a socket that
discards them. The server's part counts because a layer that adds a header costs the server too:
gunicorn validates, formats and encodes every header. Several MIDDLEWARE lists are built side by
side; each round times a batch of requests with every list in turn, rotating which goes first, so
a slower second of the machine touches every list alike. A list's time is the median over the
rounds, in microseconds per request. A layer's cost is the median of the rounds' differences, each
taken within one round, with a 95% confidence interval for that median (from the ranks of the
sorted differences, which needs no assumption about their distribution): a cost whose interval
includes zero is not told apart from the noise.

The lists: the project's own; `django-admin startproject`'s; and the project's without each layer
that startproject's lacks, whose difference to the full list is what that layer costs. The
settings point at PostgreSQL and Redis on a port where nothing listens: a request that reached
either would fail, and the benchmark with it, so it also shows that an anonymous request touches
neither.

    .venv/bin/python benchmarks/middleware.py [--runs 100] [--write docs/performance.md]
"""

from __future__ import annotations

import base64
import os
import platform
import statistics
import sys
import tempfile
from datetime import date
from pathlib import Path

import copier
from common import BENCH_URLS, median_interval, run, run_in_project

from tests.helpers import copy_template

REQUESTS_PER_BATCH = 100
# Production's settings; the view under test comes first in the URLconf.
SETTINGS_SHIM = 'from config.settings.prod import *  # noqa: F403\n\nROOT_URLCONF = "bench_urls"\n'
NOWHERE = "127.0.0.1:9"  # the discard port: nothing listens on loopback

# Runs inside the generated project, with its settings and its virtualenv.
INNER = r"""
import json, re, sys, time
from pathlib import Path

import django

django.setup()
from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.test.utils import override_settings
from gunicorn.config import Config
from gunicorn.http import wsgi
from gunicorn.http.parser import RequestParser

rounds, batch = int(sys.argv[1]), int(sys.argv[2])
template = Path(django.__file__).parent / "conf/project_template/project_name/settings.py-tpl"
startproject = re.findall(
    r"'([\w.]+)'", re.search(r"MIDDLEWARE = \[(.*?)\]", template.read_text(), re.S).group(1)
)
if "django.middleware.security.SecurityMiddleware" not in startproject:
    sys.exit(f"No MIDDLEWARE list found in {template}: {startproject}")
full = list(settings.MIDDLEWARE)
lists = {"all": full, "startproject": startproject}
for layer in full:
    if layer not in startproject:
        lists[layer] = [other for other in full if other != layer]

# wrk's request (benchmarks/requests.py), with the headers the TLS proxy in front adds.
REQUEST = (
    b"GET /bench/ HTTP/1.1\r\nHost: www.example.com\r\n"
    b"X-Forwarded-Proto: https\r\nX-Forwarded-For: 203.0.113.7\r\n\r\n"
)
CLIENT, SERVER = ("127.0.0.1", 50000), ("127.0.0.1", 8000)
config = Config()


class Discard:
    # The client's socket, to gunicorn: what it sends goes nowhere.
    def sendall(self, data):
        pass


handlers = {}
for name, middleware in lists.items():
    with override_settings(MIDDLEWARE=middleware):
        handlers[name] = WSGIHandler()


def serve(handler, count):
    # gunicorn's SyncWorker.handle_request, less the socket and the access log (as requests.py).
    for _ in range(count):
        request = next(RequestParser(config, [REQUEST], CLIENT))
        response, environ = wsgi.create(request, Discard(), CLIENT, SERVER, config)
        response.force_close()
        body = handler(environ, response.start_response)
        for chunk in body:
            response.write(chunk)
        response.close()
        body.close()  # request_finished and its receivers
        if response.status_code != 200:
            sys.exit(f"GET /bench/ answered {response.status}")


for handler in handlers.values():
    serve(handler, batch)  # warm up
timings = {name: [] for name in handlers}
names = list(handlers)
for number in range(rounds):
    turn = number % len(names)
    for name in names[turn:] + names[:turn]:
        started = time.perf_counter()
        serve(handlers[name], batch)
        timings[name].append((time.perf_counter() - started) / batch * 1e6)
print(json.dumps(timings))
"""


def measure(runs: int) -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory(prefix="bench-middleware-") as scratch:
        project = Path(scratch) / "project"
        copier.run_copy(
            str(copy_template(Path(scratch) / "template")),
            project,
            defaults=True,
            unsafe=True,
            quiet=True,
        )
        (project / "config" / "settings" / "bench.py").write_text(SETTINGS_SHIM)
        (project / "bench_urls.py").write_text(BENCH_URLS.format(urls="config.urls"))
        env = {
            "PATH": os.environ["PATH"],
            "DJANGO_SETTINGS_MODULE": "config.settings.bench",
            "DJANGO_SECRET_KEY": "bench-" + os.urandom(32).hex(),
            "DJANGO_ALLOWED_HOSTS": "www.example.com",
            "DATABASE_URL": f"postgres://bench@{NOWHERE}/bench",
            "REDIS_URL": f"redis://{NOWHERE}/0",
            "DJANGO_EMAIL_HOST": "127.0.0.1",
            "DJANGO_MFA_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
        }
        return run_in_project(project, INNER, [str(runs), str(REQUESTS_PER_BATCH)], env)


def differences(first: list[float], second: list[float]) -> tuple[float, float, float]:
    """The median of the rounds' differences first - second, with its 95% interval."""
    return median_interval([a - b for a, b in zip(first, second, strict=True)])


def table(timings: dict[str, list[float]], runs: int) -> str:
    everything, startproject = timings.pop("all"), timings.pop("startproject")
    costs = sorted(
        ((layer, differences(everything, each)) for layer, each in timings.items()),
        key=lambda item: -item[1][0],
    )

    def cost(figures: tuple[float, float, float]) -> str:
        median, low, high = figures
        noise = " (not told apart from zero)" if low <= 0 <= high else ""
        return f"{median:.1f} µs | {low:.1f} to {high:.1f} µs{noise}"

    total = differences(everything, startproject)
    return "\n".join(
        [
            f"Measured {date.today()} on {platform.machine()}, Python 3.12: {runs} rounds of "
            f"{REQUESTS_PER_BATCH} requests per list, GET /bench/ through gunicorn's request "
            "parser and response writer and Django's WSGI handler, with the production settings.",
            "",
            "| MIDDLEWARE | per request (median) | costs (median of the rounds) | 95% interval |",
            "| --- | --- | --- | --- |",
            f"| the project's | {statistics.median(everything):.1f} µs | | |",
            f"| `startproject`'s, same settings | {statistics.median(startproject):.1f} µs | | |",
            *(
                f"| the project's without `{layer}` | "
                f"{statistics.median(timings[layer]):.1f} µs | {cost(figures)} |"
                for layer, figures in costs
            ),
            "",
            f"The project's list costs {total[0]:.1f} µs a request more than `startproject`'s "
            f"(95% interval: {total[1]:.1f} to {total[2]:.1f} µs; "
            f"{statistics.median(everything) / statistics.median(startproject):.2f}x).",
        ]
    )


def main() -> int:
    return run(__doc__.splitlines()[0], "middleware", 100, lambda runs: table(measure(runs), runs))


if __name__ == "__main__":
    sys.exit(main())
