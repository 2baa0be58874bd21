"""Object storage through the requests that make it safe to share: conditional writes and server-side digests.

A bucket has no rename and no lock. What it has, and what the serving root's
lease and version markers are built on (common/locks.py, common/serving_root.py,
components/pusher/object_push.py):
- a create that fails if the object exists, and a replace or delete that fails
  if it changed since it was read (Cloud Storage's `ifGenerationMatch`);
- the size and MD5 the server computed over the bytes it stored, so a copy is
  verified without downloading it again.

gs:// goes through the google-cloud-storage client, which also honours
STORAGE_EMULATOR_HOST (an emulator, or the tests' fake server). Other schemes
have no conditional requests here (`supports` says which do).
"""

from __future__ import annotations

import base64
import dataclasses
from typing import BinaryIO

__all__ = ["GcsStore", "StoredObject", "split_uri", "store_for", "supports"]

_GCS_SCHEME = "gs"


@dataclasses.dataclass(frozen=True)
class StoredObject:
    """One object as the server describes it.

    Attributes:
      name: Its name within the bucket.
      size: Bytes stored.
      md5: Hex MD5 of those bytes, computed by the server.
      generation: Changes whenever the object is written again.
    """

    name: str
    size: int
    md5: str
    generation: int


def supports(uri: str) -> bool:
    """Whether `uri` is object storage with conditional requests here (gs://)."""
    return uri.startswith(f"{_GCS_SCHEME}://")


def split_uri(uri: str) -> tuple[str, str]:
    """(bucket, object name or prefix) of a gs:// URI, the name without a leading or trailing slash.

    Raises:
      ValueError: For a URI that is not gs://, naming it.
    """
    if not supports(uri):
        raise ValueError(
            f"{uri}: only gs:// object storage has the conditional writes a safe push needs here; "
            "use a gs:// URI or a mounted folder"
        )
    bucket, _, name = uri[len(_GCS_SCHEME) + 3 :].partition("/")
    if not bucket:
        raise ValueError(f"{uri}: no bucket name")
    return bucket, name.strip("/")


def store_for(uri: str) -> tuple[GcsStore, str]:
    """The store holding `uri` and the object prefix within it."""
    bucket, prefix = split_uri(uri)
    return GcsStore(bucket), prefix


def _stored(blob) -> StoredObject:
    return StoredObject(blob.name, int(blob.size), base64.b64decode(blob.md5_hash).hex(), int(blob.generation))


class GcsStore:
    """One Cloud Storage bucket."""

    def __init__(self, bucket: str, client=None):
        from google.cloud import storage

        self.bucket_name = bucket
        self._client = client or storage.Client()
        self._bucket = self._client.bucket(bucket)

    def uri(self, name: str) -> str:
        return f"{_GCS_SCHEME}://{self.bucket_name}/{name}"

    def list(self, prefix: str) -> list[StoredObject]:
        """Every object whose name starts with `prefix`."""
        return [_stored(blob) for blob in self._client.list_blobs(self._bucket, prefix=prefix)]

    def children(self, prefix: str) -> dict[str, list[str]]:
        """The objects under `<prefix>/` grouped by the first part of the rest of their names, as a folder's entries."""
        entries: dict[str, list[str]] = {}
        for item in self.list(f"{prefix}/"):
            entries.setdefault(item.name[len(prefix) + 1 :].split("/", 1)[0], []).append(item.name)
        return entries

    def stat(self, name: str) -> StoredObject | None:
        blob = self._bucket.get_blob(name)
        return _stored(blob) if blob is not None else None

    def read(self, name: str, generation: int | None = None) -> bytes | None:
        """The object's bytes (of that generation, if given), or None if it is gone."""
        from google.api_core import exceptions

        try:
            return self._bucket.blob(name).download_as_bytes(if_generation_match=generation)
        except (exceptions.NotFound, exceptions.PreconditionFailed):
            return None

    def write(self, name: str, data: bytes | BinaryIO, size: int | None = None, if_generation: int | None = None):
        """Stores `data` under `name`; returns the StoredObject, or None when the precondition fails.

        Args:
          name: The object name.
          data: Bytes, or a binary stream of `size` bytes.
          size: The stream's length (given bytes, their length).
          if_generation: Write only if the object is at this generation now; 0 means only if it does not exist.
        """
        from google.api_core import exceptions

        blob = self._bucket.blob(name)
        options = {"content_type": "application/octet-stream", "if_generation_match": if_generation}
        try:
            if size is None:
                blob.upload_from_string(data, **options)
            else:
                blob.upload_from_file(data, size=size, **options)
        except exceptions.PreconditionFailed:
            return None
        return _stored(blob)

    def copy(self, source_uri: str, name: str) -> StoredObject:
        """A server-side copy of the object at `source_uri` (any bucket) to `name` in this one."""
        bucket, source_name = split_uri(source_uri)
        source_bucket = self._client.bucket(bucket)
        copied = source_bucket.copy_blob(source_bucket.blob(source_name), self._bucket, name)
        return _stored(copied)

    def delete(self, name: str, if_generation: int | None = None) -> bool:
        """Deletes the object (only at that generation, if given); whether it was deleted."""
        from google.api_core import exceptions

        try:
            self._bucket.blob(name).delete(if_generation_match=if_generation)
        except (exceptions.NotFound, exceptions.PreconditionFailed):
            return False
        return True
