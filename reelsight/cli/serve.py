"""``reelsight serve``: the SageMaker inference container contract (GET /ping, POST /invocations)."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="serve SageMaker's /ping and /invocations over HTTP",
        description=(
            "Load one model and answer SageMaker's container contract: GET /ping, POST /invocations "
            "(body = the video bytes), GET /metrics. Defaults come from REELSIGHT_* environment variables; "
            "a request overrides sampling options with X-Amzn-SageMaker-Custom-Attributes "
            "(fps=2,mode=keyframes)."
        ),
    )
    parser.add_argument("--host", help="address to listen on (default: REELSIGHT_HOST or 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (default: REELSIGHT_PORT or 8080)")
    parser.add_argument("--model-dir", help="model directory (default: REELSIGHT_MODEL_DIR or /opt/ml/model)")
    parser.add_argument(
        "--max-concurrency",
        type=int,
        help="invocations run at once; others wait (default: REELSIGHT_MAX_CONCURRENT_INVOCATIONS or 2)",
    )
    parser.add_argument("--model", help="model name (default: REELSIGHT_MODEL or maskrcnn)")
    parser.add_argument(
        "--weights", help="pretrained | random | a checkpoint path; overrides the model directory"
    )
    parser.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import dataclasses
    import logging
    import os
    from pathlib import Path

    from reelsight import envvars
    from reelsight.contract.options import resolve_run_options
    from reelsight.worker.config import ServeConfig
    from reelsight.worker.server import serve

    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = ServeConfig.from_env(os.environ)
    changes: dict[str, Any] = {}
    if args.host:
        changes["host"] = args.host
    if args.port is not None:
        changes["port"] = args.port
    if args.model_dir:
        changes["model_dir"] = Path(args.model_dir)
    if args.max_concurrency is not None:
        changes["max_concurrency"] = max(1, args.max_concurrency)
    config = dataclasses.replace(config, **changes)

    overrides = {k: v for k, v in (("model", args.model), ("weights", args.weights)) if v}
    # The same resolution as the dispatcher's, so the job record states what runs here.
    defaults = resolve_run_options(os.environ, overrides)
    weights_from_env = bool(args.weights or os.environ.get(envvars.WEIGHTS, "").strip())

    store = None
    if config.artifact_bucket:
        from reelsight.worker.artifacts import ArtifactStore

        store = ArtifactStore(config.artifact_bucket, config.artifact_prefix)
    return serve(config, defaults, weights_from_env=weights_from_env, store=store)
