"""One stored object as a read-only, seekable binary file, read through ranged reads: what a
parser that seeks (tifffile reading one page of a multi-page stack) needs, without downloading
the whole object. Buffered, so a parser's many small reads of one header cost one request."""
from __future__ import annotations

import io

from emcore.storage import Storage

# Large enough that a TIFF's IFD and its tag values arrive in one request, small enough that
# reading a page's header does not fetch much of its pixels.
BUFFER = 64 * 1024


class _RangedRaw(io.RawIOBase):
    def __init__(self, store: Storage, key: str):
        self.store, self.key = store, key
        self.length = store.size(key)
        self.position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.length}[whence]
        self.position = max(0, base + offset)
        return self.position

    def readinto(self, buffer) -> int:
        end = min(self.length, self.position + len(buffer))
        if end <= self.position:
            return 0
        data = self.store.read_range(self.key, self.position, end)
        buffer[:len(data)] = data
        self.position += len(data)
        return len(data)


def open_ranged(store: Storage, key: str) -> io.BufferedReader:
    """The object `key` of `store` as a buffered binary file; NotFound if it does not exist."""
    return io.BufferedReader(_RangedRaw(store, key), BUFFER)
