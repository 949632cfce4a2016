"""Unlock accounts: `python manage.py unlock_user EMAIL...` reactivates them and lifts any pause
on signing in to them.

The pause comes from django-axes' failed attempts for the address (security/lockout.py), which are
cleared; its failure log (AccessFailureLog) stays, as evidence. A password that may be known to an
attacker is still valid: reset it first (force_password_reset) if it could be.
"""

from axes.models import AccessAttempt
from axes.utils import reset
from django.core.management.base import BaseCommand
from django.db import transaction

from ._incident import add_account_arguments, dry_run_notice, find_accounts, log_incident


class Command(BaseCommand):
    help = (
        "Reactivate the accounts with these email addresses and clear their failed sign-in "
        "attempts."
    )

    def add_arguments(self, parser) -> None:
        add_account_arguments(parser)

    def handle(self, *args, emails: list[str], dry_run: bool, **options) -> None:
        users = find_accounts(emails)
        if dry_run:
            self.stdout.write(f"Would unlock: {', '.join(user.email for user in users)}")
            attempts = AccessAttempt.objects.filter(
                username__in=[user.email.lower() for user in users]
            ).count()
            self.stdout.write(f"Failed sign-in records that would be cleared: {attempts}")
            dry_run_notice(self.stdout)
            return
        cleared = 0
        with transaction.atomic():
            for user in users:
                user.is_active = True
                user.save(update_fields=["is_active"])
                # axes records the address as typed, lower-cased (lockout.attempted_login).
                cleared += reset(username=user.email.lower())
        log_incident(
            "incident.accounts_unlocked", users=[user.pk for user in users], attempts=cleared
        )
        self.stdout.write(f"Unlocked: {', '.join(user.email for user in users)}")
        self.stdout.write(f"Failed sign-in records cleared: {cleared}")
