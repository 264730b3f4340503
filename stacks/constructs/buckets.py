"""Input, results and access-log buckets, hardened alike."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.config import DataConfig
from stacks.nag import acknowledge, checkov_skip, guard_exception
from stacks.tagging import role_tag

OBJECT_LOCK_REASON = (
    "Object Lock would forbid deleting any object version for its retention period, while the lifecycle "
    "rules expire noncurrent versions and users remove their videos and results; versioning and the "
    "retained removal policy already guard against accidental loss."
)


class DataBuckets(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DataConfig,
        key: kms.IKey,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            # Server access logging only delivers to buckets with S3-managed encryption.
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=True,
            removal_policy=removal_policy,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-access-logs",
                    expiration=Duration.days(365),
                    noncurrent_version_expiration=Duration.days(config.noncurrent_version_expiration_days),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
        )
        acknowledge(
            self.access_logs,
            "AwsSolutions-S1",
            "This bucket is the destination of the server access logs; logging it into itself would loop.",
        )
        checkov_skip(
            self.access_logs,
            "CKV_AWS_18",
            "This bucket is the destination of the server access logs; logging it into itself would loop.",
        )
        self.input = self._data_bucket("Input", key=key, config=config, removal_policy=removal_policy)
        self.results = self._data_bucket("Results", key=key, config=config, removal_policy=removal_policy)
        self._guard_exceptions()
        role_tag(self.input, "input-bucket")
        role_tag(self.results, "results-bucket")
        role_tag(self.access_logs, "access-log-bucket")

    def _guard_exceptions(self) -> None:
        for bucket in (self.input, self.results, self.access_logs):
            guard_exception(bucket, "s3_bucket_object_lock_enabled_check", OBJECT_LOCK_REASON)
        guard_exception(
            self.input,
            "s3_event_notifications_enabled_check",
            "The input bucket notifies the upload queue for each watched prefix; CDK configures that with "
            "its Custom::S3BucketNotifications resource, which the guard rule does not read.",
        )
        guard_exception(
            self.results,
            "s3_event_notifications_enabled_check",
            "Nothing reacts to writes here: async and Processing outcomes reach the results queue through "
            "SNS and EventBridge, so a bucket notification would have no consumer.",
        )
        guard_exception(
            self.access_logs,
            "s3_event_notifications_enabled_check",
            "Only S3's log delivery writes to the access-log bucket, and no process consumes its objects.",
        )
        guard_exception(
            self.access_logs,
            "s3_bucket_logging_enabled_check",
            "This bucket is the destination of the server access logs; logging it into itself would loop.",
        )
        guard_exception(
            self.access_logs,
            "s3_bucket_default_encryption_kms_check",
            "S3 server access logs can only be delivered to a bucket with SSE-S3 default encryption, "
            "not SSE-KMS (S3 user guide, enabling server access logging).",
        )

    def _data_bucket(
        self, name: str, *, key: kms.IKey, config: DataConfig, removal_policy: RemovalPolicy
    ) -> s3.Bucket:
        return s3.Bucket(
            self,
            name,
            encryption=s3.BucketEncryption.KMS,
            encryption_key=key,
            bucket_key_enabled=True,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=True,
            removal_policy=removal_policy,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix=f"{name.lower()}/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="abort-incomplete-uploads",
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                ),
                s3.LifecycleRule(
                    id="expire-noncurrent-versions",
                    noncurrent_version_expiration=Duration.days(config.noncurrent_version_expiration_days),
                ),
                s3.LifecycleRule(
                    id="transition-to-infrequent-access",
                    transitions=[
                        s3.Transition(
                            storage_class=s3.StorageClass.INFREQUENT_ACCESS,
                            transition_after=Duration.days(config.infrequent_access_transition_days),
                        )
                    ],
                ),
            ],
        )
