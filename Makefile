# espnet2_speechprompt developer entry points. The venv lives in tools/venv (gitignored).
SHELL := /bin/bash
PY := tools/venv/bin/python
LINT_PATHS := $(wildcard espnet2_speechprompt test bench)

.PHONY: venv venv-test demo test lint bench

venv:
	tools/setup_venv.sh

venv-test:
	tools/setup_venv.sh --test

demo: venv
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
