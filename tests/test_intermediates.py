"""Intermediates that go missing are errors, not zeros; and only intermediates carry the mark the
bucket's lifecycle rule deletes by (on fake-gcs-server, with the real client)."""
from __future__ import annotations

import json
import uuid

import numpy as np
import pytest

from emcore import jobroot
from emcore import tiles
from emcore.stage import TaskError
from emcore.storage import open_storage


def rendered(url: str, keep_tiles: bool, sections: int = 3):
    store = open_storage(url)
    jobroot.create_job(store, json.dumps({"stages": {"pyramid": {"keep_tiles": keep_tiles}}}).encode())
    tiles.write_tiles_info(store, [32, 24, sections], "uint8", [8, 8, 8], [0, 0, 0], [16, 16])
    info = tiles.read_tiles_info(store)
    frames = [np.full((24, 32), 10 + z, np.uint8) for z in range(sections)]
    for z, frame in enumerate(frames):
        tiles.write_section(store, info, z, frame)
    return store, info, frames


def test_a_missing_tile_fails_the_read_naming_it_instead_of_reading_black(tmp_path):
    store, info, frames = rendered(str(tmp_path / "job"), keep_tiles=False)
    np.testing.assert_array_equal(tiles.read_block(store, info, [0, 0, 0], [32, 24, 3]),
                                  np.stack(frames).transpose(2, 1, 0))
    lost, _ = next(tiles.section_shards(info, 1))
    store.delete(lost)                                   # as the lifecycle rule would, days later
    with pytest.raises(TaskError, match=r"tiles/c/0/0/1: section 1 of the rendered stack is missing .* run the job again"):
        tiles.read_block(store, info, [0, 0, 0], [32, 24, 3])


@pytest.mark.emulator
@pytest.mark.parametrize("keep", [False, True])
def test_only_temporaries_carry_the_lifecycle_mark(gcs_server, keep):
    from emcore.storage_cloud import _gcs_client
    bucket = f"t{uuid.uuid4().hex[:12]}"
    _gcs_client().create_bucket(bucket)
    store, info, _ = rendered(f"gs://{bucket}/tiles/job/", keep_tiles=keep)   # a dest under a "tiles/" prefix
    store.write("image/info", b"{}")
    marked = {b.name for b in _gcs_client().list_blobs(bucket) if b.custom_time is not None}
    chunks = {f"tiles/job/{key}" for z in range(3) for key, _ in tiles.section_shards(info, z)}
    assert marked == (set() if keep else chunks), "tile chunks only, and only without keep_tiles"
