"""A refusal: the ValidationError the form shows, logged as upload.refused with the reason code and
the extension, never the name or the content."""

from django.core.exceptions import ValidationError

from ...core.events import log_event
from .kinds import TYPES


class Refused(ValidationError):
    pass


def refuse(reason: str, message: str, extension: str = "", size: int | None = None) -> Refused:
    # An extension off the allow-list is the user's own text (a name, part of a sentence): the
    # log says only that it was another one.
    fields = {"reason": reason, "extension": extension if extension in TYPES else "other"}
    if size is not None:
        fields["size"] = size
    log_event("upload.refused", **fields)
    return Refused(message, code=reason)


def refuse_later(default_reason: str, default_message: str, extension: str):
    """A function that builds the refusal, logged when it is raised."""

    def build(reason: str = default_reason, message: str = default_message) -> Refused:
        return refuse(reason, message, extension)

    return build
