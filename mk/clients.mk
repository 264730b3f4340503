# Real AWS clients for tests/local: the AWS CLI v1 with the SageMaker Python SDK v2 (.venv-clients),
# and the SageMaker Python SDK v3 (.venv-clients-v3). Each has its own environment, because the
# SDKs' pins are not the project's and v2 and v3 cannot be installed side by side. The tests run
# them as subprocesses against the local stack, changing nothing but the endpoint environment.
CLIENTS_VENV := .venv-clients
CLIENTS_STAMP := $(CLIENTS_VENV)/.installed
CLIENTS_V3_VENV := .venv-clients-v3
CLIENTS_V3_STAMP := $(CLIENTS_V3_VENV)/.installed

.PHONY: clients-venvs

$(CLIENTS_STAMP): $(LOCK_DIR)/clients.txt
	@test -x $(CLIENTS_VENV)/bin/python || $(PYTHON_BOOT) -m venv $(CLIENTS_VENV)
	$(CLIENTS_VENV)/bin/python -m $(PIP_LOCKED) -r $(LOCK_DIR)/clients.txt
	$(CLIENTS_VENV)/bin/python -c "import sagemaker, awscli; print('sagemaker', sagemaker.__version__, 'awscli', awscli.__version__)"
	@touch $@

$(CLIENTS_V3_STAMP): $(LOCK_DIR)/clients-v3.txt
	@test -x $(CLIENTS_V3_VENV)/bin/python || $(PYTHON_BOOT) -m venv $(CLIENTS_V3_VENV)
	$(CLIENTS_V3_VENV)/bin/python -m $(PIP_LOCKED) -r $(LOCK_DIR)/clients-v3.txt
	$(CLIENTS_V3_VENV)/bin/python -c "from importlib.metadata import version; print('sagemaker', version('sagemaker'))"
	@touch $@

clients-venvs: $(CLIENTS_STAMP) $(CLIENTS_V3_STAMP)

TEST_PREREQS += $(CLIENTS_STAMP) $(CLIENTS_V3_STAMP)
