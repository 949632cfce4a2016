"""The type read from the bytes (puremagic), which must agree with the extension."""

import puremagic

from .kinds import FileType
from .refusals import refuse


def check_sniffed_type(data: bytes, extension: str, file_type: FileType) -> None:
    try:
        matches = puremagic.magic_string(data)
    except puremagic.PureError:
        matches = []
    sniffed = {match.mime_type for match in matches if match.mime_type}
    if file_type.sniffed:
        agree = bool(sniffed & file_type.sniffed)
    else:
        # Plain text has no signature: it must not look like anything else.
        agree = not sniffed or sniffed <= {"text/plain"}
    if not agree:
        raise refuse(
            "content_type",
            f"The file's content is not a .{extension} file.",
            extension,
        )
