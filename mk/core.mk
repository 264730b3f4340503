# Core library: the benchmark against the seed-002 handler, and an offline demo of `reelsight run`.

BENCH_ARGS ?=
DEMO_OFFLINE_DIR ?= demo-out/offline

.PHONY: bench bench-split demo-offline

# Full run: 30 s 1080p clip; fp32 at the default and at the seed's pixel count, and bf16;
# 1- and 10-minute memory clips. `make bench BENCH_ARGS=--quick` for a short one; add
# `--out bench-results.json` to keep the numbers.
bench: $(VENV_STAMP)
	$(PY) -m bench.run_bench $(BENCH_ARGS)

# One 60-second video on 1 host vs cut by time over 3 (a split Processing job, real processes
# against a moto S3 server). `make bench-split SPLIT_ARGS="--hosts 2"` to change it.
SPLIT_ARGS ?=
bench-split: $(VENV_STAMP)
	$(PY) -m bench.split_hosts $(SPLIT_ARGS)

# A synthetic clip through Mask R-CNN with random weights: no AWS, no network, no GPU needed.
demo-offline: $(VENV_STAMP)
	@mkdir -p $(DEMO_OFFLINE_DIR)
	$(PY) -c "from reelsight.testing.videos import write_video; \
	write_video('$(DEMO_OFFLINE_DIR)/sample.mp4', seconds=10, fps=30, width=640, height=360, gop=30)"
	$(PY) -m reelsight run $(DEMO_OFFLINE_DIR)/sample.mp4 --model maskrcnn --weights random --fps 1 \
	    --score-threshold 0.3 --preview --out $(DEMO_OFFLINE_DIR)/results
	@echo "results: $(DEMO_OFFLINE_DIR)/results (summary.json, frames.jsonl, contact_sheet.png, preview.mp4)"
