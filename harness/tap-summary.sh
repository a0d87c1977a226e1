#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# tap-summary.sh GUEST_LOG HOST_PASSED HOST_FAILED HOST_SKIPPED [MUST_SKIP]
#
# Prints the guest's TAP results per test program and ends with the one
# summary line `N passed, N failed, N skipped` over host and guest tests.
# A program that printed no result, fewer results than its plan, or that
# exited with a failure status but no failed result counts as failed. MUST_SKIP names programs that run on a kernel
# without the feature they test (PINS=n): a result of theirs that is not a
# SKIP is counted as failed, since a test that passes without the code it
# tests proves nothing. Exits non-zero if anything failed or if no test ran.

set -euo pipefail
log=$1

awk -v hp="$2" -v hf="$3" -v hs="$4" -v must_skip=" ${5:-} " '
function close_prog(status) {
	if (prog == "")
		return
	if (seen == 0) {
		printf "# %s: printed no result: counted as 1 failure\n", prog
		f++
	} else if (plan >= 0 && seen < plan) {
		printf "# %s: %d of %d results missing: counted as failures\n", prog, plan - seen, plan
		f += plan - seen
	} else if (status != "" && status != 0 && status != 4 && prog_failed == 0) {
		# kselftest exits 4 when everything skipped, 1 on failure.
		printf "# %s: exited %s without a failed result: counted as 1 failure\n", prog, status
		f++
	}
	prog = ""
}
/^PINS-TEST-BEGIN / { close_prog(""); prog = $2; plan = -1; seen = 0; prog_failed = 0; print "# " prog; next }
/^PINS-TEST-END / { sub(/.*exit=/, ""); close_prog($0); next }
prog != "" && /^1\.\.[0-9]+/ { plan = substr($1, 4) + 0; next }
prog != "" && /^(not )?ok [0-9]+/ {
	seen++
	print "  " $0
	if ($0 ~ /# *SKIP/) s++
	else if (index(must_skip, " " prog " ")) {
		print "  # ^ FAILED: must SKIP without the controller"
		f++
		prog_failed++
	} else if ($0 ~ /^ok /) p++
	else {
		f++
		prog_failed++
	}
	next
}
END {
	close_prog("")
	printf "# host: %d passed, %d failed, %d skipped; guest: %d passed, %d failed, %d skipped\n", hp, hf, hs, p, f, s
	tp = p + hp; tf = f + hf; ts = s + hs
	printf "%d passed, %d failed, %d skipped\n", tp, tf, ts
	exit (tf > 0 || tp + ts == 0) ? 1 : 0
}' "$log"
