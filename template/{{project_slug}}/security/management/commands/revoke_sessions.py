"""End sessions: `python manage.py revoke_sessions EMAIL...` signs those accounts out everywhere,
`--all` signs everyone out.

A signed-out attacker who knows the password signs in again: when the password may be known, use
force_password_reset (or lock_user) instead, which also end the sessions.
"""

from django.core.management.base import BaseCommand

from ._incident import (
    add_account_arguments,
    check_choice,
    dry_run_notice,
    end_all_sessions,
    end_sessions,
    find_accounts,
    live_sessions,
    log_incident,
)


class Command(BaseCommand):
    help = "End the sessions of the accounts with these email addresses, or with --all everyone's."

    def add_arguments(self, parser) -> None:
        add_account_arguments(parser, everyone="end every session: everyone signs in again")

    def handle(self, *args, emails: list[str], everyone: bool, dry_run: bool, **options) -> None:
        check_choice(emails, everyone)
        if dry_run:
            users = None if everyone else find_accounts(emails)
            self.stdout.write(
                "Accounts: everyone"
                if users is None
                else f"Accounts: {', '.join(user.email for user in users)}"
            )
            ids = None if users is None else [user.pk for user in users]
            self.stdout.write(f"Sessions that would end: {live_sessions(ids)}")
            dry_run_notice(self.stdout)
            return
        if everyone:
            count = end_all_sessions()
            log_incident("incident.sessions_revoked", scope="all", count=count)
            self.stdout.write(f"Sessions ended: {count}, every one. Everyone signs in again.")
            return
        users = find_accounts(emails)
        count = end_sessions(user.pk for user in users)
        log_incident(
            "incident.sessions_revoked",
            scope="accounts",
            users=[user.pk for user in users],
            count=count,
        )
        self.stdout.write(f"Accounts: {', '.join(user.email for user in users)}")
        self.stdout.write(f"Sessions ended: {count}")
