# libFuzzer targets for the decoders, built with clang into build-fuzz/.
# The Makefile includes this file:   make -j2 fuzz
# (The guard makes "make -f Makefile -f tests/fuzz/fuzz.mk" harmless too.)
# It uses the Makefile's LIB_SRC, WARN, PKG_CFLAGS and PKG_LIBS. The library
# is compiled again with coverage (fuzzer-no-link) and ASan+UBSan; warnings
# are not errors here, because clang warns about things gcc does not.
# tests/fuzz/run builds these and runs each for a bounded time.

ifndef TFS_FUZZ_MK
TFS_FUZZ_MK := 1

FUZZ_BUILD ?= build-fuzz
FUZZ_CC    ?= clang
FUZZ_SAN   := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS := -std=gnu11 -D_GNU_SOURCE -DFUSE_USE_VERSION=314 -I. \
	$(filter-out -Werror,$(WARN)) $(PKG_CFLAGS) -fno-strict-aliasing -MMD -MP -O1 -g \
	$(FUZZ_SAN) -fsanitize=fuzzer-no-link

FUZZ_SRC     := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN     := $(FUZZ_SRC:tests/fuzz/%.c=$(FUZZ_BUILD)/%)
FUZZ_LIB_OBJ := $(LIB_SRC:%.c=$(FUZZ_BUILD)/%.o)
FUZZ_LIB     := $(FUZZ_BUILD)/libtenantfs.a

fuzz: $(FUZZ_BIN)

$(FUZZ_BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<

$(FUZZ_LIB): $(FUZZ_LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: $(FUZZ_BUILD)/tests/fuzz/fuzz_%.o $(FUZZ_LIB)
	$(FUZZ_CC) -fsanitize=fuzzer $(FUZZ_SAN) -o $@ $^ $(PKG_LIBS) -lpthread -lm

fuzz-clean:
	rm -rf $(FUZZ_BUILD)

.PHONY: fuzz fuzz-clean

-include $(FUZZ_LIB_OBJ:.o=.d) $(FUZZ_SRC:%.c=$(FUZZ_BUILD)/%.d)

endif
