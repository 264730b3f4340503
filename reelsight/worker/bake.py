"""Download a model's pretrained torchvision weights into TORCH_HOME (run at image build time).

``python -m reelsight.worker.bake --model maskrcnn`` leaves the checkpoint where torchvision
looks for it (``$TORCH_HOME/hub/checkpoints/``), then loads it into the model once to prove
the file is whole. A checkpoint already there is reused, so the build works offline when
the cache is pre-seeded.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from reelsight.errors import ModelError
from reelsight.models.registry import get_spec


def checkpoint_path(url: str) -> Path:
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)


def bake(model: str) -> Path:
    """Make sure ``model``'s default pretrained weights are in the cache; returns the file."""
    import torch
    import torchvision

    spec = get_spec(model)
    if spec.framework != "torchvision" or not spec.builder:
        raise ModelError(
            f"model {spec.name!r} is a {spec.framework} model; only torchvision weights are baked here"
        )
    weights = torchvision.models.get_model_weights(spec.builder).DEFAULT
    path = checkpoint_path(weights.url)
    try:
        state: dict[str, Any] = torch.hub.load_state_dict_from_url(
            weights.url, progress=False, check_hash=not path.exists(), map_location="cpu"
        )
    except Exception as exc:  # urllib, SSL, hash and unpickling errors all mean: no usable weights
        raise ModelError(
            f"could not get the pretrained weights of {spec.name} from {weights.url}: {exc}. "
            f"The image build needs access to download.pytorch.org, or a checkpoint already at {path}"
        ) from None
    net = torchvision.models.get_model(
        spec.builder, weights=None, weights_backbone=None, num_classes=len(weights.meta["categories"])
    )
    missing = net.load_state_dict(state, strict=False).missing_keys
    if missing:
        raise ModelError(f"{path} does not fit {spec.builder}: missing {', '.join(missing[:5])}")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--model", required=True, help="registry name, e.g. maskrcnn, fasterrcnn, ssdlite")
    args = parser.parse_args(argv)
    try:
        path = bake(args.model)
    except ModelError as exc:
        print(f"bake: error: {exc}", file=sys.stderr)
        return ModelError.exit_code
    print(f"bake: {args.model} weights ready at {path} ({path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
