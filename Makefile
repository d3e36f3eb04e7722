# The front door. `make` builds (Release), `make test` installs what is missing, builds and
# runs every test, `make demo` installs what is missing, builds the daemon and the tour and
# runs the tour on three local nodes, `make bench` runs the benchmarks, `make fuzz` the fuzzers.
# SANITIZE=address,undefined or SANITIZE=thread build into their own folders.

SHELL := /bin/bash
comma := ,
SANITIZE ?=
BUILD_TYPE ?= Release
JOBS ?= $(shell nproc)
FUZZ_SECONDS ?= 60

ifeq ($(SANITIZE),)
  BUILD_DIR ?= build
else
  BUILD_DIR ?= build-$(subst $(comma),-,$(SANITIZE))
  BUILD_TYPE := RelWithDebInfo
endif

# Debian bookworm packages the build and tests need (libssl-dev: CapnProtoConfig.cmake asks
# for OpenSSL; libhttp-parser-dev parses requests to the metrics endpoint; docker-compose
# checks docker/compose.yml, iproute2 makes the netns cluster).
PACKAGES := cmake ninja-build g++ pkg-config libuv1-dev capnproto libcapnp-dev libssl-dev \
            libxxhash-dev libsodium-dev catch2 libfmt-dev libspdlog-dev libcli11-dev \
            libmimalloc-dev libcurl4-openssl-dev libhttp-parser-dev python3 \
            docker-compose iproute2
FUZZ_PACKAGES := clang-14 libclang-rt-14-dev

.PHONY: all build deps test bench fuzz demo format clean

all: build

deps:
	@scripts/install-deps.sh $(PACKAGES)

# Sanitizer builds skip the benchmarks: they are measured in Release only.
$(BUILD_DIR)/build.ninja:
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DEMBER_SANITIZE=$(SANITIZE) \
	  $(if $(SANITIZE),-DEMBER_BENCH=OFF "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -DNDEBUG")

build: deps $(BUILD_DIR)/build.ninja
	cmake --build $(BUILD_DIR) -j $(JOBS)

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) --timeout 300

# Only what the tour runs is built: on a fresh machine the tests and benchmarks wait for
# `make test`.
demo: deps $(BUILD_DIR)/build.ninja
	cmake --build $(BUILD_DIR) -j $(JOBS) --target ember-node ember-demo ember
	scripts/demo.sh $(BUILD_DIR)

bench: build
	scripts/run-bench.sh $(BUILD_DIR)

fuzz:
	@scripts/install-deps.sh $(PACKAGES) $(FUZZ_PACKAGES)
	cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 \
	  -DCMAKE_CXX_FLAGS=-fsanitize=fuzzer-no-link -DEMBER_SANITIZE=address,undefined \
	  -DEMBER_FUZZ=ON -DEMBER_TESTS=OFF -DEMBER_BENCH=OFF
	cmake --build build-fuzz -j $(JOBS) --target fuzz_term_parser fuzz_frame_decoder fuzz_make_seeds
	scripts/run-fuzz.sh build-fuzz $(FUZZ_SECONDS)

format:
	clang-format -i $$(git ls-files '*.cpp' '*.hpp')

clean:
	rm -rf build build-* fuzz-corpus
