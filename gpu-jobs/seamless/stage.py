"""The seamless stage's waves, between the align solve and render:

  images  one task per section: decode, shrink to `mip`, warp by its affine into the frame grid
  pairs   one task per section z: the pair fields P(z, z-k), k = 1..vote (the GPU wave with onnx)
  vote    one task per grid tile and block of sections: the consensus field of every section

The registry places these waves before the wave its spec names in `before` (align's render), which then
applies each section's affine and field in one resampling (volumes.read_field +
fields.warp_with_field).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from emcore import fields
from emcore import fieldstore as volumes
from emcore.images import job_section, section_ifd, stack_index
from emcore.job import Job
from emcore.stage import Stage, TaskContext, TaskError, Wave
from emcore.storage import Storage
from seamless import flow, vote
from seamless.options import OPTIONS

VOTE_TILE = 128       # grid pixels per vote task side: ~0.5 GB of working arrays at 160 sections, vote 3
Z_BLOCK = 64          # sections a vote task writes ...
Z_MARGIN = 48         # ... solved with this many more either side (vote.PRIOR fades their influence)
DOUBT_FLOOR = 0.25    # grid pixels: the least disagreement that counts as one unit of doubt in the vote


def options(job: Job) -> dict:
    return job.stage("seamless") or OPTIONS.validate({})


@dataclass(frozen=True)
class ImageTask:
    z: int
    matrix: list        # the section's affine, section -> frame


@dataclass(frozen=True)
class PairTask:
    z: int
    w: list[int]        # the sections whose pair fields P(z, w) it estimates ([]: none, NaN written)


@dataclass(frozen=True)
class VoteTask:
    x: list[int]        # grid columns [x0, x1)
    y: list[int]        # grid rows [y0, y1)
    z: list[int]        # sections [z0, z1) it writes


def _meta(store: Storage) -> dict:
    meta = volumes.read_meta(store)
    if meta is None:
        raise TaskError(f"{store.url}{volumes.META_KEY} does not exist: the seamless images wave has not run")
    return meta


class Images(Wave):
    """Each section decoded, shrunk to `mip`, warped by its affine into the frame grid."""
    Task = ImageTask

    def plan(self, job: Job, store: Storage) -> list[ImageTask]:
        opts = options(job)
        frame = volumes.affine_frame(job, store)
        meta = {"version": 1, "mip": opts["mip"], "frame": [frame["width"], frame["height"]],
                "vote": opts["vote"], "estimator": opts["estimator"],
                "units": "scale-0 frame pixels", "convention": "pull: section sampled at A^-1 (f + D(f))",
                "blank": sorted(z for z, s in frame["sections"].items() if s["blank"])}
        volumes.write_meta(store, meta)
        volumes.create(store, job, meta, volumes.IMAGES, "uint8", 1)
        return [ImageTask(z, s["matrix"]) for z, s in sorted(frame["sections"].items())]

    def run(self, ctx: TaskContext, task: ImageTask) -> dict[str, Any]:
        meta = _meta(ctx.store)
        ifds = stack_index(ctx.job, ctx.store)
        image = job_section(ctx.job, ctx.source(), task.z, ifd=section_ifd(ctx.job, ifds, task.z))
        cols, rows = volumes.grid(meta)
        small = shrink_into_frame(image, task.matrix, meta["mip"], (rows, cols))
        volumes.write_slice(volumes.open_volume(ctx.store, volumes.IMAGES), ctx.job, task.z, small)
        return {"z": task.z, "bytes_in": int(image.nbytes)}


class Pairs(Wave):
    """Per section z, the pair fields P(z, z-k), k = 1..vote (the GPU wave with onnx)."""
    Task = PairTask

    def plan(self, job: Job, store: Storage) -> list[PairTask]:
        opts, meta = options(job), _meta(store)
        volumes.create(store, job, meta, volumes.PAIRS, "float32", 2 * opts["vote"])
        blank, first = set(meta["blank"]), job.z_range.start
        # Every section gets a task, even one with no target: its slice is written (NaN), so
        # the volume never holds unwritten chunks that would read as zero fields.
        return [PairTask(z, [] if z in blank else
                         [w for w in range(z - 1, max(first, z - opts["vote"]) - 1, -1) if w not in blank])
                for z in job.z_range]

    def run(self, ctx: TaskContext, task: PairTask) -> dict[str, Any]:
        z, targets = task.z, task.w
        opts, meta = options(ctx.job), _meta(ctx.store)
        s, k_max = 1 << meta["mip"], meta["vote"]
        cols, rows = volumes.grid(meta)
        out = np.full((rows, cols, 2 * k_max), np.nan, np.float32)
        summary: dict[str, Any] = {"z": z, "pairs": []}
        if targets:
            images = volumes.open_volume(ctx.store, volumes.IMAGES)
            source = volumes.read_slice(images, ctx.job, z)[:, :, 0]
            estimator = flow.estimator_for(opts)
            summary["estimator"] = getattr(estimator, "provider", estimator.name)
            for w in targets:
                target = volumes.read_slice(images, ctx.job, w)[:, :, 0]
                field = flow.smooth(estimator(source, target), opts["smoothness"])
                before, after = agreement(source, target, None), agreement(source, target, field)
                field[(source == 0) | (target == 0)] = np.nan     # no data: no vote
                k = z - w
                out[:, :, 2 * (k - 1):2 * k] = field * s
                length = np.hypot(field[..., 0], field[..., 1]) * s
                summary["pairs"].append({"w": w, "ncc_affine": before, "ncc_field": after,
                                         "median_px": round(float(np.nanmedian(length)), 3)
                                         if np.isfinite(length).any() else None})
        volumes.write_slice(volumes.open_volume(ctx.store, volumes.PAIRS), ctx.job, z, out)
        return summary

class Vote(Wave):
    """Per grid tile and block of sections: the consensus field of every section."""
    Task = VoteTask

    def plan(self, job: Job, store: Storage) -> list[VoteTask]:
        meta = _meta(store)
        volumes.create(store, job, meta, volumes.FIELD, "float32", 2)
        cols, rows = volumes.grid(meta)
        first, stop = job.z_range.start, job.z_range.stop
        return [VoteTask([x, min(cols, x + VOTE_TILE)], [y, min(rows, y + VOTE_TILE)], [z, min(stop, z + Z_BLOCK)])
                for z in range(first, stop, Z_BLOCK) for y in range(0, rows, VOTE_TILE)
                for x in range(0, cols, VOTE_TILE)]

    def run(self, ctx: TaskContext, task: VoteTask) -> dict[str, Any]:
        x, y, z = task.x, task.y, task.z
        meta = _meta(ctx.store)
        k_max, s = meta["vote"], 1 << meta["mip"]
        lo = max(ctx.job.z_range.start, z[0] - Z_MARGIN)
        hi = min(ctx.job.z_range.stop, z[1] + Z_MARGIN)
        box = volumes.read_box(volumes.open_volume(ctx.store, volumes.PAIRS), ctx.job, tuple(x), tuple(y), (lo, hi))
        count, rows, cols = box.shape[:3]
        pairs = box.reshape(count, rows * cols, k_max, 2).transpose(0, 2, 1, 3)
        result, kept, doubt = vote.consensus(pairs, np.ones((count, k_max), bool), DOUBT_FLOOR * s)
        core = slice(z[0] - lo, z[1] - lo)
        field = result[core].reshape(z[1] - z[0], rows, cols, 2)
        volumes.write_box(volumes.open_volume(ctx.store, volumes.FIELD), ctx.job, x[0], y[0], z[0], field)
        present = np.isfinite(pairs[core]).all(axis=-1).sum(axis=(1, 2))
        dropped = present - kept[core].sum(axis=(1, 2))
        # Sections that lost many votes in this tile: where a fold or damage is (the marker says).
        worst = {str(z[0] + i): round(float(d / p), 4) for i, (d, p) in enumerate(zip(dropped, present))
                 if p and d / p > 0.01}
        return {"tile": [x, y], "sections": z, "votes": int(present.sum()), "discarded": int(dropped.sum()),
                "doubt_px": round(doubt, 3), "sections_over_1pct_discarded": worst}


class SeamlessStage(Stage):
    name = "seamless"
    _waves = {"images": Images(), "pairs": Pairs(), "vote": Vote()}

    def waves(self, job: Job, store: Storage) -> list[str]:
        return list(self._waves) if job.stage("seamless") is not None else []

    def wave(self, name: str) -> Wave:
        try:
            return self._waves[name]
        except KeyError:
            raise ValueError(f"seamless has no wave {name!r}") from None


def shrink_into_frame(image: np.ndarray, matrix, mip: int, grid_shape: tuple[int, int]) -> np.ndarray:
    """The section as the estimators see it: contrast-normalised to 1..255 (0 marks pixels
    outside the section), shrunk by 2**mip (exact block means), warped by its affine onto the
    frame's mip grid."""
    import cv2
    sample = image[::max(1, image.shape[0] // 512), ::max(1, image.shape[1] // 512)]
    lo, hi = np.percentile(sample, [0.5, 99.5])
    unit = np.clip((image.astype(np.float32) - lo) / max(hi - lo, 1e-6), 0.0, 1.0)
    s = 1 << mip
    if s > 1:
        rows, cols = -(-image.shape[0] // s) * s, -(-image.shape[1] // s) * s
        unit = np.pad(unit, ((0, rows - image.shape[0]), (0, cols - image.shape[1])), mode="edge")
        unit = unit.reshape(rows // s, s, cols // s, s).mean(axis=(1, 3))
    affine, size = fields.mip_affine(matrix, mip), (grid_shape[1], grid_shape[0])
    warp = lambda a: cv2.warpAffine(a, affine, size, flags=cv2.INTER_LINEAR,  # noqa: E731
                                    borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    warped = warp((1.0 + 254.0 * unit).astype(np.float32))
    # At the section's edge interpolation blends the data with the 0 outside: a grid pixel is
    # data when mostly inside, its value divided by how much of it is.
    coverage = warp(np.ones(unit.shape, np.float32))
    value = np.clip(np.rint(warped / np.maximum(coverage, 1e-6)), 1, 255)
    return np.where(coverage >= 0.5, value, 0).astype(np.uint8)


def agreement(source: np.ndarray, target: np.ndarray, field: np.ndarray | None) -> float | None:
    """Normalised cross-correlation of the target with the source (warped by `field`) where both
    have data: how much the field improved the pair, recorded in the task's marker."""
    warped = source if field is None else fields.apply(source, field, border=0)
    both = (warped > 0) & (target > 0)
    if both.sum() < 16:
        return None
    a, b = warped[both].astype(np.float64), target[both].astype(np.float64)
    a, b = a - a.mean(), b - b.mean()
    denominator = np.sqrt((a * a).sum() * (b * b).sum())
    return round(float((a * b).sum() / denominator), 4) if denominator else None


STAGE = SeamlessStage()
