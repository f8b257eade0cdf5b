# The two commands: `make test` and `make demo`. Both create and fill their
# own virtual environment, so they work on a fresh clone.

PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3.13 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Every distribution in the repository, installed in editable mode.
DISTS := $(sort $(dir $(wildcard adapters/*/pyproject.toml stores/*/pyproject.toml examples/*/pyproject.toml)))
DIST_FILES := $(wildcard adapters/*/pyproject.toml stores/*/pyproject.toml examples/*/pyproject.toml)
# Every package mypy checks.
PACKAGES := core/satchel $(wildcard adapters/*/satchel_* stores/*/satchel_* examples/*/satchel_*)

.PHONY: install test lint typecheck pytest docs demo bench clean soak fuzz mutate

install: $(STAMP)

$(STAMP): pyproject.toml requirements/dev.txt $(DIST_FILES)
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "satchel needs Python 3.11 or newer (PYTHON=$(PYTHON))"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements/dev.txt -e . $(foreach dist,$(DISTS),-e $(dist))
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy --strict $(PACKAGES)

pytest: $(STAMP)
	$(BIN)/pytest

test: lint typecheck pytest

docs: $(STAMP)
	@# Material prints a banner about MkDocs 2 on every build; it is not a warning of ours.
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

# The demo app: aiohttp with the in-memory store, no external server needed.
# Other frameworks and stores: .venv/bin/satchel-demo --help
demo: $(STAMP)
	$(BIN)/satchel-demo --framework aiohttp --store memory --host 127.0.0.1 --port 8080

# Benchmarks: the peers come from the package registry into this environment.
BENCH_STAMP := $(VENV)/.bench-installed

$(BENCH_STAMP): $(STAMP) requirements/bench.txt
	$(BIN)/python -m pip install --quiet -r requirements/bench.txt
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/python bench/run.py

# Soak: the demo server on each framework with the Redis and PostgreSQL stores
# under a bounded loopback load, then under store faults (SOAK_SECONDS per run,
# default 60). Needs redis-server on PATH and PostgreSQL on 127.0.0.1:5432.
soak: $(STAMP)
	$(BIN)/python -m soak.run

# Coverage-guided fuzzing of the core (atheris): FUZZ_SECONDS per target. New
# corpus entries and failing inputs go to fuzz/.work/ (ignored by git).
FUZZ_SECONDS ?= 60

fuzz: $(STAMP)
	$(BIN)/python -m fuzz.run --seconds $(FUZZ_SECONDS)

# Mutation testing of the core (mutmut): _cookies, _record, _seal and _keyring,
# each against the core tests that cover it, one worker, at most MUTATE_SECONDS
# per module (default 600). Prints the score per module and fails on a
# surviving mutant that mutate/survivors.md does not list (docs/testing.md).
# MUTATE_MODULES picks some of the modules, e.g. MUTATE_MODULES="_seal _keyring".
MUTATE_STAMP := $(VENV)/.mutate-installed
MUTATE_SECONDS ?= 600
MUTATE_MODULES ?=

$(MUTATE_STAMP): $(STAMP) requirements/mutate.txt
	$(BIN)/python -m pip install --quiet -r requirements/mutate.txt
	touch $(MUTATE_STAMP)

mutate: $(MUTATE_STAMP)
	$(BIN)/python -m mutate.run --seconds $(MUTATE_SECONDS) $(MUTATE_MODULES)

clean:
	rm -rf $(VENV) site .mypy_cache .ruff_cache .pytest_cache .hypothesis
