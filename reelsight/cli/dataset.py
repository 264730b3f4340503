"""``reelsight dataset`` (annotations -> .lst + RecordIO) and ``reelsight train-detector``."""

from __future__ import annotations

import argparse
import time
from typing import Any

from reelsight.errors import ParamError


def register(subparsers: Any) -> None:
    _register_dataset(subparsers)
    _register_train(subparsers)


def _register_dataset(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "dataset",
        help="turn detection annotations (CUB-style or COCO) into im2rec .lst files and RecordIO",
        description=(
            "Read a CUB-200-2011 style folder (images.txt, bounding_boxes.txt, image_class_labels.txt, "
            "classes.txt, images/) or a COCO detection JSON, split it into train/validation with a seed, "
            "and write <prefix>_train.lst, <prefix>_val.lst, classes.txt and the matching .rec/.idx "
            "files for the SageMaker built-in Object Detection algorithm."
        ),
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--cub", metavar="DIR", help="a CUB-200-2011 style folder")
    source.add_argument("--coco", metavar="JSON", help="a COCO detection annotations file")
    parser.add_argument(
        "--images", metavar="DIR", help="image folder for --coco (default: the JSON's folder)"
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    parser.add_argument(
        "--classes",
        help="keep only these classes, by name or original id, comma-separated (default: all)",
    )
    parser.add_argument(
        "--val-fraction",
        type=float,
        default=0.2,
        help="validation share of a random split (default 0.2)",
    )
    parser.add_argument(
        "--random-split",
        action="store_true",
        help="split by --val-fraction even when the folder has CUB's train_test_split.txt",
    )
    parser.add_argument("--seed", type=int, default=0, help="shuffle seed of the split (default 0)")
    parser.add_argument("--prefix", default="dataset", help="output file name prefix (default: dataset)")
    parser.add_argument("--no-recordio", action="store_true", help="write the .lst files only")
    parser.add_argument(
        "--resize", type=int, help="scale each image's shorter side to this many pixels (im2rec --resize)"
    )
    parser.add_argument("--quality", type=int, default=95, help="JPEG quality in the RecordIO (default 95)")
    parser.set_defaults(func=run_dataset)


def _register_train(subparsers: Any) -> None:
    from reelsight.training.launcher import (
        DEFAULT_INSTANCE_TYPE,
        DEFAULT_MAX_RUNTIME,
        DEFAULT_VOLUME_GB,
    )

    parser = subparsers.add_parser(
        "train-detector",
        help="train the SageMaker built-in Object Detection algorithm (SSD) and wait for it",
        description=(
            "Start a SageMaker training job with the built-in Object Detection image of the region. "
            "Give the channels as s3:// prefixes (--train/--validation, plus --train-lst/--validation-lst "
            "for --input-format image), or --dataset DIR (from `reelsight dataset`) with --s3-prefix to "
            "upload it first. Hyperparameters default to the birds example; override with --hp KEY=VALUE."
        ),
    )
    parser.add_argument("--dataset", metavar="DIR", help="a `reelsight dataset` output folder to upload")
    parser.add_argument("--s3-prefix", help="s3:// prefix the --dataset files are uploaded under")
    parser.add_argument("--train", help="s3:// prefix of the train channel")
    parser.add_argument("--validation", help="s3:// prefix of the validation channel")
    parser.add_argument("--train-lst", help="s3:// prefix of the train_lst channel (image input)")
    parser.add_argument("--validation-lst", help="s3:// prefix of the validation_lst channel (image input)")
    parser.add_argument(
        "--input-format",
        choices=("recordio", "image"),
        default="recordio",
        help="recordio (.rec files, default) or image (JPEG/PNG + .lst channels)",
    )
    parser.add_argument("--output", required=True, help="s3:// prefix for the model artifacts")
    parser.add_argument("--role", required=True, help="IAM role ARN the training job runs as")
    parser.add_argument("--region", help="AWS region (default: the SDK's configured region)")
    parser.add_argument("--image", help="training image URI (default: object-detection:1 of the region)")
    parser.add_argument("--job-name", help="training job name (default: reelsight-ssd-<timestamp>)")
    parser.add_argument("--num-classes", type=int, help="number of classes (default: from --dataset)")
    parser.add_argument("--num-training-samples", type=int, help="training images (default: from --dataset)")
    parser.add_argument(
        "--hp", action="append", default=[], metavar="KEY=VALUE", help="hyperparameter override (repeatable)"
    )
    parser.add_argument(
        "--instance-type", default=DEFAULT_INSTANCE_TYPE, help=f"default {DEFAULT_INSTANCE_TYPE} (GPU)"
    )
    parser.add_argument("--instance-count", type=int, default=1, help="default 1")
    parser.add_argument(
        "--volume-gb", type=int, default=DEFAULT_VOLUME_GB, help=f"default {DEFAULT_VOLUME_GB}"
    )
    parser.add_argument(
        "--max-runtime", type=int, default=DEFAULT_MAX_RUNTIME, help=f"seconds, default {DEFAULT_MAX_RUNTIME}"
    )
    parser.add_argument("--no-wait", action="store_true", help="return once the job is created")
    parser.add_argument("--poll-seconds", type=float, default=30.0, help="status poll interval (default 30)")
    parser.add_argument("--timeout", type=float, help="stop waiting after this many seconds")
    parser.set_defaults(func=run_train)


def run_dataset(args: argparse.Namespace) -> int:
    from reelsight.training.dataset import build, read_coco, read_cub

    classes = [c.strip() for c in args.classes.split(",") if c.strip()] if args.classes else None
    if args.resize is not None and args.resize < 1:
        raise ParamError(f"--resize must be a positive number of pixels, got {args.resize}")
    if not 1 <= args.quality <= 100:
        raise ParamError(f"--quality must be 1..100, got {args.quality}")
    if args.cub:
        dataset = read_cub(args.cub, classes=classes)
    else:
        dataset = read_coco(args.coco, image_root=args.images, classes=classes)
    built = build(
        dataset,
        args.out,
        val_fraction=args.val_fraction,
        seed=args.seed,
        prefix=args.prefix,
        recordio=not args.no_recordio,
        resize=args.resize,
        quality=args.quality,
        random_split=args.random_split,
    )
    how = "the dataset's own split" if dataset.has_own_split and not args.random_split else "a random split"
    counts = f"{built.train_count} train + {built.val_count} validation images"
    print(f"{len(dataset.classes)} classes, {counts} ({how})")
    for path in (built.train_lst, built.val_lst, built.train_rec, built.val_rec, built.classes_file):
        if path is not None:
            print(f"wrote {path}")
    for reason in built.skipped:
        print(f"skipped {reason}")
    return 0


def _key_values(items: list[str]) -> dict[str, str]:
    values = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ParamError(f"--hp needs KEY=VALUE, got {item!r}")
        values[key.strip()] = value.strip()
    return values


def run_train(args: argparse.Namespace) -> int:
    import boto3

    from reelsight.training import launcher

    session = boto3.session.Session(region_name=args.region) if args.region else boto3.session.Session()
    region = session.region_name
    if not region:
        raise ParamError("no AWS region: pass --region or configure one (AWS_DEFAULT_REGION)")
    channels = {
        name: uri
        for name, uri in (
            ("train", args.train),
            ("validation", args.validation),
            ("train_lst", args.train_lst),
            ("validation_lst", args.validation_lst),
        )
        if uri
    }
    num_classes, samples = args.num_classes, args.num_training_samples
    if args.dataset:
        if not args.s3_prefix:
            raise ParamError("--dataset needs --s3-prefix (where to upload it)")
        found_classes, found_samples, files = launcher.dataset_facts(args.dataset)
        if args.input_format == "recordio":
            files = {k: v for k, v in files.items() if k in ("train", "validation")}
        num_classes = num_classes or found_classes
        samples = samples or found_samples
        uploaded = launcher.upload_dataset(session.client("s3"), files, args.s3_prefix)
        channels = {**uploaded, **channels}
    if not num_classes or not samples:
        raise ParamError("give --num-classes and --num-training-samples, or --dataset")
    request = launcher.TrainingRequest(
        job_name=args.job_name or time.strftime("reelsight-ssd-%Y%m%d-%H%M%S", time.gmtime()),
        role_arn=args.role,
        region=region,
        output_uri=args.output,
        channels=channels,
        hyperparameters=launcher.hyperparameters(
            num_classes=num_classes, num_training_samples=samples, overrides=_key_values(args.hp)
        ),
        input_format=args.input_format,
        image=args.image,
        instance_type=args.instance_type,
        instance_count=args.instance_count,
        volume_gb=args.volume_gb,
        max_runtime=args.max_runtime,
    )
    sagemaker = session.client("sagemaker")
    arn = launcher.start(sagemaker, request)
    print(f"started {arn}")
    if args.no_wait:
        return 0
    job = launcher.wait(
        sagemaker, request.job_name, poll_seconds=args.poll_seconds, timeout_seconds=args.timeout
    )
    artifact = (job.get("ModelArtifacts") or {}).get("S3ModelArtifacts", "")
    print(f"model artifact: {artifact}")
    print(f"use it: metadata model=builtin_ssd, weights={artifact} (MXNet image)")
    return 0
