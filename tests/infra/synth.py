"""Synthesizes the CDK app in-process with the context from cdk.json, as `cdk synth` would."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION", "1")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "1")


@dataclass
class Synthesized:
    outdir: Path
    templates: dict[str, dict[str, Any]]  # stack name -> template JSON

    def resources(self, stack: str, type_: str | None = None) -> dict[str, dict[str, Any]]:
        items = self.templates[stack]["Resources"].items()
        return {k: v for k, v in items if type_ is None or v["Type"] == type_}


def cdk_json_context() -> dict[str, Any]:
    return dict(json.loads((REPO_ROOT / "cdk.json").read_text())["context"])


def synthesize(outdir: Path, *, context: dict[str, Any] | None = None, nag: bool = True) -> Synthesized:
    import aws_cdk as cdk

    from app import build_app

    # The same context the CDK CLI passes (path and asset metadata on), then cdk.json's, then overrides.
    cli_context = {
        "aws:cdk:enable-path-metadata": True,
        "aws:cdk:enable-asset-metadata": True,
        "aws:cdk:version-reporting": False,  # cdk.json's "versionReporting": false
    }
    app = cdk.App(outdir=str(outdir), context={**cli_context, **cdk_json_context(), **(context or {})})
    stacks = build_app(app, nag=nag)
    app.synth()
    templates = {name: json.loads((outdir / f"{name}.template.json").read_text()) for name in stacks}
    return Synthesized(outdir=outdir, templates=templates)
