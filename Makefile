# coffer - native, file-based secrets management for C programs and the shell.
# Plain GNU Make. `make demo` and `make test` do all the set-up on Debian.

CC      ?= cc
BUILD   ?= build
PREFIX  ?= /usr/local
SAN     ?=
VERSION := 0.1.0
SOVER   := 0

WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wformat=2 -Wno-format-nonliteral
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_GNU_SOURCE $(WARN) -fvisibility=hidden -fPIC -pthread \
           -Iinclude -Isrc
LDLIBS  := -lsodium -lm -pthread
# etcd sources (src/remote/): compiled when libcurl's headers are there
# (checked when compiling, after scripts/deps.sh installed them);
# libcurl.so.4 itself is dlopen'ed on the first use of an etcd source.
WITH_ETCD ?= $(shell pkg-config --exists libcurl 2>/dev/null && echo 1)
CFLAGS  += $(if $(filter 1,$(WITH_ETCD)),-DCOFFER_WITH_ETCD $(shell pkg-config --cflags libcurl))
LDLIBS  += -ldl
ifeq ($(SAN),1)
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=address,undefined
endif
ifeq ($(SAN),thread)
CFLAGS  += -fsanitize=thread -fno-omit-frame-pointer
LDFLAGS += -fsanitize=thread
endif

# The CLI is linked statically by default: one self-contained binary to drop
# into a container image, and no dynamic loading before `coffer run` execs
# its command. Sanitizer and valgrind builds link it dynamically.
# dlopen (etcd) needs a dynamically linked CLI.
CLI_STATIC ?= $(if $(SAN)$(filter 1,$(WITH_ETCD)),0,1)
CLI_LDFLAGS = $(if $(filter 1,$(CLI_STATIC)),-static)

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

.PHONY: all test demo bench fuzz fuzz-smoke asan valgrind tsan install clean deps check-symbols
all: $(STATIC) $(SHARED) $(CLI) $(TOOL_BIN) $(EX_BIN)

# Missing Debian packages are installed by scripts/deps.sh (apt-get as root
# or with sudo; otherwise it prints the exact command to run).
$(DEPS)-%:
	@mkdir -p $(BUILD)
	@sh scripts/deps.sh $*
	@touch $@
deps: $(DEPS)-test

$(LIB_OBJ) $(CLI_OBJ): | $(DEPS)-build
$(BUILD)/obj/%.o: %.c include/coffer.h src/internal.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@
-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d)

$(STATIC): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^
$(SHARED): $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,libcoffer.so.$(SOVER) $(LDFLAGS) -o $@ $^ $(LDLIBS)
	ln -sf libcoffer.so.$(VERSION) $(BUILD)/libcoffer.so.$(SOVER)
	ln -sf libcoffer.so.$(SOVER) $(BUILD)/libcoffer.so
$(CLI): $(CLI_OBJ) $(STATIC) Makefile
	$(CC) $(LDFLAGS) $(CLI_LDFLAGS) -o $@ $(CLI_OBJ) $(STATIC) $(LDLIBS)
$(BUILD)/%: tools/%.c $(STATIC)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(STATIC) $(LDLIBS)
$(BUILD)/examples/pg_connect: examples/pg_connect.c $(STATIC) | $(DEPS)-pg
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -I/usr/include/postgresql $(LDFLAGS) -o $@ $< $(STATIC) -lpq $(LDLIBS)
$(BUILD)/examples/%: examples/%.c $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(STATIC) $(LDLIBS)
$(BUILD)/tests/%: tests/unit/%.c tests/unit/testutil.h tests/unit/store_testutil.h $(STATIC) | $(DEPS)-test
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Wno-missing-prototypes $(LDFLAGS) -o $@ $< $(STATIC) -lcmocka $(LDLIBS)

# The whole suite: unit tests, toml-test conformance, CLI scenarios, and the
# PostgreSQL end-to-end example. Ends with "N passed, N failed".
test: all $(UNIT_BIN) | $(DEPS)-test $(DEPS)-pg
	@BUILD=$(BUILD) RUN_PREFIX="$(RUN_PREFIX)" sh tests/run.sh

demo: all
	@sh examples/demo.sh $(BUILD)

asan:
	$(MAKE) BUILD=build-asan SAN=1 CC=clang test

tsan:
	$(MAKE) BUILD=build-tsan SAN=thread CC=clang all $(UNIT_SRC:tests/unit/%.c=build-tsan/tests/%)
	BUILD=build-tsan SUITES=tsan sh tests/run.sh

valgrind:
	$(MAKE) BUILD=build-vg CLI_STATIC=0 all $(UNIT_SRC:tests/unit/%.c=build-vg/tests/%)
	BUILD=build-vg RUN_PREFIX="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --track-fds=no" SUITES=valgrind sh tests/run.sh

bench: all | $(DEPS)-bench
	@sh bench/run.sh $(BUILD)

FUZZ_TIME ?= 60
fuzz: | $(DEPS)-fuzz
	@sh fuzz/run.sh $(FUZZ_TIME)
fuzz-smoke: | $(DEPS)-fuzz
	@sh fuzz/run.sh 20

check-symbols: $(STATIC)
	@sh scripts/check-symbols.sh $(STATIC)

install: all
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig \
	  $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 644 include/coffer.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 $(STATIC) $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(SHARED) $(DESTDIR)$(PREFIX)/lib/
	ln -sf libcoffer.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libcoffer.so.$(SOVER)
	ln -sf libcoffer.so.$(SOVER) $(DESTDIR)$(PREFIX)/lib/libcoffer.so
	install -m 755 $(CLI) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 docs/coffer.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' coffer.pc.in \
	  > $(DESTDIR)$(PREFIX)/lib/pkgconfig/coffer.pc

clean:
	rm -rf build build-asan build-vg build-tsan build-clang build-fuzz build-afl build-afl-nosan
