#!/usr/bin/awk -f
# SPDX-License-Identifier: GPL-2.0-only
#
# Turn one run's console log (the format of harness/runner.c, with kernel
# messages interleaved) into summary rows:
#
#   run <TAB> test <TAB> PASS|FAIL|SKIP|TIMEOUT <TAB> seconds <TAB> detail
#
# Variables: run=<run id>, list=<test list file> (the tests that should have
# run, in order; without it the tests seen in the log are reported),
# kernel=1 when the log is a kernel console (a missing "done" marker or a
# splat outside any test is then a failure of the run itself).
#
# Markers start a line: a nested log (test output is prefixed "# ") is not
# mistaken for this one. A kernel WARNING/BUG/Oops/panic/lockdep report fails the test that was
# running when it was printed, whatever the test's own verdict.

function trim(s) {
	sub(/^[ \t\r]+/, "", s)
	sub(/[ \t\r]+$/, "", s)
	gsub(/\t/, " ", s)
	return length(s) > 160 ? substr(s, 1, 157) "..." : s
}

function note_test(name) {
	if (!(name in seen)) {
		seen[name] = 1
		order[++norder] = name
	}
}

BEGIN {
	splat_re = "(WARNING:|BUG:|Oops|Kernel panic|Internal error:|" \
		   "Unable to handle kernel|general protection fault|" \
		   "INFO: task .* blocked|rcu: INFO:|watchdog: BUG)"
	if (list != "") {
		while ((getline line < list) > 0) {
			sub(/#.*/, "", line)
			if (split(line, f, " ") >= 1)
				note_test(f[1])
		}
		close(list)
	}
}

{ sub(/\r$/, "") }

/^kvm-vsched: start [0-9]+ [^ ]+/ {
	split($0, f, " ")
	cur = f[4]
	note_test(cur)
	started[cur] = 1
	next
}

/^kvm-vsched: end [0-9]+ [^ ]+ rc=[^ ]+ ms=[0-9]+/ {
	split($0, f, " ")
	name = f[4]
	ended[name] = 1
	rc[name] = substr(f[5], 4)
	ms[name] = substr(f[6], 4)
	cur = ""
	next
}

/^kvm-vsched: done/ { done = 1; cur = ""; next }

/^(not )?ok [0-9]+ [^ ]+/ && !/^# / {
	name = $0
	sub(/^(not )?ok [0-9]+ /, "", name)
	sub(/ .*/, "", name)
	tap[name] = ($1 == "ok") ? (/# SKIP/ ? "SKIP" : "PASS") : "FAIL"
	next
}

cur != "" && /^# / {
	text = substr($0, 3)
	if (text ~ /SKIP/) {
		reason = text
		sub(/.*SKIP[ :-]*/, "", reason)
		if (reason != "")
			skipwhy[cur] = reason
	}
	# The line after an assertion header names the file, line and expression.
	if (after_assert) {
		if (!(cur in failwhy))
			failwhy[cur] = text
		after_assert = 0
	}
	if (text ~ /Test Assertion Failure/)
		after_assert = 1
	else if (text ~ /^not ok|FAIL|[Ee]rror/ && !(cur in failwhy))
		failwhy[cur] = text
	if (text ~ /[^ ]/)
		lastout[cur] = text
	next
}

$0 ~ splat_re {
	if (cur != "") {
		if (!(cur in splat))
			splat[cur] = $0
	} else if (outside_splat == "") {
		outside_splat = $0
	}
}

END {
	for (i = 1; i <= norder; i++) {
		name = order[i]
		secs = (name in ms) ? sprintf("%.1f", ms[name] / 1000) : "-"
		if (!(name in started)) {
			res = "FAIL"
			why = "not run: the log ends before it started"
		} else if (!(name in ended)) {
			res = "FAIL"
			why = "log ends while it ran (run timed out or the kernel died)"
		} else if (rc[name] == "TIMEOUT") {
			res = "TIMEOUT"
			why = "killed at its timeout"
		} else if (name in tap) {
			res = tap[name]
			why = res == "SKIP" ? skipwhy[name] : \
			      res == "FAIL" ? ((name in failwhy) ? failwhy[name] : \
					       "rc=" rc[name] (lastout[name] != "" ? ": " lastout[name] : "")) : ""
		} else {
			res = "FAIL"
			why = "no TAP result line (rc=" rc[name] ")"
		}
		if (name in splat) {
			res = "FAIL"
			why = "kernel: " splat[name]
		}
		if (res == "SKIP" && why == "")
			why = "skipped without a reason"
		printf "%s\t%s\t%s\t%s\t%s\n", run, name, res, secs, trim(why)
	}
	if (kernel && outside_splat != "")
		printf "%s\t%s\t%s\t%s\t%s\n", run, "kernel-log", "FAIL", "-",
		       trim("kernel: " outside_splat)
	else if (kernel && !done)
		printf "%s\t%s\t%s\t%s\t%s\n", run, "kernel-log", "FAIL", "-",
		       "no end-of-run marker: the boot died, hung or was cut off"
}
