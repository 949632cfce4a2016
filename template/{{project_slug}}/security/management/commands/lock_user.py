"""Lock accounts: `python manage.py lock_user EMAIL...` deactivates them and ends their sessions.

An inactive account cannot sign in (allauth refuses it whatever the password) and its sessions no
longer count as signed in. Nothing is deleted: `python manage.py unlock_user EMAIL...` restores it.
"""

from django.core.management.base import BaseCommand
from django.db import transaction

from ._incident import (
    add_account_arguments,
    dry_run_notice,
    end_sessions,
    find_accounts,
    live_sessions,
    log_incident,
)


class Command(BaseCommand):
    help = "Deactivate the accounts with these email addresses and end their sessions."

    def add_arguments(self, parser) -> None:
        add_account_arguments(parser)

    def handle(self, *args, emails: list[str], dry_run: bool, **options) -> None:
        users = find_accounts(emails)
        if dry_run:
            self.stdout.write(f"Would lock: {', '.join(user.email for user in users)}")
            self.stdout.write(f"Sessions that would end: {live_sessions(u.pk for u in users)}")
            dry_run_notice(self.stdout)
            return
        with transaction.atomic():
            for user in users:
                user.is_active = False
                user.save(update_fields=["is_active"])
            count = end_sessions(user.pk for user in users)
        log_incident("incident.accounts_locked", users=[user.pk for user in users], sessions=count)
        self.stdout.write(f"Locked: {', '.join(user.email for user in users)}")
        self.stdout.write(f"Sessions ended: {count}")
