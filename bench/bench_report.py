#!/usr/bin/env python3
"""
NAME
	bench_report.py - /proc sampling and the result files of bench/run
SYNOPSIS
	bench_report.py sample tern PID         # "TICKS RSS_KB PSS_KB": ternd utime+stime, VmHWM, Pss
	bench_report.py sample postfix PID      # master (with reaped children) + live children:
	                                        # CPU ticks, sum of VmRSS, sum of Pss
	bench_report.py sample tern-now PID     # the same with the current VmRSS instead of VmHWM
	bench_report.py sample KIND PID COUNTS  # the same and the sink's "messages" count
	bench_report.py metrics URL             # tern's /metrics: "name{labels} value" lines
	bench_report.py counts FILE KEY...      # values from a tern-bench sink count file
	bench_report.py report WORK OUTDIR      # results.json, results.md, plots; table to stdout
DESCRIPTION
	CPU accounting follows bench/run-postfix-compare.sh: for tern the
	utime + stime of the ternd process (all its threads); for Postfix the
	master's utime + stime + cutime + cstime (cutime/cstime hold every
	child it reaped) plus the same four of each live child of the master.

	"report" reads WORK/RELAY.kv ("key value" lines written by bench/run),
	WORK/RELAY-PHASE.json (tern-bench source --json) and
	WORK/RELAY-closed.series ("seconds delivered" samples) for each relay
	in WORK/relays, and writes OUTDIR/results.json, OUTDIR/results.md and,
	when gnuplot is installed, OUTDIR/throughput.png and latency.png.

	With WORK/ceiling.kv (bench/run small and mixed: tern-bench source
	straight into tern-bench sink, no relay) the JSON has a top-level
	"ceiling" (msgs_per_s: messages the sink accepted per second; mb_per_s)
	and every relay e2e_over_ceiling, its end-to-end msg/s over the
	ceiling's (the issue's target: at least 0.5); the table has that row.
	When the sink deferred some (mixed), the ceiling's source gives up on
	those while a relay retries them after its backoff, so each relay also
	gets first_pass_msgs_per_s: the ceiling's accepted count over the
	relay's time to reach it (its closed-phase series, interpolated), and
	first_pass_over_ceiling; the table has that row too.

	Check 2 of the bench issue: for tern, the handshakes the peers counted
	(the sink: outbound full/resumed; the source: inbound) are compared
	with tern's own /metrics (tern_tls_handshakes_total), and the
	difference in percent is in the JSON (handshake_check) and the table.
DIAGNOSTICS
	Exit 0, or 1 with a message on stderr.
"""
import json
import os
import shutil
import subprocess
import sys


def proc_stat(pid, children):
    """proc_stat - (utime+stime[+cutime+cstime]) ticks of PID, 0 if gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0, None
    # rest[0] is the state: utime is field 14 of stat, rest[11]
    t = int(rest[11]) + int(rest[12])
    if children:
        t += int(rest[13]) + int(rest[14])
    return t, int(rest[1])


def proc_status(pid, key):
    """proc_status - a "kB" value of /proc/PID/status, 0 if absent."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def proc_pss(pid):
    """proc_pss - proportional set size in kB (shared pages split among sharers), 0 if gone."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def sample(kind, pid, count_file=None):
    """sample - print "TICKS RSS_KB PSS_KB [DELIVERED]" of the relay whose (master) process is PID."""
    pid = int(pid)
    tail = ""
    if count_file:
        tail = " " + str(read_counts(count_file).get("messages", 0))
    if kind in ("tern", "tern-now"):
        ticks, _ = proc_stat(pid, False)
        rss = proc_status(pid, "VmHWM" if kind == "tern" else "VmRSS")
        print(f"{ticks} {rss} {proc_pss(pid)}{tail}")
        return 0
    ticks, _ = proc_stat(pid, True)
    rss = proc_status(pid, "VmRSS")
    pss = proc_pss(pid)
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid != pid:
            continue
        t, _ = proc_stat(int(d), True)
        ticks += t
        rss += proc_status(int(d), "VmRSS")
        pss += proc_pss(int(d))
    print(f"{ticks} {rss} {pss}{tail}")
    return 0


def metrics(url):
    """metrics - print the samples of a Prometheus text page, "name{labels} value" a line."""
    import urllib.request
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            text = r.read().decode()
    except OSError as e:
        sys.stderr.write(f"bench_report.py: {url}: {e}\n")
        return 1
    for line in text.splitlines():
        if line and not line.startswith("#"):
            print(line)
    return 0


def read_counts(path):
    """read_counts - {name: int} of a sink count file (totals only)."""
    out = {}
    try:
        with open(path) as f:
            for line in f:
                p = line.split()
                if len(p) == 2 and "." not in p[0]:
                    out[p[0]] = int(p[1])
    except OSError:
        pass
    return out


def counts(path, keys):
    """counts - print the values of KEYS (0 when absent) on one line."""
    c = read_counts(path)
    print(" ".join(str(c.get(k, 0)) for k in keys))
    return 0


def read_kv(path):
    """read_kv - {key: float or str} of "key value" lines."""
    out = {}
    with open(path) as f:
        for line in f:
            p = line.rstrip("\n").split(" ", 1)
            if len(p) != 2:
                continue
            try:
                out[p[0]] = float(p[1])
            except ValueError:
                out[p[0]] = p[1]
    return out


def read_json(path):
    """read_json - a JSON file or {} when missing/bad."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


# (key in results, label, unit, higher is better)
FIGURES = [
    ("e2e_msgs_per_s", "end-to-end throughput", "msg/s", True),
    ("submit_msgs_per_s", "submit throughput (closed loop)", "msg/s", True),
    ("lat50_p50_ms", "latency p50 @50% of max", "ms", False),
    ("lat50_p99_ms", "latency p99 @50% of max", "ms", False),
    ("lat50_p99_9_ms", "latency p99.9 @50% of max", "ms", False),
    ("lat50_max_ms", "latency max @50% of max", "ms", False),
    ("lat90_p50_ms", "latency p50 @90% of max", "ms", False),
    ("lat90_p99_ms", "latency p99 @90% of max", "ms", False),
    ("lat90_p99_9_ms", "latency p99.9 @90% of max", "ms", False),
    ("lat90_max_ms", "latency max @90% of max", "ms", False),
    ("cpu_s_per_1000", "CPU seconds / 1000 msg", "s", False),
    ("peak_rss_mb", "peak RSS", "MiB", False),
    ("peak_pss_mb", "peak PSS (shared pages split)", "MiB", False),
    ("out_full_hs_per_1000", "outbound full handshakes / 1000 msg", "", False),
    ("flushes_per_msg", "flushes to disk / message", "", False),
    ("submit_connection_failures", "source: failed connections/TLS (all phases)", "", False),
]


def relay_figures(work, relay):
    """relay_figures - the figures of one relay from its kv and JSON files."""
    kv = read_kv(os.path.join(work, relay + ".kv"))
    r = {"status": kv.get("status", "unknown")}
    m = kv.get("closed_messages", 0)
    e2e = kv.get("closed_e2e_s", 0)
    r["messages_closed_loop"] = int(m)
    r["e2e_seconds"] = e2e
    r["e2e_msgs_per_s"] = m / e2e if e2e > 0 and kv.get("closed_delivered", 0) >= m else 0.0
    src = read_json(os.path.join(work, relay + "-closed.json"))
    r["submit_msgs_per_s"] = src.get("msgs_per_s", 0.0)
    r["submit_seconds"] = src.get("elapsed_s", 0.0)
    r["closed_reply_2xx"] = src.get("reply_2xx", 0)
    r["submit_connections_opened"] = 0
    r["submit_connection_failures"] = 0
    for ph in ("closed", "lat50", "lat90"):
        j = read_json(os.path.join(work, f"{relay}-{ph}.json"))
        r["submit_connections_opened"] += j.get("connections_opened", 0)
        r["submit_connection_failures"] += j.get("connect_errors", 0) + j.get("tls_errors", 0)
    for ph in ("50", "90"):
        j = read_json(os.path.join(work, f"{relay}-lat{ph}.json"))
        lat = j.get("latency_us", {})
        r[f"lat{ph}_rate"] = kv.get(f"lat{ph}_rate", 0)
        r[f"lat{ph}_messages"] = j.get("reply_2xx", 0)
        r[f"lat{ph}_achieved_msgs_per_s"] = j.get("msgs_per_s", 0.0)
        for q in ("p50", "p99", "p99_9", "max"):
            r[f"lat{ph}_{q}_ms"] = lat.get(q, 0) / 1000.0
    cpu = kv.get("closed_cpu_s", 0)
    r["cpu_seconds_closed_loop"] = cpu
    r["cpu_s_per_1000"] = cpu * 1000 / m if m else 0.0
    r["peak_rss_mb"] = kv.get("peak_rss_kb", 0) / 1024.0
    r["peak_pss_mb"] = kv.get("peak_pss_kb", 0) / 1024.0
    r["peak_rss_how"] = kv.get("rss_how", "")
    delivered = kv.get("sink_messages", 0)
    r["sink_messages"] = int(delivered)
    r["out_full_handshakes"] = int(kv.get("sink_tls_full", 0))
    r["out_resumed_handshakes"] = int(kv.get("sink_tls_resumed", 0))
    r["out_full_hs_per_1000"] = r["out_full_handshakes"] * 1000 / delivered if delivered else 0.0
    r["sink_deferred"] = int(kv.get("sink_deferred", 0))
    src_full = src_res = 0
    for ph in ("closed", "lat50", "lat90"):
        j = read_json(os.path.join(work, f"{relay}-{ph}.json"))
        src_full += j.get("tls_full", 0)
        src_res += j.get("tls_resumed", 0)
    if "relay_tls_out_full" in kv:
        for k in ("relay_tls_out_full", "relay_tls_out_resumed", "relay_tls_in_full", "relay_tls_in_resumed"):
            r[k] = int(kv.get(k, 0) or 0)
        r["handshake_check"] = {
            "outbound": hs_check(r["out_full_handshakes"], r["out_resumed_handshakes"],
                                 r["relay_tls_out_full"], r["relay_tls_out_resumed"], "sink"),
            "inbound": hs_check(src_full, src_res, r["relay_tls_in_full"], r["relay_tls_in_resumed"],
                                "source"),
        }
    fl = kv.get("flushes_per_msg", "")
    r["flushes_per_msg"] = fl if isinstance(fl, float) else 0.0
    r["flushes_how"] = kv.get("flushes_how", "")
    return r


def ceiling_figures(work):
    """ceiling_figures - source straight into sink (no relay): {} when the run had no ceiling."""
    path = os.path.join(work, "ceiling.kv")
    if not os.path.exists(path):
        return {}
    kv = read_kv(path)
    src = read_json(os.path.join(work, "ceiling-closed.json"))
    secs = kv.get("closed_e2e_s", 0)
    got = kv.get("closed_delivered", 0)
    c = {"status": kv.get("status", "unknown"), "messages": int(kv.get("closed_messages", 0)),
         "sink_accepted": int(got), "sink_deferred": int(kv.get("closed_sink_deferred", 0)),
         "seconds": secs, "tls_full": int(kv.get("closed_tls_full", 0)),
         "tls_resumed": int(kv.get("closed_tls_resumed", 0)),
         "submit_msgs_per_s": src.get("msgs_per_s", 0.0),
         "runs_msgs_per_s": [float(x) for x in str(kv.get("runs_msgs_per_s", "")).split()],
         "how": "tern-bench source into tern-bench sink with the closed phase's options, no relay, "
                "the fastest of BENCH_CEILING_RUNS runs; "
                "msg/s = messages the sink accepted / (first submission to the last reply or "
                "receipt); MB/s = their octets (10^6) per second"}
    ok = c["status"] == "complete" and secs > 0
    c["msgs_per_s"] = got / secs if ok else 0.0
    c["mb_per_s"] = kv.get("closed_bytes", 0) / secs / 1e6 if ok else 0.0
    return c


def time_to_reach(path, count):
    """time_to_reach - seconds until a "seconds delivered" series reached count (linear between
    samples, which bench/run takes every 0.5 s); 0 when it never did."""
    prev = (0.0, 0)
    try:
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) != 2:
                    continue
                t, n = float(parts[0]), int(parts[1])
                if n >= count:
                    if n == prev[1]:
                        return t
                    return prev[0] + (t - prev[0]) * (count - prev[1]) / (n - prev[1])
                prev = (t, n)
    except OSError:
        pass
    return 0.0


def hs_check(peer_full, peer_res, own_full, own_res, peer):
    """hs_check - the peer's handshake counts against tern's /metrics: difference in percent."""
    peer_total, own_total = peer_full + peer_res, own_full + own_res
    def pct(a, b):
        return abs(a - b) * 100.0 / b if b else (0.0 if a == b else 100.0)
    d = max(pct(own_full, peer_full) if peer_full or own_full else 0.0,
            pct(own_res, peer_res) if peer_res or own_res else 0.0,
            pct(own_total, peer_total))
    return {"peer": peer, "peer_full": peer_full, "peer_resumed": peer_res,
            "metrics_full": own_full, "metrics_resumed": own_res,
            "max_diff_pct": round(d, 3), "within_1pct": d <= 1.0}


def hs_line(rl, h, what):
    """hs_line - one Markdown line of the handshake comparison."""
    return (f"  - {rl} {what} handshakes, {h['peer']}'s count vs tern's /metrics: full {h['peer_full']} vs "
            f"{h['metrics_full']}, resumed {h['peer_resumed']} vs {h['metrics_resumed']}: largest difference "
            f"{h['max_diff_pct']}% ({'within' if h['within_1pct'] else 'NOT within'} 1%)")


IDLE_FIGURES = [
    ("idle_sessions", "idle STARTTLS sessions held", "", True),
    ("idle_setup_s", "time to open them all", "s", False),
    ("idle_rss_mb", "resident memory while held (sum of RSS)", "MiB", False),
    ("idle_pss_mb", "resident memory while held (PSS)", "MiB", False),
    ("idle_pss_kb_per_session", "PSS per idle session, above the idle relay", "KiB", False),
    ("idle_rss_kb_per_session", "RSS per idle session, above the idle relay", "KiB", False),
    ("idle_base_pss_mb", "PSS before the sessions", "MiB", False),
    ("idle_tls_full", "inbound full handshakes (source)", "", False),
    ("idle_tls_resumed", "inbound resumed handshakes (source)", "", True),
    ("idle_failures", "source: failed connections/TLS", "", False),
]


def idle_json(work, relay):
    """idle_json - the counts of every idle source of RELAY (RELAY-idle.json, RELAY-idle-I.json) summed."""
    import glob
    paths = [os.path.join(work, relay + "-idle.json")] + \
        sorted(glob.glob(os.path.join(work, relay + "-idle-*.json")))
    out = {}
    for p in paths:
        for k, v in read_json(p).items():
            if k in ("held_max", "tls_full", "tls_resumed", "connect_errors", "tls_errors", "timeouts"):
                out[k] = out.get(k, 0) + v
    return out


def idle_figures(work, relay):
    """idle_figures - the figures of the idle scenario for one relay."""
    kv = read_kv(os.path.join(work, relay + ".kv"))
    j = idle_json(work, relay)
    r = {"status": kv.get("status", "unknown")}
    r["idle_planned"] = int(kv.get("idle_planned", 0))
    r["idle_sessions"] = int(j.get("held_max", 0))
    r["idle_setup_s"] = kv.get("idle_setup_s", 0)
    r["idle_rss_mb"] = kv.get("idle_rss_kb", 0) / 1024.0
    r["idle_pss_mb"] = kv.get("idle_pss_kb", 0) / 1024.0
    r["idle_base_rss_mb"] = kv.get("idle_base_rss_kb", 0) / 1024.0
    r["idle_base_pss_mb"] = kv.get("idle_base_pss_kb", 0) / 1024.0
    n = r["idle_sessions"]
    r["idle_pss_kb_per_session"] = (kv.get("idle_pss_kb", 0) - kv.get("idle_base_pss_kb", 0)) / n if n else 0.0
    r["idle_rss_kb_per_session"] = (kv.get("idle_rss_kb", 0) - kv.get("idle_base_rss_kb", 0)) / n if n else 0.0
    r["idle_sources"] = int(kv.get("idle_sources", 1))
    r["idle_tls_full"] = j.get("tls_full", 0)
    r["idle_tls_resumed"] = j.get("tls_resumed", 0)
    r["idle_failures"] = j.get("connect_errors", 0) + j.get("tls_errors", 0) + j.get("timeouts", 0)
    r["peak_rss_how"] = kv.get("rss_how", "")
    if "relay_tls_in_full" in kv:
        r["relay_tls_in_full"] = int(kv.get("relay_tls_in_full", 0) or 0)
        r["relay_tls_in_resumed"] = int(kv.get("relay_tls_in_resumed", 0) or 0)
        r["handshake_check"] = {"inbound": hs_check(r["idle_tls_full"], r["idle_tls_resumed"],
                                                    r["relay_tls_in_full"], r["relay_tls_in_resumed"],
                                                    "source")}
    return r


RESTART_FIGURES = [
    ("round1_e2e_msgs_per_s", "round 1 (fresh start) end-to-end throughput", "msg/s", True),
    ("round2_e2e_msgs_per_s", "round 2 (after restart) end-to-end throughput", "msg/s", True),
    ("round1_out_full", "round 1 outbound full handshakes (sink)", "", False),
    ("round1_out_resumed", "round 1 outbound resumed handshakes (sink)", "", True),
    ("round2_out_full", "round 2 outbound full handshakes (sink)", "", False),
    ("round2_out_resumed", "round 2 outbound resumed handshakes (sink)", "", True),
    ("round2_out_full_per_1000", "round 2 outbound full handshakes / 1000 msg", "", False),
    ("round1_cpu_s_per_1000", "round 1 CPU seconds / 1000 msg", "s", False),
    ("round2_cpu_s_per_1000", "round 2 CPU seconds / 1000 msg", "s", False),
    ("peak_rss_mb", "peak RSS", "MiB", False),
    ("peak_pss_mb", "peak PSS (shared pages split)", "MiB", False),
    ("submit_connection_failures", "source: failed connections/TLS (all phases)", "", False),
]


def restart_figures(work, relay):
    """restart_figures - the figures of the restart scenario for one relay."""
    kv = read_kv(os.path.join(work, relay + ".kv"))
    r = {"status": kv.get("status", "unknown")}
    r["submit_connection_failures"] = 0
    for rd in ("round1", "round2"):
        m = kv.get(f"{rd}_messages", 0)
        e2e = kv.get(f"{rd}_e2e_s", 0)
        got = kv.get(f"{rd}_delivered", 0)
        r[f"{rd}_messages"] = int(m)
        r[f"{rd}_e2e_msgs_per_s"] = m / e2e if e2e > 0 and got >= m else 0.0
        r[f"{rd}_out_full"] = int(kv.get(f"{rd}_tls_full", 0))
        r[f"{rd}_out_resumed"] = int(kv.get(f"{rd}_tls_resumed", 0))
        r[f"{rd}_out_full_per_1000"] = r[f"{rd}_out_full"] * 1000 / got if got else 0.0
        r[f"{rd}_cpu_s_per_1000"] = kv.get(f"{rd}_cpu_s", 0) * 1000 / m if m else 0.0
        if f"{rd}_relay_tls_out_full" in kv:
            r[f"{rd}_relay_tls_out_full"] = int(kv[f"{rd}_relay_tls_out_full"] or 0)
            r[f"{rd}_relay_tls_out_resumed"] = int(kv.get(f"{rd}_relay_tls_out_resumed", 0) or 0)
            r.setdefault("handshake_check", {})[rd] = hs_check(
                r[f"{rd}_out_full"], r[f"{rd}_out_resumed"], r[f"{rd}_relay_tls_out_full"],
                r[f"{rd}_relay_tls_out_resumed"], "sink")
        j = read_json(os.path.join(work, f"{relay}-{rd}.json"))
        r["submit_connection_failures"] += j.get("connect_errors", 0) + j.get("tls_errors", 0)
    r["peak_rss_mb"] = kv.get("peak_rss_kb", 0) / 1024.0
    r["peak_pss_mb"] = kv.get("peak_pss_kb", 0) / 1024.0
    r["peak_rss_how"] = kv.get("rss_how", "")
    return r


BACKLOG_FIGURES = [
    ("backlog_messages", "backlog: messages", "", True),
    ("fill_s", "fill (next hop down): time", "s", False),
    ("fill_msgs_per_s", "fill: accepted msg/s", "msg/s", True),
    ("fill_queue_messages", "queue after the fill (/metrics)", "", True),
    ("fill_deferred", "deferrals during the fill (/metrics)", "", False),
    ("stop_s", "stop: SIGTERM to exit", "s", False),
    ("restart_s", "restart: start to first 220", "s", False),
    ("restart_metrics_s", "restart: start to /metrics answering", "s", False),
    ("restart_queue_messages", "queue after the restart (/metrics)", "", True),
    ("drain_s", "drain: sink start to last receipt", "s", False),
    ("drain_msgs_per_s", "drain msg/s", "msg/s", True),
    ("small_e2e_msgs_per_s", "small closed loop end to end, same run", "msg/s", True),
    ("drain_over_small", "drain / small (target >= 1)", "", True),
    ("drain_cpu_s_per_1000", "drain CPU seconds / 1000 msg", "s", False),
    ("drain_out_full", "drain outbound full handshakes (sink)", "", False),
    ("drain_out_resumed", "drain outbound resumed handshakes (sink)", "", True),
    ("after_queue_messages", "queue 0-30 s after the drain (/metrics)", "", False),
    ("after_ctl_queue_messages", "queue after `ternctl queue` (/metrics)", "", False),
    ("fill_rss_mb", "RSS with the backlog queued", "MiB", False),
    ("restart_rss_mb", "RSS after the restart (backlog recovered)", "MiB", False),
    ("peak_rss_mb", "peak RSS (VmHWM, after the drain)", "MiB", False),
]


def backlog_figures(work, relay):
    """backlog_figures - the figures of the backlog scenario for one relay."""
    kv = read_kv(os.path.join(work, relay + ".kv"))
    meta = read_kv(os.path.join(work, "meta.kv"))
    n = int(meta.get("backlog", 0))
    r = {"status": kv.get("status", "unknown"), "backlog_messages": n}
    for k in ("fill_s", "stop_s", "restart_s", "restart_metrics_s", "drain_s", "flush_after_s", "small_e2e_msgs_per_s"):
        r[k] = kv.get(k, 0)
    for k in ("fill_accepted", "fill_queue_messages", "fill_deferred", "restart_queue_messages",
              "drain_delivered", "after_delivered"):
        r[k] = int(kv.get(k, 0) or 0)
    for k in ("after_queue_messages", "after_ctl_queue_messages"):
        v = kv.get(k, "unknown")
        r[k] = int(v) if isinstance(v, float) else v
    r["after_ternctl_queue"] = str(kv.get("after_ternctl_queue", ""))
    r["stop_killed"] = bool(kv.get("stop_killed", 0))
    r["fill_msgs_per_s"] = r["fill_accepted"] / r["fill_s"] if r["fill_s"] > 0 else 0.0
    r["drain_msgs_per_s"] = n / r["drain_s"] if r["drain_s"] > 0 and r["drain_delivered"] >= n else 0.0
    sm = r["small_e2e_msgs_per_s"]
    r["drain_over_small"] = r["drain_msgs_per_s"] / sm if sm else 0.0
    r["drain_cpu_s_per_1000"] = kv.get("drain_cpu_s", 0) * 1000 / n if n else 0.0
    r["fill_cpu_s_per_1000"] = kv.get("fill_cpu_s", 0) * 1000 / n if n else 0.0
    r["drain_out_full"] = int(kv.get("drain_tls_full", 0))
    r["drain_out_resumed"] = int(kv.get("drain_tls_resumed", 0))
    r["fill_rss_mb"] = kv.get("fill_rss_kb", 0) / 1024.0
    r["restart_rss_mb"] = kv.get("restart_rss_kb", 0) / 1024.0
    r["peak_rss_mb"] = kv.get("peak_rss_kb", 0) / 1024.0
    r["peak_rss_how"] = kv.get("rss_how", "")
    r["small_messages"] = int(kv.get("closed_messages", 0))
    return r


def fmt(v):
    """fmt - a figure for the table."""
    if isinstance(v, float):
        if v == 0:
            return "0"
        if abs(v) >= 100:
            return f"{v:.0f}"
        if abs(v) >= 1:
            return f"{v:.2f}"
        return f"{v:.3f}"
    return str(v)


def plots(out, relays, res, work):
    """plots - throughput.png and latency.png with gnuplot; list of files written."""
    gp = shutil.which("gnuplot")
    if not gp:
        return []
    files = []
    # throughput: delivered messages over time in the closed-loop phase
    series = []
    for rl in relays:
        p = os.path.join(work, rl + "-closed.series")
        if os.path.exists(p):
            dst = os.path.join(out, rl + "-closed.series")
            shutil.copyfile(p, dst)
            series.append((rl, dst))
    if series:
        plot = ", ".join(f"'{p}' using 1:2 with linespoints title '{rl} "
                         f"({fmt(res[rl]['e2e_msgs_per_s'])} msg/s)'" for rl, p in series)
        script = (f"set terminal png size 900,500\nset output '{out}/throughput.png'\n"
                  "set termoption noenhanced\nset title 'closed loop: messages received by the sink'\n"
                  "set xlabel 'seconds since first submission'\nset ylabel 'messages'\n"
                  f"set key left top\nset grid\nplot {plot}\n")
        if subprocess.run([gp], input=script, text=True).returncode == 0:
            files.append("throughput.png")
    # latency: percentiles at 50% and 90% of each relay's max, log scale
    dat = os.path.join(out, "latency.dat")
    with open(dat, "w") as f:
        for ph in ("50", "90"):
            for q, ql in (("p50", "p50"), ("p99", "p99"), ("p99_9", "p99.9"), ("max", "max")):
                f.write(f"\"{ql} at {ph}%\" " +
                        " ".join(str(max(res[rl][f'lat{ph}_{q}_ms'], 0.001)) for rl in relays) + "\n")
    cols = ", ".join(f"'{dat}' using {i + 2}:xtic(1) title '{rl}'" for i, rl in enumerate(relays))
    script = (f"set terminal png size 900,500\nset output '{out}/latency.png'\n"
              "set title 'submit latency (end of DATA to 250), open loop at 50% and 90% of each relay max'\n"
              "set termoption noenhanced\nset style data histograms\nset style histogram clustered gap 1\n"
              "set style fill solid 0.8 border -1\nset logscale y\nset ylabel 'ms (log)'\n"
              f"set grid y\nset key left top\nplot {cols}\n")
    if subprocess.run([gp], input=script, text=True).returncode == 0:
        files.append("latency.png")
    return files


def report(work, out):
    """report - write the result files and print the Markdown table."""
    with open(os.path.join(work, "relays")) as f:
        relays = f.read().split()
    meta = read_kv(os.path.join(work, "meta.kv"))
    restart = meta.get("scenario") == "restart"
    idle = meta.get("scenario") == "idle"
    backlog = meta.get("scenario") == "backlog"
    figures = RESTART_FIGURES if restart else IDLE_FIGURES if idle else FIGURES
    if meta.get("scenario") == "mixed":
        figures = FIGURES + [("sink_deferred", "transactions deferred (451) by the sink", "", False)]
    fn = restart_figures if restart else idle_figures if idle else relay_figures
    if backlog:
        figures, fn = BACKLOG_FIGURES, backlog_figures
    res = {rl: fn(work, rl) for rl in relays}
    ceiling = ceiling_figures(work)
    if ceiling:
        # the target: each relay end to end at least half the harness's ceiling
        figures = figures[:1] + [("e2e_over_ceiling", "end to end / ceiling (target >= 0.5)", "",
                                  True)] + figures[1:]
        for rl in relays:
            cm = ceiling["msgs_per_s"]
            res[rl]["e2e_over_ceiling"] = res[rl]["e2e_msgs_per_s"] / cm if cm else 0.0
        if ceiling["sink_deferred"] > 0:
            # mixed: the ceiling's source does not retry what the sink defers, a relay must (its
            # end to end then waits out the backoff). Like for like: the relay's time until the
            # sink had accepted as many as the ceiling did, from its closed-phase series.
            figures = figures[:2] + [("first_pass_over_ceiling",
                                      "first pass / ceiling (as many accepted as the ceiling)",
                                      "", True)] + figures[2:]
            for rl in relays:
                t = time_to_reach(os.path.join(work, rl + "-closed.series"),
                                  ceiling["sink_accepted"])
                rate = ceiling["sink_accepted"] / t if t else 0.0
                res[rl]["first_pass_msgs_per_s"] = rate
                res[rl]["first_pass_over_ceiling"] = rate / cm if cm else 0.0
    os.makedirs(out, exist_ok=True)
    lines = [f"# bench/run {meta.get('scenario', '?')}", ""]
    lines.append(f"{meta.get('description', '')}")
    lines.append("")
    if ceiling:
        lines.append(f"Ceiling (tern-bench source straight into tern-bench sink, same options, no "
                     f"relay): {fmt(ceiling['msgs_per_s'])} msg/s, {fmt(ceiling['mb_per_s'])} MB/s "
                     f"({ceiling['sink_accepted']} accepted, {ceiling['sink_deferred']} deferred by the "
                     f"sink, of {ceiling['messages']} in {fmt(ceiling['seconds'])} s; the fastest "
                     f"of {len(ceiling['runs_msgs_per_s'])} runs: "
                     f"{', '.join(fmt(x) for x in ceiling['runs_msgs_per_s'])} msg/s; status "
                     f"{ceiling['status']}). Each relay's end-to-end rate over it is the row "
                     f"\"end to end / ceiling\".")
        lines.append("")
    head = "| figure | " + " | ".join(relays)
    if "tern" in relays and "postfix" in relays:
        head += " | tern/Postfix"
    lines.append(head + " |")
    lines.append("|" + "---|" * (head.count("|")))
    ratios = {}
    for key, label, unit, _ in figures:
        row = f"| {label}{' (' + unit + ')' if unit else ''} | " + \
            " | ".join(fmt(res[rl].get(key, 0)) for rl in relays)
        if "tern" in relays and "postfix" in relays:
            a, b = res["tern"].get(key, 0), res["postfix"].get(key, 0)
            ratio = a / b if b else None
            ratios[key] = ratio
            row += " | " + (f"{ratio:.2f}" if ratio is not None else "n/a")
        lines.append(row + " |")
    lines.append("")
    for rl in relays:
        r = res[rl]
        if restart:
            lines.append(f"- {rl}: status {r['status']}; {r['round1_messages']} messages per round; "
                         f"peak RSS: {r['peak_rss_how']}")
            for rd, h in r.get("handshake_check", {}).items():
                lines.append(hs_line(rl, h, f"{rd} outbound"))
            continue
        if backlog:
            lines.append(f"- {rl}: status {r['status']}; {r['backlog_messages']} messages queued while "
                         f"the next hop was down (each tried once on arrival, then held by "
                         f"minimal_backoff_time = maximal_backoff_time = {meta.get('backlog_backoff', '?')}), "
                         f"tern restarted{' (needed SIGKILL)' if r['stop_killed'] else ''}, the sink "
                         f"started and `ternctl flush` run {fmt(r['flush_after_s'])} s later; the drain "
                         f"is timed from the sink's start to its last receipt. Compare \"drain msg/s\" "
                         f"with \"small closed loop end to end\" ({r['small_messages']} messages, the same "
                         f"relay set-up as bench/run small, run first in this run); after the drain "
                         f"/metrics counted {r['after_delivered']} deliveries, ternctl queue said "
                         f"\"{r['after_ternctl_queue']}\"")
            continue
        if idle:
            lines.append(f"- {rl}: status {r['status']}; {r['idle_sessions']} of {r['idle_planned']} sessions "
                         f"held (by {r['idle_sources']} source{'s' if r['idle_sources'] > 1 else ''}); memory: {r['peak_rss_how']}; before the sessions RSS "
                         f"{fmt(r['idle_base_rss_mb'])} MiB, PSS {fmt(r['idle_base_pss_mb'])} MiB")
            for what, h in r.get("handshake_check", {}).items():
                lines.append(hs_line(rl, h, what))
            continue
        lines.append(f"- {rl}: status {r['status']}; closed loop {r['messages_closed_loop']} msg, "
                     f"submit {fmt(r['submit_seconds'])} s, end to end {fmt(r['e2e_seconds'])} s; "
                     f"open loop {fmt(r['lat50_rate'])} and {fmt(r['lat90_rate'])} msg/s offered "
                     f"({r['lat50_messages']} and {r['lat90_messages']} msg); outbound TLS at the sink: "
                     f"{r['out_full_handshakes']} full, {r['out_resumed_handshakes']} resumed over "
                     f"{r['sink_messages']} msg; peak RSS: {r['peak_rss_how']}; flushes: {r['flushes_how']}")
        for what, h in r.get("handshake_check", {}).items():
            lines.append(hs_line(rl, h, what))
    md = "\n".join(lines) + "\n"
    pngs = [] if restart or idle or backlog else plots(out, relays, res, work)
    if pngs:
        md += "\n" + "\n".join(f"![{p}]({p})" for p in pngs) + "\n"
    cmds = os.path.join(work, "commands")
    if os.path.exists(cmds):
        with open(cmds) as f:
            md += "\nCommands:\n\n```\n" + f.read() + "```\n"
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write(md)
    doc = {"scenario": meta.get("scenario"), "meta": meta, "relays": res,
           "ratio_tern_over_postfix": ratios, "plots": pngs}
    if ceiling:
        doc["ceiling"] = ceiling
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(doc, f, indent=2, sort_keys=True)
        f.write("\n")
    sys.stdout.write(md)
    return 0


def main(argv):
    """main - dispatch the subcommand."""
    if len(argv) >= 3 and argv[0] == "sample":
        return sample(argv[1], argv[2], argv[3] if len(argv) > 3 else None)
    if len(argv) == 2 and argv[0] == "metrics":
        return metrics(argv[1])
    if len(argv) >= 2 and argv[0] == "counts":
        return counts(argv[1], argv[2:])
    if len(argv) == 3 and argv[0] == "report":
        return report(argv[1], argv[2])
    sys.stderr.write(__doc__)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
