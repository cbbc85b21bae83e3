# tenantfs: one non-recursive Makefile.
#   make                        build the daemon (build/tenantfs) and every test program
#   make SANITIZE=address,undefined   the same under ASan+UBSan, in build-asan/
#   make SANITIZE=thread        ThreadSanitizer build, in build-tsan/ (also: make tsan)
#   make fuzz                   libFuzzer targets with clang, in build-fuzz/ (tests/fuzz/fuzz.mk)
#   make check                  build and run the whole suite (servers must be installed;
#                               tests/run installs them and is what CI calls)
#   make check-tsan             the concurrency tests under ThreadSanitizer (tests/run --tsan)
#   make check-valgrind         the unit tests of build/ under valgrind (tests/run --valgrind-unit)
#   make check-fuzz             each fuzz target for TFS_FUZZ_SECONDS (default 20) (tests/fuzz/run)
#   make install / uninstall    honour DESTDIR and PREFIX
#   make deb                    the Debian package build/tenantfs_VERSION_ARCH.deb, from a
#                               daemon built with Debian's hardening flags in build-deb/
#   make format / format-check  clang-format the sources / fail if they differ
#   make check-layers           include direction, include circles, file and function sizes
#   make tsa                    clang's thread safety analysis over every source, warnings
#                               are errors (syntax only, nothing built; tests/check-tsa)

PREFIX   ?= /usr/local
BINDIR   ?= $(PREFIX)/bin
SBINDIR  ?= /sbin
MANDIR   ?= $(PREFIX)/share/man
UNITDIR  ?= /etc/systemd/system
DESTDIR  ?=
CC       ?= cc
WERROR   ?= 1
SANITIZE ?=
PKG_CONFIG ?= pkg-config

ifeq ($(SANITIZE),)
BUILD    ?= build
else ifeq ($(SANITIZE),thread)
BUILD    ?= build-tsan
else
BUILD    ?= build-asan
endif

PKGS := fuse3 sqlite3 libcurl openssl libxxhash jansson libxml-2.0 libmicrohttpd
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS))
PKG_LIBS   := $(shell $(PKG_CONFIG) --libs $(PKGS))

WARN := -Wall -Wextra -Wformat=2 -Wformat-security -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wold-style-definition -Wpointer-arith -Wwrite-strings \
	-Wundef -Wvla -Wcast-qual -Wimplicit-fallthrough -Wno-unused-parameter
ifeq ($(WERROR),1)
WARN += -Werror
endif

# assert()s check the engine's invariants (tc->mu held, legal state
# transitions of a family, handle counts): on in every build, the Debian one
# included; nothing here defines NDEBUG.
OPT ?= -O2
CFLAGS ?= $(OPT) -g
ALL_CFLAGS := -std=gnu11 -D_GNU_SOURCE -DFUSE_USE_VERSION=314 -I. $(WARN) $(PKG_CFLAGS) \
	-fno-strict-aliasing -MMD -MP $(CFLAGS)
ALL_LDFLAGS := $(LDFLAGS)
LIBS := $(PKG_LIBS) -lpthread -lm

ifneq ($(SANITIZE),)
ALL_CFLAGS  += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
ALL_LDFLAGS += -fsanitize=$(SANITIZE)
endif

LIB_SRC  := $(wildcard s3/*/*.c) $(wildcard cache/*/*.c) \
	$(filter-out fuse/main.c,$(wildcard fuse/*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
LIB      := $(BUILD)/libtenantfs.a

UNIT_SRC := $(wildcard tests/unit/test_*.c)
INTG_SRC := $(wildcard tests/integration/*.c)
TEST_BIN := $(UNIT_SRC:%.c=$(BUILD)/%) $(INTG_SRC:%.c=$(BUILD)/%)

DAEMON   := $(BUILD)/tenantfs
SRCS     := $(LIB_SRC) fuse/main.c $(UNIT_SRC) $(INTG_SRC)

all: $(DAEMON) $(TEST_BIN)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(DAEMON): $(BUILD)/fuse/main.o $(LIB)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(LIB)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

check: all
	tests/run --no-setup --build $(BUILD)

# These call make again with their own BUILD and SANITIZE, so they do not
# depend on what this invocation was given.
tsan:
	$(MAKE) SANITIZE=thread BUILD=build-tsan

check-tsan:
	tests/run --no-setup --tsan

check-valgrind:
	tests/run --no-setup --valgrind-unit

check-fuzz:
	tests/fuzz/run

# The Debian package (packaging/deb/mkdeb lays it out). VERSION is the one
# --version prints (TFS_VERSION in fuse/options.h). The daemon is built in
# DEB_BUILD with dpkg-buildflags (fortify, stack protector, relro, bind
# now) and packaged stripped; DEB_BUILD/tenantfs keeps its debug info.
VERSION = $(shell sed -n 's/.*define TFS_VERSION "\(.*\)".*/\1/p' fuse/options.h)
DEB_ARCH ?= $(shell dpkg --print-architecture)
DEB_BUILD ?= build-deb
DEB_OUT ?= build
DEB_FILE = $(DEB_OUT)/tenantfs_$(VERSION)_$(DEB_ARCH).deb
DEB_FLAGS = DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --get
DEB_MAINTAINER ?= tenantfs maintainers <tenantfs@localhost>

deb:
	$(MAKE) BUILD=$(DEB_BUILD) SANITIZE= \
		CFLAGS="$$($(DEB_FLAGS) CPPFLAGS) $$($(DEB_FLAGS) CFLAGS)" \
		LDFLAGS="$$($(DEB_FLAGS) LDFLAGS)" $(DEB_BUILD)/tenantfs
	DEB_MAINTAINER="$(DEB_MAINTAINER)" \
	SOURCE_DATE_EPOCH=$${SOURCE_DATE_EPOCH:-$$(git log -1 --format=%ct 2>/dev/null)} \
		packaging/deb/mkdeb $(DEB_BUILD)/tenantfs "$(VERSION)" "$(DEB_ARCH)" \
		$(DEB_BUILD)/pkg $(DEB_FILE)

install: $(DAEMON)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man8
	install -m 0755 $(DAEMON) $(DESTDIR)$(BINDIR)/tenantfs
	install -m 0755 packaging/mount.tenantfs $(DESTDIR)$(SBINDIR)/mount.tenantfs
	install -m 0644 packaging/tenantfs.8 $(DESTDIR)$(MANDIR)/man8/tenantfs.8

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/tenantfs $(DESTDIR)$(SBINDIR)/mount.tenantfs \
		$(DESTDIR)$(MANDIR)/man8/tenantfs.8

FORMAT_SRC = $(shell git ls-files '*.c' '*.h' 2>/dev/null)

format:
	clang-format -i $(FORMAT_SRC)

format-check:
	clang-format --dry-run --Werror $(FORMAT_SRC)

check-layers:
	tests/check-layers

# clang -Wthread-safety over the daemon's and the tests' sources: the lock
# annotations of s3/base/tsa.h checked, nothing written. TSA_CC names a
# clang (gcc has no such analysis).
TSA_CC ?= clang
TSA_FLAGS := -std=gnu11 -D_GNU_SOURCE -DFUSE_USE_VERSION=314 -I. $(PKG_CFLAGS) -fsyntax-only \
	-Wthread-safety -Werror

tsa: $(SRCS:%=tsa/%)

tsa/%.c:
	@$(TSA_CC) $(TSA_FLAGS) $*.c

clean: fuzz-clean
	rm -rf build build-asan build-tsan $(DEB_BUILD)

.PHONY: all check tsan check-tsan check-valgrind check-fuzz deb install uninstall format \
	format-check check-layers tsa clean
.SECONDARY:

-include $(SRCS:%.c=$(BUILD)/%.d)

# The fuzz targets (fuzz, fuzz-clean); it uses LIB_SRC, WARN and PKG_* above.
include tests/fuzz/fuzz.mk
