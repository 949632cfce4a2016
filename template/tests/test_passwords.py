"""Passwords follow NIST SP 800-63B-4: long, not common, not like the user; no composition rules."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError


@pytest.mark.parametrize(
    "password",
    [
        "Sh0rt!pass#12",  # 13 characters, however mixed
        "1q2w3e4r5t6y7u8i9o0p",  # in the common-password list
        "123456789012345678",  # numbers only
    ],
)
def test_weak_passwords_are_refused(password):
    with pytest.raises(ValidationError):
        validate_password(password)


def test_a_password_like_the_username_is_refused():
    user = get_user_model()(username="margaret.hamilton", email="margaret@example.org")

    with pytest.raises(ValidationError):
        validate_password("margaret.hamilton", user)


def test_a_long_passphrase_needs_no_digits_or_symbols():
    validate_password("correct horse battery staple")
