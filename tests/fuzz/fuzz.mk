# tests/fuzz/fuzz.mk - libFuzzer targets (clang, ASan + UBSan).
#
# Included from the top-level Makefile (include tests/fuzz/fuzz.mk), or on
# its own from the repository root: make -f tests/fuzz/fuzz.mk fuzz-replay
#
#   make fuzz          each target for FUZZ_SECONDS (default 60); new corpus
#                      entries and crashes go to a temporary directory
#                      (FUZZ_WORK, default a fresh mktemp -d), never the repo
#   make fuzz-smoke    the same for FUZZ_SMOKE_SECONDS (default 20): for CI
#   make fuzz-replay   every committed corpus and crash input once; fails if
#                      any of them crashes (tests/fuzz/replay.sh)
#   make fuzz-build    just the binaries, in build-fuzz/
#   FUZZ_TARGETS="fuzz_h2 fuzz_tls" narrows any of them.
#
# Objects live in build-fuzz/ only. Library sources are compiled with
# -fsanitize=fuzzer-no-link (coverage without libFuzzer's main), the
# targets are linked with -fsanitize=fuzzer.

# Keep the includer's default goal: a rule here must not become it.
FUZZ_SAVED_DEFAULT_GOAL := $(.DEFAULT_GOAL)

FUZZ_CC        ?= $(firstword $(shell command -v clang-14 clang 2>/dev/null) clang-14)
FUZZ_BUILD     ?= build-fuzz
FUZZ_DIR       := tests/fuzz
FUZZ_SECONDS       ?= 60
FUZZ_SMOKE_SECONDS ?= 20
FUZZ_PKGS      := $(if $(PKGS),$(PKGS),libpcap libnghttp2 yaml-0.1 libcrypto)
FUZZ_CSTD      := $(if $(CSTD),$(CSTD),-std=c11 -D_DEFAULT_SOURCE -D_POSIX_C_SOURCE=200809L)
FUZZ_WARN      := $(if $(WARN),$(WARN),-Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wstrict-prototypes -Wmissing-prototypes -Wvla)
FUZZ_SAN       := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS    := $(FUZZ_CSTD) $(FUZZ_WARN) -O1 -g -DGW_ASSERTS $(FUZZ_SAN) -Iinclude \
                  $(shell pkg-config --cflags $(FUZZ_PKGS) 2>/dev/null) -MMD -MP
FUZZ_LIBS      := $(shell pkg-config --libs $(FUZZ_PKGS) 2>/dev/null)

# Library sources: everything but main.c (new modules are picked up).
FUZZ_LIB_SRCS  := $(filter-out src/main.c,$(wildcard src/*.c))
FUZZ_LIB_OBJS  := $(FUZZ_LIB_SRCS:src/%.c=$(FUZZ_BUILD)/obj/%.o)
FUZZ_ALL       := $(patsubst $(FUZZ_DIR)/%.c,%,$(wildcard $(FUZZ_DIR)/fuzz_*.c))
FUZZ_TARGETS   ?= $(FUZZ_ALL)
FUZZ_BINS      := $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/%)

# Largest input per target (-max_len): a packet, a small capture, a few
# hundred HTTP/2 frames, a hello, a configuration file, a header block run,
# a few connections' worth of segments (fuzz_flows).
FUZZ_MAXLEN_fuzz_packet := 4096
FUZZ_MAXLEN_fuzz_pcap   := 32768
FUZZ_MAXLEN_fuzz_h2     := 16384
FUZZ_MAXLEN_fuzz_tls    := 4096
FUZZ_MAXLEN_fuzz_config := 4096
FUZZ_MAXLEN_fuzz_hpack  := 4096
FUZZ_MAXLEN_fuzz_http1  := 8192
FUZZ_MAXLEN_fuzz_flows  := 32768
# Dictionaries (libFuzzer -dict) where the format has keywords.
FUZZ_DICT_fuzz_packet := $(FUZZ_DIR)/dict/h2.dict
FUZZ_DICT_fuzz_pcap   := $(FUZZ_DIR)/dict/h2.dict
FUZZ_DICT_fuzz_h2     := $(FUZZ_DIR)/dict/h2.dict
FUZZ_DICT_fuzz_hpack  := $(FUZZ_DIR)/dict/h2.dict
FUZZ_DICT_fuzz_config := $(FUZZ_DIR)/dict/config.dict
FUZZ_DICT_fuzz_tls    := $(FUZZ_DIR)/dict/tls.dict
FUZZ_DICT_fuzz_http1  := $(FUZZ_DIR)/dict/http1.dict
FUZZ_DICT_fuzz_flows  := $(FUZZ_DIR)/dict/flows.dict

.PHONY: fuzz fuzz-smoke fuzz-replay fuzz-build fuzz-clean
# Objects made through pattern rules only: keep them between builds.
.SECONDARY: $(FUZZ_LIB_OBJS) $(FUZZ_ALL:%=$(FUZZ_BUILD)/obj/%.o)

fuzz-build: $(FUZZ_BINS)

$(FUZZ_BUILD)/obj/%.o: src/%.c | $(FUZZ_BUILD)/obj
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_BUILD)/obj/fuzz_%.o: $(FUZZ_DIR)/fuzz_%.c | $(FUZZ_BUILD)/obj
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_BUILD)/fuzz_%: $(FUZZ_BUILD)/obj/fuzz_%.o $(FUZZ_LIB_OBJS)
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ $(FUZZ_LIBS)

$(FUZZ_BUILD)/obj:
	mkdir -p $@

# One shell runs every target in turn, so a crash in one does not hide the
# others; the exit status says whether any crashed.
define FUZZ_RUN
	@work="$${FUZZ_WORK:-$$(mktemp -d /tmp/grpcwatch-fuzz.XXXXXX)}"; status=0; ok=0; bad=0; \
	echo "fuzz: new corpus entries and crashes go to $$work"; \
	$(foreach t,$(FUZZ_TARGETS),if $(FUZZ_DIR)/run.sh $(FUZZ_BUILD)/$(t) $(1) "$$work" \
	    $(or $(FUZZ_MAXLEN_$(t)),4096) $(FUZZ_DICT_$(t)); then ok=$$((ok + 1)); \
	    else bad=$$((bad + 1)); status=1; fi; ) \
	if [ $$status -ne 0 ]; then echo "fuzz: CRASHES, inputs in $$work/crashes/"; fi; \
	echo "fuzz: $$ok passed, $$bad failed"; \
	exit $$status
endef

fuzz: $(FUZZ_BINS)
	$(call FUZZ_RUN,$(FUZZ_SECONDS))

fuzz-smoke: $(FUZZ_BINS)
	$(call FUZZ_RUN,$(FUZZ_SMOKE_SECONDS))

fuzz-replay: $(FUZZ_BINS)
	@$(FUZZ_DIR)/replay.sh $(FUZZ_BUILD) $(FUZZ_TARGETS)

fuzz-clean:
	rm -rf $(FUZZ_BUILD)

-include $(wildcard $(FUZZ_BUILD)/obj/*.d)

.DEFAULT_GOAL := $(FUZZ_SAVED_DEFAULT_GOAL)
