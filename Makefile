# TuneTrail ML engine: one plain GNU Makefile.
#   make            build build/tunetrail
#   make test       install dependencies, build, run every test (unit, API, dashboard in Chromium)
#   make asan       the same tests under AddressSanitizer + UndefinedBehaviorSanitizer
#   make valgrind   API tests reaching every endpoint with the server under valgrind memcheck
#   make soak       10 minutes of mixed wrk load with reloads; fails on errors or RSS growth
#   make run        install, build, create the demo database if missing, run the service
#   make bench      build the benchmarks into build/bench/
#   make install    install under PREFIX (/usr/local) into DESTDIR: binary, man page,
#                   bash completion, systemd units
#   make fuzz       build the libFuzzer harnesses of tests/fuzz/ with clang into build/fuzz/ and
#                   run each for FUZZ_SECONDS (30), FUZZ_JOBS (1) at a time (docs/reliability.md)

# The engine's version: its one source (tunetrail --version, the man page).
VERSION  := 0.9.0
PKGS     := sqlite3 libpq jansson libmicrohttpd openblas hiredis libcrypto
BUILD    ?= build
CC       ?= cc
CXX      ?= g++
OPT      ?= -O3
SAN      ?=
comma    := ,
SANFLAGS := $(if $(SAN),-fsanitize=address$(comma)undefined -fno-omit-frame-pointer \
            -fno-sanitize-recover=undefined)
# SAN=fuzz (make fuzz): the same sanitizers, plus libFuzzer's coverage instrumentation.
ifeq ($(SAN),fuzz)
SANFLAGS := -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer \
            -fno-sanitize-recover=undefined
endif

# The builds that make test, asan, fuzz and run start use every core unless make was given -j
# (read when the recipe runs, when MAKEFLAGS holds the command line's -j).
NPROC    := $(shell nproc 2>/dev/null || echo 1)
JOBS      = $(if $(filter -j%,$(MAKEFLAGS)),,-j$(NPROC))

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

CFLAGS   := -std=c11 -Wall -Wextra -Werror $(OPT) -g -D_GNU_SOURCE -Iinclude -pthread \
            $(PKG_CFLAGS) $(SANFLAGS) -MMD -MP
CXXFLAGS := -std=c++17 -Wall -Wextra -Werror $(OPT) -g -Iinclude -fopenmp $(SANFLAGS) -MMD -MP
LDLIBS   := $(PKG_LIBS) -lm -pthread
LDFLAGS  := $(SANFLAGS)

LIB_C    := $(filter-out src/cli/main.c,$(wildcard src/*/*.c src/*/*/*.c))
LIB_CXX  := $(wildcard src/*/*.cpp)
LIB_OBJ  := $(LIB_C:%.c=$(BUILD)/obj/%.o) $(LIB_CXX:%.cpp=$(BUILD)/obj/%.o)
# Files compiled into the binary as byte arrays (scripts/embed-file): the pages the engine
# serves (web/NAME.html as tt__web_NAME) and docs/openapi.json (tt__openapi_json).
WEB_SRC  := $(wildcard web/*.html)
LIB_OBJ  += $(WEB_SRC:web/%.html=$(BUILD)/obj/gen/web_%.o) $(BUILD)/obj/gen/openapi_json.o
ifneq ($(LIB_CXX),)
LINK     := $(CXX)
# libfaiss.a is static: it must come before the shared BLAS/LAPACK it calls.
LDLIBS   := -lfaiss -fopenmp -llapack $(LDLIBS)
else
LINK     := $(CC)
endif

TEST_SRC := $(wildcard tests/unit/test_*.c)
TEST_BIN := $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)
TEST_SUP := $(wildcard tests/unit/support/*.c)
TEST_SUP_OBJ := $(TEST_SUP:%.c=$(BUILD)/obj/%.o)
BENCH_SRC := $(wildcard bench/bench_*.c)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

# make install PREFIX=/usr/local DESTDIR=: the binary, its man page, the bash completion and
# the systemd units (their ExecStart= rewritten to $(PREFIX)/bin/tunetrail).
PREFIX   ?= /usr/local
DESTDIR  ?=
BINDIR   := $(PREFIX)/bin
MANDIR   := $(PREFIX)/share/man/man1
BASHDIR  := $(PREFIX)/share/bash-completion/completions
UNITDIR  := $(PREFIX)/lib/systemd/system
SYSUSERSDIR := $(PREFIX)/lib/sysusers.d
UNITS    := $(wildcard deploy/systemd/*.service deploy/systemd/*.timer)

.PHONY: all test asan valgrind soak run bench clean deps check-layers check-systemd unit api \
	format-check fuzz fuzz-seeds install uninstall
all: $(BUILD)/tunetrail $(BUILD)/tunetrail.1 $(BUILD)/tunetrail.bash

# The man page and the completion come from the binary's own option tables: they cannot
# drift from --help.
$(BUILD)/tunetrail.1: $(BUILD)/tunetrail
	$(BUILD)/tunetrail help --man > $@.tmp && mv $@.tmp $@

$(BUILD)/tunetrail.bash: $(BUILD)/tunetrail
	$(BUILD)/tunetrail help --completion bash > $@.tmp && mv $@.tmp $@

install: $(BUILD)/tunetrail $(BUILD)/tunetrail.1 $(BUILD)/tunetrail.bash
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR) $(DESTDIR)$(BASHDIR) \
		$(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR)
	install -m 0755 $(BUILD)/tunetrail $(DESTDIR)$(BINDIR)/tunetrail
	install -m 0644 $(BUILD)/tunetrail.1 $(DESTDIR)$(MANDIR)/tunetrail.1
	install -m 0644 $(BUILD)/tunetrail.bash $(DESTDIR)$(BASHDIR)/tunetrail
	install -m 0644 deploy/systemd/tunetrail.sysusers $(DESTDIR)$(SYSUSERSDIR)/tunetrail.conf
	for u in $(UNITS); do \
		sed 's#/usr/local/bin/tunetrail#$(BINDIR)/tunetrail#g' $$u > $(DESTDIR)$(UNITDIR)/$${u##*/} && \
		chmod 0644 $(DESTDIR)$(UNITDIR)/$${u##*/} || exit 1; \
	done

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/tunetrail $(DESTDIR)$(MANDIR)/tunetrail.1 \
		$(DESTDIR)$(BASHDIR)/tunetrail $(DESTDIR)$(SYSUSERSDIR)/tunetrail.conf \
		$(addprefix $(DESTDIR)$(UNITDIR)/,$(notdir $(UNITS)))

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/obj/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -c $< -o $@

# Only version.c sees the version: a new one rebuilds one file.
$(BUILD)/obj/src/core/version.o: CFLAGS += -DTT_VERSION='"$(VERSION)"'
$(BUILD)/obj/src/core/version.o: Makefile

$(BUILD)/gen/web_%.c: web/%.html scripts/embed-file
	@mkdir -p $(dir $@)
	scripts/embed-file tt__web_$* $< >$@.tmp && mv $@.tmp $@

$(BUILD)/gen/openapi_json.c: docs/openapi.json scripts/embed-file
	@mkdir -p $(dir $@)
	scripts/embed-file tt__openapi_json docs/openapi.json >$@.tmp && mv $@.tmp $@

.PRECIOUS: $(BUILD)/gen/%.c

$(BUILD)/obj/gen/%.o: $(BUILD)/gen/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libtt.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/tunetrail: $(BUILD)/obj/src/cli/main.o $(BUILD)/libtt.a
	$(LINK) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(TEST_SUP_OBJ) $(BUILD)/libtt.a
	@mkdir -p $(dir $@)
	$(LINK) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcriterion

$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(BUILD)/libtt.a
	@mkdir -p $(dir $@)
	$(LINK) $(LDFLAGS) -o $@ $^ $(LDLIBS)

deps:
	@scripts/install-deps

check-layers:
	@scripts/check_layers.sh

check-systemd:
	@tests/deploy/check-systemd $(BUILD)/tunetrail

unit: $(BUILD)/tunetrail $(TEST_BIN)
	@scripts/run-tests $(BUILD)

test: deps
	@$(MAKE) --no-print-directory check-layers
	@$(MAKE) --no-print-directory $(JOBS) $(BUILD)/tunetrail $(TEST_BIN)
	@scripts/run-tests $(BUILD)

# Suites whose subject is not the engine's C code, left to make test: the layer rules (a
# script over the sources), the OpenAPI document's lint, the systemd units' syntax, and the
# dashboard's drawing in Chromium (its endpoints run under the sanitizers in the API suite).
# The API suite takes about twice its usual time here: its runaway bound is raised to match,
# and its fixture's tuning is capped at 5 s a model (the full search takes about a minute under
# the sanitizers; the tuner's own tests still run here in full).
ASAN_SKIP := layers openapi-lint systemd dashboard

asan: deps
	@$(MAKE) --no-print-directory $(JOBS) BUILD=build/asan SAN=1 OPT=-O1 build/asan/tunetrail \
		$(TEST_BIN:$(BUILD)/%=build/asan/%)
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
		TT_SKIP_SUITES="$(ASAN_SKIP)" TT_API_BOUND=600 \
		TT_API_TRAIN_FLAGS="--tune-budget 5" scripts/run-tests build/asan

# Slow (minutes each), so not part of make test.
valgrind: deps
	@$(MAKE) --no-print-directory $(BUILD)/tunetrail
	@scripts/valgrind-api $(BUILD)/tunetrail

soak: $(BUILD)/tunetrail
	@bench/soak.sh

bench: $(BUILD)/tunetrail $(BENCH_BIN)

# ---- fuzzing: libFuzzer harnesses, tests/fuzz/fuzz_<name>.c, each picked up by its name ----
#
# make fuzz builds the library with clang under SAN=fuzz (libFuzzer's coverage, ASan, UBSan)
# into build/fuzz/, apart from build/ and build/asan/, links each harness with libFuzzer's main
# into build/fuzz/bin/, and scripts/run-fuzz runs each for FUZZ_SECONDS on a copy of its seed
# corpus (tests/fuzz/corpus/<name>/, never written to), FUZZ_JOBS at a time; it fails when a
# harness crashes, leaks or trips a sanitizer. FUZZ_TARGETS="csv radio_cursor" runs only those.
#
# The FAISS shim (src/ann/faiss_shim.cpp) is compiled by clang++ with the same flags as the C
# files, so the index loader is instrumented like the rest, and the harnesses are linked by
# clang++ against the same static libfaiss.a as the g++ build. clang's -fopenmp links LLVM's
# libomp, which also provides the GOMP_* entry points of the GCC-built libfaiss.a; libgomp is
# not linked, so one OpenMP runtime runs in the process.
FUZZ_SECONDS ?= 30
FUZZ_JOBS    ?= 1
FUZZ_TARGETS ?=
FUZZ_SRC     := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_SUP_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard tests/fuzz/support/*.c))
FUZZ_SAN     := -fsanitize=fuzzer,address,undefined -fno-omit-frame-pointer \
                -fno-sanitize-recover=undefined

ifeq ($(SAN),fuzz)
# Kept, so relinking one harness does not recompile the others.
.PRECIOUS: $(BUILD)/obj/tests/fuzz/%.o

$(BUILD)/obj/tests/fuzz/%.o: tests/fuzz/%.c
	@mkdir -p $(dir $@)
	$(CC) $(filter-out $(SANFLAGS),$(CFLAGS)) $(FUZZ_SAN) -c $< -o $@

$(BUILD)/bin/fuzz_%: $(BUILD)/obj/tests/fuzz/fuzz_%.o $(FUZZ_SUP_OBJ) $(BUILD)/libtt.a
	@mkdir -p $(dir $@)
	$(LINK) $(FUZZ_SAN) -o $@ $^ $(LDLIBS)
endif

fuzz: deps
	@$(MAKE) --no-print-directory $(JOBS) BUILD=build/fuzz SAN=fuzz OPT=-O1 CC=clang CXX=clang++ \
		$(if $(FUZZ_TARGETS),$(patsubst %,build/fuzz/bin/fuzz_%,$(FUZZ_TARGETS:fuzz_%=%)), \
		     $(FUZZ_SRC:tests/fuzz/%.c=build/fuzz/bin/%))
	@scripts/run-fuzz build/fuzz $(FUZZ_SECONDS) $(FUZZ_JOBS) $(FUZZ_TARGETS)

# The binary seeds of the model-file harnesses (models, catalog, taste summary, indexes of
# each type), trained on tiny data by tests/fuzz/tools/make_seeds.c with the plain build.
# Rerun after a change of the file formats, and commit what it rewrites.
fuzz-seeds: $(BUILD)/tools/make_seeds
	$(BUILD)/tools/make_seeds tests/fuzz/corpus

$(BUILD)/tools/make_seeds: $(BUILD)/obj/tests/fuzz/tools/make_seeds.o \
		$(BUILD)/obj/tests/fuzz/support/fuzz_data.o $(BUILD)/obj/tests/fuzz/support/fuzz_support.o \
		$(BUILD)/libtt.a
	@mkdir -p $(dir $@)
	$(LINK) $(LDFLAGS) -o $@ $^ $(LDLIBS)

run: deps
	@$(MAKE) --no-print-directory $(JOBS) $(BUILD)/tunetrail
	@scripts/run-demo $(BUILD)/tunetrail

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
