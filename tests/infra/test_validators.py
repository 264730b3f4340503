"""cdk-nag, cfn-lint and checkov on the synthesized app; every exception must carry a real reason."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from stacks.nag import GUARD_PLUGIN, MIN_REASON_LENGTH, control_tower_validator
from tests.infra.synth import REPO_ROOT, Synthesized

ACKNOWLEDGED = "aws:cdk:acknowledged-rules"
ACKNOWLEDGED_KINDS = ("AwsSolutions-", "@aws-cdk/", "CloudFormation-Validate::")
# Every Control Tower rule reelsight is an exception to, and where; the reasons are in the constructs.
GUARD_EXCEPTIONS = {
    "/ReelsightApi/Api/Instance": {
        "ec2_instance_no_public_ip_check",
        "ec2_instance_nitro_encryption_in_transit_check",
        "ec2_launch_template_monitoring_enabled_check",
    },
    "/ReelsightData/Buckets/AccessLogs": {
        "s3_bucket_object_lock_enabled_check",
        "s3_event_notifications_enabled_check",
        "s3_bucket_logging_enabled_check",
        "s3_bucket_default_encryption_kms_check",
    },
    "/ReelsightData/Buckets/Input": {
        "s3_bucket_object_lock_enabled_check",
        "s3_event_notifications_enabled_check",
    },
    "/ReelsightData/Buckets/Results": {
        "s3_bucket_object_lock_enabled_check",
        "s3_event_notifications_enabled_check",
    },
    "/ReelsightData/Uploads/DeadLetterQueue": {"sqs_dlq_check"},
    "/ReelsightNetwork/Network/FlowLogs": {"cloudwatch_log_group_encrypted_check"},
    "/ReelsightPipeline/Functions/Dispatcher/Default": {"lambda_inside_vpc_check"},
    "/ReelsightPipeline/Functions/Dispatcher/Logs": {"cloudwatch_log_group_encrypted_check"},
    "/ReelsightPipeline/Functions/Default/Results": {"lambda_inside_vpc_check"},
    "/ReelsightPipeline/Functions/Default/ResultsLogs": {"cloudwatch_log_group_encrypted_check"},
    "/ReelsightPipeline/Functions/Default/ResultsQueue": {"sqs_queue_encrypted_check"},
    "/ReelsightPipeline/Functions/Default/ResultsDeadLetterQueue": {
        "sqs_dlq_check",
        "sqs_queue_encrypted_check",
    },
    "/ReelsightData/BucketNotificationsHandler050a0587b7544547bf325f094a3db834": {"lambda_inside_vpc_check"},
}
CHECKOV = REPO_ROOT / ".venv-checkov" / "bin" / "checkov"
CFN_LINT = REPO_ROOT / ".venv" / "bin" / "cfn-lint"


def acknowledgments(synthesized: Synthesized) -> dict[str, str]:
    found: dict[str, str] = {}
    for path in synthesized.outdir.glob("*.metadata.json"):
        for construct_path, entries in json.loads(path.read_text()).items():
            for entry in entries:
                if entry["type"] == ACKNOWLEDGED:
                    for rule, reason in entry["data"].items():
                        found[f"{construct_path} {rule}"] = reason
    return found


def test_cdk_nag_passes_with_reasoned_acknowledgments(synthesized: Synthesized) -> None:
    # The session fixture synthesized with AwsSolutionsChecks registered; app.synth() raises on findings.
    report = json.loads((synthesized.outdir / "validation-report.json").read_text())
    assert all(plugin.get("summary", {}).get("status") != "failure" for plugin in report["pluginReports"])
    acks = acknowledgments(synthesized)
    assert len(acks) >= 20
    for where, reason in acks.items():
        assert len(reason.strip()) >= MIN_REASON_LENGTH, where
        assert any(kind in where for kind in (*ACKNOWLEDGED_KINDS, GUARD_PLUGIN)), where


def test_cdk_nag_rejects_an_unacknowledged_finding(tmp_path: Path) -> None:
    import aws_cdk as cdk
    from aws_cdk import aws_s3 as s3
    from cdk_nag import AwsSolutionsChecks

    app = cdk.App(outdir=str(tmp_path))
    stack = cdk.Stack(app, "Probe")
    s3.Bucket(stack, "Unlogged")
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    with pytest.raises(Exception, match="AwsSolutions-S1|AwsSolutions-S10|Validation failed"):
        app.synth()


def test_cfn_guard_control_tower_rules_pass_with_listed_exceptions(synthesized: Synthesized) -> None:
    # The session fixture synthesized with the cfn-guard plugin registered (app.py), which raises on findings.
    report = json.loads((synthesized.outdir / "validation-report.json").read_text())
    (guard,) = [p for p in report["pluginReports"] if p["pluginName"] == GUARD_PLUGIN]
    assert guard["conclusion"] == "success" and guard["violations"] == []
    exceptions: dict[str, set[str]] = {}
    for where, reason in acknowledgments(synthesized).items():
        path, rule = where.split(" ", 1)
        if rule.startswith(f"{GUARD_PLUGIN}::"):
            assert len(reason.strip()) >= MIN_REASON_LENGTH, where
            exceptions.setdefault(path, set()).add(rule.removeprefix(f"{GUARD_PLUGIN}::"))
    assert exceptions == GUARD_EXCEPTIONS


def test_cfn_guard_rejects_an_unacknowledged_finding(tmp_path: Path) -> None:
    import aws_cdk as cdk
    from aws_cdk import aws_sqs as sqs

    app = cdk.App(outdir=str(tmp_path))
    stack = cdk.Stack(app, "Probe")
    sqs.Queue(stack, "NoDeadLetterQueue", encryption=sqs.QueueEncryption.SQS_MANAGED)
    cdk.Validations.of(app).add_plugins(control_tower_validator())
    with pytest.raises(Exception, match=r"CT\.SQS\.PR\.1"):
        app.synth()
    report = json.loads((tmp_path / "validation-report.json").read_text())
    rules = {v["ruleName"] for p in report["pluginReports"] for v in p["violations"]}
    assert "sqs_dlq_check" in rules


def test_cfn_lint_reports_no_findings(templates_dir: Path) -> None:
    templates = sorted(str(p) for p in templates_dir.glob("*.template.json"))
    assert len(templates) == 4
    result = subprocess.run(
        [str(CFN_LINT), "--ignore-checks", *ignored_cfn_lint_checks(), "--", *templates],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def ignored_cfn_lint_checks() -> list[str]:
    """The ignore list of .cfnlintrc; each entry must follow a comment that gives its reason."""
    lines = (REPO_ROOT / ".cfnlintrc").read_text().splitlines()
    start = lines.index("ignore_checks:")
    checks = []
    for previous, line in zip(lines[start:], lines[start + 1 :], strict=False):
        if line.strip().startswith("- "):
            assert previous.strip().startswith("#"), f"{line.strip()} has no reason in .cfnlintrc"
            checks.append(line.strip()[2:])
    assert checks == ["W3005"]
    return checks


def test_checkov_passes_and_every_skip_has_a_reason(templates_dir: Path, synthesized: Synthesized) -> None:
    assert CHECKOV.exists(), "checkov's environment is missing: run `make .venv-checkov/.installed`"
    result = subprocess.run(
        [
            str(CHECKOV),
            "--config-file",
            str(REPO_ROOT / ".checkov.yaml"),
            "-d",
            str(templates_dir),
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    reports = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    failed = [
        f"{check['check_id']} {check['resource']}"
        for report in reports
        for check in report["results"]["failed_checks"]
    ]
    assert failed == []
    assert sum(report["summary"]["passed"] for report in reports) > 100
    skips = [
        skip
        for template in synthesized.templates.values()
        for resource in template["Resources"].values()
        for skip in (resource.get("Metadata") or {}).get("checkov", {}).get("skip", [])
    ]
    assert skips
    for skip in skips:
        assert skip["id"].startswith("CKV") and len(skip["comment"]) >= MIN_REASON_LENGTH, skip
