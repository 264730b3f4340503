"""Assets built from the repository: container images and the Lambda bundle (no Docker needed at synth)."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import IgnoreMode
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

REPO_ROOT = Path(__file__).resolve().parents[1]

# Never part of a build context, even inside a copied folder.
IMAGE_ALWAYS_EXCLUDED: tuple[str, ...] = ("**/__pycache__", "**/*.pyc", "**/.pytest_cache", "**/.mypy_cache")


def dockerfile_sources(dockerfile: Path) -> list[str]:
    """Repository paths read by a Dockerfile's COPY/ADD instructions (``--from`` stage copies excluded)."""
    sources: list[str] = []
    logical_lines = dockerfile.read_text().replace("\\\n", " ").splitlines()
    for line in logical_lines:
        words = line.split()
        if not words or words[0].upper() not in ("COPY", "ADD"):
            continue
        arguments = [w for w in words[1:] if not w.startswith("--")]
        if any(w.startswith("--from") for w in words[1:]) or len(arguments) < 2:
            continue
        sources.extend(a.strip("\"'[],").removeprefix("./").rstrip("/") for a in arguments[:-1])
    return sorted(set(filter(None, sources)))


def image_context_excludes(dockerfile: str) -> list[str]:
    """Docker-style patterns that keep only the Dockerfile and what it copies: small, fast, deterministic."""
    keep = [dockerfile, *dockerfile_sources(REPO_ROOT / dockerfile)]
    return ["*", *(f"!{path}" for path in keep), *IMAGE_ALWAYS_EXCLUDED]


# Git-style patterns: everything is ignored except the Python files of `lambdas/` and `reelsight/`.
LAMBDA_CODE_PATTERNS: tuple[str, ...] = (
    "/*",
    "!/lambdas/",
    "!/reelsight/",
    "/lambdas/**",
    "/reelsight/**",
    "!/lambdas/**/",
    "!/reelsight/**/",
    "!/lambdas/**/*.py",
    "!/reelsight/**/*.py",
    "__pycache__/",
)


def container_image(
    scope: Construct, construct_id: str, *, dockerfile: str, build_args: dict[str, str] | None = None
) -> ecr_assets.DockerImageAsset:
    """An image built from the repository root as context with ``dockerfile`` (relative to the root)."""
    return ecr_assets.DockerImageAsset(
        scope,
        construct_id,
        directory=str(REPO_ROOT),
        file=dockerfile,
        build_args=build_args,
        exclude=image_context_excludes(dockerfile),
        ignore_mode=IgnoreMode.DOCKER,
        platform=ecr_assets.Platform.LINUX_AMD64,
    )


def lambda_code() -> lambda_.Code:
    """The Lambda bundle: ``lambdas/`` and ``reelsight/`` Python sources only, copied as they are."""
    return lambda_.Code.from_asset(
        str(REPO_ROOT), exclude=list(LAMBDA_CODE_PATTERNS), ignore_mode=IgnoreMode.GIT
    )
