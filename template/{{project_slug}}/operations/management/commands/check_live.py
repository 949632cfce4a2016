"""`python manage.py check_live https://site`: the deployed site checked from outside, as a
scanner sees it (operations/live.py). Exits 1 with each shortfall and the file or setting that
fixes it; `--json` for machines. Run it after every deploy and on a schedule (deploy/README.md, CI).

It compares the site with the settings it runs with: production's, or the test settings, which
keep base.py's hardening. dev.py turns that hardening off for plain HTTP, so it is refused there.
"""

import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ...live import check_site, lines


class Command(BaseCommand):
    help = "Check the deployed site's TLS, headers, cookies, admin path and security.txt."

    def add_arguments(self, parser) -> None:
        parser.add_argument("url", help="the site's address, https://...")
        parser.add_argument(
            "--json", action="store_true", dest="as_json", help="print the report as JSON"
        )
        parser.add_argument(
            "--oversized-post",
            action="store_true",
            help="also POST a body over DEPLOY_BODY_LIMIT_MIB, which the proxy must refuse",
        )

    def handle(self, *args, url: str, as_json: bool, oversized_post: bool, **options) -> None:
        if settings.DEBUG or not settings.SECURE_SSL_REDIRECT:
            raise CommandError(
                "These settings are not production's (DEBUG on, or no HTTPS redirect): run with "
                "DJANGO_SETTINGS_MODULE=config.settings.prod, or config.settings.test."
            )
        report = check_site(url, oversized_post=oversized_post)
        if as_json:
            self.stdout.write(json.dumps(report.as_dict(), indent=2))
        else:
            self.stdout.write("\n".join(lines(report)))
        if report.shortfalls:
            raise CommandError(f"{len(report.shortfalls)} shortfall(s) on {url}", returncode=1)
