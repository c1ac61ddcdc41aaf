# fusion-emu: the public interface. `make run` and `make test` set themselves up.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PRESET ?= small
SIM    ?= icarus
JOBS   ?= 2
STAMP  := $(VENV)/.installed
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

SEEDS  ?= 1 2 3
TOPS   ?=

.PHONY: help setup run test test-unit sim regress soak verilog lint waves bench clean

help:
	@echo "make setup    install Icarus (Debian) and the Python environment in $(VENV)"
	@echo "make run      the default scenario (PRESET=$(PRESET)): spec + framing simulation"
	@echo "make test     every test: unit tests and cocotb tests on Icarus and Verilator"
	@echo "make sim      cocotb tests on one simulator: SIM=icarus|verilator"
	@echo "make regress  cocotb tests for each of SEEDS='$(SEEDS)' with PACKETS=5000"
	@echo "make soak     the tests marked soak (the chiplet parts' lockstep on both simulators),"
	@echo "              then chiplets under cocotb at 5,000 transactions per test, both"
	@echo "              simulators (pair: clean, damaged, plane failure with damage; fabric)"
	@echo "make verilog  export Verilog + parameter JSON to build/verilog/PRESET"
	@echo "make lint     ruff, and verilator --lint-only -Wall on the exported Verilog"
	@echo "              (TOPS='switch' PRESET=trn4-nvl72: the 72-port switch alone, ~11 min, 6 GB)"
	@echo "make waves    run the framing loopback with WAVES=1 and print the waveform paths"
	@echo "make bench    benchmarks: JSON and plots in build/bench"
	@echo "make clean    remove build outputs (keeps $(VENV))"

setup: $(STAMP)

$(STAMP): pyproject.toml
	@command -v iverilog >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
		$(SUDO) apt-get install -y -qq iverilog; }
	@command -v perl >/dev/null 2>&1 || $(SUDO) apt-get install -y -qq perl
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $@

run: $(STAMP)
	$(BIN)/fusion-emu run --preset $(PRESET)

test: $(STAMP)
	$(BIN)/python -m pytest -n $(JOBS) tests

test-unit: $(STAMP)
	$(BIN)/python -m pytest -n $(JOBS) tests/unit

sim: $(STAMP)
	$(BIN)/python -m pytest -n $(JOBS) tests/sim -k $(SIM)

regress: $(STAMP)
	@for seed in $(SEEDS); do \
		echo "== seed $$seed"; \
		SEED=$$seed PACKETS=5000 $(BIN)/python -m pytest -n $(JOBS) -q tests/sim || exit 1; \
	done

verilog: $(STAMP)
	$(BIN)/fusion-emu export --preset $(PRESET)

soak: $(STAMP)
	$(BIN)/python -m pytest -n $(JOBS) -m soak tests
	TRANSACTIONS=5000 PAIR_DAMAGE=1 FABRIC_TRANSACTIONS=5000 \
	PAIR_TESTS=clean_links,link_errors,plane_failure,plane_killed,lockstep_with_model \
	FABRIC_SIMULATORS=verilator FABRIC_TESTS=damaged_wires,plane_failure,plane_killed \
	$(BIN)/python -m pytest -n $(JOBS) tests/sim/test_chiplet_pair.py tests/sim/test_chiplet_fabric.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m hdl.lint --preset $(PRESET) $(foreach top,$(TOPS),--top $(top))

waves: $(STAMP)
	WAVES=1 $(BIN)/python -m pytest tests/sim/test_framing_loopback.py -k $(SIM) -q
	$(BIN)/python -m testbench.waves build/sim/framing_loopback-small-$(SIM)-waves

bench: $(STAMP)
	$(BIN)/fusion-emu bench

clean:
	rm -rf build sim_build results.xml .pytest_cache .ruff_cache .hypothesis
