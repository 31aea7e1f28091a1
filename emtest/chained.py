"""The plain chained OpenCV script a lab would write, as the reference emctl is measured against:
SIFT on every section (OpenCV's defaults), brute-force matching with Lowe's ratio test (0.75),
cv2.estimateAffine2D with RANSAC (its default 3 px threshold) between each section and the next,
and the pairs' models composed down the stack (section 0 is the frame). A pair with no model
leaves the identity in the chain, as such scripts do."""
from __future__ import annotations

import numpy as np

RATIO = 0.75


def chained_matrices(images: list[np.ndarray]) -> list[np.ndarray]:
    """Section px -> frame px for every section."""
    import cv2
    sift = cv2.SIFT_create()
    matcher = cv2.BFMatcher()
    features = [sift.detectAndCompute(_8bit(im), None) for im in images]
    current = np.array([[1.0, 0, 0], [0, 1.0, 0]])
    out = [current.copy()]
    for z in range(1, len(images)):
        (ka, da), (kb, db) = features[z - 1], features[z]
        model = None
        if da is not None and db is not None and len(ka) >= 2 and len(kb) >= 2:
            good = [m for m, n in matcher.knnMatch(da, db, k=2) if m.distance < RATIO * n.distance]
            if len(good) >= 3:
                src = np.float32([ka[m.queryIdx].pt for m in good])
                dst = np.float32([kb[m.trainIdx].pt for m in good])
                model, _ = cv2.estimateAffine2D(src, dst, method=cv2.RANSAC)
        if model is not None:
            # frame <- z-1 <- z: A_z = A_{z-1} M^-1
            inv = cv2.invertAffineTransform(model)
            current = np.hstack([current[:, :2] @ inv[:, :2], (current[:, :2] @ inv[:, 2] + current[:, 2])[:, None]])
        out.append(current.copy())
    return out


def chained_opencv(images: list[np.ndarray]):
    """Score placements (emtest.align_score) of the chained script's result."""
    from emtest.align_score import affine_placement
    return {z: affine_placement(m) for z, m in enumerate(chained_matrices(images))}


def _8bit(image: np.ndarray) -> np.ndarray:
    if image.dtype == np.uint8:
        return image
    lo, hi = np.percentile(image, (0.5, 99.5))
    return np.clip((image.astype(np.float32) - lo) * 255 / max(hi - lo, 1), 0, 255).astype(np.uint8)
