"""Create a ``StackPlan``'s resources on the local AWS emulator (moto server)."""

from __future__ import annotations

import json
import logging
from typing import Any

from reelsight.local.template import StackPlan

log = logging.getLogger("reelsight.local.provision")


def provision(plan: StackPlan, session: Any | None = None) -> None:
    """Create queues (dead-letter queues first), topics, subscriptions, tables, buckets, notifications."""
    import boto3

    session = session or boto3.session.Session()
    _create_queues(plan, session.client("sqs"))
    _create_topics(plan, session.client("sns"))
    _create_tables(plan, session.client("dynamodb"))
    _create_buckets(plan, session.client("s3"))


def _create_queues(plan: StackPlan, sqs: Any) -> None:
    """Create the queues; where the emulator gives a queue another URL, the plan follows it."""
    # Queues referenced as dead-letter targets must exist before the queues that name them.
    ordered = sorted(plan.queues, key=lambda q: "RedrivePolicy" in q.attributes)
    for queue in ordered:
        url = sqs.create_queue(QueueName=queue.name, Attributes=queue.attributes)["QueueUrl"]
        if url != queue.url:
            log.debug("queue %s url %s (planned %s)", queue.name, url, queue.url)
            for source in plan.event_sources:
                if source.queue_url == queue.url:
                    source.queue_url = url
            queue.url = url


def _create_topics(plan: StackPlan, sns: Any) -> None:
    for topic in plan.topics:
        sns.create_topic(Name=topic.name)
    for sub in plan.subscriptions:
        sns.subscribe(
            TopicArn=sub.topic_arn,
            Protocol=sub.protocol,
            Endpoint=sub.endpoint,
            Attributes=sub.attributes,
            ReturnSubscriptionArn=True,
        )


def _create_tables(plan: StackPlan, ddb: Any) -> None:
    for table in plan.tables:
        kwargs: dict[str, Any] = {
            "TableName": table.name,
            "KeySchema": table.key_schema,
            "AttributeDefinitions": table.attribute_definitions,
            "BillingMode": "PAY_PER_REQUEST",
        }
        if table.global_secondary_indexes:
            kwargs["GlobalSecondaryIndexes"] = table.global_secondary_indexes
        ddb.create_table(**kwargs)
        if table.ttl_attribute:
            ddb.update_time_to_live(
                TableName=table.name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": table.ttl_attribute},
            )


def _create_buckets(plan: StackPlan, s3: Any) -> None:
    """Create the buckets, then their notifications (which name the queues and topics made before)."""
    for bucket in plan.buckets:
        s3.create_bucket(Bucket=bucket.name)
        if bucket.versioned:
            s3.put_bucket_versioning(Bucket=bucket.name, VersioningConfiguration={"Status": "Enabled"})
    for notification in plan.notifications:
        config = _notification_config(notification.configuration)
        s3.put_bucket_notification_configuration(Bucket=notification.bucket, NotificationConfiguration=config)


def _notification_config(config: dict[str, Any]) -> dict[str, Any]:
    """The S3 API's shape from CloudFormation's (they differ only in Lambda's key name)."""
    out: dict[str, Any] = {}
    for key in ("QueueConfigurations", "TopicConfigurations"):
        if config.get(key):
            out[key] = config[key]
    if config.get("LambdaFunctionConfigurations"):
        items = []
        for item in config["LambdaFunctionConfigurations"]:
            item = dict(item)
            if "Function" in item:
                item["LambdaFunctionArn"] = item.pop("Function")
            items.append(item)
        out["LambdaFunctionConfigurations"] = items
    if config.get("EventBridgeConfiguration") is not None:
        out["EventBridgeConfiguration"] = {}
    return json.loads(json.dumps(out))
