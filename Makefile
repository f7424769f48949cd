# unibus: the two commands of the README (make run, make test) and their helpers.
# Everything is built by CMake; this file only sequences the steps.

BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
VALGRIND_BUILD ?= build-valgrind
FUZZ_SECONDS ?= 60
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
DATA_DIR   ?= ./unibus-data

PREFIX     ?= /usr/local

.PHONY: all deps build run cluster-demo test test-asan test-valgrind check-layout bench fuzz-build fuzz fuzz-ci install clean

all: build

deps:
	@sh scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

run: build
	@echo "Starting membershipd on http://127.0.0.1:8470 (data in $(DATA_DIR); Ctrl-C stops it)."
	@echo "In another terminal, make yourself an identity and an admin:"
	@echo "  $(BUILD)/membershipd/membershipd keygen --out me.seed"
	@echo "  $(BUILD)/membershipd/membershipd user add me <the nkey it printed> --admin --data-dir $(DATA_DIR)"
	@echo "  curl -s http://127.0.0.1:8470/v1/info"
	@echo
	@$(BUILD)/membershipd/membershipd serve --data-dir $(DATA_DIR)

# Three nodes as one bus on this machine (README, "A cluster on one machine").
cluster-demo: build
	@scripts/cluster-demo.sh $(BUILD)/membershipd/membershipd $(BUILD)/client/unibus $(DATA_DIR)-cluster

test: build
	@ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

test-asan: deps
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DUNIBUS_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)
	@ctest --test-dir $(ASAN_BUILD) --output-on-failure -j $(JOBS)

# The client library's tests under valgrind memcheck (dev/valgrind.md).
test-valgrind: deps
	@cmake -S . -B $(VALGRIND_BUILD) -DCMAKE_BUILD_TYPE=Debug -DUNIBUS_VALGRIND=ON >/dev/null
	@cmake --build $(VALGRIND_BUILD) -j $(JOBS)
	@ctest --test-dir $(VALGRIND_BUILD) --output-on-failure -j $(JOBS) -L client

# The layering check (dev/layout.md): every #include and every layer's
# CMake links against the table there.  Also ctest's `layout`.
check-layout:
	@python3 scripts/check-layout.py

# libFuzzer targets (dev/fuzzing.md), built by clang in their own tree.
fuzz-build: deps
	@CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=Debug -DUNIBUS_FUZZ=ON >/dev/null
	@cmake --build $(FUZZ_BUILD) -j $(JOBS)

# Every target FUZZ_SECONDS; what adds coverage is merged into tests/fuzz/corpus.
fuzz: fuzz-build
	@sh tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) merge

# CI: every target 30 s, the repository untouched.
fuzz-ci: fuzz-build
	@sh tests/fuzz/run.sh $(FUZZ_BUILD) 30 scratch

# Benchmarks (dev/bench.md): a few minutes; not part of make test.
bench: build
	@$(BUILD)/bench/unibus_bench --out bench/results.json

install: build
	@cmake --install $(BUILD) --prefix $(PREFIX)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD) $(VALGRIND_BUILD)
