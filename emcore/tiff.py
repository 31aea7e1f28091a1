"""TIFF sections: single-page files and multi-page stacks (plain, ImageJ or OME-TIFF, as tifffile
and microscopes write them), read through ranged reads (emcore/rangedfile.py).

A page's IFD says its size, sample type, samples per pixel and compression before any pixel is
decoded, so every check PNG sections get (emcore/images.py) is made on the IFD first, and only
the page a task needs is decoded: tifffile reads that page's IFD (walking the chain to it, or
straight at the offset the render plan found) and its strips or tiles, never other pages' pixels.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import numpy as np

from emcore.stage import TaskError
from emcore.storage import NotFound, Storage

# Lossless codecs whose decoding is tested (tests/test_tiff_sections.py); tifffile's names.
COMPRESSIONS = {"NONE": "none", "LZW": "LZW", "ADOBE_DEFLATE": "deflate", "DEFLATE": "deflate", "ZSTD": "zstd"}
DTYPES = ("uint8", "uint16")


def is_tiff(name: str) -> bool:
    return name.lower().endswith((".tif", ".tiff"))


@contextlib.contextmanager
def open_tiff(store: Storage, key: str) -> Iterator["tifffile.TiffFile"]:  # noqa: F821
    """The object as a tifffile.TiffFile over ranged reads; a TaskError naming it if it is missing
    or not a TIFF."""
    import tifffile
    from emcore.rangedfile import open_ranged
    name = store.url + key
    try:
        handle = open_ranged(store, key)
    except NotFound:
        raise TaskError(f"section {name} does not exist") from None
    with handle:
        try:
            tif = tifffile.TiffFile(handle, name=key)
        except (tifffile.TiffFileError, ValueError, EOFError, OSError) as e:
            raise TaskError(f"section {name} is not a readable TIFF file ({e})") from None
        with tif:
            yield tif


def ifd_offsets(tif) -> list[int]:
    """Where each page's IFD is in the file (walks the IFD chain: headers only, no pixels)."""
    return [found.offset for found in tif.pages]


def checked_page(tif, page: int, where: str, ifd: int | None = None):
    """The TiffPage `page` of `tif`, its IFD checked as a section's header: a TaskError naming
    `where` (the file, and the page in a stack) otherwise. `ifd`: where its IFD is, when known,
    read there instead of walking the chain from the first page (in a compressed stack the IFDs
    lie between the pages' data: page k costs k reads, on a bucket k requests)."""
    import tifffile
    try:
        if ifd is not None:
            tif.filehandle.seek(ifd)
            found = tifffile.TiffPage(tif, index=page)
        else:
            found = tif.pages[page]
    except IndexError:
        raise TaskError(f"section {where} does not exist: the file has {len(tif.pages)} pages "
                        f"(pages count from 0)") from None
    except (tifffile.TiffFileError, ValueError, EOFError) as e:
        raise TaskError(f"section {where} has an unreadable IFD ({e})") from None
    samples = int(found.samplesperpixel)
    photometric = found.photometric.name
    if samples != 1 or photometric not in ("MINISBLACK",):
        kind = {"RGB": "an RGB", "PALETTE": "a palette", "MINISWHITE": "an inverted-grayscale (min-is-white)",
                "YCBCR": "a YCbCr"}.get(photometric, f"a {photometric}")
        raise TaskError(f"section {where} is {kind} TIFF with {samples} sample(s) per pixel: sections must be "
                        "one-channel grayscale, black at 0 (convert it, e.g. "
                        "`magick in.tif -colorspace Gray out.tif`)")
    dtype = np.dtype(found.dtype).name if found.dtype is not None else f"{found.bitspersample}-bit"
    if dtype not in DTYPES:
        raise TaskError(f"section {where} has {dtype} samples; 8- and 16-bit unsigned grayscale are supported")
    compression = found.compression.name
    if compression not in COMPRESSIONS:
        raise TaskError(f"section {where} is compressed with {compression}; supported: "
                        f"{', '.join(sorted(set(COMPRESSIONS.values())))} (lossless codecs only)")
    return found


def decode_page(found, name: str) -> np.ndarray:
    """The page's pixels as a 2-D (rows, columns) array."""
    try:
        image = found.asarray()
    except Exception as e:  # codecs raise their own types (imagecodecs.LzwError, zlib.error, ...)
        raise TaskError(f"section {name} cannot be decoded as an image (corrupt or truncated TIFF: "
                        f"{type(e).__name__})") from None
    return image.reshape(found.shape[-2:])
