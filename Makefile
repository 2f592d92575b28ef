# grpcwatch - passive sensor for cleartext gRPC.
#
#   make            build build/grpcwatch
#   make check      unit tests + capture tests      (installs missing Debian packages when root)
#   make check SANITIZE=1   the same under ASan+UBSan (objects in build-san/)
#   make analyze    cppcheck, clang-tidy, valgrind, fuzz corpus replay + short fuzz
#   make fuzz       each libFuzzer target for FUZZ_SECONDS (tests/fuzz/README.md)
#   make demo       build and run on a bundled capture
#   make deps       install the Debian packages grpcwatch needs (apt-get, root)
#   make bench      throughput, memory and correctness benchmark (tests/bench/bench.py)
#   make bench-smoke  the same at tiny sizes (< 1 min; part of make check)
#   make install    PREFIX=/usr/local DESTDIR= (config in SYSCONFDIR: /etc for PREFIX=/usr)
#   make clean

PREFIX  ?= /usr/local
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
DESTDIR ?=
SHARED  ?= $(abspath ../shared)

CC      ?= cc
PKGS    := libpcap libnghttp2 yaml-0.1 libcrypto
CSTD    := -std=c11 -D_DEFAULT_SOURCE -D_POSIX_C_SOURCE=200809L
WARN    := -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wstrict-prototypes -Wmissing-prototypes -Wvla
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CHECK_LIBS = $(shell pkg-config --libs check 2>/dev/null)

ifeq ($(SANITIZE),1)
BUILD   := build-san
OPT     := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all -DGW_ASSERTS
LDSAN   := -fsanitize=address,undefined
else
BUILD   := build
# -O3 and link-time optimisation across the modules: 15-18% fewer
# instructions a packet and a call (make bench) than -O2 alone. Fat objects:
# the unit tests link the archive's ordinary code, without an LTO pass each.
OPT     := -O3 -g -flto=auto -ffat-lto-objects
LDSAN   :=
LTO_LD  := -O3 -flto=auto
endif

CFLAGS  += $(CSTD) $(WARN) $(OPT) -Iinclude $(PKG_CFLAGS) -MMD -MP
LDFLAGS += $(LDSAN)

SRCS      := $(wildcard src/*.c)
LIB_SRCS  := $(filter-out src/main.c,$(SRCS))
LIB_OBJS  := $(LIB_SRCS:src/%.c=$(BUILD)/obj/%.o)
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
BIN       := $(BUILD)/grpcwatch

.PHONY: all check analyze demo deps ensure-deps install clean bench bench-smoke bench-tools unit
all: $(BIN)

$(BUILD)/obj/%.o: src/%.c | $(BUILD)/obj
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/obj/test_%.o: tests/unit/test_%.c | $(BUILD)/obj
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/libgrpcwatch.a: $(LIB_OBJS)
	rm -f $@; ar rcs $@ $^

$(BIN): $(BUILD)/obj/main.o $(BUILD)/libgrpcwatch.a
	$(CC) $(LDFLAGS) $(LTO_LD) -o $@ $^ $(PKG_LIBS)

$(BUILD)/tests/%: $(BUILD)/obj/%.o $(BUILD)/libgrpcwatch.a | $(BUILD)/tests
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(CHECK_LIBS)

$(BUILD)/obj $(BUILD)/tests:
	mkdir -p $@

# Installs what is missing when run as root; otherwise says what to install.
ensure-deps:
	@tests/deps.sh ensure

deps:
	@tests/deps.sh install

unit: $(UNIT_BINS)

check: ensure-deps
	@$(MAKE) --no-print-directory all unit bench-tools SANITIZE=$(SANITIZE)
	@BUILD=$(BUILD) SHARED=$(SHARED) tests/run-suite.sh $(UNIT_BINS)

# static analysis, valgrind, fuzz replay and a short fuzz run (slow; CI runs it)
analyze:
	@tests/deps.sh ensure-analyze
	@$(MAKE) --no-print-directory all unit
	@BUILD=build tests/analyze.sh

demo: ensure-deps
	@$(MAKE) --no-print-directory all
	$(BIN) -r pcaps/python-unary-metadata.pcap

# The benchmark's own programs, with the project's flags: the capture
# generator, the floor (libpcap read, nothing else) and the malloc counter
# (an LD_PRELOAD shim: never sanitized, it must load before anything else).
BENCH_TOOLS := $(BUILD)/bench/mkmix $(BUILD)/bench/floor $(BUILD)/bench/alloccount.so

$(BUILD)/bench:
	mkdir -p $@

$(BUILD)/bench/mkmix: tests/bench/mkmix.c | $(BUILD)/bench
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(PKG_LIBS) -lm

$(BUILD)/bench/floor: tests/bench/floor.c | $(BUILD)/bench
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(PKG_LIBS)

$(BUILD)/bench/alloccount.so: tests/bench/alloccount.c | $(BUILD)/bench
	$(CC) $(CSTD) $(WARN) -O2 -g -fPIC -shared -o $@ $< -ldl

bench-tools: $(BENCH_TOOLS)

bench: all bench-tools
	@BUILD=$(BUILD) /usr/bin/python3 tests/bench/bench.py

bench-smoke: all bench-tools
	@BUILD=$(BUILD) /usr/bin/python3 tests/bench/bench.py --smoke

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man8 $(DESTDIR)$(SYSCONFDIR)/grpcwatch
	install -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/grpcwatch
	install -m 0644 man/grpcwatch.8 $(DESTDIR)$(PREFIX)/share/man/man8/grpcwatch.8
	install -m 0644 conf/grpcwatch.yaml $(DESTDIR)$(SYSCONFDIR)/grpcwatch/grpcwatch.yaml

clean:
	rm -rf build build-san build-fuzz

# make fuzz, fuzz-smoke, fuzz-replay, fuzz-build (libFuzzer, clang-14)
include tests/fuzz/fuzz.mk

-include $(wildcard build/obj/*.d build-san/obj/*.d build/bench/*.d build-san/bench/*.d)
