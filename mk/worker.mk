# The worker image (containers/worker) and its tests (tests/worker/).
WORKER_IMAGE ?= reelsight-worker
WORKER_MODEL ?= maskrcnn

.PHONY: worker-test worker-lint worker-image worker-serve

worker-test: $(VENV_STAMP)
	$(PY) -m pytest tests/worker

worker-lint: $(VENV_STAMP)
	$(VENV)/bin/hadolint containers/worker/Dockerfile

# Needs a Docker engine and network access (the build downloads the model's weights).
worker-image:
	docker build -f containers/worker/Dockerfile --build-arg MODEL=$(WORKER_MODEL) -t $(WORKER_IMAGE):$(WORKER_MODEL) .

# The inference server on 127.0.0.1:8080 with random weights (no download needed).
worker-serve: $(VENV_STAMP)
	REELSIGHT_WEIGHTS=$${REELSIGHT_WEIGHTS:-random} $(PY) -m reelsight serve --model $(WORKER_MODEL)
