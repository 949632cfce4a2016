"""Plain text: UTF-8, no control characters, no markup or script at its start."""

import re
import unicodedata

from .refusals import refuse

# Markup or a script at the start of a "text" file: a browser or a shell would treat it as code.
TEXT_MARKUP = re.compile(rb"\s*(<[!?a-zA-Z/]|#!)")


def check_text(data: bytes) -> None:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise refuse("text", "The text file is not UTF-8.", "txt") from None
    if any(unicodedata.category(char) == "Cc" and char not in "\t\n\r\f" for char in text):
        raise refuse("text", "The text file contains control characters.", "txt")
    if TEXT_MARKUP.match(data.removeprefix(b"\xef\xbb\xbf")):
        raise refuse("content_type", "The text file starts with markup or a script.", "txt")
