"""The results Lambda and its queue: async outcomes (SNS) and Processing state changes (EventBridge)
arrive on one queue, and the Lambda records them on the job and notifies users."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aws_cdk import Aws, Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from reelsight.contract.names import PROCESSING_JOB_PREFIX
from stacks.config import LambdaConfig
from stacks.constructs.lambda_function import (
    FunctionPlacement,
    FunctionSpec,
    JobStore,
    acknowledge_function,
    create_function,
    processing_job_arn,
)
from stacks.nag import DEAD_LETTER_QUEUE_REASON, IMPORTED_KEY_REASON, guard_exception
from stacks.tagging import role_tag

RESULTS_HANDLER = "lambdas.results.handler.lambda_handler"
PROCESSING_STATE_CHANGE = "SageMaker Processing Job State Change"


@dataclass(frozen=True, kw_only=True)
class ResultsProps:
    config: LambdaConfig
    placement: FunctionPlacement
    store: JobStore
    # The async endpoint's success and error topics.
    outcome_topics: tuple[sns.ITopic, ...]


class ResultsFunction(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, props: ResultsProps) -> None:
        super().__init__(scope, construct_id)
        self.dead_letter_queue, self.queue = self._queues(props)
        for topic in props.outcome_topics:
            topic.add_subscription(subscriptions.SqsSubscription(self.queue, raw_message_delivery=False))
        self.processing_rule = events.Rule(
            self,
            "ProcessingStateChange",
            description="Processing jobs started by reelsight change state",
            event_pattern=processing_state_pattern(),
        )
        _send_rule_to_queue(self.processing_rule, self.queue)
        self.function, self.log_group = create_function(
            self,
            "Results",
            log_group_id="ResultsLogs",
            placement=props.placement,
            spec=FunctionSpec(
                handler=RESULTS_HANDLER,
                timeout_seconds=props.config.results_timeout_seconds,
                environment={**props.store.environment(), "POWERTOOLS_SERVICE_NAME": "reelsight-results"},
                description="Records async and Processing outcomes and notifies users",
                powertools_layer_version=props.config.powertools_layer_version,
            ),
        )
        self.function.add_event_source(
            event_sources.SqsEventSource(
                self.queue,
                batch_size=props.config.batch_size,
                report_batch_item_failures=True,
                max_concurrency=props.config.max_concurrency,
            )
        )
        self._grant(props)
        self._guard_exceptions()
        self._tag()

    def _queues(self, props: ResultsProps) -> tuple[sqs.Queue, sqs.Queue]:
        dead_letter_queue = sqs.Queue(
            self,
            "ResultsDeadLetterQueue",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=props.placement.key,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        queue = sqs.Queue(
            self,
            "ResultsQueue",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=props.placement.key,
            enforce_ssl=True,
            # Six times the function's timeout, as AWS recommends for a Lambda event source.
            visibility_timeout=Duration.seconds(6 * props.config.results_timeout_seconds),
            dead_letter_queue=sqs.DeadLetterQueue(queue=dead_letter_queue, max_receive_count=5),
        )
        return dead_letter_queue, queue

    def _grant(self, props: ResultsProps) -> None:
        props.store.results_bucket.grant_read(self.function)
        props.store.grant_job_records(self.function)
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                sid="DescribeProcessingJobs",
                actions=["sagemaker:DescribeProcessingJob"],
                resources=[processing_job_arn()],
            )
        )
        acknowledge_function(
            self.function,
            objects_arn=props.store.results_bucket.arn_for_objects("*"),
            jobs_table=props.store.jobs_table,
        )

    def _guard_exceptions(self) -> None:
        guard_exception(self.dead_letter_queue, "sqs_dlq_check", DEAD_LETTER_QUEUE_REASON)
        for queue in (self.queue, self.dead_letter_queue):
            guard_exception(queue, "sqs_queue_encrypted_check", IMPORTED_KEY_REASON)

    def _tag(self) -> None:
        role_tag(self.function, "results-function")
        role_tag(self.queue, "results-queue")
        role_tag(self.dead_letter_queue, "results-dead-letter-queue")
        role_tag(self.processing_rule, "processing-state-rule")


def processing_state_pattern(**detail: Any) -> events.EventPattern:
    """State changes of the Processing jobs reelsight starts (their names carry its prefix)."""
    return events.EventPattern(
        source=["aws.sagemaker"],
        detail_type=[PROCESSING_STATE_CHANGE],
        detail={"ProcessingJobName": [{"prefix": PROCESSING_JOB_PREFIX}], **detail},
    )


def _send_rule_to_queue(rule: events.Rule, queue: sqs.Queue) -> None:
    """The rule's one target is the queue, and the queue admits EventBridge for this rule only.

    CDK's SqsQueue target conditions its queue-policy statement on the account alone; here the statement
    carries aws:SourceArn (the rule), as SQS and EventBridge document for confused-deputy protection, and
    grants sqs:SendMessage only (EventBridge needs no GetQueueAttributes or GetQueueUrl).
    """
    resource = rule.node.default_child
    assert isinstance(resource, events.CfnRule)
    resource.targets = [events.CfnRule.TargetProperty(id="Target0", arn=queue.queue_arn)]
    queue.add_to_resource_policy(
        iam.PolicyStatement(
            sid="ProcessingStateChangesFromTheRule",
            principals=[iam.ServicePrincipal("events.amazonaws.com")],
            actions=["sqs:SendMessage"],
            resources=[queue.queue_arn],
            conditions={
                "ArnEquals": {"aws:SourceArn": rule.rule_arn},
                "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
            },
        )
    )
