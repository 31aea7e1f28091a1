"""TIFF sections beside PNG: files written by tifffile (each compression, 8 and 16 bit, one file per
section and one multi-page file, plain, ImageJ and OME) run through the real local pipeline give
the same pyramid, read back by CloudVolume, as the same pixels given as PNG; a task decodes only
its own page; bad TIFFs are refused naming the file, the page or the field."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
import tifffile
from cloudvolume import CloudVolume

from emcore.images import read_header, read_section
from emcore.job import load_job
from emcore.schema import ConfigError
from emcore.stage import TaskError
from emcore.storage import open_storage
from emtest.inprocess import plan, run
from functions.align.stage import STAGE as ALIGN
from orchestrator import engine
from orchestrator.local import LocalRunner
from tests.stacks import as_xyz, smooth_stack, write_pngs

SECTIONS = 10
COMPRESSIONS = [None, "lzw", "adobe_deflate", "zstd"]
STACK_KINDS = {"plain": {"metadata": None}, "imagej": {"imagej": True}, "ome": {"ome": True}}


def _stack(bits: int) -> np.ndarray:
    return smooth_stack(72, 56, SECTIONS, bits, seed=bits)


def _job(tmp_path, image: str, name: str = "out", **pyramid):
    return load_job({"id": "tif", "source": str(tmp_path / "raw"), "image": image, "maxz": SECTIONS - 1,
                     "dest": str(tmp_path / name), "resolution": [4, 4, 40],
                     "stages": {"pyramid": {"block": [32, 32, 16], "chunk": [16, 16, 8], "raw": True,
                                            "window": [0, 4095], **pyramid}}})


def _run(job):
    store = open_storage(job.dest)
    engine.submit_job(store, job)
    LocalRunner(job, store, workers=0).run()
    return store


def _layers(store) -> dict[str, list[np.ndarray]]:
    """Every scale of image/ and image_raw/, read back by CloudVolume."""
    out = {}
    for layer in ("image", "image_raw"):
        scales = CloudVolume(store.url + layer, progress=False).info["scales"]
        out[layer] = [CloudVolume(store.url + layer, mip=m, progress=False)[:, :, :][..., 0] for m in range(len(scales))]
    return out


@pytest.fixture(scope="module", params=[8, 16])
def png_pyramid(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp(f"png{request.param}")
    stack = _stack(request.param)
    write_pngs(tmp / "raw", stack)
    return request.param, stack, _layers(_run(_job(tmp, "img%05d.png")))


@pytest.mark.parametrize("form", [f"files-{c}" for c in COMPRESSIONS] + [f"stack-{k}" for k in STACK_KINDS])
def test_tiff_pyramid_equals_the_png_pyramid(png_pyramid, form, tmp_path):
    bits, stack, from_png = png_pyramid
    raw = tmp_path / "raw"
    os.makedirs(raw)
    if form.startswith("files-"):
        compression = None if form == "files-None" else form[len("files-"):]
        for z, section in enumerate(stack):
            tifffile.imwrite(raw / f"img{z:05d}.tif", section, compression=compression)
        image = "img%05d.tif"
    else:
        # A multi-page stack, compressed (zstd) so that pages are not at predictable offsets.
        tifffile.imwrite(raw / "stack.tiff", stack, compression="zstd", **STACK_KINDS[form[len("stack-"):]])
        image = "stack.tiff"
    from_tiff = _layers(_run(_job(tmp_path, image)))
    np.testing.assert_array_equal(from_tiff["image_raw"][0], as_xyz(stack))   # the pixels, independently
    for layer in ("image", "image_raw"):
        assert len(from_tiff[layer]) == len(from_png[layer])
        for mip, (got, want) in enumerate(zip(from_tiff[layer], from_png[layer])):
            np.testing.assert_array_equal(got, want, err_msg=f"{layer} scale {mip}")


def test_a_task_reads_only_its_own_page(tmp_path):
    """Uncompressed 512x512 pages (256 KB each): reading the header and pixels of page 7 reads a
    small part of the 16-page file, and returns that page."""
    stack = smooth_stack(512, 512, 16, 8)
    store = open_storage(str(tmp_path))
    tifffile.imwrite(tmp_path / "stack.tif", stack, imagej=True)
    read = []
    original = store._read
    store._read = lambda key, start, end: read.append(end - start if start is not None else None) or original(key, start, end)
    np.testing.assert_array_equal(read_section(store, "stack.tif", 7), stack[7])
    assert None not in read, "the whole file was read"
    assert sum(read) < 2 * stack[0].nbytes, read
    header = read_header(store, "stack.tif", 15)
    assert (header.width, header.height, header.dtype) == (512, 512, "uint8")


def test_a_render_task_goes_straight_to_its_page_in_a_compressed_stack(tmp_path):
    """In a compressed stack the IFDs lie between the pages' data, so finding page k from the
    first costs k reads; the pages wave's one task walks the chain once and stores where each IFD
    lies, the render plan reads that one object (no walk in an orchestrator request) and gives each
    task its page's IFD."""
    pages = 20
    os.makedirs(tmp_path / "raw")
    stack = smooth_stack(512, 512, pages, 8)     # noisy: each page's data is larger than a read
    tifffile.imwrite(tmp_path / "raw" / "stack.tif", stack, compression="zstd", imagej=True)
    job = load_job({"id": "ifd", "source": str(tmp_path / "raw"), "image": "stack.tif", "maxz": pages - 1,
                    "dest": str(tmp_path / "out"), "stages": {"pyramid": {"block": [64, 64, 64], "chunk": [32, 32, 32]}}})
    with tifffile.TiffFile(tmp_path / "raw" / "stack.tif") as tif:
        offsets = [p.offset for p in tif.pages]
    store = open_storage(job.dest)
    assert ALIGN.waves(job, store) == ["pages", "render"]
    (pages_task,) = plan(ALIGN, job, store, "pages")
    assert run(ALIGN, job, store, "pages", 0, pages_task) == {"pages": pages}
    store.ops.clear()
    tasks = plan(ALIGN, job, store, "render")
    assert [t["ifd"] for t in tasks] == offsets
    assert store.ops["read"] <= 2, store.ops
    source = open_storage(job.source)

    def reads(page: int, ifd: int | None) -> int:
        source.ops.clear()
        np.testing.assert_array_equal(read_section(source, "stack.tif", page, ifd=ifd), stack[page])
        return source.ops["read"]
    assert reads(pages - 1, offsets[-1]) == reads(pages // 2, offsets[pages // 2]) < 8, "the last page costs what the middle one does"
    assert reads(pages - 1, None) >= pages, "walked from the first page"


def _write_tiff(path, data, **kw):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tifffile.imwrite(path, data, **kw)


def test_an_rgb_tiff_is_refused_naming_it(tmp_path):
    _write_tiff(tmp_path / "raw" / "img00000.tif", np.zeros((20, 30, 3), np.uint8), photometric="rgb")
    with pytest.raises(TaskError, match=r"raw/img00000.tif is an RGB TIFF with 3 sample\(s\) per pixel"):
        read_header(open_storage(str(tmp_path / "raw")), "img00000.tif")


@pytest.mark.parametrize("data, kw, says", [
    (np.zeros((20, 30), np.float32), {}, "has float32 samples; 8- and 16-bit unsigned"),
    (np.zeros((20, 30), np.uint8), {"compression": "jpeg"}, "is compressed with JPEG; supported: LZW, deflate, none, zstd"),
])
def test_unsupported_tiffs_are_refused_before_decoding(tmp_path, data, kw, says):
    _write_tiff(tmp_path / "s.tif", data, **kw)
    with pytest.raises(TaskError, match=says):
        read_section(open_storage(str(tmp_path)), "s.tif")


def test_a_tiff_claiming_a_huge_image_is_refused_before_decoding(tmp_path):
    """The header says 40000 x 40000 (1.6 GB of pixels; the file is sparse here): refused from
    the IFD, nothing allocated."""
    tifffile.imwrite(tmp_path / "bomb.tif", shape=(40000, 40000), dtype="uint8")
    with pytest.raises(TaskError, match="bomb.tif is 40000x40000 pixels; at most 1,073,741,824"):
        read_section(open_storage(str(tmp_path)), "bomb.tif")


def test_a_file_that_is_not_a_tiff_is_named(tmp_path):
    (tmp_path / "s.tif").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    with pytest.raises(TaskError, match=r"s.tif is not a readable TIFF file"):
        read_section(open_storage(str(tmp_path)), "s.tif")


def test_pages_of_another_size_are_refused_naming_the_page(tmp_path):
    os.makedirs(tmp_path / "raw")
    with tifffile.TiffWriter(tmp_path / "raw" / "stack.tif") as w:
        for z, section in enumerate(_stack(8)):
            w.write(section[:40, :50] if z == 3 else section, compression="lzw")
    job = _job(tmp_path, "stack.tif")
    store = open_storage(job.dest)
    _pages(job, store)
    tasks = plan(ALIGN, job, store, "render")
    run(ALIGN, job, store, "render", 2, tasks[2])
    with pytest.raises(TaskError, match=r"raw/stack.tif page 3 is 50x40 pixels but the stack is 72x56"):
        run(ALIGN, job, store, "render", 3, tasks[3])


def test_a_stack_with_fewer_pages_than_maxz_is_refused_naming_file_and_field(tmp_path):
    _write_tiff(tmp_path / "raw" / "stack.tif", _stack(8)[:6], imagej=True)
    job = _job(tmp_path, "stack.tif")
    with pytest.raises(TaskError, match=r"maxz: 9 names page 9 of .*raw/stack.tif, which has 6 pages \(0 to 5\)"):
        _pages(job, open_storage(job.dest))


def _pages(job, store):
    """The align stage's first wave on a stack: its one task indexes the pages."""
    (task,) = plan(ALIGN, job, store, "pages")
    return run(ALIGN, job, store, "pages", 0, task)


@pytest.mark.parametrize("image, says", [
    ("stack.png", "must contain exactly one integer placeholder"),
    ("img%05d.jpg", r"must name PNG \(.png\) or TIFF"),
])
def test_section_patterns_are_checked(tmp_path, image, says):
    with pytest.raises(ConfigError, match=says):
        _job(tmp_path, image)


@pytest.fixture(params=[pytest.param("gs", marks=pytest.mark.emulator), pytest.param("s3", marks=pytest.mark.emulator)])
def bucket(request):
    """A fresh bucket on fake-gcs-server or moto: sections read through the clients' ranged reads."""
    import uuid
    name = f"t{uuid.uuid4().hex[:16]}"
    if request.param == "gs":
        request.getfixturevalue("gcs_server")
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage
        storage.Client(project="test", credentials=AnonymousCredentials()).create_bucket(name)
    else:
        request.getfixturevalue("s3_server")
        import boto3
        boto3.client("s3").create_bucket(Bucket=name)
    return open_storage(f"{request.param}://{name}/raw/")


def test_pages_of_a_stack_in_a_bucket_read_through_ranged_requests(bucket, tmp_path):
    stack = smooth_stack(256, 192, 6, 16)
    tifffile.imwrite(tmp_path / "stack.tif", stack, compression="zstd", ome=True)
    bucket.write("stack.tif", (tmp_path / "stack.tif").read_bytes())
    with tifffile.TiffFile(tmp_path / "stack.tif") as tif:
        offsets = [p.offset for p in tif.pages]
    for z in (0, 3, 5):
        np.testing.assert_array_equal(read_section(bucket, "stack.tif", z), stack[z])
        np.testing.assert_array_equal(read_section(bucket, "stack.tif", z, ifd=offsets[z]), stack[z])
    with pytest.raises(TaskError, match=r"stack.tif page 6 does not exist: the file has 6 pages"):
        read_section(bucket, "stack.tif", 6)
    with pytest.raises(TaskError, match=r"raw/missing.tif does not exist"):
        read_header(bucket, "missing.tif")


def test_an_aligned_tiff_stack_gives_the_alignment_and_pyramid_of_its_pngs(tmp_path):
    """The align waves read a stack's pages as they read PNG files: the same transforms, the same
    rendered pyramid."""
    import cv2
    from orchestrator.samplestack import write_stack
    sections = 6
    write_stack(str(tmp_path / "raw"), 256, sections, seed=4, misalign=True)
    pages = np.stack([cv2.imread(str(tmp_path / "raw" / f"img{z:05d}.png"), cv2.IMREAD_UNCHANGED)
                      for z in range(sections)])
    tifffile.imwrite(tmp_path / "raw" / "stack.tif", pages, compression="lzw", imagej=True)
    outputs = {}
    for image in ("img%05d.png", "stack.tif"):
        job = load_job({"id": "aligned", "source": str(tmp_path / "raw"), "image": image, "maxz": sections - 1,
                        "dest": str(tmp_path / image.replace("%", "")), "stages": {
                            "align": {}, "pyramid": {"block": [128, 128, 16], "chunk": [64, 64, 8], "raw": True}}})
        store = _run(job)
        transforms = json.loads(store.read("align/transforms.json"))
        outputs[image] = ([s["matrix"] for s in transforms["sections"]], _layers(store)["image_raw"])
    (png_matrices, png_scales), (tif_matrices, tif_scales) = outputs.values()
    assert tif_matrices == png_matrices
    for got, want in zip(tif_scales, png_scales, strict=True):
        np.testing.assert_array_equal(got, want)
