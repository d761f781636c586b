# switchyard developer tasks. Recipes are plain POSIX sh.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Extra pytest arguments, e.g. `make test PYTEST_ARGS="tests/store -x"`; they come last,
# so `PYTEST_ARGS=-n0` runs the suite serially in one process.
PYTEST_ARGS ?=
# pytest-xdist: one worker per logical CPU (a 2-vCPU VM often reports 1 physical core, which
# `-n auto` would use); tests marked xdist_group run in one worker.
PYTEST_XDIST ?= -n logical --dist loadgroup

.PHONY: venv run test lint bench

venv: $(VENV)/.installed

# Re-install whenever pyproject.toml is newer than the stamp.
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -e ".[test,bench]"
	touch $@

# Demo data goes to its own store ($$XDG_DATA_HOME/switchyard/demo/), never your real one.
run: venv
	$(BIN)/switchyard demo --open

# pytest exit code 5 ("no tests collected") counts as success. Prints the 15 slowest tests.
test: venv
	rc=0; $(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_XDIST) --durations=15 \
	  $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest: no tests collected (exit 5) - treated as success"; rc=0; fi; \
	exit $$rc

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	bash .ci/lint-imports
	bash .ci/mypy

bench: venv
	for f in bench/*.py; do \
	  [ -e "$$f" ] || continue; \
	  echo "== $$f"; \
	  $(BIN)/python "$$f" || exit $$?; \
	done
