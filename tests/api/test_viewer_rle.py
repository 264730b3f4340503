"""The viewer's JavaScript RLE decoder against pycocotools' encoder."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pycocotools.mask as mask_utils
import pytest

HERE = Path(__file__).parent
NODE_FLAGS = ["--disable-warning=MODULE_TYPELESS_PACKAGE_JSON"]


def masks() -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    shapes = []
    empty = np.zeros((5, 7), bool)
    full = np.ones((6, 4), bool)
    noise = rng.random((37, 53)) > 0.5
    big = np.zeros((1080, 1920), bool)  # long runs: multi-chunk counts and negative deltas
    big[100:900, 300:1700] = True
    big[950:1000, 10:20] = True
    ellipse = np.zeros((480, 640), bool)
    yy, xx = np.mgrid[:480, :640]
    ellipse[((yy - 240) / 200) ** 2 + ((xx - 320) / 120) ** 2 < 1] = True
    thin = np.zeros((1, 300), bool)
    thin[0, ::3] = True
    shapes += [empty, full, noise, big, ellipse, thin]
    return shapes


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_js_decoder_matches_pycocotools(tmp_path: Path) -> None:
    arrays = masks()
    encoded = []
    for array in arrays:
        rle = mask_utils.encode(np.asfortranarray(array.astype(np.uint8)))
        encoded.append({"size": [int(s) for s in rle["size"]], "counts": rle["counts"].decode("ascii")})
    # Uncompressed counts (a list of run lengths, as COCO annotations use) are accepted too.
    uncompressed = {"size": [2, 5], "counts": [0, 3, 2, 5]}
    encoded.append(uncompressed)
    column_major = np.array([1, 1, 1, 0, 0, 1, 1, 1, 1, 1], bool)  # 0 zeros, 3 ones, 2 zeros, 5 ones
    arrays.append(column_major.reshape((5, 2)).T)

    path = tmp_path / "masks.json"
    path.write_text(json.dumps(encoded))
    answer = subprocess.run(
        ["node", *NODE_FLAGS, str(HERE / "rle_check.mjs"), str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    decoded = [json.loads(line) for line in answer.stdout.splitlines()]
    assert len(decoded) == len(arrays)
    for array, rle, result in zip(arrays, encoded, decoded, strict=True):
        row_major = np.ascontiguousarray(array.astype(np.uint8))
        assert (result["height"], result["width"]) == array.shape
        assert result["ones"] == int(array.sum())
        assert result["area"] == int(array.sum())
        assert result["sha256"] == hashlib.sha256(row_major.tobytes()).hexdigest(), rle["size"]
        if isinstance(rle["counts"], str):
            assert int(mask_utils.area(rle | {"counts": rle["counts"].encode()})) == result["area"]
