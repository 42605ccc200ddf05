#!/usr/bin/awk -f
# SPDX-License-Identifier: GPL-2.0-only
#
# Print summary.tsv rows (run, test, result, seconds, detail) from one or
# more runs as one table, then one line per failure (a CI log that keeps only
# the tail still names them), then the closing line "N passed, N failed, N skipped".
# A TIMEOUT counts as a failure.  Exits 1 when anything failed.

BEGIN { FS = "\t" }

NF >= 3 {
	rows++
	run[rows] = $1; test[rows] = $2; res[rows] = $3
	secs[rows] = $4; why[rows] = $5
	if (length($1) > wrun) wrun = length($1)
	if (length($2) > wtest) wtest = length($2)
	if ($3 == "PASS") passed++
	else if ($3 == "SKIP") skipped++
	else failed++
}

END {
	if (wrun < 3) wrun = 3
	if (wtest < 4) wtest = 4
	fmt = "%-" wrun "s  %-" wtest "s  %-7s  %7s  %s\n"
	printf fmt, "run", "test", "result", "seconds", "detail"
	for (i = 1; i <= rows; i++)
		printf fmt, run[i], test[i], res[i], secs[i], why[i]
	# CI logs keep only the tail: name the failures again just above the totals.
	for (i = 1; i <= rows; i++)
		if (res[i] != "PASS" && res[i] != "SKIP")
			printf "%s: %s %s%s\n", res[i], run[i], test[i], why[i] == "" ? "" : ": " why[i]
	printf "%d passed, %d failed, %d skipped\n", passed, failed, skipped
	exit failed > 0 || rows == 0
}
