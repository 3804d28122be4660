# Thin front end over CMake. `make` builds, `make test` runs the whole test
# suite, `make run` runs brisk on its default model. Each target first runs
# scripts/setup.sh, which installs what is missing and is silent otherwise.
BUILD ?= build
JOBS ?= $(shell nproc)
WERROR ?= OFF

.PHONY: all build setup test run fuzz clean

all: build

setup:
	@scripts/setup.sh

build: setup
	@cmake -S . -B $(BUILD) -DBRISK_WERROR=$(WERROR) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

# C unit tests (plain and ASan+UBSan builds), Python integration tests, and a
# bounded fuzzing run of the GGUF reader (FUZZ_SECONDS, default 60).
test: setup
	@scripts/test.sh

PROMPT ?= The three most useful things to know about the Moon are
run: build
	@model=$$(scripts/fetch_model.py) && $(BUILD)/brisk run -m "$$model" -p "$(PROMPT)" -n 96

fuzz: setup
	@FUZZ_ONLY=1 scripts/test.sh

clean:
	rm -rf $(BUILD) build-asan build-fuzz
