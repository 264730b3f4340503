# API server and results viewer: the system's headless Chromium for the viewer test, and a venv
# holding only the API image's requirements, in which the container test runs the server.
API_CHROMIUM := /usr/bin/chromium
API_VENV := .venv-api
API_VENV_STAMP := $(API_VENV)/.installed
API_HOST ?= 127.0.0.1
API_PORT ?= 8000

TEST_PREREQS += $(NODE_STAMP) $(API_CHROMIUM) $(API_VENV_STAMP)

.PHONY: api test-api lint-api-image

# Debian's Chromium, driven by node_modules/playwright-core (no browser download). CI runs as root.
$(API_CHROMIUM):
	apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium

$(API_VENV_STAMP): $(LOCK_DIR)/api.txt
	@test -x $(API_VENV)/bin/python || $(PYTHON_BOOT) -m venv $(API_VENV)
	$(API_VENV)/bin/python -m $(PIP_LOCKED) -r $(LOCK_DIR)/api.txt
	@touch $@

# Serve the API and viewer; needs REELSIGHT_JOBS_TABLE, REELSIGHT_RESULTS_BUCKET, REELSIGHT_INPUT_BUCKET
# and REELSIGHT_API_TOKEN (see docs/api.md).
api: $(VENV_STAMP)
	$(PY) -m reelsight api --host $(API_HOST) --port $(API_PORT)

test-api: $(VENV_STAMP) $(NODE_STAMP) $(API_CHROMIUM) $(API_VENV_STAMP)
	$(PY) -m pytest tests/api

lint-api-image: $(VENV_STAMP)
	$(VENV)/bin/hadolint containers/api/Dockerfile
