# Flex: one plain Makefile.
#
#   make            build the five programs into build/
#   make test       install missing packages, build, run every test (unit,
#                   integration, fuzz smoke); ends with "N passed, N failed"
#   make asan       the whole suite under ASan + UBSan (clang, libc malloc)
#   make tsan       the whole suite under TSan (clang, libc malloc)
#   make fuzz       every fuzzer for FUZZ_TIME seconds (default 60)
#   make bench      build and run the microbenchmarks (release flags)
#   make demo       install, build and run the demo
#   make install    PREFIX=/usr/local DESTDIR=
#   make format-check
#
# V=1 shows full commands; ERR=0 drops -Werror.

PKG_CONFIG ?= pkg-config
CC ?= cc
CLANG ?= clang
CFLAGS ?= -O2 -g
LDFLAGS ?=
PREFIX ?= /usr/local
DESTDIR ?=
ERR ?= 1
SAN ?=
FUZZ_TIME ?= 60
BUILD ?= build

WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 \
        -Wvla -Wundef
# NOWARN: unused parameters are common in callbacks with fixed signatures.
WARN += -Wno-unused-parameter
ifeq ($(ERR),1)
WARN += -Werror
endif

PKGS := liburing hiredis libprotobuf-c libcurl openssl jansson libsystemd libmicrohttpd
ifeq ($(SAN),asan)
CC := $(CLANG)
CFLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
LDFLAGS += -fsanitize=address,undefined
override CPPFLAGS += -DFLEX_NO_JEMALLOC
else ifeq ($(SAN),tsan)
CC := $(CLANG)
CFLAGS := -O1 -g -fsanitize=thread
LDFLAGS += -fsanitize=thread
override CPPFLAGS += -DFLEX_NO_JEMALLOC
else
PKGS += jemalloc
endif

DEP_CFLAGS = $(shell $(PKG_CONFIG) --cflags $(PKGS))
DEP_LIBS = $(shell $(PKG_CONFIG) --libs $(PKGS)) -lm -lpthread
GEN := $(BUILD)/gen

override CFLAGS += -std=gnu17 -MMD -MP $(WARN)
override CPPFLAGS += -D_GNU_SOURCE -Iengine -Iadapters -I$(GEN)

ifeq ($(V),1)
Q :=
E := @true
else
Q := @
E := @printf '  %-6s %s\n'
endif

# --- sources ---------------------------------------------------------------
MAINS := engine/flexd.c engine/flexctl.c bench/flexbench.c bench/smscsim.c bench/httpsim.c
# The simulators' engines: linked into their programs, not into libflex.
SIM_OBJS := $(BUILD)/obj/bench/smsc.o $(BUILD)/obj/bench/simcommon.o
LIB_SRCS := $(filter-out $(MAINS),$(wildcard engine/*.c adapters/*.c))
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o) $(GEN)/flex.pb-c.o
PROGS := $(addprefix $(BUILD)/,flexd flexctl flexbench smscsim httpsim)
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
# Integration test programs (C, talking to the real programs over loopback)
INTEG_SRCS := $(wildcard tests/integ/test_*.c)
INTEG_BINS := $(INTEG_SRCS:tests/integ/test_%.c=$(BUILD)/tests/integ_%)
BENCH_SRCS := $(wildcard bench/bench_*.c)
BENCH_BINS := $(BENCH_SRCS:bench/%.c=$(BUILD)/bench/%)
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=build/fuzz/%)
FUZZ_LIB_OBJS := $(LIB_SRCS:%.c=build/fuzz/obj/%.o) build/fuzz/obj/gen/flex.pb-c.o

.PHONY: all test test-run asan tsan fuzz fuzz-build bench demo install clean \
        format format-check deps check-deps tests hooks
.DEFAULT_GOAL := all
.SECONDARY:

all: $(PROGS)
tests: $(UNIT_BINS) $(INTEG_BINS)

# --- dependencies ------------------------------------------------------------
deps:
	@sh deploy/install-deps.sh

check-deps:
	@$(PKG_CONFIG) --exists $(PKGS) || { \
	  echo "missing build dependencies: $$($(PKG_CONFIG) --print-errors --exists $(PKGS) 2>&1 | head -3)"; \
	  echo "run: sh deploy/install-deps.sh (or make test / make demo, which run it)"; exit 1; }
	@$(PKG_CONFIG) --exists cmocka || { echo "missing cmocka: sh deploy/install-deps.sh"; exit 1; }
	@command -v protoc-c >/dev/null || { echo "missing protoc-c: sh deploy/install-deps.sh"; exit 1; }

# --- generated code ------------------------------------------------------------
$(GEN)/flex.pb-c.c $(GEN)/flex.pb-c.h: proto/flex.proto | check-deps
	@mkdir -p $(GEN)
	$(E) PROTOC $<
	$(Q)protoc-c --c_out=$(GEN) -Iproto $<

$(GEN)/flex.pb-c.o: $(GEN)/flex.pb-c.c
	$(E) CC $@
	$(Q)$(CC) $(CPPFLAGS) $(filter-out -Wmissing-prototypes -Wshadow,$(CFLAGS)) $(DEP_CFLAGS) -c $< -o $@

# --- objects and programs ------------------------------------------------------
$(BUILD)/obj/%.o: %.c $(GEN)/flex.pb-c.h | check-deps
	@mkdir -p $(@D)
	$(E) CC $@
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(DEP_CFLAGS) -c $< -o $@

$(BUILD)/libflex.a: $(LIB_OBJS)
	$(E) AR $@
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/%: $(BUILD)/obj/engine/%.o $(BUILD)/libflex.a
	$(E) LINK $@
	$(Q)$(CC) $(LDFLAGS) $^ -o $@ -Wl,--no-as-needed $(DEP_LIBS)

$(BUILD)/smscsim: $(BUILD)/obj/bench/smscsim.o $(BUILD)/obj/bench/smsc.o \
                  $(BUILD)/obj/bench/simcommon.o $(BUILD)/libflex.a
	$(E) LINK $@
	$(Q)$(CC) $(LDFLAGS) $^ -o $@ $(DEP_LIBS)

$(BUILD)/httpsim: $(BUILD)/obj/bench/httpsim.o $(BUILD)/obj/bench/simcommon.o $(BUILD)/libflex.a
	$(E) LINK $@
	$(Q)$(CC) $(LDFLAGS) $^ -o $@ $(DEP_LIBS)

$(BUILD)/%: $(BUILD)/obj/bench/%.o $(BUILD)/libflex.a
	$(E) LINK $@
	$(Q)$(CC) $(LDFLAGS) $^ -o $@ $(DEP_LIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(BUILD)/libflex.a
	@mkdir -p $(@D)
	$(E) LINK $@
	$(Q)$(CC) $(LDFLAGS) $^ -o $@ $(DEP_LIBS) -lcmocka

$(BUILD)/tests/integ_%: $(BUILD)/obj/tests/integ/test_%.o $(BUILD)/obj/tests/integ/smpp_client.o \
                       $(BUILD)/libflex.a
	@mkdir -p $(@D)
	$(E) LINK $@
	$(Q)$(CC) $(LDFLAGS) $^ -o $@ $(DEP_LIBS) -lcmocka

$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(BUILD)/libflex.a
	@mkdir -p $(@D)
	$(E) LINK $@
	$(Q)$(CC) $(LDFLAGS) $^ -o $@ $(DEP_LIBS)

# --- tests -------------------------------------------------------------------
# test installs what is missing, then runs the suite in a second make so that
# pkg-config is asked only after the packages are there.
test:
	@sh deploy/install-deps.sh
	@$(MAKE) --no-print-directory test-run

test-run: $(PROGS) $(UNIT_BINS) $(INTEG_BINS)
	@if command -v $(CLANG) >/dev/null; then $(MAKE) --no-print-directory fuzz-build; fi
	@BUILD=$(BUILD) SAN=$(SAN) sh tests/run.sh

asan:
	@sh deploy/install-deps.sh
	@$(MAKE) --no-print-directory SAN=asan BUILD=build/asan test-run

tsan:
	@sh deploy/install-deps.sh
	@$(MAKE) --no-print-directory SAN=tsan BUILD=build/tsan test-run

# --- fuzzing -------------------------------------------------------------------
FUZZ_CFLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
               -fno-sanitize-recover=all -DFLEX_NO_JEMALLOC

build/fuzz/obj/%.o: %.c $(GEN)/flex.pb-c.h | check-deps
	@mkdir -p $(@D)
	$(E) CLANG $@
	$(Q)$(CLANG) $(CPPFLAGS) -DFLEX_NO_JEMALLOC -std=gnu17 $(WARN) $(FUZZ_CFLAGS) \
	  $(shell $(PKG_CONFIG) --cflags hiredis jansson) -fsanitize=fuzzer-no-link -c $< -o $@

build/fuzz/obj/gen/flex.pb-c.o: $(GEN)/flex.pb-c.c
	@mkdir -p $(@D)
	$(E) CLANG $@
	$(Q)$(CLANG) $(CPPFLAGS) -std=gnu17 $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

build/fuzz/%: tests/fuzz/%.c $(FUZZ_LIB_OBJS)
	$(E) FUZZ $@
	$(Q)$(CLANG) $(CPPFLAGS) -std=gnu17 $(WARN) $(FUZZ_CFLAGS) -fsanitize=fuzzer $^ -o $@ \
	  $(shell $(PKG_CONFIG) --libs liburing openssl hiredis jansson libprotobuf-c libmicrohttpd libcurl) -lm -lpthread

fuzz-build: $(FUZZ_BINS)

fuzz: fuzz-build
	@for f in $(FUZZ_BINS); do n=$${f#build/fuzz/fuzz_}; \
	  echo "fuzzing $$n for $(FUZZ_TIME)s"; mkdir -p build/fuzz/new/$$n; \
	  seeds=; [ -d tests/fuzz/seeds/$$n ] && seeds=tests/fuzz/seeds/$$n; \
	  $$f -max_total_time=$(FUZZ_TIME) -dict=tests/fuzz/$$n.dict \
	    build/fuzz/new/$$n tests/fuzz/corpus/$$n $$seeds || exit 1; done

# --- benchmarks ----------------------------------------------------------------
bench: $(BENCH_BINS)
	@for b in $(BENCH_BINS); do $$b || exit 1; done

# --- demo --------------------------------------------------------------------
demo:
	@sh deploy/install-deps.sh
	@$(MAKE) --no-print-directory all
	@sh deploy/demo.sh $(BUILD)

# --- install -------------------------------------------------------------------
install: $(PROGS)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/flex
	install -m 0755 $(PROGS) $(DESTDIR)$(PREFIX)/bin/
	install -m 0644 deploy/flexd.conf $(DESTDIR)$(PREFIX)/share/flex/flexd.conf.example

# --- style -----------------------------------------------------------------------
FORMAT_SRCS = $(wildcard engine/*.[ch] adapters/*.[ch] bench/*.[ch] tests/unit/*.[ch] \
                tests/integ/*.[ch] tests/fuzz/*.[ch])

format:
	clang-format -i $(FORMAT_SRCS)

format-check:
	@clang-format --dry-run -Werror $(FORMAT_SRCS) && echo "format ok"

hooks:
	git config core.hooksPath deploy/githooks

clean:
	rm -rf build

-include $(shell find $(BUILD) build/fuzz -name '*.d' 2>/dev/null)
