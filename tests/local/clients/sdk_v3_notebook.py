"""Notebook-style SageMaker Python SDK v3 code for an async endpoint, exactly as it would run against
AWS: nothing here names the local stack. Prints what it got as one JSON object.

usage: python sdk_v3_notebook.py ENDPOINT_NAME S3_VIDEO_URI S3_NOT_A_VIDEO_URI
"""

import json
import sys

import boto3
from sagemaker.core.resources import Endpoint

endpoint_name, s3_video, s3_not_a_video = sys.argv[1:4]
s3 = boto3.client("s3")


def wait_for(uri):
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    s3.get_waiter("object_exists").wait(Bucket=bucket, Key=key, WaiterConfig={"Delay": 1, "MaxAttempts": 240})
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()


endpoint = Endpoint.get(endpoint_name=endpoint_name)
report = {
    "status": endpoint.endpoint_status,
    "arn": endpoint.endpoint_arn,
    "config": endpoint.endpoint_config_name,
    "output_path": endpoint.async_inference_config.output_config.s3_output_path,
}

answer = endpoint.invoke_async(input_location=s3_video, content_type="video/mp4")
report["invocation"] = {"inference_id": answer.inference_id, "output_location": answer.output_location}
report["summary"] = json.loads(wait_for(answer.output_location))

failing = endpoint.invoke_async(input_location=s3_not_a_video, content_type="video/mp4")
report["failure"] = {"location": failing.failure_location, "body": wait_for(failing.failure_location)}

print(json.dumps(report))
