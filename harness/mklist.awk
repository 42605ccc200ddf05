#!/usr/bin/awk -f
# SPDX-License-Identifier: GPL-2.0-only
#
# Build the runner's test list for one architecture from selftests/TESTS and
# selftests/upstream.<arch>.  Input lines: "<path> <timeout s> [args...]";
# output lines: "<name> <timeout s> <binary path relative to build/<arch>> [args...]".
# Variables: arch (x86_64|arm64), subdir (x86|arm64).

{ sub(/#.*/, "") }
NF == 0 { next }
NF < 2 || $2 !~ /^[0-9]+$/ {
	printf "%s:%d: want \"<path> <timeout seconds> [args]\"\n", FILENAME, FNR > "/dev/stderr"
	bad = 1
	exit 1
}

FILENAME ~ /\/TESTS$/ {
	if ($1 ~ /^(arm64|x86)\// && index($1, subdir "/") != 1)
		next
	name = $1
	sub(/.*\//, "", name)
	path = "selftests/" $1
}

FILENAME !~ /\/TESTS$/ {
	name = $1
	sub(/.*\//, "", name)
	name = "upstream/" name
	path = "kvm/" $1
}

{
	if (name in seen) {
		printf "%s:%d: test name %s used twice\n", FILENAME, FNR, name > "/dev/stderr"
		bad = 1
		exit 1
	}
	seen[name] = 1
	line = name " " $2 " " path
	for (i = 3; i <= NF; i++)
		line = line " " $i
	print line
}

END { exit bad }
