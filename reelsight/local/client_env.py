"""The environment that points any AWS tool at the local stack (``reelsight local env``).

boto3, the AWS CLI and the SageMaker Python SDK read the same variables: ``AWS_ENDPOINT_URL`` for
every service, ``AWS_ENDPOINT_URL_<SERVICE>`` per service, the region and credentials. SageMaker's
API goes to the local control plane, its runtime to the local async endpoint, and everything else
(STS included) to the AWS emulator. The SageMaker SDK v2 asks STS for the account through a fixed
regional URL that no variable changes, so the SDK also gets a defaults file
(``SAGEMAKER_USER_CONFIG_OVERRIDE``) that names its default bucket, which is what it needs the account
for, and opts out of its telemetry, which would call out of the machine.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from pathlib import Path

from reelsight.local.template import ACCOUNT, REGION
from reelsight.testing.moto_server import FAKE_CREDENTIALS

# botocore's per-service variable names (the service id, upper case, spaces as underscores).
EMULATED_SERVICES = (
    "S3",
    "SQS",
    "SNS",
    "DYNAMODB",
    "STS",
    "IAM",
    "KMS",
    "CLOUDFORMATION",
    "CLOUDWATCH",
    "CLOUDWATCH_LOGS",
    "EVENTBRIDGE",
    "SECRETS_MANAGER",
    "SSM",
)
SDK_CONFIG_VARIABLE = "SAGEMAKER_USER_CONFIG_OVERRIDE"
SDK_DEFAULT_BUCKET = f"sagemaker-{REGION}-{ACCOUNT}"  # the name the SDK would choose on AWS
# Where a named profile would take the credentials from instead of the variables below.
UNSET = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE")


def write_sdk_config(path: Path, bucket: str = SDK_DEFAULT_BUCKET) -> Path:
    """The SageMaker Python SDK's defaults file for the local stack (JSON is YAML too)."""
    config = {
        "SchemaVersion": "1.0",
        "SageMaker": {
            "PythonSDK": {"Modules": {"Session": {"DefaultS3Bucket": bucket}, "TelemetryOptOut": True}}
        },
    }
    path.write_text(json.dumps(config, indent=2) + "\n")
    return path


def client_environment(
    *, moto_url: str, endpoint_url: str, control_plane_url: str | None, sdk_config: Path | None = None
) -> dict[str, str]:
    """Every variable a client needs to talk to the local stack and nothing else."""
    env = {**FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": moto_url}
    env.update({f"AWS_ENDPOINT_URL_{service}": moto_url for service in EMULATED_SERVICES})
    env["AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME"] = endpoint_url
    if control_plane_url:
        env["AWS_ENDPOINT_URL_SAGEMAKER"] = control_plane_url
    if sdk_config is not None:
        env[SDK_CONFIG_VARIABLE] = str(sdk_config)
    return env


def export_lines(env: Mapping[str, str]) -> list[str]:
    """``export`` lines for a POSIX shell (``eval "$(reelsight local env)"``)."""
    lines = [f"unset {' '.join(UNSET)}"]
    lines += [f"export {name}={shlex.quote(value)}" for name, value in sorted(env.items())]
    return lines
