"""emcore/precomputed.py against CloudVolume reading and writing the same `info`: a volume
CloudVolume wrote is described and read the same by the class; a volume the class describes
(the segmentation's sharded scales, a reference added) is what CloudVolume reads back."""
from __future__ import annotations

import json

import numpy as np
import pytest
from cloudvolume import CloudVolume

from emcore.multiscale import Multiscale
from emcore.precomputed import InfoError, MissingInfo, Precomputed

RESOLUTION = [4, 4, 40]
OFFSET = [8, 16, 2]


def _scales_of(cv: CloudVolume) -> list[dict]:
    return [{"key": s["key"], "size": list(s["size"]), "resolution": list(s["resolution"]),
             "voxel_offset": list(s["voxel_offset"]), "chunk_sizes": [list(c) for c in s["chunk_sizes"]],
             "encoding": s["encoding"], "sharding": s.get("sharding")} for s in cv.scales]


def _scales_of_class(volume: Precomputed) -> list[dict]:
    return [{"key": s.key, "size": list(s.size), "resolution": list(s.resolution),
             "voxel_offset": list(s.voxel_offset), "chunk_sizes": [list(c) for c in s.chunk_sizes],
             "encoding": s.encoding, "sharding": s.sharding} for s in volume.scales]


@pytest.fixture
def written(tmp_path):
    """A two-scale uint16 image written by CloudVolume, and its data at each scale."""
    rng = np.random.default_rng(4)
    data = rng.integers(0, 60000, (40, 36, 6), dtype=np.uint16)
    info = CloudVolume.create_new_info(1, "image", "uint16", "raw", RESOLUTION, OFFSET, list(data.shape),
                                       chunk_size=[16, 16, 4])
    url = f"file://{tmp_path}/image"
    cv = CloudVolume(url, info=info, compress=False, progress=False)
    cv.add_scale([2, 2, 1], chunk_size=[8, 8, 4])
    cv.commit_info()
    box = tuple(slice(o, o + n) for o, n in zip(OFFSET, data.shape))
    cv[box] = data[..., None]
    half = data[::2, ::2, :]
    cv1 = CloudVolume(url, mip=1, compress=False, progress=False)
    cv1[tuple(slice(o // f, o // f + n) for o, f, n in zip(OFFSET, (2, 2, 1), half.shape))] = half[..., None]
    return url, data, half


def test_reads_what_cloudvolume_wrote(written):
    url, data, half = written
    cv = CloudVolume(url, progress=False)
    volume = Precomputed.read(url)
    assert (volume.layer_type, volume.data_type, volume.num_channels) == ("image", "uint16", 1)
    assert _scales_of_class(volume) == _scales_of(cv)
    assert volume.to_json() == cv.info      # nothing dropped or rewritten on the way through
    for index, expected in ((0, data), (1, half)):
        scale = volume.scale(index)
        array = volume.open(index)
        lo = scale.voxel_offset
        got = array[tuple(slice(o, o + n) for o, n in zip(lo, expected.shape)) + (0,)].read().result()
        assert np.array_equal(got, expected)


def test_writes_what_cloudvolume_reads(tmp_path):
    """The segmentation's metadata as the cc stage makes it (sharded, compressed_segmentation,
    segment properties named); then a mesh reference added as the mesh stage does."""
    url = f"file://{tmp_path}/segmentation"
    ms = Multiscale([300, 260, 70], RESOLUTION, OFFSET, [32, 32, 16], [128, 128, 64])
    volume = ms.volume(url, "segmentation", "uint32", "compressed_segmentation", segment_properties="props")
    volume.write()
    cv = CloudVolume(url, progress=False)
    assert cv.layer_type == "segmentation" and cv.dtype == np.uint32 and cv.num_channels == 1
    assert _scales_of(cv) == _scales_of_class(volume)
    assert [tuple(s.size) for s in volume.scales] == [tuple(int(n) for n in cv.meta.volume_size(m))
                                                       for m in range(len(cv.scales))]
    assert all(cv.image.is_sharded(m) for m in range(len(cv.scales)))
    labels = np.random.default_rng(5).integers(0, 9, (300, 260, 70), dtype=np.uint32)
    box = tuple(slice(o, o + n) for o, n in zip(OFFSET, labels.shape))
    volume.open(0, read_only=False)[box + (0,)].write(labels).result()
    assert np.array_equal(np.asarray(cv[box])[..., 0], labels)
    assert cv.info["segment_properties"] == "props" and volume.reference("segment_properties") == "props"
    assert volume.reference("mesh") is None

    again = Precomputed.read(url)
    assert again == volume
    again.with_reference("mesh", "mesh").write()
    cv = CloudVolume(url, progress=False)
    assert cv.info["mesh"] == "mesh" and cv.info["segment_properties"] == "props"
    assert _scales_of(cv) == _scales_of_class(volume)   # adding a reference leaves the scales alone


def test_a_bad_info_is_named(tmp_path):
    url = f"file://{tmp_path}/v"
    with pytest.raises(MissingInfo, match=r"no precomputed volume at .*/v/ \(.*/v/info does not exist\)"):
        Precomputed.read(url)
    (tmp_path / "v").mkdir()
    (tmp_path / "v" / "info").write_text("{not json")
    with pytest.raises(InfoError, match=r"/v/info is not valid JSON"):
        Precomputed.read(url)
    (tmp_path / "v" / "info").write_text(json.dumps({"@type": "neuroglancer_multilod_draco"}))
    with pytest.raises(InfoError, match=r"/v/info does not describe a precomputed volume"):
        Precomputed.read(url)
    (tmp_path / "v" / "info").write_text(json.dumps({"type": "image", "data_type": "uint8",
                                                      "scales": [{"key": "a", "size": [4, 4, 4]}]}))
    with pytest.raises(InfoError, match=r"/v/info: a scale lacks or misstates 'resolution'"):
        Precomputed.read(url)
    (tmp_path / "v" / "info").write_text(json.dumps({"type": "image", "data_type": "uint8", "scales": []}))
    with pytest.raises(InfoError, match=r"scale 0 does not exist in .*/v/: it has 0 scales"):
        Precomputed.read(url).scale(0)
    with pytest.raises(ValueError, match=r"'meshes' is not a reference .*: mesh, skeletons, segment_properties"):
        Precomputed.read(url).with_reference("meshes", "m")
