# Two set-up commands for a fresh machine: `make run` and `make test`. Both create .venv and install the pinned
# packages (requirements.lock) when they are missing or have changed.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test demo contracts bench bench-smoke clean

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(BIN)/paritrana up

# The checkers first (pyproject.toml says what they check); a finding fails the run.
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest --durations=20 $(PYTEST_ARGS)

# The fault suite at length (tests/faults, docs/faults.md): six times the CI durations (the broker stays away 30 s),
# 40 registrations a second. Minutes; run by hand. SOAK_SCALE / SOAK_RATE change both.
SOAK_SCALE ?= 6
SOAK_RATE ?= 40
soak: $(STAMP)
	PARITRANA_FAULT_SCALE=$(SOAK_SCALE) PARITRANA_FAULT_RATE=$(SOAK_RATE) $(BIN)/python -m pytest tests/faults $(PYTEST_ARGS)

demo: $(STAMP)
	$(BIN)/paritrana demo $(DEMO_ARGS)

# The national-enrolment-wave benchmark (docs/benchmark.md): e.g. make bench BENCH_ARGS="--db postgresql".
bench: $(STAMP)
	$(BIN)/paritrana bench $(BENCH_ARGS)

bench-smoke: $(STAMP)
	$(BIN)/paritrana bench --smoke $(BENCH_ARGS)

contracts: $(STAMP)
	$(BIN)/paritrana contracts export

clean:
	rm -rf var .pytest_cache
