"""Images (JPEG, PNG, GIF, WebP): decoded in full within a pixel and frame limit, refused when they
are something else as well, and stored as a new encoding of their pixels alone."""

import io
import re
import warnings
import zipfile

from PIL import Image, ImageOps, ImageSequence

from .refusals import Refused, refuse_later

# The format Pillow must find behind each image extension, and the one it re-encodes to.
PILLOW_FORMATS = {"jpg": "JPEG", "jpeg": "JPEG", "png": "PNG", "gif": "GIF", "webp": "WEBP"}

# Decoding limits: an image of more pixels or frames is refused before it can exhaust the
# server's memory.
MAX_IMAGE_PIXELS = 40_000_000
MAX_FRAMES = 100

# Markup or script inside an image: an image/HTML polyglot, which a browser, or a server that
# guesses types, could run. Each marker is long enough (a tag name and the character after it)
# that compressed pixels practically never hold one by chance.
IMAGE_POLYGLOT_MARKERS = re.compile(
    rb"<(?:!doctype|html|head|body|script|svg|iframe|object|embed|meta|\?php)[\s>/]|javascript:",
    re.IGNORECASE,
)


def reencode_image(data: bytes, extension: str) -> bytes:
    """Decode the whole image within the limits, and encode it again from its pixels only."""
    expected = PILLOW_FORMATS[extension]
    invalid = refuse_later("image", f"The file is not a valid .{extension} image.", extension)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[expected]) as image:
                width, height = image.size
                frames = getattr(image, "n_frames", 1)
                # Every frame is decoded to a whole canvas and kept until it is encoded again:
                # the canvas times the frames is what memory holds.
                if width * height * frames > MAX_IMAGE_PIXELS:
                    raise invalid("image_too_large", "The image has too many pixels.")
                if frames > MAX_FRAMES:
                    raise invalid(
                        "image_too_large", f"The image has more than {MAX_FRAMES} frames."
                    )
                pixels = [pixels_only(frame) for frame in ImageSequence.Iterator(image)]
                duration = image.info.get("duration")
                loop = image.info.get("loop")
    except Refused:
        raise
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise invalid("image_too_large", "The image has too many pixels.") from None
    except Exception:
        # Whatever a decoder raises on hostile bytes (struct, zlib, KeyError, ...): not an image.
        raise invalid() from None
    # Only a whole, valid image is checked for being something else as well.
    check_image_bytes(data, extension)
    output = io.BytesIO()
    first, rest = pixels[0], pixels[1:]
    options = {}
    if expected == "JPEG":
        first = first.convert("RGB")
        options = {"quality": 90, "optimize": True}
    if rest:
        options.update(save_all=True, append_images=rest)
        if duration is not None:
            options["duration"] = duration
        if loop is not None:
            options["loop"] = loop
    try:
        first.save(output, format=expected, **options)
    except Exception:
        # Pillow decoded it, but the format cannot hold it again (a WebP canvas over 16383
        # pixels across): the file did not respect its own format.
        raise invalid() from None
    return output.getvalue()


def pixels_only(frame: Image.Image) -> Image.Image:
    """The frame turned as its EXIF orientation says, without any metadata: EXIF (GPS), XMP,
    comments and ICC profiles stay behind; only transparency is kept."""
    clean = ImageOps.exif_transpose(frame.copy())
    kept = {key: frame.info[key] for key in ("transparency",) if key in frame.info}
    clean.info = kept
    return clean


def check_image_bytes(data: bytes, extension: str) -> None:
    """Refuse an image that is also something else: markup or script inside it, or bytes after
    the end its format defines."""
    polyglot = refuse_later(
        "image_polyglot", f"The file is a .{extension} image and something else too.", extension
    )
    if IMAGE_POLYGLOT_MARKERS.search(data) or zipfile.is_zipfile(io.BytesIO(data)):
        raise polyglot()
    # A GIF whose screen width reads "/*" opens a JavaScript comment: GIF89a/*...*/=alert(1).
    if extension == "gif" and data[6:8] == b"/*":
        raise polyglot()
    # Bytes after the end of a PNG, GIF or WebP image have no business there. JPEG is spared:
    # phones append their motion photos to it (re-encoding drops them).
    if extension == "png":
        end = data.rfind(b"IEND")
        trailing = end < 0 or len(data) > end + 8
    elif extension == "gif":
        trailing = not data.endswith(b"\x3b")
    elif extension == "webp":
        trailing = int.from_bytes(data[4:8], "little") + 8 != len(data)
    else:
        trailing = False
    if trailing:
        raise polyglot("image_polyglot", f"The .{extension} image has data after its end.")
