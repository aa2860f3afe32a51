# Common commands. `make demo` and `make test` are the two set-up commands of the README:
# each creates .venv (if needed), installs CareTwin into it and runs.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test lint format bench bench-quick fuzz-fhir fuzz-hl7 clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/caretwin demo

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

bench-quick: $(STAMP)
	$(BIN)/python benchmarks/run.py --quick

# 50,000 mutated FHIR lines through the ingest (CI runs 2,000 in tests/test_fuzz_fhir.py)
fuzz-fhir: $(STAMP)
	$(BIN)/python -m tests.fuzz.fhir_fuzz --cases 50000 --seed 1

# 50,000 mutated HL7 v2 messages through parse, feed, lake commit and ACK (CI runs 1,200 in
# tests/test_hl7_fuzz.py)
fuzz-hl7: $(STAMP)
	$(BIN)/python -m tests.fuzz.hl7_fuzz --cases 50000 --seed 1

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache .coverage
