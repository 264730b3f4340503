"""Notebook-style SageMaker Python SDK v2 code for an async endpoint, exactly as it would run against
AWS: nothing here names the local stack. Prints what it got as one JSON object.

usage: python sdk_v2_notebook.py ENDPOINT_NAME VIDEO_FILE S3_VIDEO_URI NOT_A_VIDEO_FILE
"""

import json
import sys

import sagemaker
from sagemaker.async_inference import WaiterConfig
from sagemaker.deserializers import JSONDeserializer
from sagemaker.exceptions import AsyncInferenceModelError
from sagemaker.predictor import Predictor
from sagemaker.predictor_async import AsyncPredictor
from sagemaker.serializers import IdentitySerializer

endpoint_name, video_file, s3_video, not_a_video = sys.argv[1:5]

session = sagemaker.Session()
predictor = AsyncPredictor(
    Predictor(
        endpoint_name,
        sagemaker_session=session,
        serializer=IdentitySerializer(content_type="video/mp4"),
        deserializer=JSONDeserializer(),
    )
)
waiter = WaiterConfig(max_attempts=240, delay=1)
report = {}

context = predictor.endpoint_context()
report["context"] = {
    "name": context.context_name,
    "type": context.context_type,
    "source": context.source.source_uri,
}

with open(video_file, "rb") as f:
    by_data = predictor.predict_async(data=f.read())
report["data"] = {"output_path": by_data.output_path, "summary": by_data.get_result(waiter)}

by_path = predictor.predict_async(input_path=s3_video)
report["input_path"] = {"output_path": by_path.output_path, "summary": by_path.get_result(waiter)}

with open(not_a_video, "rb") as f:
    failing = predictor.predict_async(data=f.read())
try:
    failing.get_result(waiter)
    report["failure"] = None
except AsyncInferenceModelError as error:
    report["failure"] = {"type": type(error).__name__, "message": str(error), "path": failing.failure_path}

print(json.dumps(report))
