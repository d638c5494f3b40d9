# coffer - native, file-based secrets management for C programs and the shell.
# Plain GNU Make. `make` needs a C compiler, pkg-config and libsodium-dev;
# `make demo` and `make test` install what else they need on Debian
# (scripts/deps.sh) and then re-run make so that it sees the new packages.
#
# User variables (all optional):
#   CC, CPPFLAGS, CFLAGS (default -O2 -g), LDFLAGS: yours; CFLAGS replaces
#       only optimisation and debug flags, the required ones (COFFER_CFLAGS:
#       -std=c11 -fPIC -fvisibility=hidden, the hardening flags) always stay
#   WERROR=1       warnings are errors (default in make test/asan/tsan/
#                  valgrind/clang and when CI=true; off for a plain make)
#   COFFER_ETCD=auto|0|1   etcd sources (needs curl/curl.h at build time,
#                  libcurl.so.4 at run time, loaded with dlopen): auto = when
#                  the header is there
#   CLI_STATIC=1   a static-pie CLI (for container images; no etcd support,
#                  dlopen does not work from a static binary)
#   CLI_SODIUM=shared   link the CLI with libsodium.so (default: its .a)
#   NODEPS=1       never run scripts/deps.sh (packaging, non-Debian systems)
#   BUILD, PREFIX, BINDIR, LIBDIR, INCLUDEDIR, MANDIR, DESTDIR, STRIP

BUILD   ?= build
PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
LIBDIR  ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
DATADIR ?= $(PREFIX)/share
MANDIR  ?= $(DATADIR)/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
BASHCOMPDIR ?= $(DATADIR)/bash-completion/completions
ZSHCOMPDIR ?= $(DATADIR)/zsh/vendor-completions
STRIP   ?= strip
SAN     ?=
VERSION := 0.1.0
SOVER   := 0

# -Werror for the project's own builds: make test & co. pass WERROR=1 to the
# make they run unless WERROR was given; CI=true turns it on everywhere.
DEV_WERROR := $(if $(WERROR),$(WERROR),1)
WERROR  ?= $(if $(filter true,$(CI)),1,0)

CFLAGS  ?= -O2 -g
WARN    := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wformat=2 -Wno-format-nonliteral
# _FORTIFY_SOURCE needs optimisation (glibc warns without it): on only when
# the last -O in CFLAGS is not -O0, and not under sanitizers (they check
# better and intercept the unchecked calls); left to the user when CPPFLAGS
# or CFLAGS set it already (Debian's dpkg-buildflags do).
OPT     := $(lastword $(filter -O%,$(CFLAGS)))
FORTIFY := $(if $(SAN)$(findstring _FORTIFY_SOURCE,$(CPPFLAGS) $(CFLAGS)),,$(if \
           $(filter-out -O0,$(OPT)),-U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=2))
HARDEN  := -fstack-protector-strong -fstack-clash-protection
COFFER_CPPFLAGS := -D_GNU_SOURCE -Iinclude -Isrc $(FORTIFY)
COFFER_CFLAGS   := -std=c11 -fPIC -fvisibility=hidden -pthread $(HARDEN) $(WARN)
COFFER_LDFLAGS  := -Wl,-z,relro -Wl,-z,now -Wl,-z,noexecstack
ifeq ($(SAN),1)
COFFER_CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
COFFER_LDFLAGS += -fsanitize=address,undefined
endif
ifeq ($(SAN),thread)
COFFER_CFLAGS  += -fsanitize=thread -fno-omit-frame-pointer
COFFER_LDFLAGS += -fsanitize=thread
endif

# Optional features, detected when make starts (make test re-runs make after
# deps.sh, so packages it installed are seen).
CLI_STATIC ?= 0
ifeq ($(CLI_STATIC),1)
COFFER_ETCD ?= 0
ifeq ($(COFFER_ETCD),1)
$(error CLI_STATIC=1 cannot have etcd support (dlopen needs a dynamic binary))
endif
endif
COFFER_ETCD ?= auto
HASH := \#
# not for make clean / uninstall alone
CONFIGURE := $(if $(MAKECMDGOALS),$(filter-out clean uninstall,$(MAKECMDGOALS)),all)
ifneq ($(CONFIGURE),)
HAVE_CURL := $(shell echo '$(HASH)include <curl/curl.h>' | $(CC) $(CPPFLAGS) -E -x c - -o /dev/null 2>/dev/null && echo 1)
endif
ifeq ($(COFFER_ETCD),auto)
WITH_ETCD := $(HAVE_CURL)
else ifeq ($(COFFER_ETCD),1)
WITH_ETCD := 1
ifneq ($(HAVE_CURL),1)
$(error COFFER_ETCD=1 needs curl/curl.h (Debian: libcurl4-openssl-dev))
endif
else
WITH_ETCD :=
endif
ifeq ($(WITH_ETCD),1)
COFFER_CPPFLAGS += -DCOFFER_WITH_ETCD
# dlopen is in libc from glibc 2.34; older systems need -ldl.
DL_LIBS := $(shell printf 'extern void *dlopen(const char *, int);\nint main(void) { return !dlopen(0, 0); }\n' | \
             $(CC) -x c - -o /dev/null 2>/dev/null || echo -ldl)
endif

ALL_CPPFLAGS = $(COFFER_CPPFLAGS) $(CPPFLAGS)
ALL_CFLAGS   = $(ALL_CPPFLAGS) $(CFLAGS) $(COFFER_CFLAGS) $(if $(filter 1,$(WERROR)),-Werror)
ALL_LDFLAGS  = $(COFFER_LDFLAGS) $(LDFLAGS)
# linking objects: the compile flags too (-fsanitize, -flto, -pthread ...)
LINK_FLAGS   = $(CFLAGS) $(COFFER_CFLAGS) $(ALL_LDFLAGS)
LDLIBS  := -lsodium -lm -pthread $(DL_LIBS)

# The CLI is a dynamically linked PIE whose only shared dependency is libc:
# libsodium is linked in statically when libsodium.a exists. (dlopen of
# libcurl for etcd sources needs a dynamic binary.) CLI_STATIC=1 makes a
# static-pie instead, for container images without etcd support.
BSTATIC  := -Wl,-Bstatic
BDYNAMIC := -Wl,-Bdynamic
ifeq ($(CLI_STATIC),1)
CLI_LDFLAGS := -static-pie
CLI_LIBS    := $(LDLIBS)
else
# libm (part of glibc) stays a shared library, needed only when the compiler
# does not inline what the CLI uses (clang keeps a call to ceil).
# CLI_SODIUM=shared links libsodium dynamically (distribution packages, so
# that a libsodium security update reaches the CLI).
CLI_SODIUM  ?= static
SODIUM_A    := $(if $(filter static,$(CLI_SODIUM)),$(shell $(CC) -print-file-name=libsodium.a))
CLI_LDFLAGS := -pie -Wl,--as-needed
CLI_LIBS    := $(if $(filter /%,$(SODIUM_A)),$(BSTATIC) -lsodium $(BDYNAMIC),-lsodium) \
               -lm -pthread $(DL_LIBS)
endif

LIB_SRC  := $(sort $(wildcard src/*/*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
CLI_SRC  := $(sort $(wildcard cli/*.c))
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
TOOL_SRC := $(sort $(wildcard tools/*.c))
TOOL_BIN := $(TOOL_SRC:tools/%.c=$(BUILD)/%)
EX_SRC   := $(sort $(wildcard examples/*.c))
EX_BIN   := $(EX_SRC:examples/%.c=$(BUILD)/examples/%)

STATIC  := $(BUILD)/libcoffer.a
SHARED  := $(BUILD)/libcoffer.so.$(VERSION)
CLI     := $(BUILD)/coffer
DEPS    := $(BUILD)/.deps
CONFIG  := $(BUILD)/.config

# Everything that changes the output goes into $(CONFIG); it is rewritten
# only when it differs, and every object and link depends on it.
CONFIG_LINE := $(CC) | $(ALL_CPPFLAGS) $(CFLAGS) $(COFFER_CFLAGS) | $(ALL_LDFLAGS) | $(CLI_LDFLAGS) $(CLI_LIBS)
ifneq ($(CONFIGURE),)
ifneq ($(CONFIG_LINE),$(file <$(CONFIG)))
$(shell mkdir -p $(BUILD))
$(file >$(CONFIG),$(CONFIG_LINE))
endif
endif

.PHONY: all examples test demo bench fuzz fuzz-smoke asan valgrind tsan clang \
        install uninstall clean deps check-symbols deb
all: $(STATIC) $(SHARED) $(CLI) $(TOOL_BIN)
examples: $(EX_BIN)

# Debian packages a target needs are installed by scripts/deps.sh (apt-get
# as root or with sudo; otherwise it prints the command and goes on).
$(DEPS)-%: scripts/deps.sh
	@mkdir -p $(BUILD)
	@$(if $(filter 1,$(NODEPS)),:,sh scripts/deps.sh $(subst +, ,$*))
	@touch $@
deps: $(DEPS)-test+pg
.PRECIOUS: $(DEPS)-%

$(LIB_OBJ) $(CLI_OBJ): | $(DEPS)-build
$(BUILD)/obj/%.o: %.c include/coffer.h src/internal.h $(CONFIG)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@
-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d)

$(STATIC): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^
$(SHARED): $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,libcoffer.so.$(SOVER) $(LINK_FLAGS) -o $@ $^ $(LDLIBS)
	ln -sf libcoffer.so.$(VERSION) $(BUILD)/libcoffer.so.$(SOVER)
	ln -sf libcoffer.so.$(SOVER) $(BUILD)/libcoffer.so
$(CLI): $(CLI_OBJ) $(STATIC) $(CONFIG)
	$(CC) $(LINK_FLAGS) $(CLI_LDFLAGS) -o $@ $(CLI_OBJ) $(STATIC) $(CLI_LIBS)
$(BUILD)/%: tools/%.c $(STATIC) $(CONFIG)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(STATIC) $(LDLIBS)
$(BUILD)/examples/pg_connect: examples/pg_connect.c $(STATIC) $(CONFIG) | $(DEPS)-pg
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -I/usr/include/postgresql $(ALL_LDFLAGS) -o $@ $< $(STATIC) -lpq $(LDLIBS)
$(BUILD)/examples/%: examples/%.c $(STATIC) $(CONFIG)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(STATIC) $(LDLIBS)
$(BUILD)/tests/%: tests/unit/%.c tests/unit/testutil.h tests/unit/store_testutil.h $(STATIC) $(CONFIG) | $(DEPS)-test
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Wno-missing-prototypes $(ALL_LDFLAGS) -o $@ $< $(STATIC) -lcmocka $(LDLIBS)

# The whole suite: unit tests, toml-test conformance, CLI scenarios, the
# PostgreSQL end-to-end example, build and install checks. Ends with
# "N passed, N failed". The packages come first, then a fresh make sees them.
TEST_BUILD = $(MAKE) --no-print-directory WERROR=$(DEV_WERROR) all examples $(UNIT_BIN)
test: $(DEPS)-test+pg
	+@$(TEST_BUILD)
	@BUILD=$(BUILD) RUN_PREFIX="$(RUN_PREFIX)" sh tests/run.sh

demo: $(DEPS)-build
	@$(MAKE) --no-print-directory all
	@sh examples/demo.sh $(BUILD)

asan:
	$(MAKE) BUILD=build-asan SAN=1 CC=clang WERROR=$(DEV_WERROR) test

tsan: $(DEPS)-test+pg
	$(MAKE) BUILD=build-tsan SAN=thread CC=clang WERROR=$(DEV_WERROR) all examples \
	  $(UNIT_SRC:tests/unit/%.c=build-tsan/tests/%)
	BUILD=build-tsan SUITES=tsan sh tests/run.sh

valgrind: $(DEPS)-test+pg
	$(MAKE) BUILD=build-vg WERROR=$(DEV_WERROR) all examples $(UNIT_SRC:tests/unit/%.c=build-vg/tests/%)
	BUILD=build-vg RUN_PREFIX="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --track-fds=no" SUITES=valgrind sh tests/run.sh

clang:
	$(MAKE) CC=clang BUILD=build-clang WERROR=$(DEV_WERROR) all

bench: $(DEPS)-bench
	@$(MAKE) --no-print-directory all
	@sh bench/run.sh $(BUILD)

FUZZ_TIME ?= 60
fuzz: | $(DEPS)-fuzz
	@sh fuzz/run.sh $(FUZZ_TIME)
fuzz-smoke: | $(DEPS)-fuzz
	@sh fuzz/run.sh 20

# No unprefixed symbol exported from libcoffer.so or defined in libcoffer.a
# (also run by make test, tests/suites/symbols.sh).
check-symbols: $(STATIC) $(SHARED)
	@sh scripts/check-symbols.sh $(BUILD)

# Debian packages (debian/), built from a copy of the tracked files in
# $(BUILD)/deb so that the work tree stays clean; the .debs land there.
deb: $(DEPS)-deb
	@sh scripts/build-deb.sh $(BUILD)/deb

# What install puts where; uninstall removes exactly these.
I_BIN    := $(DESTDIR)$(BINDIR)/coffer
I_HDR    := $(DESTDIR)$(INCLUDEDIR)/coffer.h
I_LIBS   := $(addprefix $(DESTDIR)$(LIBDIR)/,libcoffer.a libcoffer.so.$(VERSION) \
            libcoffer.so.$(SOVER) libcoffer.so)
I_PC     := $(DESTDIR)$(PKGCONFIGDIR)/coffer.pc
I_MAN    := $(DESTDIR)$(MANDIR)/man1/coffer.1 $(DESTDIR)$(MANDIR)/man3/coffer.3
I_BASH   := $(DESTDIR)$(BASHCOMPDIR)/coffer
I_ZSH    := $(DESTDIR)$(ZSHCOMPDIR)/_coffer
INSTALLED := $(I_BIN) $(I_HDR) $(I_LIBS) $(I_PC) $(I_MAN) $(I_BASH) $(I_ZSH)

install: all
	install -d $(sort $(dir $(INSTALLED)))
	install -m 644 include/coffer.h $(I_HDR)
	install -m 644 $(STATIC) $(DESTDIR)$(LIBDIR)/libcoffer.a
	install -m 755 $(SHARED) $(DESTDIR)$(LIBDIR)/libcoffer.so.$(VERSION)
	ln -sf libcoffer.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libcoffer.so.$(SOVER)
	ln -sf libcoffer.so.$(SOVER) $(DESTDIR)$(LIBDIR)/libcoffer.so
	install -m 755 $(CLI) $(I_BIN)
	$(if $(STRIP),$(STRIP) $(I_BIN))
	install -m 644 docs/coffer.1 $(DESTDIR)$(MANDIR)/man1/coffer.1
	install -m 644 docs/coffer.3 $(DESTDIR)$(MANDIR)/man3/coffer.3
	install -m 644 completions/coffer.bash $(I_BASH)
	install -m 644 completions/_coffer $(I_ZSH)
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' \
	    -e 's|@LIBS_PRIVATE@|-pthread $(DL_LIBS)|' coffer.pc.in >$(I_PC)

uninstall:
	rm -f $(INSTALLED)

clean:
	rm -rf build build-asan build-vg build-tsan build-clang build-fuzz build-afl build-afl-nosan
