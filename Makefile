# TuneTrail ML engine: one plain GNU Makefile.
#   make            build build/tunetrail
#   make test       install dependencies, build, run every test (unit, API, dashboard in Chromium)
#   make asan       the same tests under AddressSanitizer + UndefinedBehaviorSanitizer
#   make run        install, build, create the demo database if missing, run the service
#   make bench      build the benchmarks into build/bench/

PKGS     := sqlite3 libpq jansson libmicrohttpd openblas hiredis libcrypto
BUILD    ?= build
CC       ?= cc
CXX      ?= g++
OPT      ?= -O3
SAN      ?=
comma    := ,
SANFLAGS := $(if $(SAN),-fsanitize=address$(comma)undefined -fno-omit-frame-pointer \
            -fno-sanitize-recover=undefined)

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

.PHONY: all test asan run bench clean deps check-layers check-systemd unit api format-check
all: $(BUILD)/tunetrail

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/obj/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -c $< -o $@

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
	@$(MAKE) --no-print-directory $(BUILD)/tunetrail $(TEST_BIN)
	@scripts/run-tests $(BUILD)

asan: deps
	@$(MAKE) --no-print-directory BUILD=build/asan SAN=1 OPT=-O1 build/asan/tunetrail \
		$(TEST_BIN:$(BUILD)/%=build/asan/%)
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
		scripts/run-tests build/asan

bench: $(BUILD)/tunetrail $(BENCH_BIN)

run: deps
	@$(MAKE) --no-print-directory $(BUILD)/tunetrail
	@scripts/run-demo $(BUILD)/tunetrail

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
