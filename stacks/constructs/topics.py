"""SNS topics: SageMaker success/error notifications, user-facing results, operations alarms."""

from __future__ import annotations

from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from stacks.config import NotificationConfig
from stacks.tagging import role_tag


class Topics(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, config: NotificationConfig, key: kms.IKey
    ) -> None:
        super().__init__(scope, construct_id)
        self.success = self._topic("AsyncSuccess", "reelsight async inference succeeded", key)
        self.error = self._topic("AsyncError", "reelsight async inference failed", key)
        self.results = self._topic("Results", "reelsight job results", key)
        self.ops = self._topic("Ops", "reelsight operations alarms", key)
        if config.results_email:
            self.results.add_subscription(subscriptions.EmailSubscription(config.results_email))
        if config.alarm_email:
            self.ops.add_subscription(subscriptions.EmailSubscription(config.alarm_email))
        role_tag(self.success, "async-success-topic")
        role_tag(self.error, "async-error-topic")
        role_tag(self.results, "results-topic")
        role_tag(self.ops, "ops-topic")

    def _topic(self, construct_id: str, display_name: str, key: kms.IKey) -> sns.Topic:
        return sns.Topic(self, construct_id, display_name=display_name, master_key=key, enforce_ssl=True)
