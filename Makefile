# Common commands. `make demo` and `make test` are the two set-up commands of the README: each
# creates .venv (if needed), installs CareTwin into it and runs. `make demo` installs only what
# CareTwin needs to run; `make test` adds the test and lint tools (pytest, mypy, ruff, Dask,
# PostgreSQL driver, FHIR model libraries, SimPy).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
RUN_STAMP  := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed-test
# `make test-quick`: the edit loop's subset (no slow or browser tests) on every core (pytest-xdist),
# stopping at the first failure. Budget: under 60 s on a 2-core machine.
QUICK  ?= -m "not slow and not browser" -n auto -x -q

.PHONY: install install-test demo test test-quick lint format bench bench-quick fuzz-fhir fuzz-hl7 clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# `caretwin warmup` compiles the fast engine now (tens of seconds, once) rather than at the
# first simulate; a failure there only means the first simulate compiles instead.
$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	-$(BIN)/caretwin warmup
	touch $@

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	-$(BIN)/caretwin warmup
	touch $@ $(RUN_STAMP)

install: $(RUN_STAMP)

install-test: $(TEST_STAMP)

demo: $(RUN_STAMP)
	$(BIN)/caretwin demo

# everything, slow and browser tests included: nothing is deselected. Two pytest-xdist workers
# (one per core of the reference machine), a test file per worker so module fixtures are built once;
# the 25 slowest tests are listed at the end, to keep the suite's budget (10 minutes) in sight.
TEST_WORKERS ?= 2
test: $(TEST_STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --durations=25

test-quick: $(TEST_STAMP)
	$(BIN)/python -m pytest $(QUICK)

lint: $(TEST_STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(TEST_STAMP)
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

bench: $(TEST_STAMP)
	$(BIN)/python benchmarks/run.py

bench-quick: $(TEST_STAMP)
	$(BIN)/python benchmarks/run.py --quick

# 50,000 mutated FHIR lines through the ingest (CI runs 2,000 in tests/test_fuzz_fhir.py)
fuzz-fhir: $(TEST_STAMP)
	$(BIN)/python -m tests.fuzz.fhir_fuzz --cases 50000 --seed 1

# 50,000 mutated HL7 v2 messages through parse, feed, lake commit and ACK (CI runs 1,200 in
# tests/test_hl7_fuzz.py)
fuzz-hl7: $(TEST_STAMP)
	$(BIN)/python -m tests.fuzz.hl7_fuzz --cases 50000 --seed 1

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache .coverage
