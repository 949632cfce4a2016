"""Office documents (docx, xlsx, pptx): zip archives within size and entry limits, with no macros,
ActiveX controls, embedded objects or content from elsewhere."""

import io
import zipfile

import defusedxml.ElementTree
from django.conf import settings

from .kinds import OOXML
from .refusals import Refused, refuse_later

# The main part an Office file of each extension must declare; the macro-enabled variants
# (docm, xlsm, pptm) declare another, and are refused with it.
OOXML_MAIN_PARTS = {
    "docx": f"{OOXML}.wordprocessingml.document.main+xml",
    "xlsx": f"{OOXML}.spreadsheetml.sheet.main+xml",
    "pptx": f"{OOXML}.presentationml.presentation.main+xml",
}

# What an Office file may not contain, by content type and by relationship type: macros,
# ActiveX controls, embedded objects and documents (which can carry either), a template fetched
# from elsewhere (remote template injection), and documents or frames merged in when opened.
OFFICE_FORBIDDEN_CONTENT = ("macroenabled", "vbaproject", "activex", "oleobject")
OFFICE_REFUSAL = "Documents with macros, ActiveX controls or embedded objects are not accepted."
OFFICE_FORBIDDEN_RELATIONSHIPS = frozenset(
    {"vbaProject", "attachedTemplate", "oleObject", "package", "control", "activeXControl"}
) | {"activeXControlBinary", "aFChunk", "subDocument", "frame"}

# Decoding limits: an archive of more parts, or one that expands further, is refused before it
# can exhaust the server's memory.
MAX_ARCHIVE_ENTRIES = 1_000
MAX_ARCHIVE_EXPANSION = 100


def check_office(data: bytes, extension: str) -> None:
    invalid = refuse_later("office", f"The file is not a valid .{extension} document.", extension)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
            if len(entries) > MAX_ARCHIVE_ENTRIES:
                raise invalid("archive_bomb", "The document has too many parts.")
            expanded = sum(entry.file_size for entry in entries)
            if (
                expanded > max(len(data), 1) * MAX_ARCHIVE_EXPANSION
                or expanded > settings.UPLOAD_MAX_BYTES * 10
            ):
                raise invalid("archive_bomb", "The document expands to too much data.")
            names = [entry.filename for entry in entries]
            for name in names:
                lowered = name.lower()
                if name.startswith("/") or ".." in name.split("/") or "\\" in name:
                    raise invalid()
                if lowered.endswith("vbaproject.bin") or "activex" in lowered:
                    raise invalid(
                        "office_macro",
                        OFFICE_REFUSAL,
                    )
            if "[Content_Types].xml" not in names:
                raise invalid()
            # Every part must decompress to the size it declares (bounded above) and match its
            # checksum: corrupt, encrypted or oddly compressed parts are refused here, not in the
            # program that opens the document later.
            for entry in entries:
                with archive.open(entry) as part:
                    while part.read(1 << 16):
                        pass
            content_types = archive.read("[Content_Types].xml")
            relationships = [archive.read(name) for name in names if name.endswith(".rels")]
    except Refused:
        raise
    except Exception:
        # Whatever zipfile raises on hostile bytes (zlib errors, encrypted or unknown
        # compression, ...): not an Office document.
        raise invalid() from None
    try:
        # No DTD, so no entity can expand or fetch anything (defusedxml).
        types = defusedxml.ElementTree.fromstring(content_types, forbid_dtd=True)
    except Exception:
        # A parse error, a DTD, or an encoding Python does not know: not an Office document.
        raise invalid() from None
    declared = {element.get("ContentType", "") for element in types}
    if any(
        marker in content_type.lower()
        for content_type in declared
        for marker in OFFICE_FORBIDDEN_CONTENT
    ):
        raise invalid("office_macro", OFFICE_REFUSAL)
    if OOXML_MAIN_PARTS[extension] not in declared:
        raise invalid("content_type", f"The file's content is not a .{extension} file.")
    for rels in relationships:
        try:
            links = defusedxml.ElementTree.fromstring(rels, forbid_dtd=True)
        except Exception:
            raise invalid() from None
        for link in links:
            kind = link.get("Type", "").rsplit("/", 1)[-1]
            target = link.get("Target", "")
            if kind in OFFICE_FORBIDDEN_RELATIONSHIPS:
                raise invalid("office_macro", OFFICE_REFUSAL)
            if link.get("TargetMode") == "External" and not (
                kind == "hyperlink" and target.lower().startswith(("https://", "http://"))
            ):
                raise invalid(
                    "office_external", "The document loads content from outside the file."
                )
