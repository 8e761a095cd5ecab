# deltacodec — top-level convenience targets. See README.md.
# Every user-facing target installs what it needs first (`deps`), so a fresh
# Debian 12 machine needs nothing but `make`.

PY        ?= /usr/bin/python3
BUILD     ?= build
JOBS      ?= $(shell nproc)
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=Release
PREFIX    ?= /usr/local

# Debian packages the library and the CLI need to build (`make cli`, `make install`).
BUILD_PACKAGES = build-essential cmake pkg-config libzstd-dev libxxhash-dev nlohmann-json3-dev libcli11-dev \
  libopenblas-dev
# What `make demo` adds: its NumPy evaluator of the example model (examples/accuracy.py; OpenBLAS
# for speed) and the data set (about 45 MB in all; no PyTorch).
DEMO_PACKAGES = python3-numpy libopenblas0-pthread dataset-fashion-mnist
# Debian packages the build, tests, harness and benchmarks need.
# The Python package (`make install-python`, pip install .): pybind11, NumPy, and pip with
# setuptools offline; pytest and venv for its tests.
PYTHON_PACKAGES = pybind11-dev python3-dev python3-numpy python3-setuptools python3-wheel python3-pip python3-venv
DEB_PACKAGES = $(BUILD_PACKAGES) $(DEMO_PACKAGES) $(PYTHON_PACKAGES) libgtest-dev libgmock-dev libbenchmark-dev \
  python3-torch python3-matplotlib python3-pytest

# `make bench` / `make profile` add perf (bench/profile.sh: where the time goes).
BENCH_PACKAGES = linux-perf

# Only `make fuzz` needs these (clang 14 and its libFuzzer/sanitizer runtimes).
FUZZ_PACKAGES = clang libclang-rt-14-dev

# ---- fuzzing (tests/fuzz/README.md) ----
FUZZ_BUILD   ?= build-fuzz
FUZZ_SECONDS ?= 600
FUZZ_TARGETS ?= safetensors index dcx_info dcx_decompress
FUZZ_FLAGS   ?= -rss_limit_mb=2048 -timeout=10 -print_final_stats=1

.PHONY: all deps deps-build deps-demo fuzz-deps build cli demo install install-cpp install-python deps-python test test-unit test-asan fuzz fuzz-build fuzz-merge zoo results bench profile format clean

all: build

deps:
	@$(MAKE) --no-print-directory install-packages PACKAGES="$(DEB_PACKAGES)"

deps-build:
	@$(MAKE) --no-print-directory install-packages PACKAGES="$(BUILD_PACKAGES)"

deps-demo: deps-build
	@$(MAKE) --no-print-directory install-packages PACKAGES="$(DEMO_PACKAGES)"

deps-python: deps-build
	@$(MAKE) --no-print-directory install-packages PACKAGES="$(PYTHON_PACKAGES)"

fuzz-deps: deps
	@$(MAKE) --no-print-directory install-packages PACKAGES="$(FUZZ_PACKAGES)"

.PHONY: install-packages
install-packages:
	@missing=""; for p in $(PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "deps: installing$$missing"; \
	  SUDO=""; [ "$$(id -u)" -eq 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	else echo "deps: all Debian packages present"; fi

# Everything: library, CLI, tests, benchmarks, Python module (on again if `make cli` configured $(BUILD)).
build: deps
	cmake -S . -B $(BUILD) -DDELTACODEC_TESTS=ON -DDELTACODEC_BENCH=ON -DDELTACODEC_PYTHON=ON $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

# The library and the CLI only. A fresh $(BUILD) is configured without tests, benchmarks and the
# Python module (they need packages the CLI does not); an existing one keeps its settings.
cli: deps-build
	@[ -f $(BUILD)/CMakeCache.txt ] || cmake -S . -B $(BUILD) -DDELTACODEC_TESTS=OFF -DDELTACODEC_BENCH=OFF \
	  -DDELTACODEC_PYTHON=OFF $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD) -j $(JOBS) --target deltacodec_cli

demo: cli deps-demo
	@bash examples/demo.sh $(BUILD)/deltacodec

# Installs under PREFIX (DESTDIR honoured): bin/deltacodec, include/deltacodec/*.hpp, libdeltacodec.a,
# lib/cmake/deltacodec/ (find_package) and lib/pkgconfig/deltacodec.pc (see docs/API.md).
# install-python (below) installs the Python package into PY's environment (PREFIX does not apply).
install: install-cpp install-python

install-cpp: cli
	cmake --build $(BUILD) -j $(JOBS)
	DESTDIR="$(DESTDIR)" cmake --install $(BUILD) --prefix "$(PREFIX)"

# Every test: C++ unit + CLI tests (ctest), then the harness smoke test.
test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	$(PY) eval/smoke_test.py --cli $(BUILD)/deltacodec

# The Python package into $(PY)'s environment (README.md, "From Python"): pip drives
# setup.py, which builds with CMake (in build/python-pip), offline: Debian's setuptools,
# nothing from PyPI. Debian's own python3 is "externally managed" (PEP 668): for it pip
# needs --break-system-packages and installs under /usr/local; a venv's python
# (make install-python PY=VENV/bin/python) needs nothing more.
PIP_INSTALL_FLAGS ?= --no-build-isolation --no-index
install-python: deps-python
	@managed=$$($(PY) -c 'import sys, sysconfig, os; print(int(sys.prefix == sys.base_prefix and os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED"))))'); \
	flags="$(PIP_INSTALL_FLAGS)"; [ "$$managed" = 1 ] && flags="$$flags --break-system-packages"; \
	echo "$(PY) -m pip install $$flags ."; $(PY) -m pip install $$flags .

# Address + undefined-behaviour sanitizer build of the same tests (CI runs it).
test-asan: deps
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DDELTACODEC_SANITIZE=ON -DDELTACODEC_BENCH=OFF >/dev/null
	cmake --build build-asan -j $(JOBS)
	cd build-asan && ctest --output-on-failure -j $(JOBS)

# Each libFuzzer target runs for FUZZ_SECONDS on a scratch copy of its corpus
# ($(FUZZ_BUILD)/corpus/<target>: new inputs land there, for review); crashing
# inputs go to tests/fuzz/crashes/<target>/, which ctest replays in every build.
fuzz-build: fuzz-deps
	CC=clang CXX=clang++ cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDELTACODEC_FUZZ=ON \
	  -DDELTACODEC_TESTS=OFF -DDELTACODEC_BENCH=OFF -DDELTACODEC_PYTHON=OFF >/dev/null
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target $(addprefix fuzz_,$(FUZZ_TARGETS))

fuzz: fuzz-build
	@set -e; for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FUZZ_BUILD)/corpus/$$t tests/fuzz/crashes/$$t; \
	  dict=""; [ -f tests/fuzz/$$t.dict ] && dict="-dict=tests/fuzz/$$t.dict"; \
	  echo "fuzz: $$t for $(FUZZ_SECONDS) s (log: $(FUZZ_BUILD)/fuzz_$$t.log)"; \
	  $(FUZZ_BUILD)/tests/fuzz/fuzz_$$t $(FUZZ_BUILD)/corpus/$$t tests/fuzz/corpus/$$t $$dict $(FUZZ_FLAGS) \
	    -max_total_time=$(FUZZ_SECONDS) -artifact_prefix=tests/fuzz/crashes/$$t/ \
	    >$(FUZZ_BUILD)/fuzz_$$t.log 2>&1 || { tail -n 40 $(FUZZ_BUILD)/fuzz_$$t.log; exit 1; }; \
	  grep -E "^#[0-9]+ *DONE|stat::number_of_executed_units|stat::average_exec_per_sec" $(FUZZ_BUILD)/fuzz_$$t.log; \
	done

# Adds the inputs of the last runs that reach new edges (smallest first) to the committed corpus (review, then commit).
fuzz-merge: fuzz-build
	@set -e; for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FUZZ_BUILD)/corpus/$$t; \
	  $(FUZZ_BUILD)/tests/fuzz/fuzz_$$t -merge=1 -use_counters=0 -rss_limit_mb=2048 -timeout=10 tests/fuzz/corpus/$$t $(FUZZ_BUILD)/corpus/$$t; \
	done

# ---- model zoo and results (issue: model zoo / accuracy harness) ----
zoo: build
	$(PY) eval/zoo.py

results: build
	$(PY) eval/rd_results.py --cli $(BUILD)/deltacodec
	$(PY) eval/run_experiments.py --cli $(BUILD)/deltacodec
	$(PY) eval/range_study.py --cli $(BUILD)/deltacodec

# ---- benchmarks (issue: speed and scale) ----
bench: build
	@$(MAKE) --no-print-directory install-packages PACKAGES="$(BENCH_PACKAGES)"
	bash bench/run_bench.sh $(BUILD)

# perf profiles of compress and decompress on the pair `make bench` generated.
profile: build
	@$(MAKE) --no-print-directory install-packages PACKAGES="$(BENCH_PACKAGES)"
	bash bench/profile.sh $(BUILD)

format:
	clang-format -i include/deltacodec/*.hpp src/*.cpp src/*.hpp src/*/*.cpp src/*/*.hpp cli/*.cpp python/*.cpp tests/*.cpp tests/fuzz/*.cpp bench/*.cpp

clean:
	rm -rf $(BUILD) build-asan $(FUZZ_BUILD)
