# deltacodec — top-level convenience targets. See README.md.
# Every user-facing target installs what it needs first (`deps`), so a fresh
# Debian 12 machine needs nothing but `make`.

PY        ?= /usr/bin/python3
BUILD     ?= build
JOBS      ?= $(shell nproc)
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=Release

# Debian packages the build, tests, harness and benchmarks need.
DEB_PACKAGES = build-essential cmake pkg-config libzstd-dev libxxhash-dev \
  nlohmann-json3-dev libcli11-dev libgtest-dev libgmock-dev libbenchmark-dev \
  pybind11-dev python3-dev python3-numpy python3-torch libopenblas0-pthread \
  python3-matplotlib dataset-fashion-mnist

.PHONY: all deps build demo test test-unit test-asan zoo results bench format clean

all: build

deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "deps: installing$$missing"; \
	  SUDO=""; [ "$$(id -u)" -eq 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	else echo "deps: all Debian packages present"; fi

build: deps
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

demo: build
	@bash examples/demo.sh $(BUILD)/deltacodec

# Every test: C++ unit + CLI tests (ctest), then the harness smoke test.
test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	$(PY) eval/smoke_test.py --cli $(BUILD)/deltacodec

# Address + undefined-behaviour sanitizer build of the same tests (CI runs it).
test-asan: deps
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DDELTACODEC_SANITIZE=ON -DDELTACODEC_BENCH=OFF >/dev/null
	cmake --build build-asan -j $(JOBS)
	cd build-asan && ctest --output-on-failure -j $(JOBS)

# ---- model zoo and results (issue: model zoo / accuracy harness) ----
zoo: build
	$(PY) eval/zoo.py

results: build
	$(PY) eval/run_experiments.py --cli $(BUILD)/deltacodec
	$(PY) eval/range_study.py --cli $(BUILD)/deltacodec

# ---- benchmarks (issue: speed and scale) ----
bench: build
	bash bench/run_bench.sh $(BUILD)

format:
	clang-format -i include/deltacodec/*.hpp src/*.cpp src/*.hpp cli/*.cpp tests/*.cpp bench/*.cpp

clean:
	rm -rf $(BUILD) build-asan
