# The MXNet/GluonCV environment (.venv-mxnet) and its tests (tests_mx/).
# MXNet 1.9.1 needs numpy 1.23 and gluoncv refuses to import beside torch >= 2, so this
# environment is separate from .venv; reelsight itself is put on its path with a .pth file.
MX_VENV ?= .venv-mxnet
MX_PY := $(MX_VENV)/bin/python
MX_STAMP := $(MX_VENV)/.installed

.PHONY: mx-venv mx-test

# --no-deps: the lock leaves out the GUI opencv-python that gluoncv declares (see mxnet.in).
$(MX_STAMP): $(LOCK_DIR)/mxnet-dev.txt mk/mxnet.mk
	@test -x $(MX_PY) || $(PYTHON_BOOT) -m venv $(MX_VENV)
	$(MX_PY) -m $(PIP_LOCKED) --no-deps -r $(LOCK_DIR)/mxnet-dev.txt
	$(MX_PY) -c "import site, pathlib; pathlib.Path(site.getsitepackages()[0], 'reelsight-src.pth').write_text('$(CURDIR)\n')"
	$(MX_PY) -c "import mxnet, gluoncv, cv2, av; print('mxnet', mxnet.__version__, 'gluoncv', gluoncv.__version__)"
	@touch $@

mx-venv: $(MX_STAMP)

mx-test: $(MX_STAMP)
	$(MX_PY) -m pytest tests_mx

TEST_PREREQS += mx-test
