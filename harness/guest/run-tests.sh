#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Runs every guest test program; each prints kselftest TAP. The host counts
# the results (harness/tap-summary.sh).

for t in /tests/test_pins /tests/test_vm_account /tests/test_core; do
	echo "PINS-TEST-BEGIN $(basename "$t")"
	"$t"
	echo "PINS-TEST-END $(basename "$t") exit=$?"
done
