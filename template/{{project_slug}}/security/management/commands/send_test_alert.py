"""Alert drill: `python manage.py send_test_alert` sends a test alert through every channel that
security alerts use (mail to ADMINS, the webhook) and exits 1 naming each one that failed.

A broken channel only shows as alert.failed in the log when a real alert cannot get out: the drill
finds it before an incident does. `--dry-run` lists the channels without sending.
"""

from django.conf import settings
from django.core.mail import mail_admins
from django.core.management.base import BaseCommand, CommandError

from ...alerts import post_webhook
from ._incident import actor, log_incident

TEXT = "Test alert from manage.py send_test_alert (an alert drill): no action needed."


class Command(BaseCommand):
    help = "Send a test alert through every configured alert channel; fail if one fails."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="list the channels, and send nothing"
        )

    def handle(self, *args, dry_run: bool, **options) -> None:
        channels = {}
        if settings.ADMINS:
            channels[f"mail to ADMINS ({len(settings.ADMINS)})"] = self.mail
        if settings.SECURITY_ALERT_WEBHOOK_URL:
            channels["webhook"] = self.webhook
        if not channels:
            raise CommandError(
                "No alert channel is configured: alerts would reach nobody. Set DJANGO_ADMINS "
                "and DJANGO_ALERT_WEBHOOK_URL (.env.example)."
            )
        if dry_run:
            for name in channels:
                self.stdout.write(f"would send: {name}")
            return
        failed = []
        for name, send in channels.items():
            try:
                send()
            except Exception as error:
                # Any failure is the channel's: the drill reports it, whatever it is.
                failed.append(name)
                self.stdout.write(f"FAIL {name}: {type(error).__name__}: {error}"[:500])
            else:
                self.stdout.write(f"sent {name}")
        log_incident("alert.drill", channels=len(channels), failed=failed)
        if failed:
            raise CommandError(f"Alert channels that failed: {', '.join(failed)}", returncode=1)

    def mail(self) -> None:
        mail_admins("Security alert: test (drill)", f"{TEXT}\nSent by {actor()}.")

    def webhook(self) -> None:
        post_webhook({"text": f"{TEXT}\nSent by {actor()}.", "event": "alert.test", "details": {}})
