"""EC2 host of the reelsight API: private subnet, IMDSv2, encrypted disk, Session Manager, systemd, https."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Aws, Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from reelsight import envvars
from reelsight.contract.batch import BATCH_REQUEST_SUFFIX
from reelsight.contract.names import ASYNC_FAILURE_PATH, BATCH_PREFIX, JOBS_PREFIX, UPLOAD_PREFIX
from reelsight.tls import PENDING_CERTIFICATE
from stacks.assets import container_image
from stacks.config import ApiConfig, api_url
from stacks.grants import (
    KEY_WRITE_ACTIONS,
    acknowledge_prefixes,
    add_statements,
    list_prefixes,
    read_objects,
    use_key,
)
from stacks.nag import acknowledge, acknowledge_grant_wildcards, guard_exception, nag_resource
from stacks.tagging import role_tag

# The API reads job results (jobs/<id>/...) and the async endpoint's failure bodies, which it links to
# from a failed job's detail (reelsight/api/views.py); it lists only under jobs/.
RESULTS_READ_PREFIXES = (JOBS_PREFIX, f"{ASYNC_FAILURE_PATH}/")
# Made and published by the host at boot (docs/deploy.md, "TLS"); the container mounts it read-only.
TLS_SCRIPT = Path(__file__).resolve().parents[2] / "containers" / "api" / "tls.sh"
TLS_DIR = "/etc/reelsight/tls"
API_CONTAINER_UID = 10001  # the user of containers/api/Dockerfile, which reads the key


class ApiHost(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: ApiConfig,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        security_group: ec2.ISecurityGroup,
        key: kms.IKey,
        jobs_table: dynamodb.ITable,
        input_bucket: s3.IBucket,
        results_bucket: s3.IBucket,
    ) -> None:
        super().__init__(scope, construct_id)
        self.token = self._token(key)
        self.certificate = self._certificate()
        image = container_image(self, "Image", dockerfile="containers/api/Dockerfile")
        role = self._role(
            image=image,
            key=key,
            jobs_table=jobs_table,
            input_bucket=input_bucket,
            results_bucket=results_bucket,
        )
        user_data = self._user_data(
            config,
            image=image,
            jobs_table=jobs_table,
            input_bucket=input_bucket,
            results_bucket=results_bucket,
        )
        self.instance = self._instance(
            config,
            vpc=vpc,
            subnets=subnets,
            security_group=security_group,
            key=key,
            role=role,
            user_data=user_data,
        )
        role_tag(self.instance, "api-instance")
        self._private_address(config, vpc)
        self.url = api_url(config)
        self._acknowledge(role)
        acknowledge_grant_wildcards(role, index_resources=[f"{jobs_table.table_arn}/index/*"])
        acknowledge_prefixes(role, input_bucket, (UPLOAD_PREFIX,))
        acknowledge(
            role,
            f"AwsSolutions-IAM5[Resource::{nag_resource(role, _batch_requests(input_bucket))}]",
            "Users name their batch request documents, so the grant covers batch/<name>.batch.json for "
            "any name; it allows PutObject of those documents in the input bucket and nothing else.",
        )
        acknowledge_prefixes(role, results_bucket, RESULTS_READ_PREFIXES)

    def _token(self, key: kms.IKey) -> secretsmanager.Secret:
        token = secretsmanager.Secret(
            self,
            "Token",
            description="Bearer token of the reelsight API",
            encryption_key=key,
            generate_secret_string=secretsmanager.SecretStringGenerator(
                exclude_punctuation=True, password_length=48
            ),
        )
        acknowledge(
            token,
            "AwsSolutions-SMG4",
            "Static bearer token shared by jobs and operators; rotate it by writing a new value and "
            "restarting the API unit (docs/deploy.md), no rotation Lambda is deployed.",
        )
        return token

    def _role(
        self,
        *,
        image: ecr_assets.DockerImageAsset,
        key: kms.IKey,
        jobs_table: dynamodb.ITable,
        input_bucket: s3.IBucket,
        results_bucket: s3.IBucket,
    ) -> iam.Role:
        role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"),
            description="reelsight API host: read jobs, presign results and uploads, read its token",
        )
        jobs_table.grant_read_data(role)
        # POST /v1/jobs/{id}/progress writes forward-only progress onto the job record.
        jobs_table.grant(role, "dynamodb:UpdateItem")
        objects = _object_statements(key, input_bucket=input_bucket, results_bucket=results_bucket)
        add_statements(role, objects)
        self.token.grant_read(role)
        # The host publishes its TLS certificate in this one parameter (and can write no other).
        role.add_to_policy(
            iam.PolicyStatement(actions=["ssm:PutParameter"], resources=[self.certificate.parameter_arn])
        )
        image.repository.grant_pull(role)
        return role

    def _user_data(
        self,
        config: ApiConfig,
        *,
        image: ecr_assets.DockerImageAsset,
        jobs_table: dynamodb.ITable,
        input_bucket: s3.IBucket,
        results_bucket: s3.IBucket,
    ) -> ec2.UserData:
        user_data = ec2.UserData.for_linux()
        user_data.add_commands(
            *_boot_script(
                image_uri=image.image_uri,
                port=config.port,
                environment={
                    envvars.JOBS_TABLE: jobs_table.table_name,
                    envvars.RESULTS_BUCKET: results_bucket.bucket_name,
                    envvars.INPUT_BUCKET: input_bucket.bucket_name,
                    envvars.API_TOKEN_SECRET_ARN: self.token.secret_arn,
                    envvars.PORT: str(config.port),
                    envvars.API_TLS_CERT_FILE: f"{TLS_DIR}/cert.pem",
                    envvars.API_TLS_KEY_FILE: f"{TLS_DIR}/key.pem",
                    "AWS_REGION": Aws.REGION,
                    "AWS_DEFAULT_REGION": Aws.REGION,
                },
                tls_settings={
                    "REELSIGHT_TLS_DIR": TLS_DIR,
                    "REELSIGHT_TLS_NAME": f"{config.host_name}.{config.private_zone_name}",
                    "REELSIGHT_TLS_PARAMETER": self.certificate.parameter_name,
                    "REELSIGHT_TLS_OWNER": str(API_CONTAINER_UID),
                    "AWS_DEFAULT_REGION": Aws.REGION,
                },
            )
        )
        return user_data

    def _certificate(self) -> ssm.StringParameter:
        # No physical name: CloudFormation names it, the host and the clients read the name from outputs.
        return ssm.StringParameter(
            self,
            "Certificate",
            description="TLS certificate of the reelsight API host (PEM); the host writes it at boot",
            string_value=PENDING_CERTIFICATE,
            tier=ssm.ParameterTier.STANDARD,
        )

    def _instance(
        self,
        config: ApiConfig,
        *,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        security_group: ec2.ISecurityGroup,
        key: kms.IKey,
        role: iam.Role,
        user_data: ec2.UserData,
    ) -> ec2.Instance:
        return ec2.Instance(
            self,
            "Instance",
            vpc=vpc,
            vpc_subnets=subnets,
            security_group=security_group,
            instance_type=ec2.InstanceType(config.instance_type),
            machine_image=ec2.MachineImage.latest_amazon_linux2023(),
            role=role,
            require_imdsv2=True,
            detailed_monitoring=True,
            ssm_session_permissions=True,
            user_data=user_data,
            user_data_causes_replacement=True,
            block_devices=[
                ec2.BlockDevice(
                    device_name="/dev/xvda",
                    volume=ec2.BlockDeviceVolume.ebs(
                        20, encrypted=True, kms_key=key, volume_type=ec2.EbsDeviceVolumeType.GP3
                    ),
                )
            ],
        )

    def _private_address(self, config: ApiConfig, vpc: ec2.IVpc) -> None:
        # A private DNS name keeps the URL constant when the instance is replaced (its address changes).
        zone = route53.PrivateHostedZone(self, "Zone", zone_name=config.private_zone_name, vpc=vpc)
        route53.ARecord(
            self,
            "Address",
            zone=zone,
            record_name=config.host_name,
            target=route53.RecordTarget.from_ip_addresses(self.instance.instance_private_ip),
            ttl=Duration.minutes(1),
        )

    def _acknowledge(self, role: iam.Role) -> None:
        acknowledge(
            self.instance,
            "AwsSolutions-EC29",
            "The API host is stateless (state lives in DynamoDB and S3) and is replaced on each image "
            "change; termination protection would block those replacements and stack deletion.",
        )
        acknowledge(
            role,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonSSMManagedInstanceCore]",
            "Session Manager access replaces SSH; AWS maintains this policy for exactly that purpose.",
        )
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::*]",
            "ecr:GetAuthorizationToken (needed to pull the API image) has no resource-level permissions.",
        )
        _guard_exceptions(self.instance)


def _guard_exceptions(instance: ec2.Instance) -> None:
    """The Control Tower rules the API host is an exception to, each with its reason."""
    guard_exception(
        instance,
        "ec2_instance_no_public_ip_check",
        "The host runs in a private isolated subnet (no internet gateway, MapPublicIpOnLaunch false), so it "
        "never gets a public address; the rule only reads an explicit NetworkInterfaces block.",
    )
    guard_exception(
        instance,
        "ec2_instance_nitro_encryption_in_transit_check",
        "One small API host (apiInstanceType, t3.small by default); the Nitro types with instance-to-"
        "instance encryption are far larger, and its clients reach it over TLS.",
    )
    # The launch template that CDK adds under the instance at synthesis, to require IMDSv2.
    guard_exception(
        instance,
        "ec2_launch_template_monitoring_enabled_check",
        "The instance's launch template only sets IMDSv2; detailed monitoring is switched on on the instance "
        "itself (Monitoring: true), which tests/infra asserts.",
    )


def _tls_script(settings: dict[str, str]) -> list[str]:
    """Installs ``reelsight-api-tls`` and its settings, and runs it: key and certificate, then publication."""
    return [
        "cat > /etc/reelsight/tls.env <<'ENV'",
        *(f"{name}={value}" for name, value in sorted(settings.items())),
        "ENV",
        "cat > /usr/local/bin/reelsight-api-tls <<'TLS_SCRIPT'",
        *TLS_SCRIPT.read_text().splitlines(),
        "TLS_SCRIPT",
        "chmod 0755 /usr/local/bin/reelsight-api-tls",
        "/usr/local/bin/reelsight-api-tls",
    ]


def _boot_script(
    *, image_uri: str, port: int, environment: dict[str, str], tls_settings: dict[str, str]
) -> list[str]:
    env_lines = [f"{name}={value}" for name, value in sorted(environment.items())]
    registry = f"{Aws.ACCOUNT_ID}.dkr.ecr.{Aws.REGION}.{Aws.URL_SUFFIX}"
    return [
        "set -euo pipefail",
        "dnf install -y docker openssl",
        "systemctl enable --now docker",
        "install -d -m 0755 /etc/reelsight",
        "cat > /etc/reelsight/api.env <<'ENV'",
        *env_lines,
        "ENV",
        *_tls_script(tls_settings),
        "cat > /usr/local/bin/reelsight-api-pull <<'PULL'",
        "#!/bin/bash",
        "set -euo pipefail",
        f"aws ecr get-login-password --region {Aws.REGION} | docker login --username AWS --password-stdin "
        f"{registry}",
        f"docker pull {image_uri}",
        "PULL",
        "chmod 0755 /usr/local/bin/reelsight-api-pull",
        "cat > /etc/systemd/system/reelsight-api.service <<'UNIT'",
        "[Unit]",
        "Description=reelsight API",
        "After=docker.service network-online.target",
        "Requires=docker.service",
        "[Service]",
        "Restart=always",
        "RestartSec=5",
        "ExecStartPre=/usr/local/bin/reelsight-api-pull",
        "ExecStartPre=-/usr/bin/docker rm -f reelsight-api",
        # Host networking keeps the instance-metadata hop count at 1, as IMDSv2 requires by default.
        f"ExecStart=/usr/bin/docker run --rm --name reelsight-api --network host "
        f"--env-file /etc/reelsight/api.env --volume {TLS_DIR}:{TLS_DIR}:ro {image_uri}",
        "ExecStop=/usr/bin/docker stop reelsight-api",
        "[Install]",
        "WantedBy=multi-user.target",
        "UNIT",
        "systemctl daemon-reload",
        "systemctl enable --now reelsight-api.service",
        f"echo 'reelsight API listening on port {port} (https)'",
    ]


def _batch_requests(input_bucket: s3.IBucket) -> str:
    return input_bucket.arn_for_objects(f"{BATCH_PREFIX}*{BATCH_REQUEST_SUFFIX}")


def _object_statements(
    key: kms.IKey, *, input_bucket: s3.IBucket, results_bucket: s3.IBucket
) -> list[iam.PolicyStatement]:
    """Results under jobs/ (and async failure bodies) to read and presign; presigned uploads to incoming/;
    batch request documents under batch/."""
    return [
        list_prefixes("ListJobResults", results_bucket, (JOBS_PREFIX,)),
        read_objects("ReadJobResults", results_bucket, RESULTS_READ_PREFIXES),
        iam.PolicyStatement(
            sid="PresignUploads",
            actions=["s3:PutObject"],
            resources=[input_bucket.arn_for_objects(f"{UPLOAD_PREFIX}*")],
        ),
        # POST /v1/batches and /v1/jobs/{id}/resume write batch request documents, and nothing else there.
        iam.PolicyStatement(
            sid="WriteBatchRequests", actions=["s3:PutObject"], resources=[_batch_requests(input_bucket)]
        ),
        # Presigned GETs decrypt and presigned PUTs encrypt under the role's authority (SSE-KMS buckets).
        use_key("ObjectEncryption", key, KEY_WRITE_ACTIONS),
    ]
