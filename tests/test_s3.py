"""End to end: uploads kept in S3 (upload_storage s3) are private, and reach their owner only.

A generated project runs as in production: gunicorn with config.settings.prod on PostgreSQL and
Redis, reading its bucket from the variables prod.py documents and its credentials from the
standard AWS ones. The bucket lives on moto's S3 server on loopback, set up as the project's README
asks of a real one (Block Public Access, ACLs disabled). Through the site's own pages the owner
uploads a file; the test then looks at the bucket and at the download links the site hands out.

moto does not check the signature or the expiry of a presigned link: it serves a tampered link as
readily as a good one. The test therefore checks each link's SigV4 signature itself, with the
site's secret key, as S3 does: valid as issued, and invalid once any part of it is changed.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import struct
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit, urlunsplit

import boto3
import pytest
from botocore.auth import S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from .helpers import free_port
from .services import LiveSite, Response, ServiceError, create_database, live_site, wait_for_port

pytestmark = pytest.mark.servers

BUCKET = "fortress-uploads"
REGION = "eu-west-1"
# The site's credentials. moto accepts any; the test needs the secret to check signatures.
ACCESS_KEY = "AKIAFORTRESSTEST0001"
SECRET_KEY = "fortress-test-secret-key"  # noqa: S105 (moto's, on loopback)
PASSWORD = "correct horse battery staple"  # noqa: S105 (the test accounts')
OWNER = "owner@example.org"
OTHER = "other@example.org"
CLIENT_IP = "198.51.100.20"
# A name a browser may send: spaces and letters outside ASCII, which the download keeps.
FILE_NAME = "Straße à Noël.png"


@contextmanager
def moto_s3_server(workdir: Path) -> Iterator[str]:
    """moto's S3 server (moto[server], in the template's dev group) on a free loopback port;
    yields its endpoint URL."""
    server = Path(sys.executable).parent / "moto_server"
    if not server.exists():
        found = shutil.which("moto_server")
        if not found:
            raise ServiceError(
                "moto_server is not installed: pip install --group dev (moto[server])"
            )
        server = Path(found)
    port = free_port()
    log_path = workdir / "moto.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [server, "-H", "127.0.0.1", "-p", str(port)],
            cwd=workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        try:
            wait_for_port(port, process, "moto_server")
        except ServiceError as error:
            raise ServiceError(f"{error}:\n{log_path.read_text()[-2000:]}") from None
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def private_bucket(endpoint: str):
    """Create BUCKET as a production bucket should be: no public access of any kind, ACLs
    disabled. Return an S3 client that administers it."""
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="administrator",
        aws_secret_access_key="administrator",  # noqa: S106 (moto's)
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_public_access_block(
        Bucket=BUCKET,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_ownership_controls(
        Bucket=BUCKET, OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    )
    return s3


def site_environment(endpoint: str) -> dict[str, str]:
    return {
        "DJANGO_UPLOAD_S3_BUCKET": BUCKET,
        "DJANGO_UPLOAD_S3_REGION": REGION,
        "DJANGO_UPLOAD_S3_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        # Nothing of this machine's own AWS set-up reaches the site.
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def png_image(width: int = 4, height: int = 3) -> bytes:
    """A small valid PNG, written by hand: the template's tools have no imaging library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    rows = b"".join(b"\x00" + b"\xcc\x33\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def signed_in(site: LiveSite, email: str) -> dict[str, str]:
    """The cookies of a browser in which email has signed in."""
    cookies, token = site.login_form(CLIENT_IP)
    answer = site.sign_in(CLIENT_IP, email, PASSWORD, (cookies, token))
    assert answer.status == 302, f"sign-in of {email} answered {answer.status}"
    return {**cookies, **answer.cookies}


def upload(site: LiveSite, cookies: dict[str, str], name: str, content: bytes) -> Response:
    """Send a file through the upload form of /files/, as a browser does."""
    page = site.request("GET", "/files/", CLIENT_IP, cookies=cookies)
    assert page.status == 200, page.body[:500]
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.body)
    assert token, "no CSRF token on the upload page"
    boundary = uuid.uuid4().hex
    body = (
        (
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="csrfmiddlewaretoken"\r\n\r\n'
            f"{token.group(1)}\r\n"
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    headers = {
        "Host": site.host,
        "X-Forwarded-Proto": "https",
        "X-Forwarded-For": CLIENT_IP,
        "Origin": f"https://{site.host}",
        "Referer": f"https://{site.host}/files/",
        "Cookie": "; ".join(f"{key}={value}" for key, value in {**cookies, **page.cookies}.items()),
        "Content-Type": f"multipart/form-data; boundary={boundary}",
    }
    connection = http.client.HTTPConnection("127.0.0.1", site.port, timeout=60)
    try:
        connection.request("POST", "/files/", body=body, headers=headers)
        answer = connection.getresponse()
        return Response(
            answer.status,
            {key.lower(): value for key, value in answer.getheaders()},
            {},
            answer.read().decode(errors="replace"),
        )
    finally:
        connection.close()


def fetch(url: str) -> tuple[int, dict[str, str], bytes]:
    """GET url as a browser without any credential would: status, headers, body."""
    try:
        with urllib.request.urlopen(url, timeout=30) as answer:  # noqa: S310 (loopback http)
            status, headers, body = answer.status, answer.headers, answer.read()
    except urllib.error.HTTPError as error:
        status, headers, body = error.code, error.headers, error.read()
    return status, {name.lower(): value for name, value in headers.items()}, body


def link_fields(url: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


def signature_is_valid(url: str) -> bool:
    """Whether url carries the SigV4 query signature S3 would compute for it with the site's
    secret key: over the method, the object, every query parameter (the response headers and
    the expiry among them) and the host."""
    parts = urlsplit(url)
    signed = [field for field in parts.query.split("&") if not field.startswith("X-Amz-Signature=")]
    fields = link_fields(url)
    _, _, region, service, _ = fields["X-Amz-Credential"].split("/")
    request = AWSRequest(method="GET", url=urlunsplit(parts._replace(query="&".join(signed))))
    request.context["timestamp"] = fields["X-Amz-Date"]
    auth = S3SigV4QueryAuth(
        Credentials(ACCESS_KEY, SECRET_KEY), service, region, expires=int(fields["X-Amz-Expires"])
    )
    expected = auth.signature(
        auth.string_to_sign(request, auth.canonical_request(request)), request
    )
    return fields.get("X-Amz-Signature") == expected


def test_s3_uploads_are_private_and_reach_their_owner_only_through_short_lived_links(
    generate, project_python, postgres, redis, tmp_path
):
    project = generate(upload_storage="s3")
    database = create_database(project_python, postgres, f"s3_{uuid.uuid4().hex[:8]}")
    original = png_image()

    with moto_s3_server(tmp_path) as endpoint:
        s3 = private_bucket(endpoint)
        environ = site_environment(endpoint)
        with live_site(project, project_python, database, f"{redis}/11", environ=environ) as site:
            site.create_account(OWNER, PASSWORD)
            site.create_account(OTHER, PASSWORD)
            owner = signed_in(site, OWNER)
            other = signed_in(site, OTHER)

            stored = upload(site, owner, FILE_NAME, original)
            listing = site.request("GET", "/files/", CLIENT_IP, cookies=owner)
            pk = re.search(r'href="/files/([0-9a-f-]{36})/"', listing.body)
            assert pk, f"the owner's list shows no file:\n{listing.body[:2000]}"
            download = f"/files/{pk.group(1)}/"
            owner_answer = site.request("GET", download, CLIENT_IP, cookies=owner)
            other_answer = site.request("GET", download, CLIENT_IP, cookies=other)
            anonymous_answer = site.request("GET", download, CLIENT_IP)
            log = site.log.read_text()

        assert stored.status == 302, f"{stored.status} {stored.body[:1000]}\n{log[-3000:]}"
        assert FILE_NAME in listing.body

        # One object, under a random name in the site's prefix: nothing of the user's name.
        keys = [entry["Key"] for entry in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
        assert len(keys) == 1, keys
        key = keys[0]
        assert re.fullmatch(r"uploads/[0-9a-f]{32}\.png", key), key
        # Private: no grant beyond the bucket owner, and an anonymous request is refused.
        grants = s3.get_object_acl(Bucket=BUCKET, Key=key)["Grants"]
        assert [grant["Permission"] for grant in grants] == ["FULL_CONTROL"], grants
        assert "URI" not in grants[0]["Grantee"], grants
        status, _, _ = fetch(f"{endpoint}/{BUCKET}/{key}")
        assert status == 403
        # Encrypted at rest, and stored so that no browser renders it and no cache keeps it.
        head = s3.head_object(Bucket=BUCKET, Key=key)
        assert head["ServerSideEncryption"] == "AES256"
        assert head["ContentDisposition"] == "attachment"
        assert head["CacheControl"] == "private, no-store"
        content = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        # Re-encoded by the upload pipeline, still a PNG.
        assert content.startswith(b"\x89PNG\r\n\x1a\n")

        # The owner is sent to a link to that very object, signed for one minute.
        assert owner_answer.status == 302, f"{owner_answer.status} {owner_answer.body[:500]}"
        assert owner_answer.headers["cache-control"] == "private, no-store"
        link = owner_answer.headers["location"]
        assert link.startswith(f"{endpoint}/{BUCKET}/{key}?"), link
        fields = link_fields(link)
        assert fields["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
        assert fields["X-Amz-Credential"].startswith(f"{ACCESS_KEY}/")
        assert f"/{REGION}/s3/" in fields["X-Amz-Credential"]
        assert fields["X-Amz-Expires"] == "60"
        issued = datetime.strptime(fields["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        assert abs((datetime.now(UTC) - issued).total_seconds()) < 300
        disposition = f"attachment; filename*=utf-8''{quote(FILE_NAME)}"
        assert fields["response-content-disposition"] == disposition
        assert fields["response-content-type"] == "image/png"

        # The link works: the stored bytes, as an attachment with the name the user gave, typed as
        # the pipeline sniffed the file.
        status, headers, body = fetch(link)
        assert status == 200
        assert body == content
        assert headers["content-disposition"] == disposition
        assert headers["content-type"] == "image/png"

        # S3 refuses a link whose signature does not match; each change to this one breaks it.
        assert signature_is_valid(link)
        signature = fields["X-Amz-Signature"]
        forged = signature[:-1] + ("1" if signature.endswith("0") else "0")
        tampered = {
            "signature": link.replace(signature, forged),
            "expiry": link.replace("X-Amz-Expires=60", "X-Amz-Expires=604800"),
            "disposition": link.replace("attachment%3B", "inline%3B"),
            "object": link.replace(key, f"uploads/{uuid.uuid4().hex}.png"),
            "date": link.replace(fields["X-Amz-Date"], "20990101T000000Z"),
        }
        for what, url in tampered.items():
            assert url != link, what
            assert not signature_is_valid(url), f"a link with a changed {what} still verifies"

    # Another user learns nothing: not found, and no link to the object.
    assert other_answer.status == 404
    assert "location" not in other_answer.headers
    assert BUCKET not in other_answer.body and "X-Amz" not in other_answer.body
    # Without signing in, the sign-in page, not the bucket.
    assert anonymous_answer.status == 302
    assert anonymous_answer.headers["location"].startswith("/accounts/login/")
