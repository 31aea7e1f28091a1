"""Reading raw sections: headers (cheap ranged reads) and whole images, with errors that name
the object and say what is wrong with it. PNG here; TIFF files and multi-page TIFF stacks in
emcore/tiff.py, chosen by the name's extension (`read_header`, `read_section`).

A PNG's header says how large the image is before any pixel is decoded, so a section is checked
against MAX_PIXELS first: a few hundred kilobytes of PNG can claim gigabytes of pixels (a
100,000 x 100,000 header is 33 bytes), and nothing that large is ever allocated.

Sections are grayscale. A PNG stored as RGB or with a palette is accepted when every pixel is a
shade of gray (its three channels equal: many tools save gray images that way) and read as that
gray; one with color or transparency is refused, naming the object, rather than mixed into gray.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from emcore.stage import TaskError
from emcore.storage import NotFound, Storage

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# What one task can hold with its copies (decoded, warped): OpenCV's own default limit, 2^30
# pixels (32,768 x 32,768), 1 GiB at 8 bits.
MAX_PIXELS = 2 ** 30
GRAY, RGB, PALETTE = 0, 2, 3
_COLOR_NAMES = {0: "grayscale", 2: "RGB", 3: "palette", 4: "grayscale with alpha", 6: "RGBA"}


@dataclass(frozen=True)
class SectionHeader:
    width: int
    height: int
    dtype: str  # uint8 or uint16
    color: int  # PNG color type


def parse_png_header(head: bytes, name: str) -> SectionHeader:
    """The IHDR fields of a PNG's first 33 bytes, checked: a TaskError naming `name` otherwise."""
    if len(head) < 33 or head[:8] != PNG_SIGNATURE or head[12:16] != b"IHDR":
        raise TaskError(f"section {name} is not a PNG file")
    width, height, depth, color = struct.unpack(">IIBB", head[16:26])
    if color not in (GRAY, RGB, PALETTE):
        raise TaskError(f"section {name} is a {_COLOR_NAMES.get(color, f'color type {color}')} PNG: "
                        "sections must be grayscale (transparency has no meaning in a section)")
    if color != PALETTE and depth not in (8, 16):
        raise TaskError(f"section {name} has {depth}-bit samples; 8- and 16-bit grayscale are supported")
    if width == 0 or height == 0 or width * height > MAX_PIXELS:
        raise TaskError(f"section {name} is {width}x{height} pixels; at most {MAX_PIXELS:,} pixels "
                        f"(e.g. 32768x32768) are supported: split or downsample it first")
    return SectionHeader(width, height, "uint16" if depth == 16 else "uint8", color)


def read_png_header(store: Storage, key: str) -> SectionHeader:
    """Width, height and sample type from the IHDR chunk: 33 bytes, one ranged read."""
    try:
        head = store.read_range(key, 0, 33)
    except NotFound:
        raise TaskError(f"section {store.url}{key} does not exist") from None
    return parse_png_header(head, store.url + key)


def decode_png(data: bytes, name: str) -> np.ndarray:
    """Decode to a 2-D (rows, columns) grayscale array of uint8 or uint16; the header is checked
    before anything is decoded.

    8-bit grayscale, what EM sections are, goes through libspng (pyspng): 20 % less CPU than
    OpenCV's libpng on the benchmark's sections (57 against 71 ms for 2048 x 2048), and decoding
    is most of the render wave. Everything else goes through OpenCV (pyspng 1.1.3 returns 16-bit
    grayscale as two 8-bit channels)."""
    header = parse_png_header(data[:33], name)
    if header.color == GRAY and header.dtype == "uint8":
        import pyspng
        try:
            return pyspng.load(data)
        except (RuntimeError, ValueError):
            raise TaskError(f"section {name} cannot be decoded as an image (corrupt or truncated PNG, "
                            f"{len(data)} bytes)") from None
    import cv2
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise TaskError(f"section {name} cannot be decoded as an image (corrupt or truncated PNG, {len(data)} bytes)")
    if image.ndim == 3:
        if image.shape[2] != 3 or not (np.array_equal(image[..., 0], image[..., 1])
                                       and np.array_equal(image[..., 0], image[..., 2])):
            raise TaskError(f"section {name} is a {_COLOR_NAMES[header.color]} PNG with color: sections must be "
                            "grayscale (convert it, e.g. `magick in.png -colorspace Gray out.png`)")
        image = np.ascontiguousarray(image[..., 0])
    return image


@dataclass(frozen=True)
class Expected:
    """What a section must be to join the stack, checked on its header before it is decoded."""
    dtype: str
    size: tuple[int, int] | None = None   # (width, height), when every section is the stack's size

    def check(self, header: SectionHeader, where: str) -> None:
        if header.dtype != self.dtype:
            raise TaskError(f"section {where} has {header.dtype} samples but the stack is {self.dtype}")
        if self.size is not None and (header.width, header.height) != tuple(self.size):
            raise TaskError(f"section {where} is {header.width}x{header.height} pixels "
                            f"but the stack is {self.size[0]}x{self.size[1]}")


def _where(store: Storage, key: str, page: int | None) -> str:
    return store.url + key + ("" if page is None else f" page {page}")


def read_header(store: Storage, key: str, page: int | None = None) -> SectionHeader:
    """Width, height and sample type of section `key` (page `page` of a multi-page TIFF), from its
    header alone."""
    from emcore import tiff
    if not tiff.is_tiff(key):
        return read_png_header(store, key)
    with tiff.open_tiff(store, key) as tif:
        where = _where(store, key, page)
        return _tiff_header(tiff.checked_page(tif, page or 0, where), where)


def read_section(store: Storage, key: str, page: int | None = None, expect: Expected | None = None,
                 ifd: int | None = None) -> np.ndarray:
    """Section `key` (page `page` of a multi-page TIFF, its IFD at `ifd` when known) as a 2-D
    grayscale array, its header checked (and against `expect`) before it is decoded."""
    from emcore import tiff
    where = _where(store, key, page)
    if tiff.is_tiff(key):
        with tiff.open_tiff(store, key) as tif:
            found = tiff.checked_page(tif, page or 0, where, ifd)
            header = _tiff_header(found, where)
            if expect is not None:
                expect.check(header, where)
            return tiff.decode_page(found, where)
    try:
        data = store.read(key)
    except NotFound:
        raise TaskError(f"section {where} does not exist") from None
    if expect is not None:
        expect.check(parse_png_header(data[:33], where), where)
    return decode_png(data, where)


def job_header(job, source: Storage, z: int) -> SectionHeader:
    """The header of the job's section z (a file of its own, or a page of its stack)."""
    return read_header(source, job.section_name(z), job.section_page(z))


def job_section(job, source: Storage, z: int, expect: Expected | None = None, ifd: int | None = None) -> np.ndarray:
    """The job's section z, decoded (a file of its own, or a page of its stack, its IFD at `ifd`
    when known)."""
    return read_section(source, job.section_name(z), job.section_page(z), expect, ifd)


STACK_INDEX = ".emctl/source/ifds"   # where each page's IFD lies in a multi-page stack: uint64 per page


def index_stack(job, source: Storage, store: Storage) -> int | None:
    """Walk a multi-page stack's IFD chain once and write where each page's IFD lies under the
    job root (STACK_INDEX), so that every later plan and task goes straight to its pages: a chain
    can only be walked from its start, one request per page on a bucket, which is a task's work,
    not a plan's (an orchestrator request must not grow with the stack). The page count, or None
    for a file per section."""
    ifds = stack_ifds(job, source)
    if ifds is None:
        return None
    store.write(STACK_INDEX, np.asarray(ifds, "<u8").tobytes())
    return len(ifds)


def stack_index(job, store: Storage) -> list[int] | None:
    """What index_stack wrote (None for a file per section); a TaskError if it has not run."""
    if job.section_page(job.z_range.stop - 1) is None:
        return None
    try:
        return np.frombuffer(store.read(STACK_INDEX), "<u8").tolist()
    except NotFound:
        raise TaskError(f"{store.url}{STACK_INDEX} does not exist: the align stage's pages wave has not run") from None


def section_ifd(job, ifds: list[int] | None, z: int) -> int | None:
    """Where section z's IFD is, from stack_index's list; None for a file per section."""
    return None if ifds is None else ifds[job.section_page(z)]


def stack_ifds(job, source: Storage) -> list[int] | None:
    """For a job reading a multi-page TIFF stack, where each page's IFD is (one walk of the IFD
    chain, no pixels), after checking that the file has a page for every section the job names:
    a TaskError naming the file and `maxz` otherwise. None for a file per section."""
    from emcore import tiff
    last = job.z_range.stop - 1
    if job.section_page(last) is None:
        return None
    key = job.section_name(last)
    with tiff.open_tiff(source, key) as tif:
        ifds = tiff.ifd_offsets(tif)
    pages = len(ifds)
    if pages <= job.section_page(last):
        raise TaskError(f"maxz: {last} names page {job.section_page(last)} of {source.url}{key}, which has "
                        f"{pages} pages (0 to {pages - 1}): set maxz to at most {pages - 1}")
    return ifds


def _tiff_header(found, where: str) -> SectionHeader:
    header = SectionHeader(int(found.imagewidth), int(found.imagelength), np.dtype(found.dtype).name, GRAY)
    if header.width == 0 or header.height == 0 or header.width * header.height > MAX_PIXELS:
        raise TaskError(f"section {where} is {header.width}x{header.height} pixels; at most {MAX_PIXELS:,} pixels "
                        f"(e.g. 32768x32768) are supported: split or downsample it first")
    return header
