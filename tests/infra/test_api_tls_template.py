"""The API host serves https: its certificate parameter, the one narrow grant to publish it, the one to
read it, the boot script that makes it, and the https URL every client is given."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from reelsight import envvars
from reelsight.contract.processing import ProcessingJobDefinition
from reelsight.tls import PENDING_CERTIFICATE
from tests.infra.synth import Synthesized
from tests.infra.test_templates import API, PIPELINE, _parsed_with_intrinsics, as_list, by_role, statements

TLS_SCRIPT = Path(__file__).resolve().parents[2] / "containers" / "api" / "tls.sh"


def certificate_parameter(synthesized: Synthesized) -> tuple[str, dict[str, Any]]:
    parameters = synthesized.resources(API, "AWS::SSM::Parameter")
    assert len(parameters) == 1, sorted(parameters)
    return next(iter(parameters.items()))


def parameter_arn(reference: dict[str, Any]) -> dict[str, Any]:
    """The ARN CloudFormation builds for a parameter name (CDK's ``parameter_arn``)."""
    return {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                ":ssm:",
                {"Ref": "AWS::Region"},
                ":",
                {"Ref": "AWS::AccountId"},
                ":parameter/",
                reference,
            ],
        ]
    }


def user_data_text(synthesized: Synthesized) -> tuple[str, list[Any]]:
    _, _, instance = by_role(synthesized, "api-instance")
    parts = instance["Properties"]["UserData"]["Fn::Base64"]["Fn::Join"][1]
    return "".join(part if isinstance(part, str) else "\0" for part in parts), parts


def test_certificate_parameter_is_declared_without_a_physical_name(synthesized: Synthesized) -> None:
    logical_id, parameter = certificate_parameter(synthesized)
    props = parameter["Properties"]
    assert "Name" not in props
    assert (props["Type"], props["Tier"], props["Value"]) == ("String", "Standard", PENDING_CERTIFICATE)
    outputs = synthesized.templates[API]["Outputs"]
    assert outputs["ApiCertificateParameter"]["Value"] == {"Ref": logical_id}


def test_only_the_api_host_may_publish_the_certificate_and_only_there(synthesized: Synthesized) -> None:
    logical_id, _ = certificate_parameter(synthesized)
    writers = [
        (where, statement)
        for where, statement in statements(synthesized)
        if any(str(action).startswith(("ssm:Put", "ssm:*", "*")) for action in as_list(statement["Action"]))
    ]
    assert len(writers) == 1, writers
    where, statement = writers[0]
    assert where.startswith(f"{API}/ApiRoleDefaultPolicy")
    assert statement["Action"] == "ssm:PutParameter"
    assert statement["Resource"] == parameter_arn({"Ref": logical_id})


def test_processing_jobs_read_only_the_certificate_parameter(synthesized: Synthesized) -> None:
    """Read from the Processing role; the dispatcher passes the name on, and no other role reads it."""
    readers = [
        (where, statement)
        for where, statement in statements(synthesized)
        if where.startswith(PIPELINE)
        and any(str(action).startswith("ssm:") for action in as_list(statement["Action"]))
    ]
    assert len(readers) == 1, readers
    where, statement = readers[0]
    assert where.startswith(f"{PIPELINE}/ProcessingRoleDefaultPolicy")
    assert statement["Action"] == "ssm:GetParameter"
    imported = statement["Resource"]["Fn::Join"][1][-1]
    assert "ApiCertificate" in imported["Fn::ImportValue"]
    assert statement["Resource"] == parameter_arn(imported)


def test_processing_jobs_are_given_the_https_url_and_the_parameter(synthesized: Synthesized) -> None:
    _, _, dispatcher = by_role(synthesized, "dispatch-function")
    raw = dispatcher["Properties"]["Environment"]["Variables"][envvars.PROCESSING_JOB_DEFINITION]
    fields = _parsed_with_intrinsics(raw)
    definition = ProcessingJobDefinition.from_json(json.dumps(fields))
    assert definition.api_url == "https://api.reelsight.internal:8000"
    logical_id, _ = certificate_parameter(synthesized)
    reference = json.loads(fields["api_certificate_parameter"])
    export = synthesized.templates[API]["Outputs"]
    exported = [
        o["Export"]["Name"]
        for o in export.values()
        if o.get("Value") == {"Ref": logical_id} and "Export" in o
    ]
    assert reference == {"Fn::ImportValue": exported[0]}
    assert definition.api_environment()[envvars.API_CERT_PARAMETER] == definition.api_certificate_parameter


def test_boot_script_makes_publishes_and_mounts_the_certificate(synthesized: Synthesized) -> None:
    text, parts = user_data_text(synthesized)
    logical_id, _ = certificate_parameter(synthesized)
    # The script the host runs is the one tests/api/test_api_tls.py runs.
    start = text.index("<<'TLS_SCRIPT'\n") + len("<<'TLS_SCRIPT'\n")
    assert text[start : text.index("\nTLS_SCRIPT\n", start)] == TLS_SCRIPT.read_text().rstrip("\n")
    assert text.index("/usr/local/bin/reelsight-api-tls\n") < text.index(
        "systemctl enable --now reelsight-api"
    )
    # The settings: the private DNS name, the key's reader, the parameter by reference.
    assert "REELSIGHT_TLS_NAME=api.reelsight.internal\n" in text
    assert "REELSIGHT_TLS_OWNER=10001\n" in text
    at = parts.index(next(p for p in parts if isinstance(p, str) and p.endswith("REELSIGHT_TLS_PARAMETER=")))
    assert parts[at + 1] == {"Ref": logical_id}
    # The container serves https from the read-only mounted pair.
    assert f"{envvars.API_TLS_CERT_FILE}=/etc/reelsight/tls/cert.pem\n" in text
    assert f"{envvars.API_TLS_KEY_FILE}=/etc/reelsight/tls/key.pem\n" in text
    assert "--volume /etc/reelsight/tls:/etc/reelsight/tls:ro" in text
    assert "dnf install -y docker openssl" in text
