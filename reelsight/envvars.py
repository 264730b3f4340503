"""Every environment variable reelsight reads, by name, in one place.

Other modules import the constants from here instead of spelling the strings themselves,
so that the CDK stacks, the worker, the Lambdas and the local stack cannot drift apart.
"""

from __future__ import annotations

# --- Worker defaults (serve and process); a request may override them. ---
MODEL = "REELSIGHT_MODEL"
WEIGHTS = "REELSIGHT_WEIGHTS"
FPS = "REELSIGHT_FPS"
MODE = "REELSIGHT_MODE"
BATCH_SIZE = "REELSIGHT_BATCH_SIZE"
RESIZE = "REELSIGHT_RESIZE"
MAX_FRAMES = "REELSIGHT_MAX_FRAMES"
INCLUDE = "REELSIGHT_INCLUDE"
DEVICE = "REELSIGHT_DEVICE"
PRECISION = "REELSIGHT_PRECISION"

# --- Worker runtime. ---
PORT = "REELSIGHT_PORT"
MAX_CONCURRENCY = "REELSIGHT_MAX_CONCURRENT_INVOCATIONS"
MODEL_DIR = "REELSIGHT_MODEL_DIR"
ARTIFACT_BUCKET = "REELSIGHT_ARTIFACT_BUCKET"
ARTIFACT_PREFIX = "REELSIGHT_ARTIFACT_PREFIX"
# --- The cost receipt (reelsight.contract.cost): what the worker runs on, and the deployment's prices. ---
INSTANCE_TYPE = "REELSIGHT_INSTANCE_TYPE"
# JSON {"ml.g4dn.xlarge": 0.80}: USD per hour per instance type, over reelsight's price table.
PRICES = "REELSIGHT_PRICES"

# --- Processing contract paths (overridable for tests). ---
RESOURCE_CONFIG = "REELSIGHT_RESOURCE_CONFIG"
JOB_CONFIG = "REELSIGHT_PROCESSING_JOB_CONFIG"
PROCESSING_INPUT = "REELSIGHT_PROCESSING_INPUT"
PROCESSING_OUTPUT = "REELSIGHT_PROCESSING_OUTPUT"
OUTPUT_MESSAGE = "REELSIGHT_OUTPUT_MESSAGE"
# A folder that stands for /opt/ml: every container path /opt/ml/<rest> becomes <folder>/<rest>
# (the local Processing service sets it per host, so local runs never write under /opt/ml).
OPT_ML_ROOT = "REELSIGHT_OPT_ML_ROOT"
# Which run of a batch or split job this is (1, then 2, ... for each resume).
ATTEMPT = "REELSIGHT_ATTEMPT"

# --- API server. ---
API_URL = "REELSIGHT_API_URL"
API_TOKEN = "REELSIGHT_API_TOKEN"

# --- Lambdas (dispatcher and results handler); values come from the CDK stack. ---
JOBS_TABLE = "REELSIGHT_JOBS_TABLE"
IDEMPOTENCY_TABLE = "REELSIGHT_IDEMPOTENCY_TABLE"
INPUT_BUCKET = "REELSIGHT_INPUT_BUCKET"
RESULTS_BUCKET = "REELSIGHT_RESULTS_BUCKET"
UPLOAD_PREFIX = "REELSIGHT_UPLOAD_PREFIX"
BATCH_PREFIX = "REELSIGHT_BATCH_PREFIX"
# Overrides the contract's video suffix list (reelsight.contract.names.VIDEO_SUFFIXES).
VIDEO_SUFFIXES_OVERRIDE = "REELSIGHT_VIDEO_SUFFIXES"
ENDPOINT_NAME = "REELSIGHT_ENDPOINT_NAME"
ASYNC_MAX_BYTES = "REELSIGHT_ASYNC_MAX_BYTES"
INVOCATION_TIMEOUT_SECONDS = "REELSIGHT_INVOCATION_TIMEOUT_SECONDS"
REQUEST_TTL_SECONDS = "REELSIGHT_REQUEST_TTL_SECONDS"
# The dispatcher's Processing job definition, as JSON (reelsight.contract.processing.ProcessingJobDefinition).
PROCESSING_JOB_DEFINITION = "REELSIGHT_PROCESSING_JOB_DEFINITION"
RESULTS_TOPIC_ARN = "REELSIGHT_RESULTS_TOPIC_ARN"

# --- Sampling and inference defaults added for the remaining run options. ---
EVERY_SECONDS = "REELSIGHT_EVERY_SECONDS"
START = "REELSIGHT_START"
END = "REELSIGHT_END"
SIZE = "REELSIGHT_SIZE"
BACKEND = "REELSIGHT_BACKEND"
SCORE_THRESHOLD = "REELSIGHT_SCORE_THRESHOLD"
# Follow objects across frames (true/false); with it set here, REELSIGHT_FPS is the tracking rate.
TRACK = "REELSIGHT_TRACK"

# --- Lambdas: tuning knobs of the dispatcher and the results handler. ---
RESULTS_MAX_FETCH_BYTES = "REELSIGHT_RESULTS_MAX_FETCH_BYTES"
IDEMPOTENCY_TTL_SECONDS = "REELSIGHT_IDEMPOTENCY_TTL_SECONDS"

# --- Worker (serve/process) runtime, added for the worker. ---
HOST = "REELSIGHT_HOST"
MAX_BODY_BYTES = "REELSIGHT_MAX_BODY_BYTES"
MAX_RESPONSE_BYTES = "REELSIGHT_MAX_RESPONSE_BYTES"
JOB_ID = "REELSIGHT_JOB_ID"
PROGRESS_INTERVAL = "REELSIGHT_PROGRESS_INTERVAL"
# Partial results of an async job (serve): a part every this many frames or seconds, whichever first.
PART_FRAMES = "REELSIGHT_PART_FRAMES"
PART_SECONDS = "REELSIGHT_PART_SECONDS"
# Test hook: while this file exists, each invocation pauses before its model call (see docs/worker.md).
DEBUG_HOLD_FILE = "REELSIGHT_DEBUG_HOLD_FILE"
# serve: seconds a client may leave the request head or body without sending a byte (then 408).
READ_TIMEOUT_SECONDS = "REELSIGHT_READ_TIMEOUT_SECONDS"
# serve: seconds the whole request body may take to arrive (then 408).
BODY_TIMEOUT_SECONDS = "REELSIGHT_BODY_TIMEOUT_SECONDS"
# serve: open connections at most (uvicorn's limit; more are answered 503).
MAX_CONNECTIONS = "REELSIGHT_MAX_CONNECTIONS"
# serve: seconds SIGTERM waits for running invocations before the process exits without them.
SHUTDOWN_GRACE_SECONDS = "REELSIGHT_SHUTDOWN_GRACE_SECONDS"
# serve: where the worker's temporary files go (default: TMPDIR); stale ones are removed at start-up.
TEMP_DIR = "REELSIGHT_TEMP_DIR"

# --- API server: where the bearer token comes from, and its limits. ---
API_TOKEN_SECRET_ARN = "REELSIGHT_API_TOKEN_SECRET_ARN"
API_TOKEN_PARAMETER = "REELSIGHT_API_TOKEN_PARAMETER"
API_AUTH_FAILURES_PER_MINUTE = "REELSIGHT_API_AUTH_FAILURES_PER_MINUTE"
# The viewer's session cookie: seconds a sign-in lasts.
API_SESSION_SECONDS = "REELSIGHT_API_SESSION_SECONDS"
# Request bodies: the largest accepted (bytes), and the seconds a whole body may take to arrive.
API_MAX_BODY_BYTES = "REELSIGHT_API_MAX_BODY_BYTES"
API_BODY_TIMEOUT_SECONDS = "REELSIGHT_API_BODY_TIMEOUT_SECONDS"
# Connections: how many at once, the listen backlog, idle seconds before a keep-alive one closes,
# and the seconds a request's headers may take to arrive.
API_MAX_CONNECTIONS = "REELSIGHT_API_MAX_CONNECTIONS"
API_BACKLOG = "REELSIGHT_API_BACKLOG"
API_KEEP_ALIVE_SECONDS = "REELSIGHT_API_KEEP_ALIVE_SECONDS"
API_HEADER_TIMEOUT_SECONDS = "REELSIGHT_API_HEADER_TIMEOUT_SECONDS"

# --- TLS to the API (reelsight.tls): the server's files, and the certificate clients pin. ---
API_TLS_CERT_FILE = "REELSIGHT_API_TLS_CERT_FILE"
API_TLS_KEY_FILE = "REELSIGHT_API_TLS_KEY_FILE"
# A PEM file holding the API host's certificate; clients trust that certificate and nothing else.
API_CA_FILE = "REELSIGHT_API_CA_FILE"
# The SSM parameter the API host publishes its certificate in (read when API_CA_FILE is not set).
API_CERT_PARAMETER = "REELSIGHT_API_CERT_PARAMETER"

# --- Pretrained weights (`pretrained` and `auto`): bounds on their download into the torch hub cache. ---
# Seconds to wait on the network (to connect, then for each next piece of the file) before giving up.
WEIGHTS_DOWNLOAD_TIMEOUT = "REELSIGHT_WEIGHTS_DOWNLOAD_TIMEOUT_SECONDS"
# Seconds the whole download may take.
WEIGHTS_DOWNLOAD_MAX_SECONDS = "REELSIGHT_WEIGHTS_DOWNLOAD_MAX_SECONDS"

# --- Local stack (`reelsight local ...`, `make demo`). ---
LOCAL_STATE_DIR = "REELSIGHT_LOCAL_STATE_DIR"
LOCAL_STACK_MARKER = "REELSIGHT_LOCAL_STACK"
# Soak fault injection: the fraction of delivered SQS messages each event-source runner sends again
# (S3 and SNS deliver at least once), and the JSON-lines file where every injected fault is recorded.
LOCAL_DUPLICATE_FRACTION = "REELSIGHT_LOCAL_DUPLICATE_FRACTION"
LOCAL_FAULTS_FILE = "REELSIGHT_LOCAL_FAULTS_FILE"

# --- The built-in SSD artifacts (reelsight.mx). ---
LABELS_FILE = "REELSIGHT_LABELS_FILE"
