"""Independent references the tests compare against: plain numpy, written for clarity, not speed."""
from __future__ import annotations

import numpy as np


def mean_downsample(volume: np.ndarray, factor) -> np.ndarray:
    """Mean over factor-sized windows of an (x, y, z) array; windows cut by the edge average the
    voxels they hold; rounded half to even, like numpy.rint."""
    out_shape = [-(-n // f) for n, f in zip(volume.shape, factor)]
    padded_shape = [o * f for o, f in zip(out_shape, factor)]
    sums = np.zeros(padded_shape, np.float64)
    counts = np.zeros(padded_shape, np.float64)
    sel = tuple(slice(0, n) for n in volume.shape)
    sums[sel] = volume
    counts[sel] = 1
    shape = [out_shape[0], factor[0], out_shape[1], factor[1], out_shape[2], factor[2]]
    total = sums.reshape(shape).sum(axis=(1, 3, 5))
    count = counts.reshape(shape).sum(axis=(1, 3, 5))
    return np.rint(total / count).astype(volume.dtype)


def mode_downsample(volume: np.ndarray, factor) -> np.ndarray:
    """The most frequent value of each factor-sized window of an (x, y, z) array, the smallest of
    those tied; windows cut by the edge take what they hold (the padding never counts)."""
    out_shape = [-(-n // f) for n, f in zip(volume.shape, factor)]
    out = np.zeros(out_shape, volume.dtype)
    for index in np.ndindex(*out_shape):
        window = volume[tuple(slice(i * f, (i + 1) * f) for i, f in zip(index, factor))].ravel()
        values, counts = np.unique(window, return_counts=True)   # values ascending
        out[index] = values[np.argmax(counts)]                    # argmax takes the first of a tie
    return out


def compressed_morton(position, grid) -> int:
    """The chunk id of a chunk grid position, by the precomputed spec's definition."""
    bits = [max(0, int(np.ceil(np.log2(g)))) if g > 1 else 0 for g in grid]
    code, out_bit = 0, 0
    for level in range(max(bits)):
        for axis in range(3):
            if level < bits[axis]:
                code |= ((position[axis] >> level) & 1) << out_bit
                out_bit += 1
    return code


def shard_of(chunk_id: int, sharding: dict) -> int:
    hashed = chunk_id >> sharding["preshift_bits"]  # identity hash
    return (hashed >> sharding["minishard_bits"]) & ((1 << sharding["shard_bits"]) - 1)


def mode_downsample(volume: np.ndarray, factor) -> np.ndarray:
    """Most frequent value over factor-sized windows of an (x, y, z) array, ties to the smallest
    value; windows cut by the edge count only the voxels they hold (as Neuroglancer's and
    TensorStore's mode downsampling do)."""
    out_shape = [-(-n // f) for n, f in zip(volume.shape, factor)]
    padded = np.zeros([o * f for o, f in zip(out_shape, factor)], volume.dtype)
    valid = np.zeros(padded.shape, bool)
    sel = tuple(slice(0, n) for n in volume.shape)
    padded[sel] = volume
    valid[sel] = True

    def windows(a):
        shape = [out_shape[0], factor[0], out_shape[1], factor[1], out_shape[2], factor[2]]
        return a.reshape(shape).transpose(0, 2, 4, 1, 3, 5).reshape(-1, int(np.prod(factor)))

    values, present = windows(padded), windows(valid)
    # Sort each window's values, count each value's occurrences among the present voxels (an
    # absent one counts -1, so never wins); argmax takes the first, so the smallest, of the most
    # frequent.
    order = np.argsort(values, axis=-1, kind="stable")
    values = np.take_along_axis(values, order, axis=-1)
    present = np.take_along_axis(present, order, axis=-1)
    counts = ((values[:, :, None] == values[:, None, :]) & present[:, None, :]).sum(axis=-1)
    counts[~present] = -1
    best = np.take_along_axis(values, counts.argmax(axis=-1)[:, None], axis=-1)[:, 0]
    return best.reshape(out_shape)
