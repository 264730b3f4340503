# The dispatcher and results Lambdas: their tests run against a moto server on loopback.
.PHONY: test-lambdas

test-lambdas: $(VENV_STAMP)
	$(PY) -m pytest tests/lambdas
