"""A Cloud Storage JSON API fake on loopback, answering as the service does, for the google-cloud-storage client.

The requests google-cloud-storage 2.x sends (list, get, media download,
multipart upload, copyTo, delete) with the generation preconditions
(`ifGenerationMatch`, 0 meaning "does not exist") and the answers the service
gives: object resources with string-typed size and generation, base64 MD5 and
CRC32C, mediaLink, the x-goog-hash header on downloads, and 404/412 errors
shaped as `{"error": {"code", "message", "errors": [{"reason"}]}}`.
Point the client at it with STORAGE_EMULATOR_HOST (see `running`).

`on_write(name, data)` runs before each upload or copy is stored and returns the bytes to store (a test
kills the uploader there, or corrupts the bytes).
"""

from __future__ import annotations

import base64
import contextlib
import email.parser
import email.policy
import hashlib
import http.server
import itertools
import json
import threading
import urllib.parse
from collections.abc import Callable, Iterator

import google_crc32c

_CREATED = "2026-12-04T03:00:00.000Z"


class FakeGcs:
    """The buckets' objects: name -> (bytes, generation), shared by the server's threads."""

    def __init__(self):
        self.objects: dict[tuple[str, str], tuple[bytes, int]] = {}
        self.lock = threading.Lock()
        self.generations = itertools.count(1_733_000_000_000_001)
        self.on_write: Callable[[str, bytes], bytes] = lambda name, data: data
        self.base_url = ""

    def names(self, bucket: str) -> list[str]:
        with self.lock:
            return sorted(name for b, name in self.objects if b == bucket)

    def resource(self, bucket: str, name: str) -> dict:
        data, generation = self.objects[(bucket, name)]
        quoted = urllib.parse.quote(name, safe="")
        return {
            "kind": "storage#object",
            "id": f"{bucket}/{name}/{generation}",
            "selfLink": f"{self.base_url}/storage/v1/b/{bucket}/o/{quoted}",
            "mediaLink": f"{self.base_url}/download/storage/v1/b/{bucket}/o/{quoted}?generation={generation}&alt=media",
            "name": name,
            "bucket": bucket,
            "generation": str(generation),
            "metageneration": "1",
            "contentType": "application/octet-stream",
            "storageClass": "STANDARD",
            "size": str(len(data)),
            "md5Hash": base64.b64encode(hashlib.md5(data).digest()).decode(),
            "crc32c": _crc32c(data),
            "etag": base64.b64encode(str(generation).encode()).decode(),
            "timeCreated": _CREATED,
            "updated": _CREATED,
            "timeStorageClassUpdated": _CREATED,
        }

    def precondition(self, bucket: str, name: str, query: dict) -> bool:
        """Whether `ifGenerationMatch` (if any) holds: 0 means absent, N the current generation."""
        if "ifGenerationMatch" not in query:
            return True
        wanted = int(query["ifGenerationMatch"])
        current = self.objects.get((bucket, name))
        return current is None if wanted == 0 else current is not None and current[1] == wanted

    def store(self, bucket: str, name: str, data: bytes) -> None:
        self.objects[(bucket, name)] = (data, next(self.generations))


def _crc32c(data: bytes) -> str:
    return base64.b64encode(google_crc32c.Checksum(data).digest()).decode()


def _error(code: int, reason: str, message: str) -> dict:
    return {
        "error": {
            "code": code,
            "message": message,
            "errors": [{"domain": "global", "reason": reason, "message": message}],
        }
    }


class _Handler(http.server.BaseHTTPRequestHandler):
    server_version = "UploadServer"
    fake: FakeGcs

    def log_message(self, *args):  # quiet
        pass

    def _send(self, code: int, body: dict | bytes | None = None, headers: dict | None = None) -> None:
        try:
            self._respond(code, body, headers)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client was killed mid-request

    def _respond(self, code: int, body: dict | bytes | None, headers: dict | None) -> None:
        payload = json.dumps(body).encode() if isinstance(body, dict) else (body or b"")
        self.send_response(code)
        self.send_header(
            "Content-Type", "application/json; charset=UTF-8" if isinstance(body, dict) else "application/octet-stream"
        )
        self.send_header("Content-Length", str(len(payload)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)

    def _parts(self) -> tuple[list[str], dict]:
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        return [urllib.parse.unquote(part) for part in url.path.split("/")], query

    def _missing(self, bucket: str, name: str) -> None:
        self._send(404, _error(404, "notFound", f"No such object: {bucket}/{name}"))

    def _failed_precondition(self) -> None:
        self._send(
            412, _error(412, "conditionNotMet", "At least one of the pre-conditions you specified did not hold.")
        )

    def _existing(self, bucket: str, name: str, query: dict) -> bool:
        """Whether the object exists and meets the precondition; else answers 404 or 412. Call holding the lock."""
        if (bucket, name) not in self.fake.objects:
            self._missing(bucket, name)
            return False
        if not self.fake.precondition(bucket, name, query):
            self._failed_precondition()
            return False
        return True

    def _store(self, bucket: str, name: str, query: dict, data: bytes) -> None:
        """Stores `data` if the precondition holds and answers with the object resource, else 412."""
        data = self.fake.on_write(name, data)
        with self.fake.lock:
            if not self.fake.precondition(bucket, name, query):
                self._failed_precondition()
                return
            self.fake.store(bucket, name, data)
            self._send(200, self.fake.resource(bucket, name))

    def do_GET(self):
        parts, query = self._parts()
        fake = self.fake
        with fake.lock:
            if parts[1:5] == ["storage", "v1", "b", parts[4]] and len(parts) == 6 and parts[5] == "o":
                bucket, prefix = parts[4], query.get("prefix", "")
                names = sorted(n for b, n in fake.objects if b == bucket and n.startswith(prefix))
                self._send(200, {"kind": "storage#objects", "items": [fake.resource(bucket, n) for n in names]})
                return
            download = parts[1] == "download"
            offset = 2 if download else 1
            bucket, name = parts[offset + 3], "/".join(parts[offset + 5 :])
            if not self._existing(bucket, name, query):
                return
            if not download:
                self._send(200, fake.resource(bucket, name))
                return
            data, generation = fake.objects[(bucket, name)]
            resource = fake.resource(bucket, name)
            headers = {
                "x-goog-hash": f"crc32c={resource['crc32c']},md5={resource['md5Hash']}",
                "x-goog-generation": str(generation),
            }
            self._send(200, data, headers)

    def do_POST(self):
        parts, query = self._parts()
        fake = self.fake
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if parts[1] == "upload":
            if query.get("uploadType") != "multipart":
                self._send(
                    501, _error(501, "notImplemented", "the fake takes multipart uploads only (objects under 8 MiB)")
                )
                return
            message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                b"Content-Type: " + self.headers["Content-Type"].encode() + b"\r\n\r\n" + body
            )
            metadata_part, media_part = list(message.iter_parts())
            name = json.loads(metadata_part.get_content())["name"]
            self._store(parts[5], name, query, media_part.get_payload(decode=True))
            return
        # /storage/v1/b/{bucket}/o/{source}/copyTo/b/{bucket}/o/{destination}
        copy_at = parts.index("copyTo")
        source = (parts[4], "/".join(parts[6:copy_at]))
        destination = (parts[copy_at + 2], "/".join(parts[copy_at + 4 :]))
        with fake.lock:
            data = fake.objects[source][0] if source in fake.objects else None
        if data is None:
            self._missing(*source)
            return
        self._store(*destination, query, data)

    def do_DELETE(self):
        parts, query = self._parts()
        fake = self.fake
        bucket, name = parts[4], "/".join(parts[6:])
        with fake.lock:
            if not self._existing(bucket, name, query):
                return
            del fake.objects[(bucket, name)]
            self._send(204)


@contextlib.contextmanager
def running(monkeypatch) -> Iterator[FakeGcs]:
    """Serves a FakeGcs on 127.0.0.1 and points google-cloud-storage at it (STORAGE_EMULATOR_HOST) until exit."""
    fake = FakeGcs()
    handler = type("Handler", (_Handler,), {"fake": fake})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    fake.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", fake.base_url)
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "test-project")
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
