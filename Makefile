# SPDX-License-Identifier: GPL-2.0-only
#
# kvm-vsched: builds the KVM selftest library out of tree from $(KDIR), then
# this suite, for one architecture at a time, into build/$(ARCH)/.
#
#   make                      build for this machine (x86_64)
#   make ARCH=arm64           cross-build (static) for the arm64 test kernel
#   make run_tests            run the suite against this machine's /dev/kvm
#   make install INSTALL_PATH=DIR
#   make check                everything: harness tests, host run, QEMU runs
#
# Nothing under $(KDIR) is written: headers go to build/$(ARCH)/usr, the
# selftest library and the upstream tests to build/$(ARCH)/kvm.

TOP := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/kvm-vsched
KDIR ?= $(CACHE)/linux-source-6.12
KDIR := $(abspath $(KDIR))
ARCH ?= $(shell uname -m)
ARCH := $(ARCH:aarch64=arm64)

ifeq ($(ARCH),arm64)
KARCH := arm64
ARCH_DIR := aarch64
CROSS_COMPILE ?= $(if $(filter aarch64,$(shell uname -m)),,aarch64-linux-gnu-)
else ifeq ($(ARCH),x86_64)
KARCH := x86
ARCH_DIR := x86_64
CROSS_COMPILE ?=
else
$(error ARCH=$(ARCH) is not supported: use x86_64 or arm64)
endif

CC := $(CROSS_COMPILE)gcc
B := $(TOP)/build/$(ARCH)
SELFTESTS := $(KDIR)/tools/testing/selftests
KVM_SELFTESTS := $(SELFTESTS)/kvm

# Every test is statically linked: the same binaries run on the host and in
# the initramfs.  -fno-tree-vectorize keeps SSE out of x86 guest code, which
# the instruction emulator behind some /dev/kvm cannot run.
EXTRA_CFLAGS := -fno-tree-vectorize
VSCHED_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Wno-unused-parameter \
	-Wno-sign-compare -Wno-missing-field-initializers \
	-Wstrict-prototypes -Werror=implicit-function-declaration \
	-D_GNU_SOURCE -DCONFIG_64BIT -U_FORTIFY_SOURCE \
	-fno-builtin-memcmp -fno-builtin-memcpy -fno-builtin-memset \
	-fno-builtin-strnlen -fno-stack-protector -fno-PIE \
	-fno-strict-aliasing $(EXTRA_CFLAGS) \
	-I$(TOP)/lib -I$(TOP)/guest_code \
	-I$(KDIR)/tools/include -I$(KDIR)/tools/arch/$(KARCH)/include \
	-I$(KVM_SELFTESTS)/include -I$(KVM_SELFTESTS)/include/$(ARCH_DIR) \
	-I$(SELFTESTS) -I$(B)/tools/arch/arm64/include/generated \
	-isystem $(B)/usr/include
VSCHED_LDFLAGS := -static -pthread -no-pie

# Test manifest: "<path below selftests/> <timeout s> [args]".  Tests under
# arm64/ or x86/ are built for that architecture only.
SUBDIR_arm64 := arm64
SUBDIR_x86_64 := x86
MANIFEST := $(TOP)/selftests/TESTS
manifest_tests := $(shell sed -e 's/\#.*//' $(MANIFEST) 2>/dev/null | \
	awk 'NF { print $$1 }')
arch_tests := $(filter-out arm64/% x86/%,$(manifest_tests)) \
	$(filter $(SUBDIR_$(ARCH))/%,$(manifest_tests))
TEST_BINS := $(addprefix $(B)/selftests/,$(arch_tests))

# Upstream selftests that gate every patched kernel (see selftests/upstream.*).
UPSTREAM_LIST := $(TOP)/selftests/upstream.$(ARCH)
upstream_tests := $(shell sed -e 's/\#.*//' $(UPSTREAM_LIST) 2>/dev/null | \
	awk 'NF { print $$1 }')
UPSTREAM_BINS := $(addprefix $(B)/kvm/,$(upstream_tests))

LIB_SRCS := $(wildcard $(TOP)/lib/*.c)
GUEST_SRCS := $(wildcard $(TOP)/guest_code/*.c) \
	$(wildcard $(TOP)/guest_code/$(SUBDIR_$(ARCH))/*.c)
SUITE_OBJS := $(patsubst $(TOP)/%.c,$(B)/obj/%.o,$(LIB_SRCS) $(GUEST_SRCS))

BENCH_SRCS := $(wildcard $(TOP)/bench/*.c)
BENCH_BINS := $(patsubst $(TOP)/bench/%.c,$(B)/bench/%,$(BENCH_SRCS))
# libnuma where the (cross) toolchain has it: Debian has no arm64 libnuma.a
# cross package, and the benches read /sys/devices/system/node themselves.
BENCH_LDLIBS := $(if $(filter /%,$(shell $(CC) -print-file-name=libnuma.a)),-lnuma)

RUNNER := $(B)/vsched-runner
LIBKVM := $(B)/libkvm.a
HDRS_STAMP := $(B)/usr/.installed
LIBKVM_STAMP := $(B)/kvm/.built

.PHONY: all check run_tests install clean list-tests kdir-check
.DELETE_ON_ERROR:

all: $(RUNNER) $(TEST_BINS) $(BENCH_BINS) $(B)/tests.list

kdir-check:
	@test -f $(KDIR)/Makefile -a -d $(KDIR)/virt/kvm || { \
		echo "make: KDIR=$(KDIR) is not a kernel tree (run ./run.sh prepare, or set KDIR=/path/to/linux)" >&2; \
		exit 2; }

# The uapi headers of the two arches differ only in asm/, so both are made in
# one directory: the second arch redoes only those (3 CPU-s instead of 50 here,
# where every header costs a few process starts).  flock: the two arches may
# build at once.
KHDR := $(TOP)/build/khdr
$(HDRS_STAMP): | kdir-check
	@echo "  HDRS    $(ARCH) uapi headers from $(KDIR)"
	@mkdir -p $(KHDR)
	@flock $(KHDR).lock $(MAKE) -s -C $(KDIR) O=$(KHDR) ARCH=$(KARCH) \
		INSTALL_HDR_PATH=$(B)/usr headers_install
	@touch $@

# The selftest library and the upstream gate tests come from KDIR's own
# Makefile; abs_objdir keeps the generated arm64 sysreg headers out of KDIR,
# and TMPOUT the scratch files of its compiler checks (try-run).
# LDFLAGS goes through the environment so that the Makefile's "+= -pthread"
# still applies.
$(LIBKVM_STAMP): $(HDRS_STAMP) $(UPSTREAM_LIST) | kdir-check
	@echo "  LIBKVM  $(ARCH) selftest library and upstream gate tests"
	@mkdir -p $(B)/kvm $(B)/tools
	@LDFLAGS=-static $(MAKE) -s -C $(KVM_SELFTESTS) ARCH=$(KARCH) \
		CROSS_COMPILE=$(CROSS_COMPILE) OUTPUT=$(B)/kvm abs_objdir=$(B) \
		TMPOUT=$(B)/kvm/tmpout \
		KHDR_INCLUDES="-isystem $(B)/usr/include" \
		EXTRA_CFLAGS="$(EXTRA_CFLAGS)" \
		$(UPSTREAM_BINS) $(B)/kvm/lib/kvm_util.o
	@touch $@

$(LIBKVM): $(LIBKVM_STAMP)
	@rm -f $@
	@$(CROSS_COMPILE)ar rcs $@ $$(find $(B)/kvm/lib -name '*.o' | sort)

$(B)/obj/%.o: $(TOP)/%.c $(LIBKVM_STAMP)
	@echo "  CC      $(ARCH) $*.c"
	@mkdir -p $(dir $@)
	@$(CC) $(VSCHED_CFLAGS) -MD -MP -c $< -o $@

$(B)/selftests/%: $(B)/obj/selftests/%.o $(SUITE_OBJS) $(LIBKVM)
	@echo "  LD      $(ARCH) selftests/$*"
	@mkdir -p $(dir $@)
	@$(CC) $(VSCHED_LDFLAGS) -o $@ $< $(SUITE_OBJS) \
		-Wl,--whole-archive $(LIBKVM) -Wl,--no-whole-archive

$(B)/bench/%: $(B)/obj/bench/%.o $(SUITE_OBJS) $(LIBKVM)
	@echo "  LD      $(ARCH) bench/$*"
	@mkdir -p $(dir $@)
	@$(CC) $(VSCHED_LDFLAGS) -o $@ $< $(SUITE_OBJS) \
		-Wl,--whole-archive $(LIBKVM) -Wl,--no-whole-archive $(BENCH_LDLIBS)

$(RUNNER): $(TOP)/harness/runner.c
	@echo "  CC      $(ARCH) vsched-runner"
	@mkdir -p $(dir $@)
	@$(CC) -std=gnu11 -O2 -Wall -Wextra -static -o $@ $<

# The list the runner executes: our tests, then the upstream gate.
$(B)/tests.list: $(MANIFEST) $(UPSTREAM_LIST) $(TOP)/harness/mklist.awk
	@mkdir -p $(dir $@)
	@awk -v arch=$(ARCH) -v subdir=$(SUBDIR_$(ARCH)) \
		-f $(TOP)/harness/mklist.awk $(MANIFEST) $(UPSTREAM_LIST) > $@

list-tests: $(B)/tests.list
	@cat $<

run_tests: all
	@$(RUNNER) $(B)/tests.list

install: all
	@test -n "$(INSTALL_PATH)" || { echo "make: install needs INSTALL_PATH=DIR" >&2; exit 2; }
	@mkdir -p $(INSTALL_PATH)
	@cp -r $(B)/selftests $(B)/kvm $(INSTALL_PATH)/
	@cp $(RUNNER) $(B)/tests.list $(INSTALL_PATH)/
	@awk '{ if ($$2 > max) max = $$2 } END { print "timeout=" max }' \
		$(B)/tests.list > $(INSTALL_PATH)/settings
	@printf '#!/bin/sh\ncd "$$(dirname "$$0")" && exec ./vsched-runner tests.list\n' \
		> $(INSTALL_PATH)/run_kselftest.sh
	@chmod +x $(INSTALL_PATH)/run_kselftest.sh
	@echo "installed into $(INSTALL_PATH); run $(INSTALL_PATH)/run_kselftest.sh"

check:
	@$(TOP)/run.sh check

clean:
	rm -rf $(TOP)/build

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)
