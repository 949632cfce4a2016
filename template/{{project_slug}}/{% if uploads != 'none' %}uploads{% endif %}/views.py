"""The signed-in user's files: the list with its upload form, and the download.

How a download leaves the site is a setting, UPLOAD_HANDOFF: Django streams the file itself
("stream", the default everywhere but production), or production hands it to whatever can send it
without holding a worker (config/settings/prod.py): the proxy ("x-accel-redirect" for nginx,
"x-sendfile" for Apache's mod_xsendfile), or the bucket through a signed link ("presigned").
"""

from urllib.parse import quote

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.csp import CSP
from django.utils.http import content_disposition_header
from django.views.decorators.csp import csp_override
from django.views.decorators.http import require_http_methods

from .forms import UploadForm
from .limits import LimitReached, count_upload, upload_slot
from .models import Upload


@login_required
@require_http_methods(["GET", "POST"])
def files(request: HttpRequest):
    """The signed-in user's own files, and the form to add one.

    An upload beyond the user's limits (limits.py) is refused with 429 before it is checked.
    """
    form = UploadForm(request.POST or None, request.FILES or None)
    status = 200
    if request.method == "POST":
        sent = request.FILES.get("file")
        try:
            with upload_slot(request.user.pk):
                count_upload(request.user.pk, sent.size if sent else 0)
                if form.is_valid():
                    upload = form.save(owner=request.user)
                    messages.success(request, f"{upload.name} was uploaded.")
                    return redirect("uploads:list")
        except LimitReached as refusal:
            # A fresh form: the one sent is not checked, which is the point of refusing it.
            form = UploadForm()
            messages.error(request, str(refusal))
            status = 429
    uploads = Upload.objects.filter(owner=request.user)
    return render(request, "uploads/files.html", {"form": form, "uploads": uploads}, status=status)


# A download is never a page of the site: should a browser render it despite the attachment
# disposition, it loads nothing, runs nothing and has an opaque origin, with none of the site's
# cookies or storage. The proxy that sends the file keeps this header with the others.
DOWNLOAD_CSP = {"default-src": [CSP.NONE], "sandbox": True}


@login_required
@require_http_methods(["GET"])
@csp_override(DOWNLOAD_CSP)
def download(request: HttpRequest, pk):
    """The file, to its owner only, always as an attachment with the type it was checked as.

    Another user's file answers 404, like a file that does not exist.
    """
    upload = get_object_or_404(Upload, pk=pk, owner=request.user)
    disposition = content_disposition_header(as_attachment=True, filename=upload.name)
    response = HANDOFFS[settings.UPLOAD_HANDOFF](upload, disposition)
    response["Cache-Control"] = "private, no-store"
    return response


def stream(upload: Upload, disposition: str) -> HttpResponse:
    response = FileResponse(upload.file.open("rb"), content_type=upload.content_type)
    response["Content-Disposition"] = disposition
    return response


def x_accel_redirect(upload: Upload, disposition: str) -> HttpResponse:
    """nginx sends the file itself, from a location marked `internal` over the uploads folder
    (UPLOAD_INTERNAL_PREFIX), once Django has checked the owner; the folder is not reachable from
    outside."""
    # The path is looked up first, so that a file leading out of the folder is refused (storage.py).
    upload.file.storage.path(upload.file.name)
    response = HttpResponse(content_type=upload.content_type)
    response["X-Accel-Redirect"] = settings.UPLOAD_INTERNAL_PREFIX + quote(upload.file.name)
    response["Content-Disposition"] = disposition
    return response


def x_sendfile(upload: Upload, disposition: str) -> HttpResponse:
    """Apache's mod_xsendfile sends the file (from the folder its XSendFilePath allows) once Django
    has checked the owner, with the headers of this response."""
    response = HttpResponse(content_type=upload.content_type)
    response["X-Sendfile"] = upload.file.path
    response["Content-Disposition"] = disposition
    return response


def presigned(upload: Upload, disposition: str) -> HttpResponse:
    """A link to the private object that expires in a minute; the bucket answers with these
    headers, not the ones stored with the object."""
    url = upload.file.storage.url(
        upload.file.name,
        parameters={
            "ResponseContentDisposition": disposition,
            "ResponseContentType": upload.content_type,
        },
        expire=60,
    )
    return HttpResponseRedirect(url)


# An unknown UPLOAD_HANDOFF fails the download (KeyError: a 500) rather than sending the file
# some other way; the hand-offs of local files need a path, so with S3 storage they fail too.
HANDOFFS = {
    "stream": stream,
    "x-accel-redirect": x_accel_redirect,
    "x-sendfile": x_sendfile,
    "presigned": presigned,
}
