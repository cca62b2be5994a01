"""Where a member export's files are kept until the admin downloads them: one interface, two stores.

- In AWS, an S3 bucket (`KABAO_EXPORT_BUCKET`): the job writes its parts and its file there, and the download is a
  presigned URL valid for a few minutes, so the file never passes through API Gateway (whose answers stop at 10 MB).
- Locally (`make dev`, the tests), a directory (`KABAO_EXPORT_DIR`, by default one per table under the system's
  temporary directory), and the API serves the file to the admin itself. Nothing in the tests calls AWS.

Keys are `exports/{merchant_id}/{job_id}/{name}`, made here from ids the API made, never from a client's text.
"""

from __future__ import annotations

import os
import re
import tempfile
from functools import cache
from pathlib import Path
from typing import Any, Protocol

from mini_program_api.platform.config import settings

LINK_SECONDS = 300
_SAFE = re.compile(r"^[A-Za-z0-9_.\-]{1,80}$")


def key(merchant_id: str, job_id: str, name: str) -> str:
    for part in (merchant_id, job_id, name):
        if not _SAFE.match(part) or part in (".", ".."):
            raise ValueError(f"unsafe file key part {part!r}")
    return f"exports/{merchant_id}/{job_id}/{name}"


class Files(Protocol):
    def put(self, key: str, data: bytes) -> None: ...

    def get(self, key: str) -> bytes: ...

    def link(self, key: str, filename: str) -> str | None:
        """A URL the browser downloads the file from directly, or None: the API serves `get` itself."""
        ...


class LocalFiles:
    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, key: str, data: bytes) -> None:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)  # a reader never sees half a file

    def get(self, key: str) -> bytes:
        return (self.root / key).read_bytes()

    def link(self, key: str, filename: str) -> str | None:
        return None


class S3Files:
    def __init__(self, bucket: str) -> None:
        self.bucket = bucket
        self._client: Any = None

    def _s3(self) -> Any:
        if self._client is None:
            import boto3  # the Lambda runtime's; imported on the first export, not at cold start

            self._client = boto3.client("s3", region_name=settings().region)
        return self._client

    def put(self, key: str, data: bytes) -> None:
        self._s3().put_object(Bucket=self.bucket, Key=key, Body=data, ServerSideEncryption="AES256")

    def get(self, key: str) -> bytes:
        return bytes(self._s3().get_object(Bucket=self.bucket, Key=key)["Body"].read())

    def link(self, key: str, filename: str) -> str | None:
        params = {"Bucket": self.bucket, "Key": key, "ResponseContentDisposition": f'attachment; filename="{filename}"'}
        return str(self._s3().generate_presigned_url("get_object", Params=params, ExpiresIn=LINK_SECONDS))


@cache
def files() -> Files:
    bucket = os.environ.get("KABAO_EXPORT_BUCKET")
    if bucket:
        return S3Files(bucket)
    if not settings().is_local:
        raise RuntimeError("KABAO_EXPORT_BUCKET is not set: exports are kept in S3 outside the local stages")
    root = os.environ.get("KABAO_EXPORT_DIR") or os.path.join(
        tempfile.gettempdir(), f"kabao-exports-{settings().table_name}"
    )
    return LocalFiles(Path(root))
