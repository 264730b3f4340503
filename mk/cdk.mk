# CDK app: offline synth, template summaries, and the checkov environment the infra tests use.
CDK_OUT := cdk.out
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
# Node.js majors reelsight supports (LTS); Node 20 is past end of life but still runs the pinned CDK.
NODE_SUPPORTED := 22 24
NODE_MAJOR := $(shell node -p 'process.versions.node.split(".")[0]' 2>/dev/null)
# jsii (the CDK's JavaScript runtime, started by the app's Python) warns about any other Node with a
# 13-line banner that its Python side echoes as raw bytes (b'!!!...'). Exported, so that every CDK run
# below make (synth, demo, the local stack's synth, tests) has them. The end-of-life switch takes the
# silenced majors ("1" silences nothing); `synth` prints one readable note instead.
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := $(NODE_MAJOR)
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION := 1
ifeq ($(NODE_MAJOR),20)
NODE_NOTE := note: Node.js v20 is past end of life; reelsight supports Node 22 and 24 (20 still works)
else ifneq ($(NODE_MAJOR),$(filter $(NODE_MAJOR),$(NODE_SUPPORTED)))
NODE_NOTE := note: reelsight supports Node.js 22 and 24; this is v$(NODE_MAJOR), which may not run the CDK
endif

TEST_PREREQS += $(CHECKOV_STAMP)

.PHONY: synth template-summary cdk-validate

synth: $(VENV_STAMP) $(NODE_STAMP)
	$(if $(NODE_NOTE),@echo "$(NODE_NOTE)" >&2)
	npx --no-install cdk synth --no-notices --quiet --output $(CDK_OUT)

template-summary: synth
	$(PY) -m stacks.summary $(CDK_OUT) docs/infrastructure

cdk-validate: synth $(CHECKOV_STAMP)
	$(VENV)/bin/cfn-lint
	$(CHECKOV_VENV)/bin/checkov --config-file .checkov.yaml -d $(CDK_OUT)

# checkov's pins conflict with the shared environment, so it gets its own.
$(CHECKOV_STAMP): $(LOCK_DIR)/checkov.txt
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON_BOOT) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m $(PIP_LOCKED) -r $(LOCK_DIR)/checkov.txt
	@touch $@
