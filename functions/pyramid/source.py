"""The pyramid's input when it is a volume that already exists (`stages.pyramid.volume`): what
TensorStore opens (Neuroglancer precomputed, zarr v2 or v3, N5), told apart by the metadata object
it holds, and read as (x, y, z) blocks in volume coordinates, as the rendered tiles are.

Only metadata is read to describe it (one small object and TensorStore's open), so every plan,
task and `emctl plan` can afford to; a task reads only its block's box.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from emcore.precomputed import InfoError, Precomputed
from emcore.stage import TaskError
from emcore.storage import NotFound, StorageError, open_storage
from emcore.volume import context, kvstore_spec, open_scale

# (metadata object, TensorStore driver, the format's name in messages), in the order looked for.
FORMATS = (("info", "neuroglancer_precomputed", "precomputed"), ("zarr.json", "zarr3", "zarr v3"),
           (".zarray", "zarr", "zarr v2"), ("attributes.json", "n5", "N5"))
# How a format's dimensions are usually named, outermost first as TensorStore exposes them: zarr
# arrays follow numpy's (and OME-Zarr's) z, y, x; N5 lists the fastest axis first, x, y, z.
DEFAULT_AXES = {"zarr3": "zyx", "zarr": "zyx", "n5": "xyz"}
IMAGE_TYPES = ("uint8", "uint16", "uint32", "float32")
SEGMENTATION_TYPES = ("uint8", "uint16", "uint32", "uint64")


def _name(url: str) -> str:
    return url.rstrip("/") + "/"


@dataclass(frozen=True)
class ExistingVolume:
    url: str
    driver: str
    axes: str                   # the source's dimensions as x, y, z, in TensorStore's order
    size: tuple[int, int, int]
    data_type: str
    layer_type: str             # image or segmentation
    resolution: tuple[float, ...]
    voxel_offset: tuple[int, int, int]
    # A precomputed volume's coarser scales (index, resolution, size, voxel offset), kept where a
    # pyramid scale is the same.
    coarser: tuple[tuple[int, tuple, tuple, tuple], ...] = ()
    key: str = ""               # a precomputed volume's scale 0 directory

    @classmethod
    def describe(cls, options: dict, resolution, voxel_offset) -> ExistingVolume:
        """The volume `options` (the `volume` section) names. A precomputed volume states its
        resolution, offset and layer type; zarr and N5 take the job's `resolution` and
        `voxel_offset` and the section's `layer_type` (image by default)."""
        url = _name(options["url"])
        driver = _detect(url)
        layer_type = options["layer_type"]
        if driver == "neuroglancer_precomputed":
            try:
                meta = Precomputed.read(url)
            except InfoError as e:
                raise TaskError(f"pyramid.volume: {e}") from None
            if not meta.scales:
                raise TaskError(f"pyramid.volume: {url}info lists no scales")
            if meta.num_channels != 1:
                raise TaskError(f"pyramid.volume: {url}info has {meta.num_channels} channels; a pyramid takes one")
            first = meta.scale(0)
            declared = meta.layer_type
            if layer_type is not None and declared != layer_type:
                raise TaskError(f"pyramid.volume.layer_type: {layer_type!r}, but {url}info says {declared!r}")
            if declared not in ("image", "segmentation"):
                raise TaskError(f"pyramid.volume: {url}info has type {declared!r}; a pyramid takes an image or "
                                "a segmentation")
            coarser = tuple((i, tuple(m.resolution), tuple(m.size), tuple(m.voxel_offset))
                            for i, m in enumerate(meta.scales) if i > 0)
            found = cls(url, driver, "xyz", first.size, meta.data_type, declared, first.resolution,
                        first.voxel_offset, coarser, first.key)
        else:
            named = _zarr3_axes(url) if driver == "zarr3" else None
            axes = options["axes"] or named or DEFAULT_AXES[driver]
            store = _open(url, driver)
            if store.rank != 3:
                raise TaskError(f"pyramid.volume: {url} has {store.rank} dimensions {list(store.shape)}; a "
                                "pyramid takes three (x, y and z)")
            shape = dict(zip(axes, store.shape))
            found = cls(url, driver, axes, tuple(int(shape[a]) for a in "xyz"), str(np.dtype(store.dtype.numpy_dtype)),
                        layer_type or "image", tuple(resolution), tuple(voxel_offset))
        found.check()
        return found

    def stored_problem(self) -> str | None:
        """What only a look at the stored chunks tells (one listing; for the plan, not every task)."""
        if self.driver != "neuroglancer_precomputed" or not self.url.startswith("file://"):
            return None
        # CloudVolume on a local disk gzips each chunk into `<chunk>.gz` (on a bucket it sets the
        # object's Content-Encoding instead); TensorStore looks for `<chunk>` and would read the
        # whole volume as zeros. One listed object tells.
        first = next(iter(open_storage(self.url).list(self.key.rstrip("/") + "/", page_size=1)), None)
        if first is not None and first.endswith(".gz"):
            return (f"pyramid.volume: {self.url}{first} is gzip-compressed into its own file (as CloudVolume "
                    "writes to a local disk with compress=True), which TensorStore does not read: write the "
                    "volume with compress=False, or serve it from a bucket")
        return None

    def check(self) -> None:
        allowed = SEGMENTATION_TYPES if self.layer_type == "segmentation" else IMAGE_TYPES
        if self.data_type not in allowed:
            raise TaskError(f"pyramid.volume: {self.url} holds {self.data_type}; an {self.layer_type} pyramid "
                            f"takes {', '.join(allowed)}")

    def kept(self, scales) -> dict[int, int]:
        """{pyramid scale: this volume's scale} for the `scales` (volume.Scale) it has already:
        same resolution, size and voxel offset."""
        own = {(tuple(float(r) for r in res), size, offset): i for i, res, size, offset in self.coarser}
        out = {}
        for s in scales[1:]:
            found = own.get((tuple(float(r) for r in s.resolution), tuple(s.size), tuple(s.voxel_offset)))
            if found is not None:
                out[s.index] = found
        return out

    def open(self, scale: int = 0):
        """Scale `scale` (a precomputed volume's own index) as a TensorStore array indexed
        [x, y, z] in volume coordinates."""
        if self.driver == "neuroglancer_precomputed":
            return open_scale(self.url, scale, read_only=True)[..., 0]
        store = _open(self.url, self.driver)
        order = [self.axes.index(a) for a in "xyz"]
        return store.transpose(order).translate_to[list(self.voxel_offset)]

    def read(self, store, lo, hi) -> np.ndarray:
        """[lo, hi) of `store` (from `open`) as an (x, y, z) array in Fortran order, as tiles read."""
        return store[tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))].read(order="F").result()


def _detect(url: str) -> str:
    storage = open_storage(url)
    for key, driver, _ in FORMATS:
        try:
            if storage.exists(key):
                return driver
        except StorageError as e:
            raise TaskError(f"pyramid.volume: cannot read {url}: {e}") from None
    looked = ", ".join(f"{key} ({name})" for key, _, name in FORMATS)
    raise TaskError(f"pyramid.volume: no volume at {url}: none of {looked} exists there")


def _open(url: str, driver: str):
    import tensorstore as ts
    try:
        return ts.open({"driver": driver, "kvstore": kvstore_spec(url)}, read=True, open=True,
                       context=context()).result()
    except ValueError as e:
        raise TaskError(f"pyramid.volume: {url} is not a readable {driver} array: {e}") from None


def _zarr3_axes(url: str) -> str | None:
    """A zarr v3 array's `dimension_names`, when they are x, y and z in some order. A group (an
    OME-Zarr image, say) holds arrays but is none: it is refused naming the full-resolution array
    its OME multiscales list, so the user can give that."""
    import json
    try:
        meta = json.loads(open_storage(url).read("zarr.json"))
    except (NotFound, StorageError, ValueError):
        return None   # TensorStore's open then says what is wrong with it
    if meta.get("node_type") == "group":
        multiscales = ((meta.get("attributes") or {}).get("ome") or {}).get("multiscales") or [{}]
        paths = [d.get("path") for d in multiscales[0].get("datasets", []) if isinstance(d, dict)]
        hint = f", e.g. {url}{paths[0]}/ (its full resolution)" if paths else ""
        raise TaskError(f"pyramid.volume: {url} is a zarr group, not an array: name one of its arrays{hint}")
    names = meta.get("dimension_names")
    if isinstance(names, list) and sorted(str(n).lower() for n in names) == ["x", "y", "z"]:
        return "".join(str(n).lower() for n in names)
    return None
