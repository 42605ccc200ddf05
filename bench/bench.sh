# SPDX-License-Identifier: GPL-2.0-only
# shellcheck shell=bash
#
# ./run.sh bench: sourced by run.sh, which calls cmd_bench with the arguments
# that follow "bench".  Being written (issue: benchmarks).

cmd_bench() {
	die "bench: not implemented yet"
}
