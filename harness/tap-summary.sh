#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# tap-summary.sh GUEST_LOG HOST_PASSED HOST_FAILED HOST_SKIPPED [MUST_SKIP]
#
# Prints the guest's TAP results per test program and ends with the one
# summary line `N passed, N failed, N skipped` over host and guest tests.
#
# The guest runs its tests through kselftest's runner (run_kselftest.sh):
# per program a header `# selftests: DIR: NAME`, the program's own TAP
# nested under `# `, and the runner's result for it, `ok N selftests: DIR:
# NAME`, with `# SKIP` for exit 4 and `# exit=RC` or `# TIMEOUT` when it
# failed. A program is named DIR:NAME. What is counted are the nested
# results, one per test; the runner's line gives the program's exit. A
# program that printed no result, fewer results than its plan, that exited
# with a failure status but no failed result, or that has no result from
# the runner (it hung, or the guest died under it) counts as failed; so
# does every program the guest announced with `PINS-EXPECT DIR:NAME` that
# never started (missing from the install, or the runner refused it). A
# program that printed no result and that the runner reports as SKIP
# counts as one skip. MUST_SKIP names programs that run on a kernel
# without the feature they test (PINS=n): a result of theirs that is not a
# SKIP is counted as failed, since a test that passes without the code it
# tests proves nothing. Exits non-zero if anything failed or if no test
# ran.

set -euo pipefail
log=$1

awk -v hp="$2" -v hf="$3" -v hs="$4" -v must_skip=" ${5:-} " '
function fail(n, why) {
	printf "# %s: %s\n", prog, why
	f += n
}
function close_prog(status) {
	if (prog == "")
		return
	if (seen == 0) {
		if (status == 4) {
			printf "# %s: skipped as a whole (exit 4): counted as 1 skip\n", prog
			s++
		} else {
			fail(1, "printed no result: counted as 1 failure")
		}
	} else if (plan >= 0 && seen < plan) {
		fail(plan - seen, sprintf("%d of %d results missing: counted as failures", plan - seen, plan))
	} else if (status == "" && prog_failed == 0) {
		fail(1, "no result from the runner (it hung or the guest died): counted as 1 failure")
	} else if (status != "" && status != 0 && status != 4 && prog_failed == 0) {
		# kselftest exits 4 when everything skipped, 1 on failure.
		fail(1, sprintf("exited %s without a failed result: counted as 1 failure", status))
	}
	prog = ""
}
/^PINS-EXPECT / { expected[$2] = 1; order[++nexp] = $2; next }
# The runner starts a program.
/^# selftests: [^ ]+: [^ ]+$/ {
	close_prog("")
	dir = $3
	sub(/:$/, "", dir)
	prog = dir ":" $4
	started[prog] = 1
	plan = -1; seen = 0; prog_failed = 0
	print "# " prog
	next
}
# The runner'"'"'s result for the program: its exit status.
/^(not )?ok [0-9]+ selftests: / {
	if (prog == "")
		next
	if ($0 ~ /^ok .*# SKIP/) st = 4
	else if ($0 ~ /^ok /) st = 0
	else if ($0 ~ /# exit=[0-9]+/) { st = $0; sub(/.*# exit=/, "", st); st += 0 }
	else if ($0 ~ /# TIMEOUT/) st = 124
	else st = "not run"
	close_prog(st)
	next
}
prog != "" && /^# 1\.\.[0-9]+/ { plan = substr($2, 4) + 0; next }
prog != "" && /^# (not )?ok [0-9]+/ {
	line = substr($0, 3)
	seen++
	print "  " line
	if (line ~ /# *SKIP/) s++
	else if (index(must_skip, " " prog " ")) {
		print "  # ^ FAILED: must SKIP without the controller"
		f++
		prog_failed++
	} else if (line ~ /^ok /) p++
	else {
		f++
		prog_failed++
	}
	next
}
END {
	close_prog("")
	for (i = 1; i <= nexp; i++) {
		if (!(order[i] in started)) {
			printf "# %s: did not run: counted as 1 failure\n", order[i]
			f++
		}
	}
	printf "# host: %d passed, %d failed, %d skipped; guest: %d passed, %d failed, %d skipped\n", hp, hf, hs, p, f, s
	tp = p + hp; tf = f + hf; ts = s + hs
	printf "%d passed, %d failed, %d skipped\n", tp, tf, ts
	exit (tf > 0 || tp + ts == 0) ? 1 : 0
}' "$log"
