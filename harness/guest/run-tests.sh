#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Runs the guest's tests as an installed kselftest tree is run: through
# run_kselftest.sh (kselftest/runner.sh), which prints TAP with each
# program's own TAP nested in it. The runner is POSIX sh and runs as it is
# on busybox; without /usr/bin/timeout and perl it runs each test without
# its timeout and prefixes the nested output with sed, as it does anywhere
# they are missing. The host counts the results (harness/tap-summary.sh);
# every test named here must report, or it counts as failed.

tests="
cgroup:test_pins
cgroup:test_vm_account
cgroup:test_pins_mlock
cgroup:test_pins_io_uring
cgroup:test_pins_net
cgroup:test_pins_perf
cgroup:test_pins_vfio
cgroup:test_pins_iommufd
cgroup:test_pins_vdpa
cgroup:test_pins_rdma
cgroup:test_pins_fuzz
cgroup:test_pins_delegate
guest:pins_stress
cgroup:test_core
guest:guest_smp
guest:crun_container
guest:mlock_rlimit
guest:msg_zerocopy
guest:on-fault-limit
mm:mlock2-tests
mm:mlock-random-test
"

# pins.tests=a,b on the kernel command line runs only those (a second
# boot with other kernel options, for tests that need them).
only=$(sed -n 's/.*pins\.tests=\([^ ]*\).*/\1/p' /proc/cmdline)
[ -z "$only" ] || tests=$(echo "$only" | tr , ' ')

# The debug kernel's kmemleak: what it suspects after boot is not the
# tests' doing; scan once and mark it as seen. The scan at the end reports
# what the tests leaked.
kml=/sys/kernel/debug/kmemleak
if [ -e $kml ]; then
	echo scan >$kml && echo clear >$kml
fi

args=
for t in $tests; do
	echo "PINS-EXPECT $t"
	args="$args -t $t"
done
# shellcheck disable=SC2086 # one word per option
/kselftest/run_kselftest.sh $args
echo "PINS-KSELFTEST-END exit=$?"

# kmemleak reports what nothing references once it is five seconds old:
# let the tests' last objects age (and RCU free what it holds), scan, and
# print what it found (nothing, or the host fails the run on
# "unreferenced object").
if [ -e $kml ]; then
	sleep 6
	echo "PINS-KMEMLEAK-BEGIN"
	if echo scan >$kml; then
		cat $kml
	else
		echo "PINS-KMEMLEAK-FAILED: cannot scan"
	fi
	echo "PINS-KMEMLEAK-END"
fi
