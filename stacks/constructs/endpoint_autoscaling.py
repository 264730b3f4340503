"""Autoscaling of the async endpoint between 0 and N instances, including the scale-up from zero."""

from __future__ import annotations

from aws_cdk import Aws, Duration, Fn
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from stacks.config import ENDPOINT_VARIANT, EndpointConfig
from stacks.tagging import role_tag

NAMESPACE = "AWS/SageMaker"
# Application Auto Scaling creates this service-linked role on first use; naming it keeps CDK from creating an
# empty role of its own, which would have no permission to change the endpoint.
SERVICE_LINKED_ROLE = (
    "iam::{account}:role/aws-service-role/sagemaker.application-autoscaling.amazonaws.com/"
    "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint"
)


class EndpointAutoscaling(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EndpointConfig,
        endpoint: sagemaker.CfnEndpoint,
    ) -> None:
        super().__init__(scope, construct_id)
        endpoint_name = endpoint.attr_endpoint_name
        self.target = self._scalable_target(config, endpoint_name)
        # The target is registered after the endpoint exists and deregistered before it is deleted.
        self.target.node.add_dependency(endpoint)

        self.backlog_policy = self.target.scale_to_track_metric(
            "BacklogPerInstance",
            target_value=config.backlog_target_per_instance,
            custom_metric=_endpoint_metric(
                "ApproximateBacklogSizePerInstance", endpoint_name, period=Duration.minutes(1)
            ),
            scale_in_cooldown=Duration.seconds(config.scale_in_cooldown_seconds),
            scale_out_cooldown=Duration.seconds(config.scale_out_cooldown_seconds),
        )

        # Target tracking cannot leave zero instances: with none running, the per-instance backlog is
        # undefined. A step policy driven by HasBacklogWithoutCapacity adds the first instance.
        self.scale_from_zero_policy = self._scale_from_zero_policy(config)
        self.backlog_without_capacity_alarm = self._backlog_without_capacity_alarm(endpoint_name)
        self.backlog_without_capacity_alarm.add_alarm_action(
            cw_actions.ApplicationScalingAction(self.scale_from_zero_policy)
        )
        role_tag(self.target, "endpoint-scalable-target")
        role_tag(self.backlog_without_capacity_alarm, "scale-from-zero-alarm")

    def _scalable_target(self, config: EndpointConfig, endpoint_name: str) -> appscaling.ScalableTarget:
        """The variant's instance count, between 0 and ``config.max_instances``."""
        return appscaling.ScalableTarget(
            self,
            "Target",
            service_namespace=appscaling.ServiceNamespace.SAGEMAKER,
            resource_id=Fn.join("", ["endpoint/", endpoint_name, f"/variant/{ENDPOINT_VARIANT}"]),
            scalable_dimension="sagemaker:variant:DesiredInstanceCount",
            min_capacity=0,
            max_capacity=config.max_instances,
            role=iam.Role.from_role_arn(
                self,
                "ServiceLinkedRole",
                f"arn:{Aws.PARTITION}:" + SERVICE_LINKED_ROLE.format(account=Aws.ACCOUNT_ID),
                mutable=False,
            ),
        )

    def _scale_from_zero_policy(self, config: EndpointConfig) -> appscaling.StepScalingAction:
        policy = appscaling.StepScalingAction(
            self,
            "ScaleFromZero",
            scaling_target=self.target,
            adjustment_type=appscaling.AdjustmentType.CHANGE_IN_CAPACITY,
            cooldown=Duration.seconds(config.scale_out_cooldown_seconds),
            metric_aggregation_type=appscaling.MetricAggregationType.AVERAGE,
        )
        policy.add_adjustment(adjustment=1, lower_bound=0)
        return policy

    def _backlog_without_capacity_alarm(self, endpoint_name: str) -> cloudwatch.Alarm:
        return cloudwatch.Alarm(
            self,
            "BacklogWithoutCapacity",
            alarm_description="Requests are waiting and no instance is running: add one",
            metric=_endpoint_metric("HasBacklogWithoutCapacity", endpoint_name, period=Duration.seconds(60)),
            threshold=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=2,
            datapoints_to_alarm=2,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )


def _endpoint_metric(name: str, endpoint_name: str, *, period: Duration) -> cloudwatch.Metric:
    return cloudwatch.Metric(
        namespace=NAMESPACE,
        metric_name=name,
        dimensions_map={"EndpointName": endpoint_name},
        statistic="Average",
        period=period,
    )
