"""SafeFileField: a form field that runs the upload pipeline (validation/).

Use it for every file a form accepts:

    from <project>.uploads.fields import SafeFileField

    class AvatarForm(forms.Form):
        picture = SafeFileField()

Its cleaned value is a CleanFile: the bytes to store (re-encoded for images), the extension, the
sniffed content type and the original name as display text. Store the bytes under a random name
(models.Upload does) and never the original name. The view validates such a form inside the user's
upload limits, as views.files does: `with limits.upload_slot(user.pk)`, then
`limits.count_upload(user.pk, size)`, so that no user holds more workers than the limit allows.
"""

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.functional import lazy

from .validation import CleanFile, allowed_extensions, validate_upload


def accepted_files() -> str:
    """What the field tells the user it accepts: the kinds and the size of UPLOAD_KINDS and
    UPLOAD_MAX_BYTES, in the words of the pipeline's refusals."""
    extensions = ", ".join(f".{ext}" for ext in allowed_extensions())
    return f"Accepted: {extensions}; at most {settings.UPLOAD_MAX_BYTES // (1024 * 1024)} MiB."


class SafeFileField(forms.FileField):
    def __init__(self, **kwargs):
        # Read from the settings when the form is shown, as the pipeline reads them when it
        # checks; not when the form's module is imported.
        kwargs.setdefault("help_text", lazy(accepted_files, str)())
        # An empty file reaches the pipeline, which refuses and logs it like any other.
        kwargs.setdefault("allow_empty_file", True)
        kwargs.setdefault(
            "widget",
            forms.ClearableFileInput(
                attrs={"accept": ",".join(f".{ext}" for ext in allowed_extensions())}
            ),
        )
        super().__init__(**kwargs)

    def clean(self, data, initial=None) -> CleanFile | None:
        upload = super().clean(data, initial)
        if upload is None or upload is False:
            return None
        try:
            return validate_upload(upload)
        except ValidationError as error:
            raise ValidationError(error.messages, code=error.code) from None
