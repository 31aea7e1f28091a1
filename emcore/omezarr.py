"""An OME-Zarr 0.5 copy of a multiscale volume: Zarr v3 arrays with the sharding codec, one a
scale, under a group whose `ome` attributes describe the pyramid. Specification:
https://ngff.openmicroscopy.org/0.5/ (multiscales) and the Zarr v3 core spec's `sharding_indexed`.

The geometry is the precomputed volume's (`multiscale.Multiscale`): the same scales, inner chunks
of the pyramid's `chunk`, and shards that are the precomputed shards' boxes, so each lies inside
one task's block and no shard is written by two tasks. As with a precomputed `info`, a plan writes
every `zarr.json` (deterministic bytes: planners that repeat it agree) before any task writes
data; tasks open a scale that exists.

OME-Zarr orders axes (t, c,) z, y, x, so arrays are stored z, y, x with x fastest: exactly the
bytes of the pipeline's Fortran-ordered (x, y, z) blocks. `open_scale` returns a transposed view
indexed [x, y, z] in volume coordinates (voxel offset included), so blocks are written unchanged.
"""
from __future__ import annotations

import json

from emcore.multiscale import Multiscale
from emcore.storage import open_storage
from emcore.volume import Scale, context, kvstore_spec

NAME = "image.ome.zarr"      # beside image/; the suffix is how OME-Zarr tools recognise the format
ZARR_JSON = "zarr.json"
VERSION = "0.5"
AXES = "zyx"                 # OME-Zarr's order, and the arrays' dimension names
# zstd's default level inside each inner chunk: lossless, and read by Neuroglancer, TensorStore
# and zarr-python alike (numcodecs).
ZSTD_LEVEL = 3


def _json_bytes(doc: dict) -> bytes:
    return (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode()


def array_metadata(scale: Scale, chunk, shard, data_type: str) -> dict:
    """A scale's `zarr.json` (zarr v3 core): shards of `shard` voxels holding inner chunks of
    `chunk` (both x, y, z), stored z, y, x."""
    zyx = lambda v: [int(n) for n in reversed(v)]  # noqa: E731
    return {
        "zarr_format": 3, "node_type": "array", "shape": zyx(scale.size), "data_type": data_type,
        "fill_value": 0, "dimension_names": list(AXES), "attributes": {},
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": zyx(shard)}},
        "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
        "codecs": [{"name": "sharding_indexed", "configuration": {
            "chunk_shape": zyx(chunk),
            "codecs": [{"name": "bytes", "configuration": {"endian": "little"}},
                       {"name": "zstd", "configuration": {"level": ZSTD_LEVEL, "checksum": False}}],
            "index_codecs": [{"name": "bytes", "configuration": {"endian": "little"}}, {"name": "crc32c"}],
            "index_location": "end"}}],
    }


def group_metadata(scales: list[Scale], name: str) -> dict:
    """The root group's `zarr.json` with the OME 0.5 `multiscales` of `scales` (nanometres).

    OME-Zarr places a voxel's coordinates at its centre, precomputed at its lower corner: voxel v
    of a scale spans [(voxel_offset + v) * resolution, + resolution) in both, so its centre, the
    OME translation of voxel 0, is (voxel_offset + 0.5) * resolution. With it the scales overlay
    each other and the precomputed layer exactly (Neuroglancer subtracts the half voxel back)."""
    axes = [{"name": a, "type": "space", "unit": "nanometer"} for a in AXES]
    datasets = [{"path": str(s.index), "coordinateTransformations": [
        {"type": "scale", "scale": [float(r) for r in reversed(s.resolution)]},
        {"type": "translation",
         "translation": [(o + 0.5) * r for o, r in zip(reversed(s.voxel_offset), reversed(s.resolution))]},
    ]} for s in scales]
    return {"zarr_format": 3, "node_type": "group",
            "attributes": {"ome": {"version": VERSION, "multiscales": [
                {"name": name, "axes": axes, "datasets": datasets}]}}}


def write_metadata(url: str, multiscale: Multiscale, data_type: str, name: str) -> None:
    """Every `zarr.json` of the copy at `url` (a directory URL): the group's and each scale's."""
    store = open_storage(url)
    shards = multiscale.shard_shapes()
    for s in multiscale.scales:
        metadata = array_metadata(s, multiscale.chunk, shards[s.index], data_type)
        store.write(f"{s.index}/{ZARR_JSON}", _json_bytes(metadata))
    # The group last: a reader that finds it finds every scale it names.
    store.write(ZARR_JSON, _json_bytes(group_metadata(multiscale.scales, name)))


def open_scale(url: str, scale: Scale, read_only: bool = False):
    """Scale `scale` of the copy at `url` as a TensorStore array indexed [x, y, z] in volume
    coordinates (its voxel offset included), as `volume.open_scale` opens a precomputed scale."""
    import tensorstore as ts
    spec = {"driver": "zarr3", "kvstore": kvstore_spec(url.rstrip("/") + f"/{scale.index}/"),
            "recheck_cached_metadata": False, "recheck_cached_data": False}
    mode = {"read": True} if read_only else {"read": True, "write": True}
    return ts.open(spec, open=True, context=context(), **mode).result().T.translate_to[tuple(scale.voxel_offset)]
