"""Start a SageMaker training job with the built-in Object Detection algorithm, and watch it.

The defaults are the hyperparameters and resources of the birds example (seed 004):
ResNet-50 SSD at 512 px from ImageNet weights, SGD, 100 epochs on one ml.p3.2xlarge.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from reelsight.contract.names import S3_SCHEME, s3_uri, split_s3_uri
from reelsight.errors import ParamError, ReelsightError

# Registry account of the "object-detection" image per region, from the SageMaker Python SDK's
# image_uri_config/object-detection.json (version "1"); China regions use amazonaws.com.cn.
OBJECT_DETECTION_ACCOUNTS: dict[str, str] = {
    "af-south-1": "455444449433",
    "ap-east-1": "286214385809",
    "ap-northeast-1": "501404015308",
    "ap-northeast-2": "306986355934",
    "ap-northeast-3": "364406365360",
    "ap-south-1": "991648021394",
    "ap-southeast-1": "475088953585",
    "ap-southeast-2": "544295431143",
    "ca-central-1": "469771592824",
    "cn-north-1": "390948362332",
    "cn-northwest-1": "387376663083",
    "eu-central-1": "813361260812",
    "eu-north-1": "669576153137",
    "eu-south-1": "257386234256",
    "eu-west-1": "685385470294",
    "eu-west-2": "644912444149",
    "eu-west-3": "749696950732",
    "me-south-1": "249704162688",
    "sa-east-1": "855470959533",
    "us-east-1": "811284229777",
    "us-east-2": "825641698319",
    "us-gov-west-1": "226302683700",
    "us-west-1": "632365934929",
    "us-west-2": "433757028032",
}

DEFAULT_HYPERPARAMETERS: dict[str, str] = {
    "base_network": "resnet-50",
    "use_pretrained_model": "1",
    "mini_batch_size": "16",
    "epochs": "100",
    "learning_rate": "0.001",
    "lr_scheduler_step": "33,67",
    "lr_scheduler_factor": "0.1",
    "optimizer": "sgd",
    "momentum": "0.9",
    "weight_decay": "0.0005",
    "overlap_threshold": "0.5",
    "nms_threshold": "0.45",
    "image_shape": "512",
    "label_width": "350",
}
DEFAULT_INSTANCE_TYPE = "ml.p3.2xlarge"
DEFAULT_VOLUME_GB = 50
DEFAULT_MAX_RUNTIME = 360000
TERMINAL_STATUSES = frozenset({"Completed", "Failed", "Stopped"})
InputFormat = Literal["recordio", "image"]
_JOB_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")


def training_image(region: str) -> str:
    account = OBJECT_DETECTION_ACCOUNTS.get(region)
    if account is None:
        raise ParamError(
            f"no built-in Object Detection image is known for region {region!r}; "
            f"known: {', '.join(sorted(OBJECT_DETECTION_ACCOUNTS))} (or pass --image)"
        )
    domain = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"{account}.dkr.ecr.{region}.{domain}/object-detection:1"


def _s3_prefix(uri: str, name: str) -> str:
    if not uri.startswith(S3_SCHEME) or len(uri) <= len(S3_SCHEME):
        raise ParamError(f"{name} must be an s3:// uri, got {uri!r}")
    return uri if uri.endswith("/") else uri + "/"


@dataclass
class TrainingRequest:
    job_name: str
    role_arn: str
    region: str
    output_uri: str
    channels: dict[str, str]  # channel name -> s3 prefix
    hyperparameters: dict[str, str]
    input_format: InputFormat = "recordio"
    image: str | None = None
    instance_type: str = DEFAULT_INSTANCE_TYPE
    instance_count: int = 1
    volume_gb: int = DEFAULT_VOLUME_GB
    max_runtime: int = DEFAULT_MAX_RUNTIME
    tags: dict[str, str] = field(default_factory=dict)

    def validate(self) -> TrainingRequest:
        if not _JOB_NAME.match(self.job_name):
            raise ParamError(f"job name must be 1-63 letters, digits or hyphens, got {self.job_name!r}")
        if not self.role_arn.startswith("arn:"):
            raise ParamError(f"--role must be an IAM role ARN, got {self.role_arn!r}")
        needed = {"train", "validation"}
        if self.input_format == "image":
            needed |= {"train_lst", "validation_lst"}
        missing = sorted(needed - set(self.channels))
        if missing:
            raise ParamError(f"missing channel(s) for {self.input_format} input: {', '.join(missing)}")
        for name in ("num_classes", "num_training_samples"):
            value = self.hyperparameters.get(name, "")
            if not value.isdigit() or int(value) < 1:
                raise ParamError(f"hyperparameter {name} must be a positive integer, got {value!r}")
        return self

    def to_api(self) -> dict[str, Any]:
        """The CreateTrainingJob request."""
        content_type = "application/x-recordio" if self.input_format == "recordio" else "application/x-image"
        channels = []
        for name, uri in sorted(self.channels.items()):
            channels.append(
                {
                    "ChannelName": name,
                    "ContentType": "text/plain" if name.endswith("_lst") else content_type,
                    "InputMode": "File",
                    "CompressionType": "None",
                    "DataSource": {
                        "S3DataSource": {
                            "S3DataType": "S3Prefix",
                            "S3Uri": _s3_prefix(uri, f"channel {name}"),
                            "S3DataDistributionType": "FullyReplicated",
                        }
                    },
                }
            )
        request: dict[str, Any] = {
            "TrainingJobName": self.job_name,
            "AlgorithmSpecification": {
                "TrainingImage": self.image or training_image(self.region),
                "TrainingInputMode": "File",
            },
            "RoleArn": self.role_arn,
            "HyperParameters": dict(self.hyperparameters),
            "InputDataConfig": channels,
            "OutputDataConfig": {"S3OutputPath": _s3_prefix(self.output_uri, "--output")},
            "ResourceConfig": {
                "InstanceType": self.instance_type,
                "InstanceCount": self.instance_count,
                "VolumeSizeInGB": self.volume_gb,
            },
            "StoppingCondition": {"MaxRuntimeInSeconds": self.max_runtime},
        }
        if self.tags:
            request["Tags"] = [{"Key": k, "Value": v} for k, v in sorted(self.tags.items())]
        return request


def hyperparameters(
    *, num_classes: int, num_training_samples: int, overrides: Mapping[str, str] | None = None
) -> dict[str, str]:
    values = dict(DEFAULT_HYPERPARAMETERS)
    values["num_classes"] = str(num_classes)
    values["num_training_samples"] = str(num_training_samples)
    for key, value in (overrides or {}).items():
        values[str(key)] = str(value)
    return values


def dataset_facts(directory: str | Path) -> tuple[int, int, dict[str, Path]]:
    """(num_classes, num_training_samples, files to upload per channel) of a ``reelsight dataset`` folder."""
    base = Path(directory)
    classes = base / "classes.txt"
    if not classes.is_file():
        raise ParamError(f"{base} has no classes.txt (write it with `reelsight dataset`)")
    num_classes = len([line for line in classes.read_text(encoding="utf-8").splitlines() if line.strip()])
    files: dict[str, Path] = {}
    for channel, pattern in (
        ("train", "*_train.rec"),
        ("validation", "*_val.rec"),
        ("train_lst", "*_train.lst"),
        ("validation_lst", "*_val.lst"),
    ):
        found = sorted(base.glob(pattern))
        if len(found) > 1:
            raise ParamError(f"{base} has several {pattern} files: {', '.join(p.name for p in found)}")
        if found:
            files[channel] = found[0]
    if "train_lst" not in files:
        raise ParamError(f"{base} has no *_train.lst")
    samples = sum(1 for line in files["train_lst"].read_text(encoding="utf-8").splitlines() if line.strip())
    return num_classes, samples, files


def upload_dataset(s3: Any, files: Mapping[str, Path], prefix: str) -> dict[str, str]:
    """Upload each channel's file to ``<prefix>/<channel>/``; returns channel -> s3 prefix."""
    bucket, key_prefix = split_s3_uri(_s3_prefix(prefix, "--s3-prefix"))
    channels = {}
    for channel, path in files.items():
        key = f"{key_prefix}{channel}/{path.name}"
        s3.upload_file(str(path), bucket, key)
        channels[channel] = s3_uri(bucket, f"{key_prefix}{channel}/")
    return channels


def start(sagemaker: Any, request: TrainingRequest) -> str:
    response = sagemaker.create_training_job(**request.validate().to_api())
    return str(response["TrainingJobArn"])


class TrainingFailed(ReelsightError):
    exit_code = 5


def wait(
    sagemaker: Any,
    job_name: str,
    *,
    poll_seconds: float = 30.0,
    timeout_seconds: float | None = None,
    report: Callable[[str], None] = print,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Poll DescribeTrainingJob, reporting status changes, until the job ends; raise unless Completed."""
    started = time.monotonic()
    last = None
    while True:
        job = sagemaker.describe_training_job(TrainingJobName=job_name)
        status = job.get("TrainingJobStatus", "Unknown")
        secondary = job.get("SecondaryStatus", "")
        state = f"{status} / {secondary}" if secondary else status
        if state != last:
            transitions = job.get("SecondaryStatusTransitions") or []
            detail = transitions[-1].get("StatusMessage", "") if transitions else ""
            report(f"{job_name}: {state}" + (f" - {detail}" if detail else ""))
            last = state
        if status in TERMINAL_STATUSES:
            if status != "Completed":
                reason = job.get("FailureReason") or job.get("StoppingCondition") or "no reason given"
                raise TrainingFailed(f"training job {job_name} ended {status}: {reason}")
            return dict(job)
        if timeout_seconds is not None and time.monotonic() - started > timeout_seconds:
            raise TrainingFailed(
                f"gave up waiting for {job_name} after {timeout_seconds:g} s (still {status})"
            )
        sleep(poll_seconds)
