# SPDX-License-Identifier: GPL-2.0-only
# shellcheck shell=bash
#
# step NAME TIMEOUT COMMAND...: run one check of a shell-driven suite and
# print its result in the runner's console format (see harness/runner.c), so
# harness/summarize.awk reads it like any test run.  A COMMAND that is a
# shell function runs as "$STEP_SELF __call FUNCTION ARGS" (timeout cannot
# run functions): the sourcing script must dispatch that, see step_dispatch.

STEP_N=0

step() {
	local name=$1 limit=$2 rc=0 start
	shift 2
	STEP_N=$((STEP_N + 1))
	start=$(date +%s%N)
	echo "kvm-vsched: start $STEP_N $name timeout=$limit"
	if declare -F "$1" >/dev/null; then
		set -- "$STEP_SELF" __call "$@"
	fi
	local -
	set +e
	timeout --kill-after=5 "$limit" "$@" </dev/null 2>&1 | sed -u 's/^/# /'
	rc=${PIPESTATUS[0]}
	echo "kvm-vsched: end $STEP_N $name rc=$([[ $rc -eq 124 || $rc -eq 137 ]] && echo TIMEOUT || echo "$rc") ms=$((($(date +%s%N) - start) / 1000000))"
	case $rc in
	0) echo "ok $STEP_N $name" ;;
	4) echo "ok $STEP_N $name # SKIP" ;;
	124 | 137) echo "not ok $STEP_N $name # TIMEOUT ${limit}s" ;;
	*) echo "not ok $STEP_N $name" ;;
	esac
	return 0
}

# Call at the end of the function definitions: runs "__call FUNCTION ARGS".
step_dispatch() {
	if [[ ${1:-} == __call ]]; then
		shift
		"$@"
		exit
	fi
}
