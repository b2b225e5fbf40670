# The two commands a newcomer needs: `make demo` and `make test`. Both build .venv from scratch.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
UV     := $(BIN)/uv
export UV_NATIVE_TLS := 1
# Python writes the bytecode of what it imports (into .venv and the source tree's __pycache__), even where the
# environment says not to: without it every process compiles every module it imports, each time (a service's
# start, a test worker's collection, each `bts` command), about half of their start-up CPU (docs/benchmarks.md).
unexport PYTHONDONTWRITEBYTECODE

.PHONY: install test lint typecheck unit demo up clean lock browser

$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found: install Python 3.11 or run make PYTHON=/path/to/python3.11"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==0.13.9
	$(UV) pip install --python $(BIN)/python --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy

# The report's browser test needs Chromium (Debian's package; root installs it here and in CI).
browser:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing chromium for the browser test"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "error: the browser test needs chromium (Debian: sudo apt-get install chromium)"; exit 1; fi; }

# Three pytest workers on two cores: the suite spends about a third of its time waiting (stacks starting,
# recoveries, broker round trips), which a third worker fills (docs/benchmarks.md). Each takes whole files,
# in the order they are collected: the fault tests (the longest files) first, the unit tests last, so the
# workers end together. (pytest-xdist's default hands out the files with the most tests first, which left
# the longest files, with two or three tests each, to the end of one worker.)
TEST_WORKERS ?= 3

# The example strategy plugin is installed first, so its own tests (and the gateway's plugin test) run.
test: lint typecheck browser
	$(UV) pip install --python $(BIN)/python --quiet -c constraints.txt -e examples/donchian-breakout
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder --max-worker-restart=0

# Two workers: the unit tests take ~26 s in one process (30 s with its start), 20 s on two.
UNIT_WORKERS ?= 2
unit: install
	$(BIN)/pytest tests/unit -q -n $(UNIT_WORKERS)

demo: install
	$(BIN)/bts demo

up: install
	$(BIN)/bts up

# Re-pin every transitive dependency after changing pyproject.toml.
lock:
	@test -x $(UV) || { $(PYTHON) -m venv $(VENV) && $(BIN)/python -m pip install --quiet uv==0.13.9; }
	$(UV) pip compile --quiet --python-version 3.11 --extra dev pyproject.toml -o constraints.txt

clean:
	rm -rf $(VENV) .bts .mypy_cache .ruff_cache .pytest_cache
