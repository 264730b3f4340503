"""Which MXNet predictor a model name means."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reelsight.errors import ModelError
from reelsight.models.registry import REGISTRY, ModelSpec, get_spec
from reelsight.mx import BUILTIN_SSD


def spec_for(name: str) -> ModelSpec:
    """The registry spec of an MXNet model, or a spec for any other GluonCV segmentation zoo name."""
    key = name.strip()
    try:
        spec = get_spec(key)
    except ModelError:
        spec = None
    if spec is not None:
        if spec.framework != "mxnet":
            mx_names = ", ".join(n for n, s in REGISTRY.items() if s.framework == "mxnet")
            raise ModelError(
                f"model {name!r} is a {spec.framework} model; the MXNet backend runs {mx_names} "
                "or any GluonCV segmentation model-zoo name"
            )
        return spec
    return ModelSpec(
        name=key,
        task="semantic_segmentation",
        classes=(),
        input_size=(1024, 512),
        framework="mxnet",
        description=f"GluonCV model zoo: {key}",
    )


def load_mx_predictor(
    name: str,
    *,
    weights: str = "pretrained",
    device: str = "auto",
    score_threshold: float = 0.5,
    batch_size: int = 1,
    labels: str | Path | None = None,
    seed: int = 0,
) -> Any:
    """The predictor for ``name``; ``s3://`` weights are downloaded first."""
    from reelsight.mx.artifacts import local_weights

    spec = spec_for(name)
    with local_weights(weights) as local:
        predictor = _load(spec, local, device, score_threshold, batch_size, labels, seed)
    predictor.weights_info["weights"] = weights
    return predictor


def _load(
    spec: ModelSpec,
    weights: str,
    device: str,
    score_threshold: float,
    batch_size: int,
    labels: str | Path | None,
    seed: int,
) -> Any:
    if spec.name == BUILTIN_SSD:
        from reelsight.mx.builtin_ssd import load_builtin_ssd

        return load_builtin_ssd(
            spec,
            weights=weights,
            labels=labels,
            device=device,
            score_threshold=score_threshold,
            batch_size=batch_size,
        )
    if spec.task != "semantic_segmentation":
        raise ModelError(f"the MXNet backend cannot run {spec.task} model {spec.name!r}")
    from reelsight.mx.segmentation import load_segmenter

    return load_segmenter(spec, weights=weights, device=device, seed=seed)
