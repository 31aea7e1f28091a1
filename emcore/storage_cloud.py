"""Cloud backends of `emcore.storage`: `gs://` through google-cloud-storage, `s3://` through boto3.

Clients are created on first use and cached per process and endpoint, so the many small Storage
instances the orchestrator makes (`child()`) cost nothing. The libraries read their endpoint
overrides themselves (`STORAGE_EMULATOR_HOST`; botocore 1.44 reads `AWS_ENDPOINT_URL_S3` and
`AWS_ENDPOINT_URL`): here they are only cache keys. Nothing logs; errors carry no credentials.

Create-only writes tag the object with a random token in its metadata. Both clients retry a
conditional upload whose response was lost; the retry then fails its precondition on our own
object, and the token is how we still recognise that we won.
"""
from __future__ import annotations

import contextlib
import datetime
import os
import threading
import time
import uuid

from emcore.storage import NotFound, Storage, StorageError

_TOKEN = "emctl-create"
# The S3 object tag of temporaries (Storage.write): a lifecycle rule filtered on it touches nothing else.
TEMPORARY_TAG = "emctl-temporary=true"
_clients: dict[tuple, object] = {}
_clients_lock = threading.Lock()


def _client(kind: str, endpoint: str | None, make):
    # Keyed by pid too: a forked worker must not reuse its parent's connection pool.
    key = (kind, endpoint, os.getpid())
    with _clients_lock:
        if key not in _clients:
            try:
                _clients[key] = make()
            except Exception as e:  # missing/invalid credentials surface here, not as a crash
                raise StorageError(f"cannot create the {kind} client: {type(e).__name__}: {e}") from e
        return _clients[key]


def _gcs_client():
    from google.cloud import storage
    emulator = os.environ.get("STORAGE_EMULATOR_HOST")

    def make():
        if emulator:
            from google.auth.credentials import AnonymousCredentials
            return storage.Client(project=os.environ.get("GOOGLE_CLOUD_PROJECT", "emulator"),
                                  credentials=AnonymousCredentials())
        return storage.Client()
    return _client("gs", emulator, make)


def _s3_client():
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")

    def make():
        import boto3
        from botocore.config import Config
        # A private session: boto3's default session is not thread-safe, its clients are.
        return boto3.session.Session().client("s3", config=Config(
            retries={"mode": "standard", "max_attempts": 5}, max_pool_connections=32))
    return _client("s3", endpoint, make)


class _CloudStorage(Storage):
    scheme = ""

    def __init__(self, url: str, bucket: str, prefix: str):
        super().__init__(url)
        self.bucket, self.prefix = bucket, prefix

    def _fail(self, op: str, key: str, e: Exception) -> StorageError:
        where = f"{self.scheme}://{self.bucket}/{self.prefix}{key}"
        return StorageError(f"cannot {op} {where}: {type(e).__name__}: {e}")

    def _empty_range(self, key: str) -> bytes:
        # No request can express an empty range (S3 ignores "bytes=5-4" and sends everything).
        if not self._exists(key):
            raise NotFound(self.url + key)
        return b""


class GCSStorage(_CloudStorage):
    scheme = "gs"

    @contextlib.contextmanager
    def _errors(self, op: str, key: str):
        from google.api_core import exceptions as gx
        from google.auth import exceptions as ga
        import requests
        try:
            yield
        except gx.NotFound as e:
            # GCS answers 404 for a missing object and for a missing bucket alike; only the
            # message tells them apart (fake-gcs-server says just "Not Found").
            if op == "read" and "bucket does not exist" not in str(e):
                raise NotFound(self.url + key) from None
            raise self._fail(op, key, e) from e
        except (gx.GoogleAPIError, ga.GoogleAuthError, requests.RequestException) as e:
            raise self._fail(op, key, e) from e

    def _blob(self, key: str):
        return _gcs_client().bucket(self.bucket).blob(self.prefix + key)

    def _read(self, key, start, end):
        from google.api_core.exceptions import RequestRangeNotSatisfiable
        if start is not None and end <= start:
            return self._empty_range(key)
        with self._errors("read", key):
            try:
                return self._blob(key).download_as_bytes(start=start, end=None if end is None else end - 1)
            except RequestRangeNotSatisfiable:  # start past the end: empty, like a slice
                return b""

    def _write(self, key, data, temporary):
        blob = self._blob(key)
        if temporary:
            blob.custom_time = datetime.datetime.now(datetime.timezone.utc)
        with self._errors("write", key):
            blob.upload_from_string(data, content_type="application/octet-stream")

    def _create(self, key, data):
        from google.api_core.exceptions import PreconditionFailed
        token = uuid.uuid4().hex
        blob = self._blob(key)
        blob.metadata = {_TOKEN: token}
        with self._errors("create", key):
            try:
                blob.upload_from_string(data, content_type="application/octet-stream", if_generation_match=0)
                return True
            except PreconditionFailed:
                found = _gcs_client().bucket(self.bucket).get_blob(self.prefix + key)
                return found is not None and (found.metadata or {}).get(_TOKEN) == token

    def _exists(self, key):
        with self._errors("stat", key):
            return self._blob(key).exists()

    def _size(self, key):
        with self._errors("read", key):
            blob = _gcs_client().bucket(self.bucket).get_blob(self.prefix + key)
        if blob is None:
            raise NotFound(self.url + key)
        return int(blob.size)

    def _list_page(self, prefix, token, page_size):
        with self._errors("list", prefix):
            it = _gcs_client().list_blobs(self.bucket, prefix=self.prefix + prefix, page_size=page_size,
                                          page_token=token, fields="items(name,updated),nextPageToken")
            page = next(it.pages, [])
            # Names ending in "/" are console "folders", not objects of ours.
            keys = [(b.name[len(self.prefix):], b.updated.timestamp() if b.updated else 0.0)
                    for b in page if not b.name.endswith("/")]
            return keys, it.next_page_token or None

    def _delete(self, key):
        from google.api_core.exceptions import NotFound as Missing
        with self._errors("delete", key), contextlib.suppress(Missing):
            self._blob(key).delete()


class S3Storage(_CloudStorage):
    scheme = "s3"

    @contextlib.contextmanager
    def _errors(self, op: str, key: str):
        from botocore.exceptions import BotoCoreError, ClientError
        try:
            yield
        except ClientError as e:
            if op == "read" and _code(e) == "NoSuchKey":
                raise NotFound(self.url + key) from None
            raise self._fail(op, key, e) from e
        except BotoCoreError as e:  # unreachable endpoint, no credentials, a broken stream...
            raise self._fail(op, key, e) from e

    def _call(self, op: str, key: str, method: str, expect=(), **kw):
        """client.<method>(...) on the key; an error code listed in `expect` is returned, not raised."""
        from botocore.exceptions import ClientError
        with self._errors(op, key):
            try:
                return getattr(_s3_client(), method)(Bucket=self.bucket, Key=self.prefix + key, **kw)
            except ClientError as e:
                if _code(e) in expect:
                    return _code(e)
                raise

    def _read(self, key, start, end):
        if start is not None and end <= start:
            return self._empty_range(key)
        rng = {} if start is None else {"Range": f"bytes={start}-{end - 1}"}
        with self._errors("read", key):
            r = self._call("read", key, "get_object", expect=("InvalidRange",), **rng)
            return b"" if r == "InvalidRange" else r["Body"].read()  # past the end: empty, like a slice

    def _write(self, key, data, temporary):
        self._call("write", key, "put_object", Body=data, **({"Tagging": TEMPORARY_TAG} if temporary else {}))

    def _create(self, key, data):
        token = uuid.uuid4().hex
        for attempt in range(5):
            r = self._call("create", key, "put_object", expect=("PreconditionFailed", "ConditionalRequestConflict"),
                           Body=data, IfNoneMatch="*", Metadata={_TOKEN: token})
            if r == "PreconditionFailed":
                return (self._head(key) or {}).get(_TOKEN) == token
            if r != "ConditionalRequestConflict":
                return True
            # 409: another conditional write of this key is in flight. AWS says retry: the retry
            # wins if that write failed and gets 412 if it succeeded.
            time.sleep(0.05 * 2 ** attempt)
        return False  # still contended after ~1.5 s: someone else is creating it

    def _head(self, key: str) -> dict | None:
        """The object's user metadata, or None if it does not exist."""
        r = self._stat(key)
        return None if r is None else r["Metadata"]

    def _stat(self, key: str) -> dict | None:
        r = self._call("stat", key, "head_object", expect=("404", "NoSuchKey"))
        return None if isinstance(r, str) else r

    def _size(self, key):
        r = self._stat(key)
        if r is None:
            raise NotFound(self.url + key)
        return int(r["ContentLength"])

    def _exists(self, key):
        return self._head(key) is not None

    def _list_page(self, prefix, token, page_size):
        extra = {"ContinuationToken": token} if token else {}
        with self._errors("list", prefix):
            r = _s3_client().list_objects_v2(Bucket=self.bucket, Prefix=self.prefix + prefix,
                                             MaxKeys=page_size, **extra)
        keys = [(o["Key"][len(self.prefix):], o["LastModified"].timestamp())
                for o in r.get("Contents", []) if not o["Key"].endswith("/")]
        return keys, (r.get("NextContinuationToken") if r.get("IsTruncated") else None)

    def _delete(self, key):
        self._call("delete", key, "delete_object")  # S3 answers 204 for a missing key: idempotent


def _code(e) -> str:
    return str(e.response.get("Error", {}).get("Code", ""))
