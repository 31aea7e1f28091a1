"""Object storage addressed by URL: one interface, one implementation per scheme.

Every stage and the orchestrator talk to storage only through `Storage`, rooted at a URL prefix
(`file:///data/job/`, a bare local path, `mem://bucket/job/`, `gs://bucket/job/`, `s3://bucket/job/`).
Keys are relative to that root and always use `/`.

Create-only writes are the one synchronisation primitive of the whole system: markers, wave locks
and group closures are all "whoever creates this object first wins". Each backend implements them
with the store's own atomic primitive (O_EXCL-style hard links, GCS `ifGenerationMatch=0`, S3
`If-None-Match: *`), never with check-then-write.

`ops` counts the storage operations made through an instance; the orchestrator's O(N) claims are
tested against it.

Keys are checked before any operation: a key with an empty, `.` or `..` segment, or one that
starts with `/`, is refused, so no key (built from a task message's fields, say) can name an
object outside the root, on a filesystem or in a bucket.
"""
from __future__ import annotations

import collections
import os
import re
import threading
import time
import uuid
from abc import ABC, abstractmethod
from typing import Iterator
from urllib.parse import urlparse


class NotFound(KeyError):
    """The object does not exist."""


class StorageError(RuntimeError):
    """The store refused an operation (permissions, unreachable, not a directory...)."""


class BadKey(StorageError):
    """A key that would name an object outside the storage's root."""


def check_key(key: str, allow_empty: bool = False) -> str:
    if not isinstance(key, str):
        raise BadKey(f"storage key must be a string, got {type(key).__name__}")
    if key == "" and allow_empty:
        return key
    parts = key.split("/")
    if key.startswith("/") or "\\" in key or any(p in ("", ".", "..") for p in parts[:-1]) \
            or parts[-1] in (".", "..") or (parts[-1] == "" and not allow_empty):
        raise BadKey(f"storage key {key!r} would leave its root")
    return key


class Storage(ABC):
    url: str

    def __init__(self, url: str):
        self.url = url if url.endswith("/") else url + "/"
        self.ops: collections.Counter[str] = collections.Counter()

    # -- the interface -------------------------------------------------------------------------
    @abstractmethod
    def _read(self, key: str, start: int | None, end: int | None) -> bytes: ...

    @abstractmethod
    def _write(self, key: str, data: bytes, temporary: bool) -> None: ...

    @abstractmethod
    def _create(self, key: str, data: bytes) -> bool: ...

    @abstractmethod
    def _exists(self, key: str) -> bool: ...

    @abstractmethod
    def _size(self, key: str) -> int: ...

    @abstractmethod
    def _list_page(self, prefix: str, token: str | None, page_size: int
                   ) -> tuple[list[tuple[str, float]], str | None]:
        """One page of (key, modification time in epoch seconds) under prefix, and the next token."""

    @abstractmethod
    def _delete(self, key: str) -> None: ...

    # -- public, counted -----------------------------------------------------------------------
    def read(self, key: str) -> bytes:
        self.ops["read"] += 1
        return self._read(check_key(key), None, None)

    def read_range(self, key: str, start: int, end: int) -> bytes:
        """Bytes [start, end) of the object."""
        self.ops["read"] += 1
        return self._read(check_key(key), start, end)

    def size(self, key: str) -> int:
        """The object's length in bytes (NotFound if it does not exist): what a reader that seeks
        from the end, such as a TIFF parser over ranged reads, needs first."""
        self.ops["stat"] += 1
        return self._size(check_key(key))

    def write(self, key: str, data: bytes, temporary: bool = False) -> None:
        """`temporary`: an intermediate the bucket's lifecycle rule may delete after some days
        (GCS: the object's custom time is set; S3: the tag TEMPORARY_TAG). Nothing else carries
        that mark, so no rule can touch an output (infra/emctl_infra/bucket.py)."""
        self.ops["write"] += 1
        self._write(check_key(key), bytes(data), temporary)

    def create(self, key: str, data: bytes = b"") -> bool:
        """Write only if the object does not exist; True if this call created it."""
        self.ops["create"] += 1
        return self._create(check_key(key), bytes(data))

    def exists(self, key: str) -> bool:
        self.ops["exists"] += 1
        return self._exists(check_key(key))

    def list(self, prefix: str = "", page_size: int = 1000) -> Iterator[str]:
        """Keys under `prefix` (relative to the root), sorted, fetched a page at a time."""
        for key, _ in self.list_times(prefix, page_size):
            yield key

    def list_times(self, prefix: str = "", page_size: int = 1000) -> Iterator[tuple[str, float]]:
        """(key, modification time) under `prefix`, sorted by key, a page at a time."""
        token = None
        while True:
            page, token = self.list_page(prefix, token, page_size)
            yield from page
            if token is None:
                return

    def list_page(self, prefix: str, token: str | None = None, page_size: int = 1000
                  ) -> tuple[list[tuple[str, float]], str | None]:
        """One page of `list_times` and the token of the next (None after the last): for work
        that is split over several invocations, each resuming from the token the last one left."""
        self.ops["list"] += 1
        return self._list_page(check_key(prefix, allow_empty=True), token, page_size)

    def delete(self, key: str) -> None:
        self.ops["delete"] += 1
        self._delete(check_key(key))

    def delete_all(self, keys) -> int:
        """Delete every key (missing ones are fine: deleting is idempotent); returns how many."""
        count = 0
        for key in keys:
            self.delete(key)
            count += 1
        return count

    def child(self, prefix: str) -> "Storage":
        """A storage rooted at `prefix` below this one, sharing nothing but the location."""
        return open_storage(self.url + prefix.strip("/") + "/")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"


class FileStorage(Storage):
    def __init__(self, url: str, path: str):
        super().__init__(url)
        self.root = path

    def _path(self, key: str) -> str:
        return os.path.join(self.root, *key.split("/"))

    def _read(self, key, start, end):
        try:
            with open(self._path(key), "rb") as f:
                if start is None:
                    return f.read()
                f.seek(start)
                return f.read(max(0, end - start))
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            # A directory, or a path through a file, is simply not an object (as in a bucket).
            raise NotFound(self.url + key) from None
        except OSError as e:
            raise StorageError(f"cannot read {self._path(key)}: {e.strerror}") from None

    def _tmp(self, path: str) -> str:
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
        except OSError as e:
            raise StorageError(f"cannot create {os.path.dirname(path)}: {e.strerror}") from None
        return f"{path}.{uuid.uuid4().hex}.tmp"

    def _write(self, key, data, temporary):
        path = self._path(key)
        tmp = self._tmp(path)
        try:
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except OSError as e:
            _unlink_quietly(tmp)
            raise StorageError(f"cannot write {path}: {e.strerror}") from None

    def _create(self, key, data):
        # Write the full content under a unique name, then hard-link it into place: link() fails
        # atomically if the target exists, and a reader never sees a partial object.
        path = self._path(key)
        tmp = self._tmp(path)
        try:
            with open(tmp, "wb") as f:
                f.write(data)
            os.link(tmp, path)
            return True
        except FileExistsError:
            return False
        except OSError as e:
            raise StorageError(f"cannot create {path}: {e.strerror}") from None
        finally:
            _unlink_quietly(tmp)

    def _exists(self, key):
        return os.path.isfile(self._path(key))

    def _size(self, key):
        if not os.path.isfile(self._path(key)):  # a directory is not an object either
            raise NotFound(self.url + key)
        return os.path.getsize(self._path(key))

    def _list_page(self, prefix, token, page_size):
        # Walk from the deepest directory the prefix names; a local tree is listed whole and paged
        # from memory, which keeps the interface's paging contract without a second walker. The
        # token is the last key returned (not an index), so deleting listed keys skips nothing.
        base, _, _ = prefix.rpartition("/")
        top = self._path(base) if base else self.root
        keys = []
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames.sort()
            rel = os.path.relpath(dirpath, self.root).replace(os.sep, "/")
            rel = "" if rel == "." else rel + "/"
            keys.extend(rel + f for f in filenames if not _is_tmp(f) and (rel + f).startswith(prefix))
        keys = sorted(k for k in keys if token is None or k > token)
        page = [(k, self._mtime(k)) for k in keys[:page_size]]
        return [p for p in page if p[1] is not None], (page[-1][0] if len(keys) > page_size else None)

    def _mtime(self, key: str) -> float | None:
        try:
            return os.stat(self._path(key)).st_mtime
        except FileNotFoundError:  # deleted since the walk
            return None
        except OSError:            # a link that leads nowhere is still listed, as a name
            return os.lstat(self._path(key)).st_mtime

    def _delete(self, key):
        path = self._path(key)
        try:
            os.unlink(path)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            pass  # no such object (a directory is not one): deleting is idempotent
        except OSError as e:
            raise StorageError(f"cannot delete {path}: {e.strerror}") from None


# Our own staging files are "<name>.<32 hex>.tmp"; a user key that merely ends in .tmp is listed.
_TMP = re.compile(r".*\.[0-9a-f]{32}\.tmp")


def _is_tmp(name: str) -> bool:
    return _TMP.fullmatch(name) is not None


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


class MemoryStorage(Storage):
    """Process-local storage for tests and simulations; buckets are shared within the process."""

    _buckets: dict[str, dict[str, bytes]] = collections.defaultdict(dict)
    _times: dict[str, dict[str, float]] = collections.defaultdict(dict)
    _lock = threading.Lock()

    def __init__(self, url: str, bucket: str, prefix: str):
        super().__init__(url)
        self.objects = self._buckets[bucket]
        self.times = self._times[bucket]
        self.prefix = prefix

    def _read(self, key, start, end):
        try:
            data = self.objects[self.prefix + key]
        except KeyError:
            raise NotFound(self.url + key) from None
        return data if start is None else data[start:end]

    # Every mutation takes the lock: a listing iterates the dict, and a concurrent insert would
    # make it fail with "dictionary changed size during iteration".
    def _write(self, key, data, temporary):
        with self._lock:
            self.objects[self.prefix + key] = data
            self.times[self.prefix + key] = time.time()

    def _create(self, key, data):
        with self._lock:
            if self.prefix + key in self.objects:
                return False
            self.objects[self.prefix + key] = data
            self.times[self.prefix + key] = time.time()
            return True

    def _exists(self, key):
        return self.prefix + key in self.objects

    def _size(self, key):
        return len(self._read(key, None, None))

    def _list_page(self, prefix, token, page_size):
        full = self.prefix + prefix
        with self._lock:
            keys = sorted(k for k in self.objects if k.startswith(full) and (token is None or k > token))
            page = [(k[len(self.prefix):], self.times.get(k, 0.0)) for k in keys[:page_size]]
        return page, (self.prefix + page[-1][0] if len(keys) > page_size else None)

    def _delete(self, key):
        with self._lock:
            self.objects.pop(self.prefix + key, None)
            self.times.pop(self.prefix + key, None)


def is_local(url: str) -> bool:
    return urlparse(url).scheme in ("", "file")


def local_path(url: str) -> str:
    """The filesystem path of a local URL (bare path or file://)."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return os.path.abspath(parsed.netloc + parsed.path)
    return os.path.abspath(os.path.expanduser(url))


def normalize_url(url: str) -> str:
    """Canonical form: bare paths become file:// URLs; every root ends with '/'."""
    if is_local(url):
        url = "file://" + local_path(url)
    return url if url.endswith("/") else url + "/"


def bucket_url(url: str) -> str:
    """The bucket a cloud URL lies in, as a root URL: gs://b/x/y/ -> gs://b/."""
    scheme, _, bucket = normalize_url(url).split("/", 3)[:3]
    return f"{scheme}//{bucket}/"


def open_storage(url: str) -> Storage:
    url = normalize_url(url)
    parsed = urlparse(url)
    prefix = parsed.path.lstrip("/")
    if parsed.scheme == "file":
        return FileStorage(url, local_path(url))
    if parsed.scheme == "mem":
        return MemoryStorage(url, parsed.netloc, prefix)
    if parsed.scheme == "gs":
        from emcore.storage_cloud import GCSStorage
        return GCSStorage(url, parsed.netloc, prefix)
    if parsed.scheme == "s3":
        from emcore.storage_cloud import S3Storage
        return S3Storage(url, parsed.netloc, prefix)
    raise ValueError(f"unsupported storage URL {url!r}: use a local path, file://, mem://, gs:// or s3://")
