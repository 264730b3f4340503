"""The Lambda context object, for running handlers outside Lambda: the local stack's event-source
runners and the tests. One definition, with the attributes Powertools and the handlers read."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

from reelsight.local.template import ACCOUNT, REGION


@dataclass
class LocalLambdaContext:
    """What Lambda passes as ``context``, with a wall-clock deadline for the remaining time."""

    function_name: str = "reelsight-local"
    timeout_seconds: float = 300.0
    memory_limit_in_mb: int = 512
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_stream_name: str = field(
        default_factory=lambda: time.strftime("%Y/%m/%d/[$LATEST]") + uuid.uuid4().hex
    )
    _started: float = field(default_factory=time.monotonic, repr=False)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(int((self.timeout_seconds - (time.monotonic() - self._started)) * 1000), 0)
