"""The dispatcher Lambda: fed by the upload queue, it starts an async inference or a Processing job."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from reelsight import envvars
from reelsight.contract.names import BATCH_PREFIX, JOBS_PREFIX, UPLOAD_PREFIX, VIDEO_SUFFIXES
from reelsight.contract.processing import ProcessingJobDefinition
from stacks.config import EndpointConfig, LambdaConfig
from stacks.constructs.lambda_function import (
    FunctionPlacement,
    FunctionSpec,
    JobStore,
    acknowledge_function,
    create_function,
    processing_job_arn,
)
from stacks.grants import KEY_WRITE_ACTIONS, add_statements, list_prefixes, use_key
from stacks.nag import acknowledge, nag_resource
from stacks.tagging import role_tag

DISPATCH_HANDLER = "lambdas.dispatch.handler.lambda_handler"
# What a batch, split or one-video Processing job reads besides its videos, written by the dispatcher
# to the results bucket (reelsight.contract.batch: plan_key, manifest_key); a resume reads the plan
# back and lists the job's folder for its part markers.
JOB_INPUT_KEYS = (f"{JOBS_PREFIX}*/plan.json", f"{JOBS_PREFIX}*/input-*.manifest")
JOB_INPUTS_REASON = (
    "Each job's plan and manifest live under its own jobs/<id>/ folder, created at run time; the "
    "wildcard stands for the job id only and the file names are fixed."
)


@dataclass(frozen=True, kw_only=True)
class DispatcherProps:
    config: LambdaConfig
    endpoint: EndpointConfig
    placement: FunctionPlacement
    store: JobStore
    upload_queue: sqs.IQueue
    endpoint_arn: str
    endpoint_name: str
    processing_job: ProcessingJobDefinition


class DispatcherFunction(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, props: DispatcherProps) -> None:
        super().__init__(scope, construct_id)
        # "Default" leaves the function's own id out of the logical IDs of its role, policy and event
        # source mapping: they keep the IDs they had before this construct existed.
        self.function, self.log_group = create_function(
            self,
            "Default",
            log_group_id="Logs",
            placement=props.placement,
            spec=FunctionSpec(
                handler=DISPATCH_HANDLER,
                timeout_seconds=props.config.dispatcher_timeout_seconds,
                environment=self._environment(props),
                description="Starts an async inference or a Processing job for each uploaded video",
                powertools_layer_version=props.config.powertools_layer_version,
            ),
        )
        self.function.add_event_source(
            event_sources.SqsEventSource(
                props.upload_queue,
                batch_size=props.config.batch_size,
                max_batching_window=Duration.seconds(5),
                report_batch_item_failures=True,
                max_concurrency=props.config.max_concurrency,
            )
        )
        props.store.input_bucket.grant_read(self.function)
        props.store.grant_job_records(self.function)
        self._grant_sagemaker(props)
        self._grant_job_inputs(props)
        acknowledge_function(
            self.function,
            objects_arn=props.store.input_bucket.arn_for_objects("*"),
            jobs_table=props.store.jobs_table,
        )
        role_tag(self.function, "dispatch-function")

    def _environment(self, props: DispatcherProps) -> dict[str, str]:
        endpoint = props.endpoint
        return {
            **props.store.environment(),
            **endpoint.run_defaults(),
            envvars.UPLOAD_PREFIX: UPLOAD_PREFIX,
            envvars.BATCH_PREFIX: BATCH_PREFIX,
            envvars.VIDEO_SUFFIXES_OVERRIDE: ",".join(VIDEO_SUFFIXES),
            envvars.ENDPOINT_NAME: props.endpoint_name,
            envvars.ASYNC_MAX_BYTES: str(endpoint.async_max_bytes),
            envvars.INVOCATION_TIMEOUT_SECONDS: str(endpoint.invocation_timeout_seconds),
            envvars.REQUEST_TTL_SECONDS: str(endpoint.request_ttl_seconds),
            # to_json_string, not json.dumps: the definition holds tokens (ARNs, image URIs, subnet ids).
            envvars.PROCESSING_JOB_DEFINITION: Stack.of(self).to_json_string(props.processing_job.to_dict()),
            "POWERTOOLS_SERVICE_NAME": "reelsight-dispatch",
        }

    def _grant_job_inputs(self, props: DispatcherProps) -> None:
        bucket = props.store.results_bucket
        role = self.function.role
        assert role is not None
        inputs = [bucket.arn_for_objects(key) for key in JOB_INPUT_KEYS]
        add_statements(
            role,
            [
                iam.PolicyStatement(sid="WriteJobInputs", actions=["s3:PutObject"], resources=inputs),
                iam.PolicyStatement(sid="ReadJobPlans", actions=["s3:GetObject"], resources=inputs[:1]),
                list_prefixes("ListJobParts", bucket, (JOBS_PREFIX,)),
                use_key("JobInputsKey", bucket.encryption_key or props.placement.key, KEY_WRITE_ACTIONS),
            ],
        )
        for arn in inputs:
            acknowledge(role, f"AwsSolutions-IAM5[Resource::{nag_resource(role, arn)}]", JOB_INPUTS_REASON)

    def _grant_sagemaker(self, props: DispatcherProps) -> None:
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                sid="InvokeAsyncEndpoint",
                actions=["sagemaker:InvokeEndpointAsync"],
                resources=[props.endpoint_arn],
            )
        )
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                sid="StartProcessingJobs",
                actions=[
                    "sagemaker:CreateProcessingJob",
                    "sagemaker:AddTags",
                    "sagemaker:DescribeProcessingJob",
                ],
                resources=[processing_job_arn()],
            )
        )
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                sid="PassProcessingRole",
                actions=["iam:PassRole"],
                resources=[props.processing_job.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            )
        )
