"""PDF documents: no script, attachment, or action but a jump inside the document or a web link,
read within object, stream and time limits."""

import io
import time
import zipfile

import pypdf

from .refusals import Refused, refuse, refuse_later

# Decoding limits: a document of more objects is refused before walking it can exhaust the
# server's memory.
MAX_PDF_OBJECTS = 100_000

# A stream decodes to at most this, and the whole document is read within this time: a small
# file of many highly compressed streams cannot hold a worker for minutes.
MAX_PDF_STREAM = 4 * 1024 * 1024
MAX_PDF_SECONDS = 5

# The only actions a PDF may hold: a jump inside the document, and a web link.
PDF_ALLOWED_ACTIONS = frozenset({"/GoTo", "/URI"})

# PDF names that run code, act on opening, submit data or carry other files.
PDF_FORBIDDEN_KEYS = frozenset(
    [
        "/JavaScript",
        "/JS",
        "/OpenAction",
        "/AA",
        "/Launch",
        "/SubmitForm",
        "/ImportData",
        "/RichMedia",
        "/EmbeddedFile",
        "/EmbeddedFiles",
        "/XFA",
        "/GoToE",
        "/GoToR",
        "/Sound",
        "/Movie",
    ]
)


def check_pdf(data: bytes) -> None:
    invalid = refuse_later("pdf", "The file is not a valid PDF document.", "pdf")
    if not data.startswith(b"%PDF-"):
        raise invalid()
    # Bytes after the last end-of-file marker belong to another format (a PDF/ZIP polyglot).
    if not data.rstrip().endswith(b"%%EOF"):
        raise invalid("pdf_trailing_data", "The PDF document has data after its end.")
    if zipfile.is_zipfile(io.BytesIO(data)):
        raise invalid("pdf_polyglot", "The PDF document is also a zip archive.")
    limits = dict.fromkeys(
        (
            "maximum_declared_stream_length",
            "array_based_stream_maximum_output_length",
            "jbig2_maximum_output_length",
            "lzw_maximum_output_length",
            "run_length_maximum_output_length",
            "zlib_maximum_output_length",
        ),
        MAX_PDF_STREAM,
    )
    try:
        with pypdf.apply_configuration(**limits):
            reader = pypdf.PdfReader(io.BytesIO(data), strict=False)
            if reader.is_encrypted:
                raise invalid(
                    "pdf_encrypted",
                    "Encrypted PDF documents cannot be checked; remove the password.",
                )
            found = forbidden_pdf_keys(reader.trailer)
    except Refused:
        raise
    except Exception:
        raise invalid() from None
    if found:
        raise invalid(
            "pdf_active_content",
            "The PDF document contains scripts, actions, links to other files or attachments.",
        )


def forbidden_pdf_keys(root: object) -> set[str]:
    """The forbidden keys anywhere in the object graph under root, each object visited once."""
    found: set[str] = set()
    seen: set[tuple[int, int]] = set()
    stack = [root]
    visited = 0
    deadline = time.monotonic() + MAX_PDF_SECONDS
    while stack:
        if time.monotonic() > deadline:
            raise refuse("pdf", "The PDF document takes too long to check.", "pdf")
        item = stack.pop()
        if isinstance(item, pypdf.generic.IndirectObject):
            key = (item.idnum, item.generation)
            if key in seen:
                continue
            seen.add(key)
            item = item.get_object()
        visited += 1
        if visited > MAX_PDF_OBJECTS:
            raise refuse("pdf", "The PDF document has too many objects.", "pdf")
        if isinstance(item, dict):
            found.update(str(name) for name in item if str(name) in PDF_FORBIDDEN_KEYS)
            if "/S" in item:
                # item["/S"] resolves an indirect reference: "/S 5 0 R" is read as what it names.
                action = str(item["/S"])
                if action not in PDF_ALLOWED_ACTIONS:
                    found.add(action)
                elif action == "/URI" and not str(item.get("/URI", "")).lower().startswith(
                    ("https://", "http://")
                ):
                    found.add("/URI")
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found
