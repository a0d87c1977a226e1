# SPDX-License-Identifier: GPL-2.0
#
# The two commands (see README.md):
#   make run     build the patched kernel, boot it, show the pins controller
#   make check   run every test: host tests, then the selftests in the guest
#
# Knobs: PINS=n (CONFIG_CGROUP_PINS=n), PINS_DEBUG=1 (KASAN, lockdep,
# kmemleak), PINS_STRESS_OPS, CMD='...' (make run: run CMD in the
# guest), PINS_ACCEL=tcg|kvm|auto, PINS_CACHE, PINS_BUILD, JOBS,
# PINS_CROSS_ARCH and PINS_CROSS_SRC (make cross).
#
# make bench (not part of make check) builds the kernel with and without the
# controller and the pristine Debian tree with the same config (vanilla),
# boots each twice under QEMU -icount and prints instructions per charge
# path; PINS_BENCH_KERNELS='vanilla=PATH nopins=PATH pins=PATH' (any of the
# three) boots those bzImages instead of building them, PINS_BENCH_HEADERS=DIR
# names the uapi headers to build the benchmark against when the pins kernel
# is not built here, PINS_BENCH_ARGS='-o mlock_1 -l root,d8' passes options
# to the benchmark.
#
# make stress (not part of make check) runs test_pins_stress alone on the
# debug kernel for PINS_STRESS_OPS operations (default 1,000,000) or
# PINS_STRESS_SECS seconds (default 4 hours); PINS_DEBUG=0 on the plain one.

export PINS PINS_DEBUG PINS_STRESS_OPS PINS_STRESS_SECS CMD PINS_ACCEL PINS_CACHE PINS_BUILD PINS_TIMEOUT PINS_BISECT_FROM JOBS
export PINS_CROSS_ARCH PINS_CROSS_SRC PINS_BENCH_KERNELS PINS_BENCH_HEADERS PINS_BENCH_ARGS

.PHONY: run check shell build prepare lint patches bisect-check cross bench stress clean

run check shell build prepare lint patches bisect-check cross bench stress:
	@bash harness/pins.sh $@

clean:
	rm -rf build
