"""Development's mail backend: Django's console backend, with bodies printed whole."""

import email.policy

from django.core.mail.backends import console

# RFC 5322's limit on a line. Under Python's default policy a body line over 78 characters is sent
# quoted-printable, whose soft line breaks ("=" at 76 characters) cut the links of the account mails
# in two; up to 998 characters it stays as written (7bit, or 8bit beyond ASCII), so a link printed
# to the console can be clicked or copied whole.
WHOLE_LINES = email.policy.default.clone(max_line_length=998)


class EmailBackend(console.EmailBackend):
    def write_message(self, message):
        self.stream.write(f"{message.message(policy=WHOLE_LINES).as_string()}\n")
        self.stream.write("-" * 79)
        self.stream.write("\n")
