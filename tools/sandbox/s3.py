"""An S3 client for pachd's S3 gateway behind the one port: one place for what the gateway needs.

pachd's access key and secret key are both its auth token. The gateway refuses uploads without
Content-Length (MissingContentLength), which botocore 1.36 and later leave out over HTTPS, streaming
a trailing checksum instead, unless checksums are computed only where S3 requires them.
"""

from __future__ import annotations

from pathlib import Path


def s3_client(address: str, key: str, secret: str, ca_file: Path | None, **config):
    """A boto3 S3 client for https://<address>, trusting `ca_file` (None: cleartext http://<address>, as
    pachd's own S3 port speaks); `config` adds botocore options."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=f"{'https' if ca_file else 'http'}://{address}",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        region_name="us-east-1",
        verify=str(ca_file) if ca_file else None,
        config=Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            **config,
        ),
    )
