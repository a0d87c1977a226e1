#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Runs every guest test program; each prints kselftest TAP. The host counts
# the results (harness/tap-summary.sh).

run() {
	name=$1
	shift
	echo "PINS-TEST-BEGIN $name"
	"$@"
	echo "PINS-TEST-END $name exit=$?"
}

run test_pins /tests/test_pins
run test_vm_account /tests/test_vm_account
run test_pins_mlock /tests/test_pins_mlock
# Upstream tests that cover code the series touches, unchanged.
run test_core /tests/test_core
run mlock2-tests /tests/mlock2-tests
run mlock-random-test /tests/mlock-random-test
# As upstream's run_vmtests.sh runs it: as nobody.
run on-fault-limit /tests/runas 65534 /tests/on-fault-limit
