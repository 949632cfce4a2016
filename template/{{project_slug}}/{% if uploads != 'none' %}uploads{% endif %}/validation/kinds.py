"""The kinds of file the site may accept: each extension, the content type it is served with and
what its bytes must be sniffed as (puremagic; the browser's Content-Type is never used)."""

from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True)
class FileType:
    kind: str
    content_type: str
    # What puremagic may call these bytes.
    sniffed: frozenset[str]


OOXML = "application/vnd.openxmlformats-officedocument"
TYPES = {
    "jpg": FileType("images", "image/jpeg", frozenset({"image/jpeg"})),
    "jpeg": FileType("images", "image/jpeg", frozenset({"image/jpeg"})),
    "png": FileType("images", "image/png", frozenset({"image/png"})),
    "gif": FileType("images", "image/gif", frozenset({"image/gif"})),
    "webp": FileType("images", "image/webp", frozenset({"image/webp"})),
    "pdf": FileType("documents", "application/pdf", frozenset({"application/pdf"})),
    "docx": FileType(
        "documents",
        f"{OOXML}.wordprocessingml.document",
        frozenset({f"{OOXML}.wordprocessingml.document", "application/zip"}),
    ),
    "xlsx": FileType(
        "documents",
        f"{OOXML}.spreadsheetml.sheet",
        frozenset({f"{OOXML}.spreadsheetml.sheet", "application/zip"}),
    ),
    "pptx": FileType(
        "documents",
        f"{OOXML}.presentationml.presentation",
        frozenset({f"{OOXML}.presentationml.presentation", "application/zip"}),
    ),
    "txt": FileType("documents", "text/plain", frozenset()),
    # Only with UPLOAD_ALLOW_SVG: SVG is XML that can carry scripts (check_svg).
    "svg": FileType("images", "image/svg+xml", frozenset()),
}


def allowed_extensions() -> list[str]:
    return sorted(
        ext
        for ext, file_type in TYPES.items()
        if file_type.kind in settings.UPLOAD_KINDS and (ext != "svg" or settings.UPLOAD_ALLOW_SVG)
    )
