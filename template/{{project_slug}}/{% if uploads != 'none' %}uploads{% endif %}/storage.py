import os

from django.core.exceptions import SuspiciousFileOperation
from django.core.files.storage import FileSystemStorage


class PrivateFileSystemStorage(FileSystemStorage):
    """Uploaded files in a folder outside the static files and any web root (STORAGES["uploads"]).

    They have no URL: the proxy never serves the folder by itself, and views.download hands a file
    out only to its owner.
    """

    def url(self, name):
        raise NotImplementedError(
            "Uploaded files have no public URL: send them through the uploads:download view."
        )

    def path(self, name):
        """The file's path, refused when it resolves outside the folder.

        Django checks the name, not what is on disk: a symbolic link placed in the folder (by
        whoever can write there) would otherwise hand its target, /etc/passwd or the
        production environment, to the file's owner. Every read, and every hand-off to the
        proxy, goes through here.
        """
        path = super().path(name)
        folder = os.path.realpath(self.location)
        if os.path.commonpath([folder, os.path.realpath(path)]) != folder:
            raise SuspiciousFileOperation(f"{name!r} leads out of the uploads folder")
        return path
