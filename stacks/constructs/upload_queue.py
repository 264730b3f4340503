"""Upload notifications: S3 object-created events under the input prefixes -> encrypted SQS queue + DLQ."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from reelsight.contract.names import WATCHED_PREFIXES
from stacks.config import DataConfig
from stacks.nag import DEAD_LETTER_QUEUE_REASON, acknowledge, guard_exception
from stacks.tagging import role_tag


class UploadQueue(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DataConfig,
        key: kms.IKey,
        input_bucket: s3.Bucket,
    ) -> None:
        super().__init__(scope, construct_id)
        # The queues see the key by ARN only: S3's notification grant would otherwise add a key-policy
        # statement naming the bucket, and the bucket already names the key (a dependency cycle). The key
        # policy grants S3 the same use, limited to this account.
        key = kms.Key.from_key_arn(self, "Key", key.key_arn)
        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=key,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        self.queue = sqs.Queue(
            self,
            "Queue",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=key,
            enforce_ssl=True,
            visibility_timeout=Duration.seconds(config.ingest_visibility_timeout_seconds),
            retention_period=Duration.days(4),
            dead_letter_queue=sqs.DeadLetterQueue(
                queue=self.dead_letter_queue, max_receive_count=config.ingest_max_receive_count
            ),
        )
        destination = s3n.SqsDestination(self.queue)
        # Prefix only: S3 suffix filters match literally (CLIP.MP4 would slip past ".mp4" unseen), so the
        # dispatcher decides what is a video and records everything else as REJECTED.
        for prefix in WATCHED_PREFIXES:
            input_bucket.add_event_notification(
                s3.EventType.OBJECT_CREATED, destination, s3.NotificationKeyFilter(prefix=prefix)
            )
        acknowledge(
            key,
            "@aws-cdk/aws-s3-notifications:sqsKMSPermissionsNotAdded",
            "The data key policy's AllowS3 statement grants S3 kms:GenerateDataKey* and kms:Decrypt "
            "for this account.",
        )
        guard_exception(self.dead_letter_queue, "sqs_dlq_check", DEAD_LETTER_QUEUE_REASON)
        role_tag(self.queue, "upload-queue")
        role_tag(self.dead_letter_queue, "upload-dead-letter-queue")
