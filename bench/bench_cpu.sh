# NAME
#	bench/bench_cpu.sh - CPU time of the relay under test, for the bench scripts (sourced)
# DESCRIPTION
#	stat_ticks PID: utime+stime of PID in clock ticks (+cutime+cstime when
#	STAT_ALL=1); 0 if it is gone. /proc/PID/stat after "pid (comm) ":
#	state ppid ... utime=$12 stime=$13 cutime=$14 cstime=$15.
#	postfix_ticks MASTER: a Postfix instance's CPU ticks, the master with its
#	reaped children plus every live child.

stat_ticks() {
    awk -v all="${STAT_ALL:-0}" '{ sub(/^.*\) /, ""); t = $12 + $13; if (all) t += $14 + $15; print t }' \
        "/proc/$1/stat" 2>/dev/null || echo 0
}

postfix_ticks() {
    local master=$1 total f pid ppid
    total=$(STAT_ALL=1 stat_ticks "$master")
    for f in /proc/[0-9]*/stat; do
        pid=${f#/proc/}
        pid=${pid%/stat}
        ppid=$(awk '{ sub(/.*\) /, ""); print $2 }' "$f" 2>/dev/null) || continue
        [[ $ppid == "$master" ]] || continue
        total=$((total + $(STAT_ALL=1 stat_ticks "$pid")))
    done
    echo "$total"
}
