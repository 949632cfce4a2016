import uuid

from django.conf import settings
from django.core.files.storage import Storage, storages
from django.db import models, transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver


def private_storage() -> Storage:
    """The storage of uploaded files (STORAGES["uploads"]): private, with no public URL."""
    return storages["uploads"]


def stored_name(upload: "Upload", filename: str) -> str:
    """A random name with the checked extension: nothing of the original name reaches storage."""
    return f"{uuid.uuid4().hex}.{upload.extension}"


class Upload(models.Model):
    """A file a user uploaded, readable by that user only (views.download)."""

    # Random, so that the address of one file says nothing about any other.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="uploads"
    )
    file = models.FileField(storage=private_storage, upload_to=stored_name, max_length=100)
    # The name the user gave, as display text only (validation/names.py).
    name = models.CharField(max_length=255)
    extension = models.CharField(max_length=10)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return self.name


@receiver(post_delete, sender=Upload)
def delete_the_stored_file(sender, instance: Upload, **kwargs) -> None:
    """A deleted upload takes its file with it (an admin's deletion, an account closed), once the
    deletion is committed: nothing is left behind that no one can reach or erase."""
    storage, name = instance.file.storage, instance.file.name
    transaction.on_commit(lambda: storage.delete(name))
