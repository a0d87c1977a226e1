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

# The tests must be able to interleave in the kernel: an SMP kernel with
# full preemption, really running on at least two CPUs.
smp() {
	echo "1..2"
	n=$(nproc)
	if [ "$n" -ge 2 ]; then
		echo "ok 1 the guest runs on $n CPUs"
	else
		echo "not ok 1 the guest runs on $n CPU, expected at least 2"
	fi
	case " $(uname -v) " in
	*" SMP PREEMPT "*) echo "ok 2 SMP kernel with full preemption: $(uname -v)" ;;
	*) echo "not ok 2 not an SMP kernel with full preemption: $(uname -v)" ;;
	esac
}

run guest_smp smp
run test_pins /tests/test_pins
run test_vm_account /tests/test_vm_account
run test_pins_mlock /tests/test_pins_mlock
# What needs no controller runs in both variants: RLIMIT_MEMLOCK must
# behave as on vanilla with the controller built in and without it.
run mlock_rlimit /tests/test_pins_mlock --rlimit-only
# Upstream tests that cover code the series touches, unchanged.
run test_core /tests/test_core
run mlock2-tests /tests/mlock2-tests
run mlock-random-test /tests/mlock-random-test
# As upstream's run_vmtests.sh runs it: as nobody.
run on-fault-limit /tests/runas 65534 /tests/on-fault-limit
