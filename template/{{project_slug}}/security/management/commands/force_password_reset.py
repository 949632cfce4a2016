"""Force a password reset: `python manage.py force_password_reset EMAIL...`, or `--all`.

Each password stops working at once (it is replaced by an unusable one), the account's sessions
end, and its owner receives the mail that "Forgot your password?" sends: allauth's, with a link to
https://SITE_DOMAIN/accounts/password/reset/key/... that works for PASSWORD_RESET_TIMEOUT.
Inactive accounts are skipped: they cannot sign in, and a reset link would not change that.
"""

import smtplib

from allauth.account.forms import ResetPasswordForm
from allauth.core.context import request_context
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.http import HttpRequest
from django.http.request import validate_host

from ._incident import (
    add_account_arguments,
    check_choice,
    dry_run_notice,
    end_sessions,
    find_accounts,
    live_sessions,
    log_incident,
)


class SiteRequest(HttpRequest):
    """A request for https://SITE_DOMAIN/, from which allauth builds the link in its mail.

    The host is the site's own setting, not something a client sent, so it is not checked against
    ALLOWED_HOSTS (the development and test settings do not serve the real domain).
    """

    def __init__(self) -> None:
        super().__init__()
        self.path = self.path_info = "/"
        self.META = {"SERVER_NAME": settings.SITE_DOMAIN, "SERVER_PORT": "443"}
        self.user = AnonymousUser()

    def get_host(self) -> str:
        return settings.SITE_DOMAIN

    def _get_scheme(self) -> str:
        return "https"


class Command(BaseCommand):
    help = (
        "Disable the passwords of the accounts with these email addresses (or with --all every "
        "account's), end their sessions and mail each owner a password-reset link."
    )

    def add_arguments(self, parser) -> None:
        add_account_arguments(parser, everyone="every account: everyone sets a new password")

    def handle(self, *args, emails: list[str], everyone: bool, dry_run: bool, **options) -> None:
        check_choice(emails, everyone)
        User = get_user_model()
        users = list(User.objects.order_by("email")) if everyone else find_accounts(emails)
        active = [user for user in users if user.is_active]
        inactive = [user for user in users if not user.is_active]
        if not validate_host(settings.SITE_DOMAIN, settings.ALLOWED_HOSTS):
            self.stderr.write(
                self.style.WARNING(
                    f"The links point to https://{settings.SITE_DOMAIN}/, which ALLOWED_HOSTS "
                    "does not serve in these settings."
                )
            )

        if dry_run:
            self.stdout.write(f"Passwords that would be disabled: {len(active)}")
            self.stdout.write(f"Sessions that would end: {live_sessions(u.pk for u in active)}")
            self.stdout.write(f"Reset links that would be sent: {len(active)}")
            if inactive:
                self.stdout.write(f"Skipped, inactive: {', '.join(u.email for u in inactive)}")
            dry_run_notice(self.stdout)
            return

        # Every password stops working before the first mail goes out: a slow mail server must
        # not leave most of the accounts open while it works through the list.
        with transaction.atomic():
            for user in active:
                user.set_unusable_password()
            User.objects.bulk_update(active, ["password"], batch_size=500)
            sessions = end_sessions(user.pk for user in active)
        unsent = [user for user in active if not self.send_reset_mail(user)]

        targets = {"scope": "all"} if everyone else {"users": [user.pk for user in active]}
        log_incident(
            "incident.password_reset_forced",
            **targets,
            count=len(active),
            sessions=sessions,
            skipped=[user.pk for user in inactive],
            unsent=[user.pk for user in unsent],
        )

        self.stdout.write(f"Passwords disabled: {len(active)}")
        self.stdout.write(f"Sessions ended: {sessions}")
        self.stdout.write(f"Reset links sent: {len(active) - len(unsent)}")
        if inactive:
            self.stdout.write(
                f"Skipped, inactive: {', '.join(user.email for user in inactive)}. They cannot "
                "sign in; if one should, run unlock_user, then this command, for it."
            )
        if unsent:
            raise CommandError(
                f"No reset mail could be sent to {', '.join(user.email for user in unsent)}. "
                "Their passwords are disabled: once mail works, run this command for them again, "
                "or let them use 'Forgot your password?'."
            )

    def send_reset_mail(self, user) -> bool:
        """Send allauth's reset mail to user through its own form; return whether it was sent."""
        request = SiteRequest()
        with request_context(request):
            form = ResetPasswordForm(data={"email": user.email})
            # The form finds accounts by address; it must find exactly this one, or it would
            # mail someone else's link or a "no account" notice.
            if not form.is_valid() or form.users != [user]:
                return False
            try:
                form.save(request)
            except (smtplib.SMTPException, OSError) as error:
                self.stderr.write(f"{user.email}: {type(error).__name__}: {error}")
                return False
        return True
