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
