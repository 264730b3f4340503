# The local stack and `make demo`: the whole upload -> inference -> notification flow, no AWS account.
.PHONY: demo local-up local-down local-status

# tests/local synthesizes the templates with the pinned CDK CLI when cdk.out/ is missing or stale.
TEST_PREREQS += $(NODE_STAMP)

# 1. synthesize the templates, 2-5. start the stack, submit a sample video, print the results, stop.
demo: $(VENV_STAMP) $(NODE_STAMP) $(DEMO_PREREQS)
	@$(MAKE) --no-print-directory synth
	$(PY) -m reelsight.local.demo

local-up: $(VENV_STAMP) $(NODE_STAMP)
	$(PY) -m reelsight local up

local-down: $(VENV_STAMP)
	$(PY) -m reelsight local down

local-status: $(VENV_STAMP)
	$(PY) -m reelsight local status
