"""SVG images, accepted only with UPLOAD_ALLOW_SVG: nothing that runs or fetches."""

import re

import defusedxml.ElementTree

from .refusals import refuse_later

# The SVG elements refused, and the namespace of SVG itself.
SVG_FORBIDDEN_ELEMENTS = frozenset(
    # They run scripts or embed other documents.
    {"script", "foreignobject", "iframe", "embed", "object", "handler", "listener"}
    # They change the document over time: an animation can turn a link into javascript:.
    | {"animate", "animatemotion", "animatetransform", "set", "discard"}
)

# Namespaces whose elements a browser would treat as HTML, inclusions or transformations.
SVG_FORBIDDEN_NAMESPACES = (
    "{http://www.w3.org/1999/xhtml}",
    "{http://www.w3.org/2001/XInclude}",
    "{http://www.w3.org/1999/XSL/Transform}",
)
SVG_NAMESPACE = "{http://www.w3.org/2000/svg}"

# In a style sheet: another sheet, or anything fetched from elsewhere.
SVG_STYLE_FETCH = re.compile(r"@import|url\((?!\s*['\"]?\s*#)|image-set\(|src\(|\\", re.IGNORECASE)

# Processing instructions other than the XML declaration: <?xml-stylesheet?> makes a browser
# fetch and apply a style sheet, even XSLT that runs scripts. The parser drops them unseen.
SVG_PROCESSING_INSTRUCTION = re.compile(rb"<\?(?!xml\s)", re.IGNORECASE)


def check_svg(data: bytes) -> None:
    """An SVG image with nothing that runs or fetches: no script or foreign content, no event
    handler, no link or style that leaves the document, no DTD."""
    invalid = refuse_later("svg", "The SVG image contains scripts or links to other files.", "svg")
    if SVG_PROCESSING_INSTRUCTION.search(data):
        raise invalid()
    try:
        root = defusedxml.ElementTree.fromstring(data, forbid_dtd=True)
    except Exception:
        raise invalid("image", "The file is not a valid .svg image.") from None
    if root.tag != f"{SVG_NAMESPACE}svg":
        raise invalid("image", "The file is not a valid .svg image.")
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        name = element.tag.rsplit("}", 1)[-1].lower()
        if name in SVG_FORBIDDEN_ELEMENTS or element.tag.startswith(SVG_FORBIDDEN_NAMESPACES):
            raise invalid()
        if name == "style" and SVG_STYLE_FETCH.search("".join(element.itertext())):
            raise invalid()
        for attribute, value in element.attrib.items():
            local = attribute.rsplit("}", 1)[-1].lower()
            # Browsers ignore spaces, tabs and newlines inside a URL's scheme.
            if local.startswith("on") or "javascript:" in re.sub(r"\s", "", value.lower()):
                raise invalid()
            if local == "href" and not value.strip().startswith("#"):
                raise invalid()
            if SVG_STYLE_FETCH.search(value):
                raise invalid()
