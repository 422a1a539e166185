# mproc - the two commands a new user needs:
#   make demo   builds mproc and runs the tutorial's programs, side by side, timed
#   make test   builds everything and runs the whole test suite
# Both install the Debian packages they lack when run as root, or print the
# exact apt-get line. Everything else is for developers.

BUILD    ?= build
GENERATOR ?= Ninja
CMAKE_ARGS ?=
NPROC    := $(shell nproc 2>/dev/null || echo 2)
# One test file at a time: the per-test leak check reads global state (/dev/shm,
# children), and crash tests measure who is alive.
CTEST_ARGS ?= --output-on-failure -j1

configure = cmake -S . -B $(1) -G $(GENERATOR) $(2) $(CMAKE_ARGS) >/dev/null
# Test builds compile the crash tests' kill points in (MPROC_FAULT_INJECTION)
# and require Criterion; a build for use or install leaves them out. One build
# directory switches between the two (and recompiles the library).
TESTING  := -DMPROC_FAULT_INJECTION=ON -DMPROC_BUILD_TESTS=ON
SHIPPING := -DMPROC_FAULT_INJECTION=OFF
# A literal comma inside $(call ...) arguments (a bare one splits them).
comma := ,

.PHONY: all demo python test bench sanitize tsan fuzz stress soak install format format-check clean deps-build deps-test

all: deps-build
	$(call configure,$(BUILD),$(SHIPPING))
	cmake --build $(BUILD)

deps-build:
	@scripts/deps.sh build

deps-test:
	@scripts/deps.sh build test

# The tutorial's programs in Python with multiprocessing, in Python with mproc
# and in C, one table (scripts/demo.py; DEMO_ARGS="--count 10_000_000 --repeat 1"
# for a short run). `$(BUILD)/mproc demo` alone runs the C programs.
DEMO_ARGS ?=
demo: deps-test
	$(call configure,$(BUILD),-DCMAKE_BUILD_TYPE=Release)
	cmake --build $(BUILD) --target mproc_demo_programs
	python3 scripts/demo.py --build $(BUILD) $(DEMO_ARGS)

# mproc for Python alone, importable with PYTHONPATH=$(BUILD)/python.
python: deps-test
	$(call configure,$(BUILD),)
	cmake --build $(BUILD) --target mproc_python
	@echo "mproc for Python: PYTHONPATH=$(BUILD)/python python3 -c 'import mproc'"

test: deps-test
	$(call configure,$(BUILD),$(TESTING))
	cmake --build $(BUILD)
	cd $(BUILD) && ctest $(CTEST_ARGS)

bench: deps-test
	@scripts/deps.sh bench
	$(call configure,$(BUILD),-DCMAKE_BUILD_TYPE=Release $(SHIPPING))
	cmake --build $(BUILD)
	$(BUILD)/mproc bench

sanitize: deps-test
	$(call configure,build-asan,$(TESTING) -DMPROC_SANITIZE=address$(comma)undefined -DCMAKE_BUILD_TYPE=Debug -DMPROC_BUILD_BENCH=OFF)
	cmake --build build-asan
	cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 ctest $(CTEST_ARGS)

tsan: deps-test
	$(call configure,build-tsan,$(TESTING) -DMPROC_SANITIZE=thread -DCMAKE_BUILD_TYPE=Debug -DMPROC_BUILD_BENCH=OFF -DMPROC_MPI=OFF)
	cmake --build build-tsan
	cd build-tsan && TSAN_OPTIONS=halt_on_error=1 ctest $(CTEST_ARGS)

fuzz: deps-test
	@scripts/deps.sh fuzz
	CC=clang $(call configure,build-fuzz,-DMPROC_BUILD_FUZZ=ON -DMPROC_BUILD_TESTS=OFF -DMPROC_BUILD_BENCH=OFF -DMPROC_SANITIZE=address$(comma)undefined$(comma)fuzzer-no-link)
	cmake --build build-fuzz
	scripts/fuzz.sh build-fuzz $${FUZZ_SECONDS:-60}

stress: deps-test
	$(call configure,$(BUILD),$(TESTING))
	cmake --build $(BUILD)
	cd $(BUILD) && MPROC_STRESS=100 ctest $(CTEST_ARGS) -R 'crash|stress'

soak: deps-test
	$(call configure,$(BUILD),$(TESTING))
	cmake --build $(BUILD)
	$(BUILD)/tests/soak $${SOAK_SECONDS:-180}

install: all
	cmake --install $(BUILD)

format:
	clang-format -i $$(git ls-files '*.c' '*.h' '*.cpp' '*.hpp')

format-check:
	clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h' '*.cpp' '*.hpp')

clean:
	rm -rf build build-asan build-tsan build-fuzz build-clang
