# The two commands in README.md: `make demo` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
DEMO   := demo

.PHONY: setup demo test check bench mutate clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e . --group dev
	@touch $(STAMP)

setup: $(STAMP)

## Build a sample catalogue in ./demo, evaluate, check, run the workflow, sign a card; then
## open the terminal app when run in a terminal.
demo: setup
	$(BIN)/govern demo --dir $(DEMO)
	@if [ -t 0 ] && [ -t 1 ]; then \
		GOVERN_HOME=$(DEMO)/people/carol GOVERN_USER=carol $(BIN)/govern tui; \
	fi

## The whole test suite, on SQLite and a throwaway PostgreSQL server.
test: setup
	scripts/run-tests

## Lint, format, types and the layer contracts.
check: setup
	$(BIN)/ruff check govern tests benchmarks sample_data
	$(BIN)/ruff format --check govern tests benchmarks sample_data
	$(BIN)/mypy
	$(BIN)/lint-imports

## Benchmarks print ratios against baselines measured in the same run.
bench: setup
	@for script in benchmarks/bench_*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

## Mutation testing of the security-critical code, area by area (docs/mutation.md). Slow
## (tens of minutes), so not part of `make test` or CI; fails if an area scores below 90%.
## One area: `make mutate AREAS=lifecycle`.
mutate: setup
	nice -n 10 $(BIN)/python scripts/mutate $(AREAS)

clean:
	rm -rf mutants mutants-logs $(DEMO) .pytest_cache .mypy_cache .ruff_cache .pytest-postgres build dist
