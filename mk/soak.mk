# `make soak`: uploads through the local stack with faults injected (see docs/local-stack.md).
# SOAK_ARGS passes options, e.g. `make soak SOAK_ARGS="--uploads 200 --rate 0"`.
.PHONY: soak

SOAK_ARGS ?= --uploads 1000 --rate 1.0

soak: $(VENV_STAMP) $(NODE_STAMP)
	@$(MAKE) --no-print-directory synth
	$(PY) -m reelsight.local.soak $(SOAK_ARGS)
