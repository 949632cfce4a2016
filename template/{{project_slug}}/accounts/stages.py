"""The sign-in stages this project changes in allauth's (accounts/adapters.py names them)."""

from allauth.account.adapter import get_adapter
from allauth.account.stages import LoginByCodeStage

from . import account_guard


class AccountGuardStage(LoginByCodeStage):
    """allauth's login-by-code stage, which mails the code to the address typed in: here to a
    verified address of the account (accounts/account_guard.py::code_address). The adapter's
    is_login_by_code_required decides when it is needed: for an account under attack."""

    def handle(self):
        if not self.state and get_adapter().is_login_by_code_required(self.login):
            self.login.email = account_guard.code_address(self.login.user, self.login.email)
        return super().handle()
