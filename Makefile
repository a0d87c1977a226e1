# SPDX-License-Identifier: GPL-2.0
#
# The two commands (see README.md):
#   make run     build the patched kernel, boot it, show the pins controller
#   make check   run every test: host tests, then the selftests in the guest
#
# Knobs: PINS=n (CONFIG_CGROUP_PINS=n), CMD='...' (make run: run CMD in the
# guest), PINS_ACCEL=tcg|kvm|auto, PINS_CACHE, PINS_BUILD, JOBS.

export PINS CMD PINS_ACCEL PINS_CACHE PINS_BUILD PINS_TIMEOUT PINS_BISECT_FROM JOBS

.PHONY: run check shell build prepare lint patches bisect-check clean

run check shell build prepare lint patches bisect-check:
	@bash harness/pins.sh $@

clean:
	rm -rf build
