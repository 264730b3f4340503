# CDK app: offline synth, template summaries, and the checkov environment the infra tests use.
CDK_OUT := cdk.out
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
CHECKOV_VERSION := 3.3.30
# Node 20 still runs the pinned CDK; silence jsii's end-of-life banner in command output.
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION := 1
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 1

TEST_PREREQS += $(CHECKOV_STAMP)

.PHONY: synth template-summary cdk-validate

synth: $(VENV_STAMP) $(NODE_STAMP)
	npx --no-install cdk synth --no-notices --quiet --output $(CDK_OUT)

template-summary: synth
	$(PY) -m stacks.summary $(CDK_OUT) docs/infrastructure

cdk-validate: synth $(CHECKOV_STAMP)
	$(VENV)/bin/cfn-lint
	$(CHECKOV_VENV)/bin/checkov --config-file .checkov.yaml -d $(CDK_OUT)

# checkov's pins conflict with the shared environment, so it gets its own.
$(CHECKOV_STAMP):
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON_BOOT) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet checkov==$(CHECKOV_VERSION)
	@touch $@
