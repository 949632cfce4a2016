from django.core.exceptions import ValidationError
from django.utils.translation import ngettext


class MaximumLengthValidator:
    """Refuse absurdly long passwords, while allowing the passphrases NIST SP 800-63B-4 asks
    verifiers to accept (at least 64 characters)."""

    def __init__(self, max_length: int = 256) -> None:
        if max_length < 64:
            raise ValueError("NIST SP 800-63B-4 requires accepting passwords of 64 characters.")
        self.max_length = max_length

    def validate(self, password: str, user=None) -> None:
        if len(password) > self.max_length:
            raise ValidationError(
                ngettext(
                    "This password is too long. It must contain at most %(max_length)d character.",
                    "This password is too long. It must contain at most %(max_length)d characters.",
                    self.max_length,
                ),
                code="password_too_long",
                params={"max_length": self.max_length},
            )

    def get_help_text(self) -> str:
        return ngettext(
            "Your password can be up to %(max_length)d character long.",
            "Your password can be up to %(max_length)d characters long.",
            self.max_length,
        ) % {"max_length": self.max_length}
