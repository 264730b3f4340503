"""Dashboard and alarms for the async endpoint, the queues and the Lambdas; alarms go to the ops topic."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from constructs import Construct

from stacks.config import ENDPOINT_VARIANT
from stacks.constructs.results_function import processing_state_pattern
from stacks.tagging import role_tag

SAGEMAKER = "AWS/SageMaker"
EVENTS = "AWS/Events"
OLDEST_REQUEST_ALARM_SECONDS = 1800
# The async endpoint's per-variant failure counts (SageMaker's async-inference metrics) that no job record
# shows: the input could not be read, the answer could not be written, the SNS notification was not
# delivered (so the results Lambda never hears of the job), or the request expired in the queue (TTL).
SILENT_ENDPOINT_FAILURES = {
    "RequestDownloadFailures": "request download failures",
    "ResponseUploadFailures": "response upload failures",
    "NotificationFailures": "notification failures",
    "ExpiredRequests": "expired requests",
}


class Monitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint_name: str,
        ops_topic: sns.ITopic,
        dead_letter_queue_names: dict[str, str],
        functions: dict[str, lambda_.IFunction],
    ) -> None:
        super().__init__(scope, construct_id)
        endpoint = _EndpointMetrics.of(endpoint_name)
        dlq_depths = _dlq_depths(dead_letter_queue_names)
        lambda_errors = {
            label: function.metric_errors(period=Duration.minutes(1), label=label)
            for label, function in functions.items()
        }
        self.processing_failures_rule = self._processing_failures_rule()
        processing_failures = _rule_matches(self.processing_failures_rule, "failed Processing jobs")
        self.dashboard = self._dashboard(endpoint, dlq_depths=dlq_depths, lambda_errors=lambda_errors)
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Async failures nobody else sees",
                left=list(endpoint.silent_failures.values()),
                width=12,
            ),
            cloudwatch.GraphWidget(title="Failed Processing jobs", left=[processing_failures], width=12),
        )
        self.alarms: list[cloudwatch.Alarm] = []
        action = cw_actions.SnsAction(ops_topic)
        self._add_alarms(action, endpoint, dlq_depths=dlq_depths, lambda_errors=lambda_errors)
        self._alarm(
            "ProcessingJobFailures",
            processing_failures.with_(period=Duration.minutes(5)),
            threshold=1,
            description="A Processing job started by reelsight failed",
            action=action,
        )
        # Every alarm, in one widget: its state at a glance, each linked to its graph.
        self.dashboard.add_widgets(
            cloudwatch.AlarmStatusWidget(title="Alarms", alarms=list(self.alarms), width=24)
        )
        role_tag(self.dashboard, "dashboard")
        role_tag(self.processing_failures_rule, "processing-failure-rule")

    def _processing_failures_rule(self) -> events.Rule:
        """Matches reelsight's Processing jobs that end Failed; its matches are the failure count.

        SageMaker publishes no CloudWatch metric for failed Processing jobs; what reports a failure is the
        "SageMaker Processing Job State Change" event with ProcessingJobStatus "Failed". This rule has no
        target (the results queue already gets every state change): the alarm counts its matches, which
        EventBridge publishes as TriggeredRules per RuleName (the default bus).
        """
        return events.Rule(
            self,
            "ProcessingJobFailed",
            description="Processing jobs started by reelsight that failed (counted by an alarm)",
            event_pattern=processing_state_pattern(ProcessingJobStatus=["Failed"]),
        )

    def _dashboard(
        self,
        endpoint: _EndpointMetrics,
        *,
        dlq_depths: dict[str, cloudwatch.Metric],
        lambda_errors: dict[str, cloudwatch.Metric],
    ) -> cloudwatch.Dashboard:
        dashboard = cloudwatch.Dashboard(self, "Dashboard")
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Backlog", left=[endpoint.backlog], right=[endpoint.backlog_per_instance], width=12
            ),
            cloudwatch.GraphWidget(title="Age of oldest request (s)", left=[endpoint.oldest], width=12),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Time in backlog and processing (ms)",
                left=[endpoint.time_in_backlog, endpoint.processing_time],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Invocations processed / failed", left=[endpoint.processed, endpoint.failures], width=12
            ),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(title="Dead-letter queue depth", left=list(dlq_depths.values()), width=12),
            cloudwatch.GraphWidget(title="Lambda errors", left=list(lambda_errors.values()), width=12),
        )
        return dashboard

    def _add_alarms(
        self,
        action: cw_actions.SnsAction,
        endpoint: _EndpointMetrics,
        *,
        dlq_depths: dict[str, cloudwatch.Metric],
        lambda_errors: dict[str, cloudwatch.Metric],
    ) -> None:
        self._alarm(
            "InvocationFailures",
            endpoint.failures.with_(period=Duration.minutes(5)),
            threshold=1,
            description="The async endpoint failed at least one invocation",
            action=action,
        )
        for name, metric in endpoint.silent_failures.items():
            self._alarm(
                name,
                metric.with_(period=Duration.minutes(5)),
                threshold=1,
                description=f"The async endpoint reported {metric.label}",
                action=action,
            )
        self._alarm(
            "OldestRequestAge",
            endpoint.oldest.with_(period=Duration.minutes(5)),
            threshold=OLDEST_REQUEST_ALARM_SECONDS,
            description=f"A request has waited more than {OLDEST_REQUEST_ALARM_SECONDS} s",
            action=action,
        )
        for label, metric in dlq_depths.items():
            self._alarm(
                f"{label.replace(' ', '')}Depth",
                metric,
                threshold=1,
                description=f"Messages are waiting in the {label}",
                action=action,
            )
        for label, metric in lambda_errors.items():
            self._alarm(
                f"{label.replace(' ', '')}Errors",
                metric.with_(period=Duration.minutes(5)),
                threshold=1,
                description=f"The {label} failed",
                action=action,
            )

    def _alarm(
        self,
        construct_id: str,
        metric: cloudwatch.IMetric,
        *,
        threshold: float,
        description: str,
        action: cw_actions.SnsAction,
    ) -> None:
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            metric=metric,
            threshold=threshold,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=description,
        )
        alarm.add_alarm_action(action)
        self.alarms.append(alarm)


@dataclass(frozen=True)
class _EndpointMetrics:
    """The endpoint's per-minute metrics: backlog and age per endpoint, timings and counts per variant."""

    backlog: cloudwatch.Metric
    backlog_per_instance: cloudwatch.Metric
    oldest: cloudwatch.Metric
    time_in_backlog: cloudwatch.Metric
    processing_time: cloudwatch.Metric
    processed: cloudwatch.Metric
    failures: cloudwatch.Metric
    # Failures that reach no one otherwise: the request or answer never moved, or no one was told.
    silent_failures: dict[str, cloudwatch.Metric]

    @classmethod
    def of(cls, endpoint_name: str) -> _EndpointMetrics:
        endpoint = {"EndpointName": endpoint_name}
        variant = {"EndpointName": endpoint_name, "VariantName": ENDPOINT_VARIANT}
        return cls(
            backlog=_sagemaker_metric("ApproximateBacklogSize", endpoint, "Average"),
            backlog_per_instance=_sagemaker_metric("ApproximateBacklogSizePerInstance", endpoint, "Average"),
            oldest=_sagemaker_metric("ApproximateAgeOfOldestRequest", endpoint, "Maximum"),
            time_in_backlog=_sagemaker_metric("TimeInBacklog", variant, "Average"),
            processing_time=_sagemaker_metric("TotalProcessingTime", variant, "Average"),
            # AWS spells this metric with three s.
            processed=_sagemaker_metric("InvocationsProcesssed", variant, "Sum"),
            failures=_sagemaker_metric("InvocationFailures", variant, "Sum"),
            silent_failures={
                name: _sagemaker_metric(name, variant, "Sum", label=label)
                for name, label in SILENT_ENDPOINT_FAILURES.items()
            },
        )


def _sagemaker_metric(
    name: str, dimensions: dict[str, str], statistic: str, *, label: str | None = None
) -> cloudwatch.Metric:
    return cloudwatch.Metric(
        namespace=SAGEMAKER,
        metric_name=name,
        dimensions_map=dimensions,
        statistic=statistic,
        period=Duration.minutes(1),
        label=label,
    )


def _dlq_depths(dead_letter_queue_names: dict[str, str]) -> dict[str, cloudwatch.Metric]:
    """Visible messages per dead-letter queue, keyed by the queue's label."""
    return {
        label: cloudwatch.Metric(
            namespace="AWS/SQS",
            metric_name="ApproximateNumberOfMessagesVisible",
            dimensions_map={"QueueName": name},
            statistic="Maximum",
            period=Duration.minutes(1),
            label=label,
        )
        for label, name in dead_letter_queue_names.items()
    }


def _rule_matches(rule: events.Rule, label: str) -> cloudwatch.Metric:
    """How many events ``rule`` matched: EventBridge's TriggeredRules (RuleName alone: the default bus)."""
    return cloudwatch.Metric(
        namespace=EVENTS,
        metric_name="TriggeredRules",
        dimensions_map={"RuleName": rule.rule_name},
        statistic="Sum",
        period=Duration.minutes(1),
        label=label,
    )
