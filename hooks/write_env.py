"""Write the generated project's .env with a fresh development SECRET_KEY (and MFA key).

Copier runs this once, in the new project's folder, right after `copier copy` (see `_tasks` in
copier.yml). The key is made here rather than asked for or computed in Jinja so that it never
reaches `.copier-answers.yml`, and an existing .env is never touched: `copier update` and re-runs
keep the team's secrets as they are.
"""

from __future__ import annotations

import argparse
import base64
import os
import secrets
import string
import sys
from pathlib import Path

# Django's own get_random_secret_key() alphabet and length, without importing Django: Copier may
# run on a Python that does not have it.
ALPHABET = string.ascii_lowercase + string.digits + "!@#%^&*(-_=+)"
KEY_LENGTH = 50

ENV_HEADER = """\
# Local development settings for config.settings.dev. This file is git-ignored: never commit it.
# Production reads its variables from the real environment; see .env.example for the full list.
"""


def random_secret_key() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(KEY_LENGTH))


def random_fernet_key() -> str:
    """A key for cryptography's Fernet: 32 random bytes in URL-safe base64."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def env_content(with_mfa_key: bool) -> str:
    lines = [f"DJANGO_SECRET_KEY='{random_secret_key()}'"]
    if with_mfa_key:
        lines.append(f"DJANGO_MFA_KEY='{random_fernet_key()}'")
    return ENV_HEADER + "\n".join(lines) + "\n"


def write_env(project_dir: Path, with_mfa_key: bool = False) -> bool:
    """Create project_dir/.env unless it exists. Return whether it was written."""
    env_file = project_dir / ".env"
    content = env_content(with_mfa_key)
    try:
        # O_EXCL fails if the file exists, so a repeated run cannot overwrite a secret; the mode is
        # set at creation, so the secret is never readable by others, not even for a moment.
        descriptor = os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(content)
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--mfa-key",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="also write DJANGO_MFA_KEY (projects with MFA)",
    )
    options = parser.parse_args()
    project_dir = Path.cwd()
    if write_env(project_dir, with_mfa_key=options.mfa_key):
        print(f"Wrote {project_dir / '.env'} with new development keys.")
    else:
        print(f"Kept the existing {project_dir / '.env'}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
