"""The S3 multipart calls, on the minio SDK's public API only.

minio's public API has no CreateMultipartUpload, ListParts, CompleteMultipartUpload or
AbortMultipartUpload: it drives them privately inside ``put_object``, which needs the whole upload in
one call. Tether needs them one at a time (resumable uploads across requests, presigned part URLs for
clients, parts streamed without a buffer), so this module sends these four requests itself, each to a
URL signed by minio's public ``Minio.get_presigned_url`` (SigV4 query signing works for every method
and sub-resource), over the store's own ``urllib3`` pool, and parses the small XML answers. Nothing
here touches a private attribute of minio, so a minio release can only break it by changing
``get_presigned_url``; ``tests/artifacts/test_s3_multipart_contract.py`` checks each call against a
real S3 server and moto.

Errors: an S3 error answer raises ``S3CallError`` with the S3 error code (``NoSuchUpload``,
``InvalidPart``, ...) and HTTP status; ``storage.s3.translate`` maps it like minio's ``S3Error``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from xml.etree import ElementTree

import urllib3
from minio import Minio

__all__ = ["Multipart", "PartInfo", "S3CallError"]

SIGN_FOR = timedelta(minutes=5)  # the server uses these URLs at once


class S3CallError(Exception):
    """An S3 error answer to one of the multipart calls."""

    def __init__(self, code: str, status: int, message: str = "") -> None:
        super().__init__(f"{code} ({status}): {message}" if message else f"{code} ({status})")
        self.code = code
        self.status = status


@dataclass(frozen=True, slots=True)
class PartInfo:
    part_number: int
    etag: str
    size: int


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]  # drop the S3 XML namespace


def _children(elem: ElementTree.Element, name: str) -> list[ElementTree.Element]:
    return [c for c in elem if _local(c.tag) == name]


def _text(elem: ElementTree.Element, name: str, default: str = "") -> str:
    found = _children(elem, name)
    return (found[0].text or default) if found else default


def _parse(resp: urllib3.BaseHTTPResponse) -> ElementTree.Element | None:
    """The XML body of a 2xx answer; raises ``S3CallError`` for an error (including the 200-with-
    ``<Error>`` answer CompleteMultipartUpload may give)."""
    try:
        root = ElementTree.fromstring(resp.data) if resp.data and resp.data.strip() else None
    except ElementTree.ParseError:
        if resp.status < 300:
            raise
        root = None  # e.g. an HTML error page from a proxy
    if resp.status >= 300 or (root is not None and _local(root.tag) == "Error"):
        code = _text(root, "Code") if root is not None else ""
        message = _text(root, "Message") if root is not None else ""
        raise S3CallError(code or f"HTTP{resp.status}", resp.status, message)
    return root


class Multipart:
    """Multipart uploads into one bucket; keys are full object names (the store applies its prefix)."""

    def __init__(self, client: Minio, http: urllib3.PoolManager, bucket: str) -> None:
        self.client = client
        self.http = http
        self.bucket = bucket

    def _url(self, method: str, key: str, query: dict[str, str], expires: timedelta = SIGN_FOR) -> str:
        params: dict[str, str | list[str] | tuple[str]] = dict(query)
        return self.client.get_presigned_url(method, self.bucket, key, expires, extra_query_params=params)

    def _call(
        self, method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> Any:
        # Only the idempotent calls may use the pool's retries: a repeated POST could start a second
        # upload or complete one twice.
        retries = None if method in ("GET", "DELETE") else False
        resp = self.http.request(method, url, body=body, headers=headers, retries=retries, redirect=False)
        return _parse(resp)

    def create(self, key: str, content_type: str = "application/octet-stream") -> str:
        """CreateMultipartUpload; returns the upload id."""
        root = self._call(
            "POST", self._url("POST", key, {"uploads": ""}), None, {"Content-Type": content_type}
        )
        upload_id = _text(root, "UploadId") if root is not None else ""
        if not upload_id:
            raise S3CallError("MalformedResponse", 200, "no UploadId in the answer")
        return upload_id

    def part_url(self, key: str, upload_id: str, part_number: int, expires: timedelta) -> str:
        """A presigned UploadPart URL (the server streams to it, or hands it to a client)."""
        return self._url("PUT", key, {"partNumber": str(part_number), "uploadId": upload_id}, expires)

    def list_parts(self, key: str, upload_id: str, *, page_size: int | None = None) -> list[PartInfo]:
        """ListParts, following ``NextPartNumberMarker`` until the list is complete."""
        out: list[PartInfo] = []
        marker = ""
        while True:
            query = {"uploadId": upload_id}
            if marker:
                query["part-number-marker"] = marker
            if page_size:
                query["max-parts"] = str(page_size)
            root = self._call("GET", self._url("GET", key, query))
            if root is None:
                return out
            for p in _children(root, "Part"):
                etag = _text(p, "ETag").strip('"')
                out.append(PartInfo(int(_text(p, "PartNumber")), etag, int(_text(p, "Size", "0"))))
            marker = _text(root, "NextPartNumberMarker")
            if _text(root, "IsTruncated").lower() != "true" or not marker:
                return out

    def complete(self, key: str, upload_id: str, parts: Iterable[tuple[int, str]]) -> str:
        """CompleteMultipartUpload from ``(part_number, etag)`` pairs; returns the object's ETag as the
        server reports it (Ceph RGW answers an empty one: ``stat`` the object for the real value)."""
        doc = ElementTree.Element("CompleteMultipartUpload")
        for number, etag in parts:
            part = ElementTree.SubElement(doc, "Part")
            ElementTree.SubElement(part, "PartNumber").text = str(number)
            ElementTree.SubElement(part, "ETag").text = f'"{etag}"'
        body = ElementTree.tostring(doc, encoding="utf-8")
        url = self._url("POST", key, {"uploadId": upload_id})
        root = self._call("POST", url, body, {"Content-Type": "application/xml"})
        return _text(root, "ETag").strip('"') if root is not None else ""

    def abort(self, key: str, upload_id: str) -> None:
        """AbortMultipartUpload. An unknown upload id raises ``S3CallError`` with code
        ``NoSuchUpload``; ListParts on one says ``NoSuchUpload`` (AWS, moto) or ``NoSuchKey`` (Ceph)."""
        self._call("DELETE", self._url("DELETE", key, {"uploadId": upload_id}))
