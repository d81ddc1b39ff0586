# ovlbox — build, test, bench, demo, install.
# `make check` and `make demo` install missing Debian packages first when run as root.

CC      ?= cc
PREFIX  ?= /usr/local
DESTDIR ?=
VERSION := 0.2.0
PKGS    := libseccomp yajl libcap

ifeq ($(SANITIZE),1)
VARIANT  := san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
STATIC   := 0
else
VARIANT  := rel
SANFLAGS :=
# ovlbox and ovlbox-hook are linked static-pie: each `ovlbox run` and each hook stage is one
# short-lived exec, and resolving three shared libraries costs ~0.5 ms of it (bench/results.md).
# It also leaves the hook nothing to find when a runtime runs it with an empty environment.
# STATIC=0 links them dynamically. (Sanitizers need dynamic linking.)
STATIC   ?= 1
endif

B := build/$(VARIANT)

PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
# Debian's libyajl-dev names its static archive libyajl_s.a.
PKG_STATIC_LIBS = $(patsubst -lyajl,-l:libyajl_s.a,$(shell pkg-config --static --libs $(PKGS) 2>/dev/null))

CFLAGS   ?= -O2 -g
CFLAGS   += -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wformat=2 -fstack-protector-strong \
            -D_FORTIFY_SOURCE=2
CPPFLAGS += -D_GNU_SOURCE -DOVLBOX_VERSION='"$(VERSION)"' -Iinclude $(PKG_CFLAGS) -MMD -MP
LDLIBS   += $(PKG_LIBS)
ifeq ($(STATIC),1)
BIN_LDFLAGS := -static-pie
BIN_LDLIBS  := $(PKG_STATIC_LIBS)
else
BIN_LDFLAGS :=
BIN_LDLIBS  := $(PKG_LIBS)
endif

LIB_SRC     := $(wildcard lib/*.c)
LIB_OBJ     := $(LIB_SRC:%.c=$(B)/%.o)
LIB         := $(B)/libovlbox.a
SANDBOX_SRC := $(wildcard sandbox/*.c)
HOOK_SRC    := $(wildcard hook/*.c)
RUNTIME_SRC := $(wildcard runtime/*.c)
UNIT_SRC    := $(wildcard tests/unit/*.c)
HELPER_SRC  := $(wildcard tests/helpers/*.c)
BENCH_SRC   := $(wildcard bench/*.c)

OVLBOX   := $(B)/bin/ovlbox
HOOK     := $(B)/bin/ovlbox-hook
RUNTIME  := $(B)/bin/ovlbox-runtime
UNITS    := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/unit/%)
# Test helpers are tools that run inside sandboxes (where seccomp denies the ptrace that
# LeakSanitizer needs): always built without sanitizers, against the plain library.
HELPERS  := $(HELPER_SRC:tests/helpers/%.c=build/rel/tests/helpers/%)
BENCHES  := $(BENCH_SRC:bench/%.c=$(B)/bench/%)

BINS := $(OVLBOX) $(if $(HOOK_SRC),$(HOOK)) $(if $(RUNTIME_SRC),$(RUNTIME))

# Man pages: man/NAME.N.scd, built with scdoc into $(B)/man/NAME.N.
MAN_SRC := $(wildcard man/*.scd)
MANS    := $(MAN_SRC:man/%.scd=$(B)/man/%)

.PHONY: all deps deps-bench check demo bench install clean format man deb check-deb

all: $(BINS) $(MANS)

man: $(MANS)

$(B)/man/%: man/%.scd
	@command -v scdoc >/dev/null || { echo "make: scdoc not found (apt-get install scdoc, or make deps)" >&2; exit 1; }
	@mkdir -p $(dir $@)
	sed 's/@VERSION@/$(VERSION)/g' $< | scdoc >$@.tmp
	mv $@.tmp $@

build/rel/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

build/san/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(SANFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

ifneq ($(B),build/rel)
build/rel/libovlbox.a: $(LIB_SRC:%.c=build/rel/%.o)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^
endif

$(OVLBOX): $(SANDBOX_SRC:%.c=$(B)/%.o) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $(BIN_LDFLAGS) $(SANFLAGS) -o $@ $^ $(BIN_LDLIBS)

# The built-in seccomp profile, compiled by libseccomp now rather than in every `ovlbox run`
# (sandbox/gen/seccomp_default.c); the seccomp unit test compares it with a fresh compile.
GEN := $(B)/gen
$(GEN)/seccomp_default_gen: $(B)/sandbox/gen/seccomp_default.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $(SANFLAGS) -o $@ $^ $(LDLIBS)

$(GEN)/seccomp_default.inc: $(GEN)/seccomp_default_gen
	$< >$@.tmp
	mv $@.tmp $@

$(B)/sandbox/default_filter.o $(B)/tests/unit/seccomp_test.o: $(GEN)/seccomp_default.inc
$(B)/sandbox/default_filter.o $(B)/tests/unit/seccomp_test.o: private CPPFLAGS += -I$(GEN)

$(HOOK): $(HOOK_SRC:%.c=$(B)/%.o) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $(BIN_LDFLAGS) $(SANFLAGS) -o $@ $^ $(BIN_LDLIBS)

# ovlbox-runtime reads its settings from $(SYSCONFDIR)/ovlbox/runtime.json by default.
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
$(RUNTIME_SRC:%.c=$(B)/%.o): private CPPFLAGS += -DOVLBOX_SYSCONFDIR='"$(SYSCONFDIR)"'

$(RUNTIME): $(RUNTIME_SRC:%.c=$(B)/%.o) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $(BIN_LDFLAGS) $(SANFLAGS) -o $@ $^ $(BIN_LDLIBS)

build/rel/tests/helpers/%: build/rel/tests/helpers/%.o build/rel/libovlbox.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/tests/unit/%: $(B)/tests/unit/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $(SANFLAGS) -o $@ $^ $(LDLIBS)

$(B)/bench/%: $(B)/bench/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $(SANFLAGS) -o $@ $^ $(LDLIBS)

# The no-op reference hook is linked like ovlbox-hook (static-pie), so that the two differ only
# in what the hook does.
$(B)/bench/noophook: $(B)/bench/noophook.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $(BIN_LDFLAGS) $(SANFLAGS) -o $@ $^

deps:
	@tests/install-deps.sh build

check:
	@tests/install-deps.sh check
	@$(MAKE) --no-print-directory all tests
	@OVLBOX_BUILD=$(CURDIR)/$(B) OVLBOX_HELPERS=$(CURDIR)/build/rel/tests/helpers tests/run.sh

.PHONY: tests
# the benchmarks are built (not run) too, so a change of lib that breaks them fails here
tests: $(BINS) $(UNITS) $(HELPERS) $(BENCHES)

demo:
	@tests/install-deps.sh build
	@$(MAKE) --no-print-directory all
	@OVLBOX=$(CURDIR)/$(OVLBOX) examples/demo.sh

bench:
	@tests/install-deps.sh bench
	@$(MAKE) --no-print-directory all $(BENCHES) $(HELPERS)
	@OVLBOX_BUILD=$(CURDIR)/$(B) OVLBOX_HELPERS=$(CURDIR)/build/rel/tests/helpers bench/run.sh

# HOOKSDIR: where the hooks.d file goes. The default is one podman and CRI-O read (with
# PREFIX=/usr it turns the hook on for every container that asks for a workspace); the Debian
# package puts it in an inactive place instead (debian/rules).
HOOKSDIR ?= $(PREFIX)/share/containers/oci/hooks.d

install: all
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(BINS) $(DESTDIR)$(PREFIX)/bin/
	set -e; for m in $(MANS); do \
		s=$${m##*.}; install -d $(DESTDIR)$(PREFIX)/share/man/man$$s; \
		install -m 0644 $$m $(DESTDIR)$(PREFIX)/share/man/man$$s/; done
	install -d $(DESTDIR)$(PREFIX)/share/bash-completion/completions
	install -m 0644 completions/ovlbox $(DESTDIR)$(PREFIX)/share/bash-completion/completions/ovlbox
	if [ -f examples/hooks.d/ovlbox.json ]; then \
		install -d $(DESTDIR)$(HOOKSDIR) && \
		sed 's|@BINDIR@|$(PREFIX)/bin|g' examples/hooks.d/ovlbox.json \
			> $(DESTDIR)$(HOOKSDIR)/ovlbox.json; fi

# ---- deb: the Debian package (debian/), built in a copy of the tree under build/deb/ so that
# nothing is written beside the checkout; leaves build/ovlbox_VERSION_ARCH.deb. ----
DEB_ARCH = $(shell dpkg --print-architecture 2>/dev/null)
DEB      = build/ovlbox_$(VERSION)_$(DEB_ARCH).deb
DEB_TREE = build/deb/ovlbox-$(VERSION)

deb:
	@tests/install-deps.sh deb
	rm -rf build/deb
	mkdir -p $(DEB_TREE)
	tar -c --exclude=./build --exclude=./.git --exclude=./demo . | tar -x -C $(DEB_TREE)
	cd $(DEB_TREE) && dpkg-buildpackage -us -uc -b >../build.log 2>&1 || { tail -n 40 ../build.log; exit 1; }
	cp build/deb/ovlbox_$(VERSION)_$(DEB_ARCH).deb $(DEB)
	@echo "deb: $(DEB) (log: build/deb/build.log)"

# check-deb: the package's own test (tests/package.bats), counted like make check's suites.
check-deb: deb
	@tests/install-deps.sh check
	@$(MAKE) --no-print-directory all
	@OVLBOX_BUILD=$(CURDIR)/$(B) OVLBOX_HELPERS=$(CURDIR)/build/rel/tests/helpers OVLBOX_DEB=$(CURDIR)/$(DEB) \
		OVLBOX_NO_UNITS=1 TESTS=tests/package.bats tests/run.sh

format:
	clang-format -i $(wildcard include/ovlbox/*.h lib/*.c lib/*.h sandbox/*.c sandbox/*.h sandbox/gen/*.c hook/*.c hook/*.h runtime/*.c runtime/*.h tests/unit/*.c tests/helpers/*.c bench/*.c)

clean:
	rm -rf build

# (not build/deb: the package's copy of the tree, with its own build)
-include $(shell find build -path build/deb -prune -o -name '*.d' -type f -print 2>/dev/null)

# ---- fuzz: libFuzzer harnesses of the parsers of untrusted input (tests/fuzz/) ----
# `make fuzz` builds them with clang into build/fuzz/ and runs each FUZZ_SECONDS on its corpus
# (new inputs go to build/fuzz/corpus/, crashes to build/fuzz/artifacts/, output to
# build/fuzz/NAME.log; a crash prints its report and stops). `make tests` builds
# each harness also as a replay program ($(B)/tests/fuzz/NAME FILE...), which
# tests/fuzz_replay.bats runs on every file of tests/fuzz/corpus/NAME/.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_FLAGS   := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
                -fno-sanitize-recover=undefined
FUZZ_SRC     := $(filter-out tests/fuzz/replay.c,$(wildcard tests/fuzz/*.c))
FUZZ_NAMES   := $(FUZZ_SRC:tests/fuzz/%.c=%)
FUZZERS      := $(FUZZ_NAMES:%=build/fuzz/%)
FUZZ_REPLAYS := $(FUZZ_NAMES:%=$(B)/tests/fuzz/%)

# (-Wno-gnu-...: lib/fs.c's struct fd_msg has its cmsg buffer union mid-struct, which clang
# calls a GNU extension.)
build/fuzz/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS) -std=gnu11 -Wall -Wextra -Werror \
		-Wno-gnu-variable-sized-type-not-at-end $(FUZZ_FLAGS) \
		-fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZERS): build/fuzz/%: build/fuzz/tests/fuzz/%.o $(LIB_SRC:%.c=build/fuzz/%.o)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)

$(FUZZ_REPLAYS): $(B)/tests/fuzz/%: $(B)/tests/fuzz/%.o $(B)/tests/fuzz/replay.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $(SANFLAGS) -o $@ $^ $(LDLIBS)

tests: $(FUZZ_REPLAYS)

.PHONY: fuzz fuzz-deps
fuzz-deps:
	@tests/install-deps.sh fuzz

# (the fuzzers are built after fuzz-deps has installed clang)
fuzz: fuzz-deps
	@$(MAKE) --no-print-directory $(FUZZERS)
	@set -e; for t in $(FUZZ_NAMES); do \
		mkdir -p build/fuzz/corpus/$$t build/fuzz/artifacts; \
		echo "fuzz: $$t for $(FUZZ_SECONDS)s (log: build/fuzz/$$t.log)"; \
		build/fuzz/$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 \
			-malloc_limit_mb=512 -print_final_stats=1 \
			-artifact_prefix=build/fuzz/artifacts/$$t- \
			$$(test -f tests/fuzz/$$t.dict && echo -dict=tests/fuzz/$$t.dict) \
			build/fuzz/corpus/$$t tests/fuzz/corpus/$$t >build/fuzz/$$t.log 2>&1 || { \
			grep -v '^fuzz: warning: ' build/fuzz/$$t.log | tail -n 80; exit 1; }; \
		grep -E '^Done|^stat::(number_of_executed_units|new_units_added)' build/fuzz/$$t.log; \
	done
