#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# oci-bundle.sh DIR CGROUP PINS_MAX STEP...: writes an OCI bundle in DIR
# (new) for crun: its rootfs holds /tenant (from /tests) and runs
# /tenant STEP... as uid 0 with only CAP_IPC_LOCK (bounding, effective,
# permitted), RLIMIT_MEMLOCK unlimited, in mount, PID, UTS, IPC and cgroup
# namespaces, in the cgroup CGROUP (a path from the cgroup2 root), with
# pins.max set to PINS_MAX through linux.resources.unified. The container
# mounts its cgroup namespace's cgroup2 read-only at /sys/fs/cgroup.
set -e
[ $# -ge 3 ] || { echo "usage: $0 DIR CGROUP PINS_MAX STEP..." >&2; exit 2; }
dir=$1 cgroup=$2 max=$3
shift 3
args='"/tenant"'
for a in "$@"; do
	args="$args, \"$a\""
done
mkdir -p "$dir/rootfs/proc" "$dir/rootfs/dev" "$dir/rootfs/sys/fs/cgroup"
cp /tests/tenant "$dir/rootfs/tenant"
cat >"$dir/config.json" <<EOF
{
  "ociVersion": "1.0.2",
  "process": {
    "terminal": false,
    "user": { "uid": 0, "gid": 0 },
    "args": [ $args ],
    "env": [ "PATH=/" ],
    "cwd": "/",
    "capabilities": {
      "bounding": [ "CAP_IPC_LOCK" ],
      "effective": [ "CAP_IPC_LOCK" ],
      "permitted": [ "CAP_IPC_LOCK" ]
    },
    "rlimits": [ { "type": "RLIMIT_MEMLOCK",
      "hard": 18446744073709551615, "soft": 18446744073709551615 } ],
    "noNewPrivileges": true
  },
  "root": { "path": "rootfs" },
  "hostname": "${dir##*/}",
  "mounts": [
    { "destination": "/proc", "type": "proc", "source": "proc" },
    { "destination": "/dev", "type": "tmpfs", "source": "tmpfs",
      "options": [ "nosuid", "mode=755", "size=1m" ] },
    { "destination": "/sys/fs/cgroup", "type": "cgroup2", "source": "cgroup2",
      "options": [ "nosuid", "noexec", "nodev", "ro" ] }
  ],
  "linux": {
    "cgroupsPath": "$cgroup",
    "resources": { "unified": { "pins.max": "$max" } },
    "namespaces": [ { "type": "mount" }, { "type": "pid" }, { "type": "uts" },
      { "type": "ipc" }, { "type": "cgroup" } ]
  }
}
EOF
