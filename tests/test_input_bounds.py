"""Bad input is refused before anything is allocated for it, with a message naming the object or
the field: PNG headers claiming huge images, color PNGs, image patterns with huge field widths,
stacks and waves beyond any real one."""
from __future__ import annotations

import struct
import time
import tracemalloc
import zlib

import cv2
import numpy as np
import pytest

from emcore import images
from emcore.images import decode_png, read_section
from emcore.job import load_job
from emcore.multiscale import Multiscale
from emcore.schema import ConfigError
from emcore.stage import TaskError
from emcore.storage import open_storage


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_claiming(width: int, height: int) -> bytes:
    """A small, well-formed PNG whose header claims width x height pixels (a decompression bomb's
    front: its data would inflate to the claimed size)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (images.PNG_SIGNATURE + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(b"\0" * 65536, 9))
            + _chunk(b"IEND", b""))


def palette_png(indices: np.ndarray, palette: list[tuple[int, int, int]]) -> bytes:
    """An 8-bit palette PNG (color type 3), written by hand: no encoder at hand writes one."""
    height, width = indices.shape
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0)
    rows = b"".join(b"\0" + row.astype(np.uint8).tobytes() for row in indices)   # filter 0 per row
    return (images.PNG_SIGNATURE + _chunk(b"IHDR", ihdr) + _chunk(b"PLTE", bytes(v for rgb in palette for v in rgb))
            + _chunk(b"IDAT", zlib.compress(rows)) + _chunk(b"IEND", b""))


def test_a_100000_by_100000_header_is_refused_before_any_decoding(monkeypatch):
    store = open_storage("mem://bounds/")
    store.write("bomb.png", png_claiming(100_000, 100_000))

    def never(*args):
        raise AssertionError("the image was handed to the decoder")
    monkeypatch.setattr(cv2, "imdecode", never)
    tracemalloc.start()
    started = time.perf_counter()
    with pytest.raises(TaskError, match=r"mem://bounds/bomb.png is 100000x100000 pixels; at most 1,073,741,824"):
        read_section(store, "bomb.png")
    seconds = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"\n100,000 x 100,000 PNG header refused in {seconds * 1e3:.2f} ms, peak {peak / 1e3:.0f} kB allocated")
    assert peak < 1_000_000, "nothing near the image's size was allocated"
    assert seconds < 1.0
    with pytest.raises(TaskError, match="100000x100000 pixels"):
        images.read_png_header(store, "bomb.png")


def test_gray_stored_as_rgb_or_palette_reads_as_gray_and_color_is_refused():
    gray = (np.arange(48 * 64) % 251).astype(np.uint8).reshape(48, 64)
    as_rgb = cv2.imencode(".png", np.dstack([gray] * 3))[1].tobytes()
    np.testing.assert_array_equal(decode_png(as_rgb, "rgb.png"), gray)
    colored = np.dstack([gray, gray, 255 - gray])
    with pytest.raises(TaskError, match=r"colored.png is a RGB PNG with color: sections must be grayscale"):
        decode_png(cv2.imencode(".png", colored)[1].tobytes(), "colored.png")
    with pytest.raises(TaskError, match="rgba.png is a RGBA PNG"):
        decode_png(cv2.imencode(".png", np.dstack([gray] * 4))[1].tobytes(), "rgba.png")
    grays = [(0, 0, 0), (80, 80, 80), (160, 160, 160), (240, 240, 240)]
    np.testing.assert_array_equal(decode_png(palette_png(gray % 4, grays), "palette.png"), (gray % 4) * 80)
    with pytest.raises(TaskError, match="colors.png is a palette PNG with color"):
        decode_png(palette_png(gray % 4, grays[:3] + [(255, 0, 0)]), "colors.png")


def test_an_image_pattern_with_a_huge_field_width_is_refused_without_formatting_it():
    tracemalloc.start()
    with pytest.raises(ConfigError, match="image: field width 999999999 is too wide"):
        load_job({"id": "p", "source": "/tmp/s", "dest": "/tmp/d", "maxz": 3, "image": "img%0999999999d.png",
                  "stages": {"pyramid": {}}})
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 1_000_000


@pytest.mark.parametrize("fields, message", [
    ({"maxz": 10 ** 12}, "maxz: must be at most 1000000000"),
    ({"maxz": 400_000}, "maxz: spans 400,001 sections from minz 0; a job takes at most 250,000"),
    ({"image": "../../secret%d.png"}, "image: must name a file below `source`"),
    ({"image": "a%d_%d.png"}, "image: must contain exactly one integer placeholder"),
])
def test_stacks_beyond_any_real_one_are_refused_naming_the_field(fields, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_job({"id": "p", "source": "/tmp/s", "dest": "/tmp/d", "maxz": 3, "stages": {"pyramid": {}}, **fields})


def test_a_wave_of_millions_of_tasks_is_refused_before_it_is_listed():
    ms = Multiscale([65536, 65536, 100_000], [8, 8, 8], [0, 0, 0], [1, 1, 1], [2, 2, 2])
    tracemalloc.start()
    with pytest.raises(TaskError, match=r"block: \[2, 2, 2\] cuts a \[65536, 65536, 100000\] volume into "
                                        r"53,687,091,200,000 tasks"):
        ms.wave_blocks(0)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 1_000_000
