#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# What `make run` shows: the pins controller in a child cgroup.

cg=/sys/fs/cgroup
show() { echo "\$ $*"; sh -c "$*"; }

show "cat $cg/cgroup.controllers"
if ! grep -qw pins $cg/cgroup.controllers; then
	echo "this kernel has no pins controller (CONFIG_CGROUP_PINS=n)"
	exit 0
fi
show "echo +pins > $cg/cgroup.subtree_control"
show "mkdir $cg/demo"
show "ls $cg/demo | grep '^pins\.'"
show "cat $cg/demo/pins.max $cg/demo/pins.current"
show "echo 1M > $cg/demo/pins.max && cat $cg/demo/pins.max"
show "echo 10000 > $cg/demo/pins.max && cat $cg/demo/pins.max"
show "echo bogus > $cg/demo/pins.max; cat $cg/demo/pins.max"
if [ -e /sys/kernel/debug/pins_test ]; then
	echo "# charge through the test hook from inside the cgroup (pages of 4 KiB):"
	sh -c "echo \$\$ > $cg/demo/cgroup.procs
		exec 3<>/sys/kernel/debug/pins_test
		echo 'charge 2' >&3 && echo 'charged 2 pages'
		echo \"pins.current: \$(cat $cg/demo/pins.current)\"
		echo 'charge 1' >&3 || echo 'charge 1 refused: pins.max reached'
		echo \"pins.current: \$(cat $cg/demo/pins.current)\""
	show "cat $cg/demo/pins.current"
fi
if [ -x /tests/lockmem ]; then
	echo "# mlock() from inside the cgroup, as uid 65534 (no CAP_IPC_LOCK),"
	echo "# with pins.max (1M) below RLIMIT_MEMLOCK (8M):"
	show "echo 1M > $cg/demo/pins.max"
	show "cat $cg/demo/pins.current $cg/demo/pins.events"
	echo "\$ (echo \$\$ > $cg/demo/cgroup.procs; ulimit -l 8192;" \
		"exec /tests/runas 65534 /tests/lockmem $cg/demo 512K 1M)"
	sh -c "echo \$\$ > $cg/demo/cgroup.procs; ulimit -l 8192 &&
		exec /tests/runas 65534 /tests/lockmem $cg/demo 512K 1M"
	echo "# the second mlock() fit the rlimit but not pins.max; after exit:"
	show "cat $cg/demo/pins.current $cg/demo/pins.events"
fi
if [ -x /tests/uringbuf ] && [ -e /sys/kernel/tracing/events/pins ]; then
	echo "# io_uring fixed buffers, registered from inside the cgroup by root,"
	echo "# which has CAP_IPC_LOCK: RLIMIT_MEMLOCK (here 0) does not apply,"
	echo "# pins.max (1M) does. Refusals are traced as pins:charge_refused:"
	show "echo 1 > /sys/kernel/tracing/events/pins/charge_refused/enable"
	echo "\$ (echo \$\$ > $cg/demo/cgroup.procs; ulimit -l 0;" \
		"exec /tests/uringbuf $cg/demo 512K 1M)"
	sh -c "echo \$\$ > $cg/demo/cgroup.procs; ulimit -l 0 &&
		exec /tests/uringbuf $cg/demo 512K 1M"
	echo "# the 1M buffer did not fit in pins.max. The log names the cgroup once,"
	echo "# at its first refusal (the test hook's above, if the kernel has it);"
	echo "# the trace has every refusal, with who asked and for what:"
	show "dmesg | grep 'pins controller'"
	show "grep -o 'charge_refused:.*' /sys/kernel/tracing/trace"
	show "echo 0 > /sys/kernel/tracing/events/pins/charge_refused/enable"
fi
if command -v crun >/dev/null && [ -x /tests/tenant ]; then
	echo "# A tenant the rlimit cannot stop: a container run by Debian's crun"
	echo "# as root with CAP_IPC_LOCK and RLIMIT_MEMLOCK unlimited, which is"
	echo "# what a VM sandbox or an RDMA workload is given. Its runtime sets"
	echo "# pins.max (64M) through linux.resources.unified; crun does not know"
	echo "# the controller, so it is enabled by hand where crun makes the cgroup:"
	show "mkdir $cg/tenants && echo +pins > $cg/tenants/cgroup.subtree_control"
	/oci-bundle.sh /tmp/tenant1 /tenants/tenant1 64M \
		mlock=32M mlock=16M uring=8M mlock=16M uring=16M show
	show "grep -A1 -e '\"args\"' -e '\"unified\"' -e RLIMIT_MEMLOCK -e '\"effective\"' /tmp/tenant1/config.json"
	echo "# it locks 48M and registers an 8M io_uring buffer, then asks for 16M"
	echo "# more of each; the container cgroup's pins.max refuses both:"
	show "crun --cgroup-manager=cgroupfs run --no-pivot --bundle /tmp/tenant1 tenant1"
	echo "# crun removed the container's cgroup on exit; its parent counted"
	echo "# the two refusals, and everything came back:"
	sleep 0.5
	show "cat $cg/tenants/pins.events $cg/tenants/pins.current"
	show "dmesg | grep 'in /tenants'"
	show "rmdir $cg/tenants"
fi
echo "# what is pinned or locked on the whole host, by source, now:"
show "cat $cg/pins.current $cg/pins.stat"
show "rmdir $cg/demo"
