"""S3 through the one port: signatures still verify, so paths and headers arrive byte-for-byte."""

from __future__ import annotations

import hashlib

import botocore.exceptions
import pytest
import requests
from support.proxy.traffic import marker, raw_request

AWKWARD_KEYS = [
    "dots/../escape",
    "double//slash",
    "encoded%2Fslash",
    "space and+plus",
    "trailing/",
    "./leading-dot",
    "unicode/é",
]


@pytest.mark.parametrize("key", AWKWARD_KEYS)
def test_awkward_key_round_trips_with_signature_intact(key, proxy, traffic):
    s3 = traffic["s3"].client(proxy.url)
    body = f"{proxy.kind}:{key}".encode()
    full_key = f"awkward/{proxy.kind}/{key}"
    s3.put_object(Bucket=traffic["bucket"], Key=full_key, Body=body)
    assert s3.get_object(Bucket=traffic["bucket"], Key=full_key)["Body"].read() == body
    listed = s3.list_objects_v2(Bucket=traffic["bucket"], Prefix=f"awkward/{proxy.kind}/")["Contents"]
    assert full_key in {item["Key"] for item in listed}


def test_raw_path_reaches_backend_unchanged(proxy, traffic):
    probe = marker()
    raw = f"/{traffic['bucket']}/{probe}/a/..//b%2Fc/./d"
    raw_request("GET", proxy.url + raw, headers={"authorization": "AWS4-HMAC-SHA256 Credential=x"})
    assert [hit.raw_path for hit in traffic["recorder"].find(probe)] == [raw]


def test_altered_signature_is_refused_by_backend(proxy, traffic):
    s3 = traffic["s3"].client(proxy.url, secret="not-the-secret")
    with pytest.raises(botocore.exceptions.ClientError) as error:
        s3.get_object(Bucket=traffic["bucket"], Key="anything")
    assert error.value.response["Error"]["Code"] == "SignatureDoesNotMatch"


def test_multipart_upload_assembles_through_proxy(proxy, traffic):
    s3 = traffic["s3"].client(proxy.url)
    bucket, key = traffic["bucket"], f"multipart/{proxy.kind}/{marker()}"
    parts = [bytes([index]) * (5 * 1024 * 1024) for index in range(2)] + [b"tail"]
    upload = s3.create_multipart_upload(Bucket=bucket, Key=key)
    etags = []
    for number, data in enumerate(parts, start=1):
        part = s3.upload_part(
            Bucket=bucket, Key=key, UploadId=upload["UploadId"], PartNumber=number, Body=data
        )
        etags.append({"ETag": part["ETag"], "PartNumber": number})
    s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload["UploadId"], MultipartUpload={"Parts": etags}
    )
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    assert hashlib.sha256(body).digest() == hashlib.sha256(b"".join(parts)).digest()


def test_presigned_url_with_awkward_key_verifies_at_backend(our_proxy, traffic):
    s3 = traffic["s3"].client(our_proxy.url)
    key = f"presigned-awkward/{marker()}/a//b/../c%2Fd"
    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": traffic["bucket"], "Key": key})
    status, body, _headers = raw_request("PUT", put_url, b"payload")
    assert status == 200, body
    get_url = s3.generate_presigned_url("get_object", Params={"Bucket": traffic["bucket"], "Key": key})
    status, body, _headers = raw_request("GET", get_url)
    assert (status, body) == (200, b"payload")


def test_tampered_presigned_url_is_refused(our_proxy, traffic):
    s3 = traffic["s3"].client(our_proxy.url)
    url = s3.generate_presigned_url("get_object", Params={"Bucket": traffic["bucket"], "Key": "x"})
    response = requests.get(url.replace("/x?", "/y?"), timeout=15)
    assert response.status_code == 403
    assert b"SignatureDoesNotMatch" in response.content
