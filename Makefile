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
#   make install    PREFIX=/usr/local DESTDIR= (install-tools: the test tools;
#                   uninstall; deb: a Debian package; see docs/install.md)
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
# engine/ in layers, each including only those below it (tests/integ/layers.sh):
# base (memory, logs, maps, rings, clocks), text (codecs, templates, zones),
# core (the domain over Redis: config, jobs, schedule, store), run (the
# threads and the programs); adapters/ (carriers) sit on core.
LAYERS := engine/base engine/text engine/core engine/run
override CPPFLAGS += -D_GNU_SOURCE $(addprefix -I,$(LAYERS)) -Iadapters -I$(GEN)

ifeq ($(V),1)
Q :=
E := @true
else
Q := @
E := @printf '  %-6s %s\n'
endif

# --- sources ---------------------------------------------------------------
MAINS := engine/run/flexd.c engine/run/flexctl.c bench/flexbench.c bench/smscsim.c bench/httpsim.c
# The simulators' engines: linked into their programs, not into libflex.
SIM_OBJS := $(BUILD)/obj/bench/smsc.o $(BUILD)/obj/bench/simcommon.o
LIB_SRCS := $(filter-out $(MAINS),$(wildcard $(addsuffix /*.c,$(LAYERS)) adapters/*.c))
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

.PHONY: all test test-run test-faults asan tsan fuzz fuzz-build bench bench-latency bench-compare demo install clean \
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

$(BUILD)/%: $(BUILD)/obj/engine/run/%.o $(BUILD)/libflex.a
	$(E) LINK $@
	$(Q)$(CC) $(LDFLAGS) $^ -o $@ -Wl,--no-as-needed $(DEP_LIBS)

$(BUILD)/smscsim: $(BUILD)/obj/bench/smscsim.o $(BUILD)/obj/bench/smsc.o \
                  $(BUILD)/obj/bench/simcommon.o $(BUILD)/libflex.a
	$(E) LINK $@
	$(Q)$(CC) $(LDFLAGS) $^ -o $@ $(DEP_LIBS)

$(BUILD)/httpsim: $(BUILD)/obj/bench/httpsim.o $(BUILD)/obj/bench/httpsim_send.o \
                  $(BUILD)/obj/bench/simcommon.o $(BUILD)/libflex.a
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
	$(Q)$(CLANG) $(CPPFLAGS) -DFLEX_NO_JEMALLOC -std=gnu17 -MMD -MP $(WARN) $(FUZZ_CFLAGS) \
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

# make test-faults: the fault campaigns at full size (tests/integ/chaos.sh
# with 20,000 jobs each and 1,000,000 queued under flexd's RSS bound, then
# faults.sh); make test runs them with 2,000 and without the million.
test-faults: $(PROGS)
	@FAULT_N=$${FAULT_N:-20000} FAULT_MILLION=1 BUILD=$(BUILD) sh tests/integ/chaos.sh
	@BUILD=$(BUILD) sh tests/integ/faults.sh

# make bench-latency: flexbench's burst rate, then open-loop runs at 10%, 50%
# and 90% of it (bench/latency.sh); the table in build/latency/latency.md.
bench-latency: $(BUILD)/flexd $(BUILD)/flexctl $(BUILD)/flexbench $(BUILD)/smscsim
	@BUILD=$(BUILD) sh bench/latency.sh build/latency

# make bench-compare: Kannel (from Debian, unpacked in build/compare) and
# flexd against the same smscsim, the same N messages; build/compare/compare.md.
bench-compare: $(BUILD)/flexd $(BUILD)/flexctl $(BUILD)/flexbench $(BUILD)/smscsim \
               $(BUILD)/kannelload
	@BUILD=$(BUILD) sh bench/compare.sh build/compare

# --- demo --------------------------------------------------------------------
demo:
	@sh deploy/install-deps.sh
	@$(MAKE) --no-print-directory all
	@sh deploy/demo.sh $(BUILD)

# --- install -------------------------------------------------------------------
# make install [PREFIX=/usr/local] [DESTDIR=]: flexd in SBINDIR, flexctl in
# BINDIR, the systemd unit (its paths set for SBINDIR, DOCDIR and SYSCONFDIR),
# the sysusers.d entry (the user flex) and the tmpfiles.d entry (SYSCONFDIR/flex
# for root and flex only), the man pages, the documentation with a sample
# redis.conf, and deploy/flexd.conf as SYSCONFDIR/flex/flexd.conf, mode 0640
# (an existing one is kept).  The test tools only with make install-tools.
# NOBUILD=1 installs the programs already in $(BUILD) as they are, without
# asking make whether they are up to date (`sudo make install` after `make`,
# a test while sources change).  make deb: the same tree as a Debian package
# in DEBDIR.  What goes where, and the steps after: docs/install.md.
VERSION := $(shell sed -n 's/.*FLEX_VERSION "\(.*\)".*/\1/p' engine/core/version.h)
BINDIR ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
SYSCONFDIR ?= /etc
DATADIR ?= $(PREFIX)/share
MANDIR ?= $(DATADIR)/man
DOCDIR ?= $(DATADIR)/doc/flex
UNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
TOOLS := flexbench smscsim httpsim
DOCS := $(wildcard docs/*.md)
ifeq ($(NOBUILD),1)
INSTALL_NEEDS :=
TOOLS_NEEDS :=
else
INSTALL_NEEDS := $(BUILD)/flexd $(BUILD)/flexctl
TOOLS_NEEDS := $(addprefix $(BUILD)/,$(TOOLS))
endif
# The paths written in deploy/ are those of PREFIX=/usr/local, SYSCONFDIR=/etc.
INSTALL_SED = -e 's|/usr/local/sbin/|$(SBINDIR)/|g' -e 's|/usr/local/share/doc/flex/|$(DOCDIR)/|g' \
              -e 's|/etc/flex|$(SYSCONFDIR)/flex|g'

.PHONY: install-tools uninstall deb

# The install commands, shared by install and deb (whose target-specific
# variables set the directories): one make run, no second parse.
define INSTALL_CMDS
@for p in $(BUILD)/flexd $(BUILD)/flexctl; do [ -x $$p ] || \
  { echo "install: $$p is missing: run make first" >&2; exit 1; }; done
install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) \
  $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR) $(DESTDIR)$(MANDIR)/man1 \
  $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(DOCDIR)/docs $(DESTDIR)$(DOCDIR)/examples
install -m 0755 $(BUILD)/flexd $(DESTDIR)$(SBINDIR)/flexd
install -m 0755 $(BUILD)/flexctl $(DESTDIR)$(BINDIR)/flexctl
sed $(INSTALL_SED) deploy/flexd.service >$(DESTDIR)$(UNITDIR)/flexd.service
sed $(INSTALL_SED) deploy/flex.tmpfiles >$(DESTDIR)$(TMPFILESDIR)/flex.conf
chmod 0644 $(DESTDIR)$(UNITDIR)/flexd.service $(DESTDIR)$(TMPFILESDIR)/flex.conf
install -m 0644 deploy/flex.sysusers $(DESTDIR)$(SYSUSERSDIR)/flex.conf
install -m 0644 docs/man/flexctl.1 $(DESTDIR)$(MANDIR)/man1/flexctl.1
install -m 0644 docs/man/flexd.8 $(DESTDIR)$(MANDIR)/man8/flexd.8
install -m 0644 README.md $(DESTDIR)$(DOCDIR)/README.md
install -m 0644 $(DOCS) $(DESTDIR)$(DOCDIR)/docs/
install -m 0644 deploy/redis.conf $(DESTDIR)$(DOCDIR)/examples/redis.conf
install -d -m 0750 $(DESTDIR)$(SYSCONFDIR)/flex
@if [ -e $(DESTDIR)$(SYSCONFDIR)/flex/flexd.conf ]; then \
  echo "kept $(DESTDIR)$(SYSCONFDIR)/flex/flexd.conf (the new default: deploy/flexd.conf)"; \
else echo "install -m 0640 deploy/flexd.conf $(DESTDIR)$(SYSCONFDIR)/flex/flexd.conf"; \
  install -m 0640 deploy/flexd.conf $(DESTDIR)$(SYSCONFDIR)/flex/flexd.conf; fi
endef

install: $(INSTALL_NEEDS)
	$(INSTALL_CMDS)

install-tools: $(TOOLS_NEEDS)
	@for p in $(addprefix $(BUILD)/,$(TOOLS)); do [ -x $$p ] || \
	  { echo "install-tools: $$p is missing: run make first" >&2; exit 1; }; done
	install -d $(DESTDIR)$(BINDIR)
	install -m 0755 $(addprefix $(BUILD)/,$(TOOLS)) $(DESTDIR)$(BINDIR)/

# Removes what install and install-tools put in place, except the
# configuration (it may hold the site's settings) and what flexd wrote.
uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/flexd $(DESTDIR)$(BINDIR)/flexctl \
	  $(addprefix $(DESTDIR)$(BINDIR)/,$(TOOLS)) $(DESTDIR)$(UNITDIR)/flexd.service \
	  $(DESTDIR)$(SYSUSERSDIR)/flex.conf $(DESTDIR)$(TMPFILESDIR)/flex.conf \
	  $(DESTDIR)$(MANDIR)/man1/flexctl.1 $(DESTDIR)$(MANDIR)/man8/flexd.8 \
	  $(DESTDIR)$(DOCDIR)/README.md $(addprefix $(DESTDIR)$(DOCDIR)/,$(DOCS)) \
	  $(DESTDIR)$(DOCDIR)/examples/redis.conf
	@rmdir $(DESTDIR)$(DOCDIR)/docs $(DESTDIR)$(DOCDIR)/examples $(DESTDIR)$(DOCDIR) 2>/dev/null || true
	@echo "kept: $(DESTDIR)$(SYSCONFDIR)/flex, /var/lib/flex (the audit log) and the user flex"

# --- Debian package --------------------------------------------------------------
# make deb [NOBUILD=1] [DEBDIR=$(BUILD)/deb]: the install tree for PREFIX=/usr
# with stripped programs, gzipped man pages, changelog and copyright, and the
# maintainer scripts of deploy/debian/, built by dpkg-deb as root or not
# (--root-owner-group: every file root's).  Depends: from dpkg-shlibdeps.
# The name is not "flex": Debian's archive has a flex (the lexer generator,
# 2.6.4) that apt would take for a newer version of this one and install
# over it at the next upgrade.
DEB_PACKAGE ?= flex-sms
DEB_REVISION ?= 1
DEB_VERSION = $(VERSION)-$(DEB_REVISION)
DEB_MAINTAINER ?= Flex maintainers <flex-maintainers@example.org>
DEB_ARCH = $(shell dpkg --print-architecture)
DEBDIR ?= $(BUILD)/deb
DEB_ROOT = $(DEBDIR)/root
DEB_DOC = $(DEB_ROOT)/usr/share/doc/$(DEB_PACKAGE)
STRIP ?= strip

# The directories of PREFIX=/usr, whatever the command line says.
deb: override DESTDIR = $(DEB_ROOT)
deb: override PREFIX = /usr
deb: override BINDIR = /usr/bin
deb: override SBINDIR = /usr/sbin
deb: override SYSCONFDIR = /etc
deb: override DATADIR = /usr/share
deb: override MANDIR = /usr/share/man
deb: override DOCDIR = /usr/share/doc/$(DEB_PACKAGE)
deb: override UNITDIR = /usr/lib/systemd/system
deb: override SYSUSERSDIR = /usr/lib/sysusers.d
deb: override TMPFILESDIR = /usr/lib/tmpfiles.d
deb: $(INSTALL_NEEDS)
	@for t in dpkg-deb dpkg-shlibdeps $(STRIP); do command -v $$t >/dev/null || \
	  { echo "deb: $$t is missing: sh deploy/install-deps.sh" >&2; exit 1; }; done
	@v=$$(sed -n '1s/^[^ ]* (\([^)]*\)).*/\1/p' deploy/debian/changelog); \
	  [ "$$v" = "$(DEB_VERSION)" ] || { echo "deb: deploy/debian/changelog is at $$v," \
	  "the package would be $(DEB_VERSION): add an entry" >&2; exit 1; }
	rm -rf $(DEB_ROOT) $(DEBDIR)/shlibs
	$(INSTALL_CMDS)
	$(STRIP) --remove-section=.comment --remove-section=.note \
	  $(DEB_ROOT)/usr/sbin/flexd $(DEB_ROOT)/usr/bin/flexctl
	gzip -9n $(DEB_ROOT)/usr/share/man/man1/flexctl.1 $(DEB_ROOT)/usr/share/man/man8/flexd.8
	sed '1s/^[^ ]*/$(DEB_PACKAGE)/' deploy/debian/changelog | gzip -9n >$(DEB_DOC)/changelog.Debian.gz
	install -m 0644 deploy/debian/copyright $(DEB_DOC)/copyright
	install -d $(DEB_ROOT)/usr/share/lintian/overrides $(DEB_ROOT)/DEBIAN
	install -m 0644 deploy/debian/lintian-overrides \
	  $(DEB_ROOT)/usr/share/lintian/overrides/$(DEB_PACKAGE)
	install -m 0755 deploy/debian/postinst deploy/debian/prerm deploy/debian/postrm \
	  $(DEB_ROOT)/DEBIAN/
	install -m 0644 deploy/debian/conffiles $(DEB_ROOT)/DEBIAN/conffiles
	find $(DEB_ROOT) -type d -exec chmod 0755 {} +
	chmod 0750 $(DEB_ROOT)/etc/flex
	cd $(DEB_ROOT) && find . -type f ! -path './DEBIAN/*' ! -path './etc/*' -printf '%P\0' | \
	  LC_ALL=C sort -z | xargs -0 md5sum >DEBIAN/md5sums
	mkdir -p $(DEBDIR)/shlibs/debian && : >$(DEBDIR)/shlibs/debian/control
	deps=$$(cd $(DEBDIR)/shlibs && dpkg-shlibdeps -O --warnings=0 -e../root/usr/sbin/flexd \
	  -e../root/usr/bin/flexctl | sed -n 's/^shlibs:Depends=//p'); \
	[ -n "$$deps" ] || { echo "deb: dpkg-shlibdeps found no dependencies" >&2; exit 1; }; \
	size=$$(du -sk --exclude=DEBIAN $(DEB_ROOT) | cut -f1); \
	sed -e 's|@PACKAGE@|$(DEB_PACKAGE)|' -e 's|@VERSION@|$(DEB_VERSION)|' \
	  -e 's|@ARCH@|$(DEB_ARCH)|' -e 's|@MAINTAINER@|$(DEB_MAINTAINER)|' \
	  -e "s|@SIZE@|$$size|" -e "s|@DEPENDS@|$$deps|" deploy/debian/control \
	  >$(DEB_ROOT)/DEBIAN/control
	dpkg-deb --root-owner-group --build $(DEB_ROOT) \
	  $(DEBDIR)/$(DEB_PACKAGE)_$(DEB_VERSION)_$(DEB_ARCH).deb

# --- style -----------------------------------------------------------------------
FORMAT_SRCS = $(wildcard engine/*/*.[ch] adapters/*.[ch] bench/*.[ch] tests/unit/*.[ch] \
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
# Dependency files are made by the compiler, never by a rule: without this,
# make tries to remake each of them first (seconds at every start).
%.d: ;
