from django import forms
from django.core.files.base import ContentFile

from .fields import SafeFileField
from .models import Upload


class UploadForm(forms.Form):
    file = SafeFileField(label="File")

    def save(self, owner) -> Upload:
        clean = self.cleaned_data["file"]
        upload = Upload(
            owner=owner,
            name=clean.display_name,
            extension=clean.extension,
            content_type=clean.content_type,
            size=len(clean.content),
        )
        upload.file.save("upload", ContentFile(clean.content), save=False)
        upload.save()
        return upload
