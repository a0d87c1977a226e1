# SPDX-License-Identifier: GPL-2.0
#
# The two commands (see README.md):
#   make run     build the patched kernel, boot it, show the pins controller
#   make check   run every test: host tests, then the selftests in the guest
#
# Knobs: PINS=n (CONFIG_CGROUP_PINS=n), CMD='...' (make run: run CMD in the
# guest), PINS_ACCEL=tcg|kvm|auto, PINS_CACHE, PINS_BUILD, JOBS,
# PINS_CROSS_ARCH and PINS_CROSS_SRC (make cross).

export PINS CMD PINS_ACCEL PINS_CACHE PINS_BUILD PINS_TIMEOUT PINS_BISECT_FROM JOBS
export PINS_CROSS_ARCH PINS_CROSS_SRC

.PHONY: run check shell build prepare lint patches bisect-check cross clean

run check shell build prepare lint patches bisect-check cross:
	@bash harness/pins.sh $@

clean:
	rm -rf build
