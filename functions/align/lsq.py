"""The linear algebra of the global solve: sparse normal equations over all sections at once.

Parameters per section z, in its coordinates scaled to [-1, 1] about its centre (u = (p - c)/s,
so a linear-part error is the displacement it causes at the section's edge, in pixels):
frame position = L_u u + t, with L_u = [[a, b], [c, d]] and t = (tx, ty); unknowns ordered
(a, b, tx, c, d, ty) per section.

    data     sum_pairs omega * sum_i |A_z p_i - A_w q_i|^2
    rigid    sum_z lambda_z * ( |non-conformal part of L_u|^2 + 2 (scale - s)^2 )
    gauge    mean section transform = identity, exactly

The rigid term is written so that it stays linear and never resists a rotation: the
non-conformal part ((a - d)/2, (b + c)/2: anisotropic scale and shear) is linear in L_u, and the
scale is measured along the section's rotation from the previous iteration (only the radial
component of the conformal part), so a rotation is free and the iteration converges in a couple of
steps whatever lambda is.

The gauge is a hard constraint (Lagrange multipliers via the Schur complement, six rows): only a
hard constraint holds the stack's scale, because with noise in both sections' points
|A_z p - A_w q|^2 is smallest for a shrunken stack and a soft prior would give in.
"""
from __future__ import annotations

import numpy as np

GAUGE = 1e-9          # tiny prior on translations: keeps the matrix non-singular, decides nothing
ITERATIONS = 5        # at most; stops when rotations move less than THETA_TOL
THETA_TOL = 1e-7


class Frame:
    """Per-section normalisation and conversion back to pixel matrices."""

    def __init__(self, shapes: dict[int, tuple[int, int]]):
        self.zs = sorted(shapes)
        self.index = {z: j for j, z in enumerate(self.zs)}
        self.centre = np.array([[(shapes[z][1] - 1) / 2, (shapes[z][0] - 1) / 2] for z in self.zs])
        self.scale = np.array([max(shapes[z]) / 2 for z in self.zs], np.float64)

    def norm(self, z: int, p: np.ndarray) -> np.ndarray:
        j = self.index[z]
        return (p - self.centre[j]) / self.scale[j]

    def matrices(self, x: np.ndarray) -> dict[int, np.ndarray]:
        out = {}
        for j, z in enumerate(self.zs):
            a, b, tx, c, d, ty = x[6 * j:6 * j + 6]
            lin = np.array([[a, b], [c, d]]) / self.scale[j]
            t = np.array([tx, ty]) - lin @ self.centre[j]
            out[z] = np.hstack([lin, t[:, None]])
        return out


def data_terms(frame: Frame, pairs) -> tuple[list, np.ndarray]:
    """COO pieces of the data part of the normal matrix (6n x 6n), and each section's stiffness
    (sum of omega |u|^2 / 2 over its correspondences), which scales its rigid term."""
    rows, cols, vals = [], [], []
    stiffness = np.zeros(len(frame.zs))
    for p in pairs:
        u, v = frame.norm(p.z, p.src), frame.norm(p.w, p.dst)
        r = np.column_stack([u, np.ones(len(u)), -v, -np.ones(len(v))])    # (n, 6)
        block = p.omega * (r.T @ r)
        jz, jw = frame.index[p.z], frame.index[p.w]
        for offset in (0, 3):            # x rows on (a, b, tx), y rows on (c, d, ty): same block
            idx = np.r_[6 * jz + offset:6 * jz + offset + 3, 6 * jw + offset:6 * jw + offset + 3]
            rows.append(np.repeat(idx, 6))
            cols.append(np.tile(idx, 6))
            vals.append(block.ravel())
        stiffness[jz] += p.omega * np.sum(u ** 2) / 2
        stiffness[jw] += p.omega * np.sum(v ** 2) / 2
    return [rows, cols, vals], stiffness


def _rigid_terms(lam: np.ndarray, scale: np.ndarray, theta: np.ndarray):
    """COO pieces and right-hand side of the rigid term for every section."""
    n = len(lam)
    rows, cols, vals = [], [], []
    rhs = np.zeros(6 * n)
    c, s = np.cos(theta), np.sin(theta)
    # (weight, coefficient vector over (a, b, tx, c, d, ty), target) per section
    terms = [
        (lam / 2, [np.ones(n), 0, 0, 0, -np.ones(n), 0], 0.0),             # a - d
        (lam / 2, [0, np.ones(n), 0, np.ones(n), 0, 0], 0.0),              # b + c
        (2 * lam, [c / 2, -s / 2, 0, s / 2, c / 2, 0], scale),             # radial scale - s
    ]
    for weight, coeffs, target in terms:
        g = np.zeros((n, 6))
        for k, v in enumerate(coeffs):
            g[:, k] = v
        outer = weight[:, None, None] * g[:, :, None] * g[:, None, :]      # (n, 6, 6)
        base = 6 * np.arange(n)
        rows.append(np.repeat(base[:, None] + np.arange(6), 6, axis=1).ravel())
        cols.append(np.tile(base[:, None] + np.arange(6), (1, 6)).ravel())
        vals.append(outer.reshape(n, 36).ravel())
        rhs += (weight[:, None] * g * np.broadcast_to(target, (n,))[:, None]).ravel()
    return rows, cols, vals, rhs


def _gauge_rows(frame: Frame, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The six gauge constraints C x = d: the mean section has no anisotropy, no shear, scale 1
    and no rotation beyond the sections' current ones (`theta`, which start at 0), and the mean
    centre stays in place. Scale and rotation are measured along each section's own rotation, so
    that sections rotated differently can all be rigid (a mean of rotation matrices is not one)."""
    n = len(frame.zs)
    inv = 1 / frame.scale
    c, s = np.cos(theta), np.sin(theta)
    cons = np.zeros((6, 6 * n))
    cons[0, 0::6], cons[0, 4::6] = inv / 2, -inv / 2                   # (a - d) / 2
    cons[1, 1::6], cons[1, 3::6] = inv / 2, inv / 2                    # (b + c) / 2
    cons[2, 0::6], cons[2, 1::6], cons[2, 3::6], cons[2, 4::6] = c * inv / 2, -s * inv / 2, s * inv / 2, c * inv / 2
    cons[3, 0::6], cons[3, 1::6], cons[3, 3::6], cons[3, 4::6] = -s * inv / 2, -c * inv / 2, c * inv / 2, -s * inv / 2
    cons[4, 2::6] = 1
    cons[5, 5::6] = 1
    d = np.array([0.0, 0.0, n, 0.0, frame.centre[:, 0].sum(), frame.centre[:, 1].sum()])
    return cons, d


def solve_affine(frame: Frame, pairs, rho: np.ndarray, prior: float | None = None, place: float | None = None
                 ) -> dict[int, np.ndarray]:
    """One affine per section; `rho` (per section) is the rigid term's strength relative to the
    section's data stiffness. `prior`, in px at the section's edge, adds an absolute term: a
    section's shape is a priori within `prior` px of rigid, as one correspondence of 1 px
    deviation would say (it matters where the data are vague, as between real sections, and
    not where they are crisp). `place`, in px, pulls every section towards where it was imaged
    (the identity), as one correspondence `place` px off would: see solve.PLACE."""
    import scipy.sparse as sp
    from scipy.sparse.linalg import splu
    n = len(frame.zs)
    (drows, dcols, dvals), stiffness = data_terms(frame, pairs)
    stiffness = np.where(stiffness > 0, stiffness, 1.0)
    lam = rho * stiffness + (0.0 if prior is None else 1.0 / prior ** 2)
    spring = GAUGE * stiffness + (0.0 if place is None else 1.0 / place ** 2)
    gauge = np.repeat(spring, 6)
    target = np.column_stack([frame.scale, 0 * frame.scale, frame.centre[:, 0],
                              0 * frame.scale, frame.scale, frame.centre[:, 1]]).ravel()
    rhs_gauge = gauge * target
    theta = np.zeros(n)
    x = None
    for _ in range(ITERATIONS):
        rrows, rcols, rvals, rhs = _rigid_terms(lam, frame.scale, theta)
        mat = sp.coo_matrix((np.concatenate(dvals + rvals), (np.concatenate(drows + rrows), np.concatenate(dcols + rcols))),
                            shape=(6 * n, 6 * n))
        lu = splu((mat.tocsc() + sp.diags(gauge)).tocsc())
        cons, d = _gauge_rows(frame, theta)
        inv_ct = np.column_stack([lu.solve(row) for row in cons])          # N^-1 C^T
        y = lu.solve(rhs + rhs_gauge)
        x = y - inv_ct @ np.linalg.solve(cons @ inv_ct, cons @ y - d)
        new = np.arctan2(x[3::6] - x[1::6], x[0::6] + x[4::6])
        done = np.abs(new - theta).max() < THETA_TOL
        theta = new
        if done:
            break
    return frame.matrices(x)


def solve_translations(frame: Frame, pairs, linear: dict[int, np.ndarray], place: float | None = None
                       ) -> dict[int, np.ndarray]:
    """Translations only, the linear parts (pixel units) fixed: the rigid and translation models.
    Gauge: the mean section centre stays in place."""
    import scipy.sparse as sp
    from scipy.sparse.linalg import splu
    n = len(frame.zs)
    rows, cols, vals = [], [], []
    b = np.zeros((n, 2))
    stiffness = np.zeros(n)
    for p in pairs:
        weight = p.omega * len(p.src)
        jz, jw = frame.index[p.z], frame.index[p.w]
        # t_z - t_w = mean(L_w q - L_z p) over the pair's points.
        gap = np.mean(p.dst @ linear[p.w].T - p.src @ linear[p.z].T, axis=0)
        rows += [jz, jz, jw, jw]
        cols += [jz, jw, jz, jw]
        vals += [weight, -weight, -weight, weight]
        b[jz] += weight * gap
        b[jw] -= weight * gap
        stiffness[[jz, jw]] += weight
    stiffness = np.where(stiffness > 0, stiffness, 1.0)
    gauge = GAUGE * stiffness + (0.0 if place is None else 1.0 / place ** 2)
    target = np.array([frame.centre[j] - linear[z] @ frame.centre[j] for j, z in enumerate(frame.zs)])
    lu = splu((sp.coo_matrix((vals, (rows, cols)), shape=(n, n)).tocsc() + sp.diags(gauge)).tocsc())
    ones = np.ones(n)
    inv_ct = lu.solve(ones)
    out = {}
    t = np.zeros((n, 2))
    for k in range(2):
        y = lu.solve(b[:, k] + gauge * target[:, k])
        t[:, k] = y - inv_ct * (ones @ y - target[:, k].sum()) / (ones @ inv_ct)
    for j, z in enumerate(frame.zs):
        out[z] = np.hstack([linear[z], t[j][:, None]])
    return out
