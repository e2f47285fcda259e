# espnet2_speechprompt developer entry points. The venv lives in tools/venv (gitignored).
SHELL := /bin/bash
PY := tools/venv/bin/python
LINT_PATHS := $(wildcard espnet2_speechprompt test bench)
RECIPE := egs2/mini_speechcommands/speechprompt1

.PHONY: venv venv-test demo demo-recipe demo-debug test lint bench

venv:
	tools/setup_venv.sh

venv-test:
	tools/setup_venv.sh --test

# The main job for now: end-to-end prompt tuning on synthetic units (seconds; no audio).
demo: venv
	$(PY) -m espnet2_speechprompt.bin.demo

# The mini Speech Commands recipe (synthesized corpus, no downloads), every stage.
demo-recipe: venv
	tools/install_system_deps.sh
	cd $(RECIPE) && ./run.sh
	@echo "results: $(RECIPE)/exp/RESULTS.md"

# Every stage of the same recipe on a small corpus with a short training (CI).
demo-debug: venv
	tools/install_system_deps.sh
	cd $(RECIPE) && ./run.sh --expdir exp/debug --dumpdir dump/debug \
		--local_data_opts "--debug" --speechprompt_config conf/train_debug.yaml
	@echo "results: $(RECIPE)/exp/debug/RESULTS.md"

test: venv-test
	tools/install_system_deps.sh --test || echo "warning: system packages missing; the tests that need them skip"
	$(PY) -m pytest -q test

lint: venv-test
	$(PY) -m ruff check $(LINT_PATHS)
	$(PY) -m black --check $(LINT_PATHS)

bench: venv
	$(PY) bench/bench_prompt_lm.py
	$(PY) bench/bench_units.py
