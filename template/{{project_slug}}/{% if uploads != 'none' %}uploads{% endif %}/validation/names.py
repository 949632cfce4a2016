"""The file's name, kept only as display text: refused when only an attack would send it."""

import re
import unicodedata

from .refusals import refuse

# Inner extensions that a misconfigured server might execute or a browser render: a name like
# report.php.pdf or photo.html.jpg is refused whatever it holds.
DANGEROUS_EXTENSIONS = frozenset(
    [
        "asp",
        "aspx",
        "bat",
        "cgi",
        "cmd",
        "com",
        "dll",
        "exe",
        "hta",
        "htm",
        "html",
        "jar",
        "js",
        "jsp",
        "mjs",
        "msi",
        "phar",
        "php",
        "php3",
        "php4",
        "php5",
        "php7",
        "phtml",
        "pht",
        "pl",
        "ps1",
        "py",
        "pyc",
        "rb",
        "scr",
        "sh",
        "shtml",
        "svg",
        "svgz",
        "vbs",
        "wasm",
        "xht",
        "xhtml",
        "xml",
    ]
)

# Characters no file name needs: controls, and the invisible ones that reorder or hide text
# (bidirectional overrides such as U+202E make "gpj.exe" display as "exe.jpg").
FORBIDDEN_NAME_CHARACTERS = re.compile(
    "[\x00-\x1f\x7f-\x9f/\\\\\u00ad\u061c\u115f\u1160\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f"
    "\u3164\ufeff\uffa0\ufff9-\ufffb\U000e0000-\U000e007f]"
)
MAX_NAME_LENGTH = 255


def check_name(name: str) -> str:
    """The name as display text; refuse the names only an attack sends."""
    name = unicodedata.normalize("NFC", name).strip()
    if not name or name in {".", ".."}:
        raise refuse("name", "The file has no name.")
    if len(name) > MAX_NAME_LENGTH:
        raise refuse("name", f"The file name is longer than {MAX_NAME_LENGTH} characters.")
    if FORBIDDEN_NAME_CHARACTERS.search(name):
        raise refuse(
            "name",
            "The file name contains a path, control or invisible characters; rename the file.",
        )
    inner = [part.lower() for part in name.split(".")[1:-1]]
    if any(part in DANGEROUS_EXTENSIONS for part in inner):
        raise refuse("name", "The file name contains an executable extension; rename the file.")
    return name
