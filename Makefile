# espnet2_speechprompt developer entry points. The venv lives in tools/venv (gitignored).
SHELL := /bin/bash
PY := tools/venv/bin/python
LINT_PATHS := $(wildcard espnet2_speechprompt test bench)
RECIPE := egs2/mini_speechcommands/speechprompt1

.PHONY: venv venv-test demo demo-debug demo-synthetic test lint bench

venv:
	tools/setup_venv.sh

venv-test:
	tools/setup_venv.sh --test

# The main job: the mini Speech Commands recipe (corpus synthesized with espeak-ng, no
# downloads), every stage; prints where RESULTS.md is.
demo: venv
	tools/install_system_deps.sh
	cd $(RECIPE) && ./run.sh
	@echo "results: $(RECIPE)/exp/speechprompt_train_learnable/RESULTS.md"

# The same stages on a small corpus with short training (what the tests run, in a copy).
demo-debug: venv
	tools/install_system_deps.sh
	cd $(RECIPE) && local/run_debug.sh
	@echo "results: $(RECIPE)/exp/debug/speechprompt_train_debug/RESULTS.md"

# End-to-end prompt tuning on synthetic units (seconds; no audio, no espeak-ng).
demo-synthetic: venv
	$(PY) -m espnet2_speechprompt.bin.demo

test: venv-test
	tools/install_system_deps.sh --test || echo "warning: system packages missing; the tests that need them skip"
	$(PY) -m pytest -q test

lint: venv-test
	$(PY) -m ruff check $(LINT_PATHS)
	$(PY) -m black --check $(LINT_PATHS)

bench: venv
	$(PY) bench/bench_prompt_lm.py
	$(PY) bench/bench_units.py
	$(PY) bench/bench_encdec.py
	OMP_NUM_THREADS=1 $(PY) bench/bench_vocoder.py
