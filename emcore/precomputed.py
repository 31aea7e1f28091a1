"""A Neuroglancer precomputed volume's metadata: one object owns its `info`.

Every reader and writer of an `info` goes through `Precomputed` (cloud-volume's idea of one
metadata object per format): its layer type, data type, channels, its scales (`ScaleMeta`: key,
size, resolution, voxel offset, chunk sizes, encoding, sharding) and the references other
directories hang on it (`mesh`, `skeletons`, `segment_properties`), so no other code indexes or
rewrites the dict by hand. A scale is opened with TensorStore in one way, `volume.open_scale`.
The geometry a new volume should have is computed elsewhere (`volume.py`, `multiscale.py`); this
module only says what an `info` holds. Specification: google/neuroglancer
src/datasource/precomputed/volume.md.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from emcore.storage import NotFound, StorageError, open_storage
from emcore.volume import Scale, open_scale

TYPE = "neuroglancer_multiscale_volume"
# Directories, relative to the volume, that its info may name for Neuroglancer to find.
REFERENCES = ("mesh", "skeletons", "segment_properties")


class InfoError(ValueError):
    """An `info` that is absent, unreadable or not a precomputed volume's; the message names it."""


class MissingInfo(InfoError):
    """No `info` at all: nothing was written there."""


@dataclass(frozen=True)
class ScaleMeta:
    """One entry of `scales`: what a scale is, not how it was chosen (`volume.Scale`)."""
    key: str
    size: tuple[int, int, int]
    resolution: tuple[float, float, float]
    voxel_offset: tuple[int, int, int]
    chunk_sizes: tuple[tuple[int, int, int], ...]
    encoding: str
    sharding: dict | None = None
    extra: tuple[tuple[str, object], ...] = ()   # encoding parameters (jpeg_quality, block size)

    @property
    def chunk(self) -> tuple[int, int, int]:
        """The chunk size data is written in (the first: TensorStore writes with it too)."""
        return self.chunk_sizes[0]

    @classmethod
    def of(cls, scale: Scale, chunk, encoding: str, sharding: dict | None = None,
           jpeg_quality: int | None = None) -> ScaleMeta:
        """The entry for a scale computed by `volume.pyramid_scales`, stored in `chunk`s."""
        extra = {}
        if encoding == "jpeg" and jpeg_quality is not None:
            extra["jpeg_quality"] = jpeg_quality   # read by TensorStore when writing, ignored by viewers
        if encoding == "compressed_segmentation":
            extra["compressed_segmentation_block_size"] = [8, 8, 8]
        return cls(scale.key, tuple(scale.size), tuple(scale.resolution), tuple(scale.voxel_offset),
                   (tuple(chunk),), encoding, sharding, tuple(sorted(extra.items())))

    @classmethod
    def from_json(cls, scale: dict, where: str) -> ScaleMeta:
        try:
            known = {"key", "size", "resolution", "voxel_offset", "chunk_sizes", "encoding", "sharding"}
            return cls(key=str(scale["key"]), size=tuple(int(n) for n in scale["size"]),
                       resolution=tuple(_number(r) for r in scale["resolution"]),
                       voxel_offset=tuple(int(o) for o in scale.get("voxel_offset", (0, 0, 0))),
                       chunk_sizes=tuple(tuple(int(c) for c in cs) for cs in scale["chunk_sizes"]),
                       encoding=str(scale["encoding"]), sharding=scale.get("sharding"),
                       extra=tuple(sorted((k, v) for k, v in scale.items() if k not in known)))
        except (KeyError, TypeError, ValueError) as e:
            raise InfoError(f"{where}: a scale lacks or misstates {e}: {json.dumps(scale)[:200]}") from None

    def to_json(self) -> dict:
        out = {"key": self.key, "size": list(self.size), "resolution": list(self.resolution),
               "voxel_offset": list(self.voxel_offset), "chunk_sizes": [list(c) for c in self.chunk_sizes],
               "encoding": self.encoding, **dict(self.extra)}
        if self.sharding is not None:
            out["sharding"] = self.sharding
        return out


class Precomputed:
    """The `info` of the volume at `url` (a directory URL, ending in /)."""

    def __init__(self, url: str, info: dict):
        self.url = url.rstrip("/") + "/"
        if not isinstance(info, dict) or info.get("@type", TYPE) != TYPE:
            raise InfoError(f"{self.url}info does not describe a precomputed volume")
        self._info = info
        self.scales = [ScaleMeta.from_json(s, f"{self.url}info") for s in info.get("scales") or []]

    @classmethod
    def read(cls, url: str) -> Precomputed:
        url = url.rstrip("/") + "/"
        try:
            raw = open_storage(url).read("info")
        except NotFound:
            raise MissingInfo(f"no precomputed volume at {url} ({url}info does not exist)") from None
        except (StorageError, ValueError) as e:
            raise InfoError(f"cannot read {url}info: {e}") from None
        try:
            info = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise InfoError(f"{url}info is not valid JSON: {e}") from None
        return cls(url, info)

    @classmethod
    def read_if_present(cls, url: str) -> Precomputed | None:
        try:
            return cls.read(url)
        except MissingInfo:
            return None

    @classmethod
    def new(cls, url: str, layer_type: str, data_type: str, scales: list[ScaleMeta], num_channels: int = 1,
            **references: str) -> Precomputed:
        info = {"@type": TYPE, "type": layer_type, "data_type": data_type, "num_channels": num_channels,
                "scales": [s.to_json() for s in scales]}
        made = cls(url, info)
        for kind, path in references.items():
            made = made.with_reference(kind, path)
        return made

    @property
    def layer_type(self) -> str | None:
        return self._info.get("type")

    @property
    def data_type(self) -> str | None:
        return self._info.get("data_type")

    @property
    def num_channels(self) -> int:
        return int(self._info.get("num_channels", 1))

    def get(self, key: str, default=None):
        """A top-level key this module does not model (e.g. a writer's own marker)."""
        return self._info.get(key, default)

    def scale(self, index: int) -> ScaleMeta:
        if not 0 <= index < len(self.scales):
            n = len(self.scales)
            raise InfoError(f"scale {index} does not exist in {self.url}: it has {n} scale{'s' if n != 1 else ''}"
                            + (f" (0 to {n - 1})" if n else ""))
        return self.scales[index]

    def open(self, index: int, read_only: bool = True, complete: bool = False):
        """Scale `index` as a TensorStore array indexed [x, y, z, channel] (volume coordinates)."""
        self.scale(index)
        return open_scale(self.url, index, read_only=read_only, complete=complete)

    def reference(self, kind: str) -> str | None:
        """The directory `kind` (mesh, skeletons, segment_properties) the info names, or None."""
        _check_kind(kind)
        return self._info.get(kind)

    def with_reference(self, kind: str, path: str) -> Precomputed:
        _check_kind(kind)
        return Precomputed(self.url, {**self._info, kind: path})

    def with_extra(self, **keys) -> Precomputed:
        """Top-level keys a writer keeps for itself (Neuroglancer ignores unknown keys)."""
        return Precomputed(self.url, {**self._info, **keys})

    def to_json(self) -> dict:
        return {**self._info, "scales": [s.to_json() for s in self.scales]}

    def to_bytes(self) -> bytes:
        """Deterministic bytes, so concurrent planners writing the same info agree."""
        return (json.dumps(self.to_json(), indent=1, sort_keys=True) + "\n").encode()

    def write(self) -> None:
        open_storage(self.url).write("info", self.to_bytes())

    def __eq__(self, other) -> bool:
        return isinstance(other, Precomputed) and (self.url, self.to_json()) == (other.url, other.to_json())


def _number(value) -> int | float:
    """A number as written (4 stays 4, so an info read and written back keeps its bytes)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{value!r} is not a number")
    return value


def _check_kind(kind: str) -> None:
    if kind not in REFERENCES:
        raise ValueError(f"{kind!r} is not a reference a precomputed info holds: {', '.join(REFERENCES)}")
