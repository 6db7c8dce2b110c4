#!/usr/bin/env python3
"""ringmq against Mosquitto (and rumqttd) in one run: the loads of issue 6, each broker started
fresh for every run, pinned to core 0 with the load tool on core 1, runs interleaved A B A B,
the median of the runs with ratios against Mosquitto, written between the compare markers of
BENCHMARKS.md and as raw JSON under target/compare/.

Normally started by benches/compare.sh, which installs Mosquitto and builds the binaries:

    benches/compare.sh [--runs N] [--quick] [--only LOAD[,LOAD...]] [--no-write]
    benches/compare.py --self-test        # checks this file's arithmetic and markdown splice

Loads (names for --only): stress-2, stress-10, stress-100 ("stress": all three), p2p-q0,
p2p-q1, fanout, latency, idle. Needs Python 3.8+, no third-party package.
"""

import argparse
import ctypes
import datetime
import json
import os
import random
import resource
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

BEGIN = "<!-- compare:begin -->"
END = "<!-- compare:end -->"
SECTION_TITLE = "## Comparison with Mosquitto"
BOTTLENECK = """### Is the load tool the bottleneck?

To be filled in by hand: check that ringmq-bench drives Mosquitto at least as hard as mqtt-stresser does
(issue 6, item 6): the same stress loads with mqtt-stresser against the same Mosquitto
configuration, and the tool's CPU column of the per-run table above.
"""

BROKER_CORE = "0"
TOOL_CORE = "1"
# Queue limits, the same for every broker (see queue_note()).
QUEUE_LIMIT = 10_000
INFLIGHT = 100
STRESS_M = 10_000
P2P_PAIRS = 10
FANOUT_SUBS = 100
LATENCY_PAIRS = 10
# Offered rate of the latency load (msg/s over all pairs): see latency_note().
LATENCY_RATE = 10_000
IDLE_CONNS = 10_000
# Seconds a flow load waits after publishing ends (see make_loads).
FLOW_TAIL = 10

ALL_LOADS = ["stress-2", "stress-10", "stress-100", "p2p-q0", "p2p-q1", "fanout", "latency", "idle",
             "idle-paced"]


def log(msg):
    print(f"[compare {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# Loads


class Load:
    """One load: how to run it and how to read its result.

    kind: stress | flow | latency | idle. rows: the rows of the main table, each
    (row title, metric key, "higher" or "lower" is better, target text, target ratio).
    """

    def __init__(self, name, kind, title, version, args, timeout, rows):
        self.name, self.kind, self.title = name, kind, title
        self.version, self.args, self.timeout, self.rows = version, args, timeout, rows


def make_loads(quick, latency_rate):
    d = 3 if quick else 10  # seconds of publishing for p2p, fan-out and latency
    loads = []
    for n in ([10] if quick else [2, 10, 100]):
        loads.append(Load(
            f"stress-{n}", "stress",
            f"stress N={n}, M={STRESS_M:,} (QoS 0, 3.1.1, 64 B)", 4,
            ["--qos", "0", "--payload", "64", "stress", "--clients", str(n),
             "--messages", str(STRESS_M), "--timeout", "60"],
            90,
            [(f"stress N={n}: aggregate", "aggregate", "higher", "≥ 2×", 2.0)]))
    # --timeout: how long after publishing ends the run waits for acknowledgements and
    # deliveries; what a broker still holds then counts as lost (bounds a run's time).
    flow = ["--duration", str(d), "--drain", "2", "--timeout", str(FLOW_TAIL)]
    loads.append(Load(
        "p2p-q0", "flow", f"p2p QoS 0: {P2P_PAIRS} pairs, 64 B, {d} s", 5,
        ["--qos", "0", "--payload", "64", "p2p", "--publishers", str(P2P_PAIRS)] + flow,
        d + 60, [("p2p QoS 0: received", "received_per_sec", "higher", "≥ 5×", 5.0)]))
    loads.append(Load(
        "p2p-q1", "flow", f"p2p QoS 1: {P2P_PAIRS} pairs, 64 B, {INFLIGHT} in flight, {d} s", 5,
        ["--qos", "1", "--payload", "64", "p2p", "--publishers", str(P2P_PAIRS),
         "--inflight", str(INFLIGHT)] + flow,
        d + 60, [("p2p QoS 1: received", "received_per_sec", "higher", "≥ 3×", 3.0)]))
    loads.append(Load(
        "fanout", "flow", f"fan-out QoS 0: 1 → {FANOUT_SUBS} subscribers, 64 B, {d} s", 5,
        ["--qos", "0", "--payload", "64", "fanout", "--subscribers", str(FANOUT_SUBS)] + flow,
        d + 60, [("fan-out 1→100 QoS 0: delivered", "received_per_sec", "higher", "≥ 5×", 5.0)]))
    loads.append(Load(
        "latency", "latency",
        f"latency QoS 0: {latency_rate:,} msg/s offered over {LATENCY_PAIRS} pairs, 64 B, "
        f"{d} s (first 1 s not recorded)", 5,
        ["--qos", "0", "--payload", "64", "latency", "--rate", str(latency_rate),
         "--publishers", str(LATENCY_PAIRS), "--duration", str(d), "--warmup", "1",
         "--drain", "2"],
        d + 90,
        [("latency p50", "p50_us", "lower", "", None),
         ("latency p99", "p99_us", "lower", "≤ 0.5×", 0.5),
         ("latency p99.9", "p999_us", "lower", "", None),
         ("latency max", "max_us", "lower", "", None),
         ("latency: the load tool's own send lag p99 (behind its schedule)", "send_lag_p99_us",
          "lower", "", None)]))
    count = 1000 if quick else IDLE_CONNS
    loads.append(Load(
        "idle", "idle", f"{count:,} idle MQTT 5.0 connections", 5,
        ["--count", str(count), "--keepalive", "600", "--settle", "3"],
        240, [("idle connections (burst): RSS growth per connection", "per_conn_kib", "lower",
               "≤ 1×", 1.0)]))
    # The same connections opened at 1,000 a second in batches of 50: what an idle connection
    # holds once the broker has settled (ringmq parks a connection idle for 2 s).
    loads.append(Load(
        "idle-paced", "idle", f"{count:,} idle MQTT 5.0 connections, opened at 1,000/s", 5,
        ["--count", str(count), "--keepalive", "600", "--settle", "5", "--rate", "1000",
         "--batch", "50"],
        240, [("idle connections (paced 1,000/s): RSS growth per connection", "per_conn_kib",
               "lower", "≤ 1×", 1.0)]))
    return loads


def select_loads(loads, only):
    if not only:
        return loads
    want = set()
    for w in only.split(","):
        w = w.strip()
        if w == "stress":
            want.update(l.name for l in loads if l.kind == "stress")
        elif w in ALL_LOADS:
            want.add(w)
        else:
            raise SystemExit(f"unknown load {w!r}; known: stress, {', '.join(ALL_LOADS)}")
    picked = [l for l in loads if l.name in want]
    if not picked:
        raise SystemExit(f"--only {only}: none of these loads is in this run (--quick runs "
                         "stress-10 only)")
    return picked


def parse_result(load, out):
    """The figures of one run from the tool's JSON (the last line of stdout that is JSON)."""
    doc = None
    for line in reversed(out.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            doc = json.loads(line)
            break
    if doc is None:
        raise ValueError("no JSON line in the output")
    if load.kind == "stress":
        total = doc["total_messages"]
        return {
            "aggregate": doc["aggregate_per_sec"],
            "publish_median": doc["publish"]["median"],
            "publish_fastest": doc["publish"]["max"],
            "publish_slowest": doc["publish"]["min"],
            "receive_median": doc["receive"]["median"],
            "receive_fastest": doc["receive"]["max"],
            "receive_slowest": doc["receive"]["min"],
            "received": doc["received"],
            "expected": total,
            "loss": total - doc["received"],
            "loss_pct": 100.0 * (total - doc["received"]) / total if total else 0.0,
            "errors": sum(doc["errors"].values()),
            "wall_secs": doc["wall_secs"],
        }, doc
    if load.kind == "flow":
        return {
            "received_per_sec": doc["received_per_sec"],
            "sent_per_sec": doc["sent_per_sec"],
            "sent": doc["sent"],
            "expected": doc["expected"],
            "received": doc["received"],
            "loss": doc["loss"],
            "loss_pct": doc["loss_pct"],
            "refused": doc.get("refused", 0),
        }, doc
    if load.kind == "latency":
        lat = doc["latency"]
        sent = doc["sent"]
        return {
            "p50_us": lat["p50_us"], "p99_us": lat["p99_us"], "p999_us": lat["p999_us"],
            "max_us": lat["max_us"], "samples": lat["count"],
            "sent_per_sec": doc["sent_per_sec"], "sent": sent, "received": doc["received"],
            "loss": doc["loss"], "loss_pct": 100.0 * doc["loss"] / sent if sent else 0.0,
            "send_lag_p99_us": doc["send_lag"]["p99_us"],
        }, doc
    if load.kind == "idle":
        return {
            "per_conn_kib": doc["per_conn_kib"],
            "per_conn_anon_kib": doc["per_conn_anon_kib"],
            "rss_before_kib": doc["before"]["VmRSS"],
            "rss_during_kib": doc["during"]["VmRSS"],
            "count": doc["count"],
        }, doc
    raise ValueError(load.kind)


# --------------------------------------------------------------------------------------------
# Brokers

_children = []  # live broker processes, killed on exit


def _die_with_parent():
    """In a child before exec: SIGKILL when this script dies (even by SIGKILL)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def free_port():
    """A random loopback port in 20000-40000 that nothing listens on."""
    for _ in range(200):
        port = random.randint(20000, 40000)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port in 20000-40000")


def wait_listening(port, proc, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


class Broker:
    """How to configure and start one broker."""

    name = ""

    def __init__(self, root, workdir, logdir):
        self.root, self.workdir, self.logdir = root, workdir, logdir

    def config(self, ports):
        """(file name, text) of the configuration for these ports, or None."""
        raise NotImplementedError

    def command(self, cfg_path, ports):
        raise NotImplementedError

    def nports(self):
        return 1

    def port_for(self, ports, version):
        return ports[0]

    def version(self):
        raise NotImplementedError

    def start(self, tag):
        """Starts a fresh process on free ports; returns (proc, ports, log path)."""
        last = ""
        for _ in range(3):
            ports = [free_port() for _ in range(self.nports())]
            if len(set(ports)) != len(ports):
                continue
            name, text = self.config(ports)
            cfg = os.path.join(self.workdir, name)
            with open(cfg, "w") as f:
                f.write(text)
            logf = os.path.join(self.logdir, f"{tag}.broker.log")
            cmd = ["taskset", "-c", BROKER_CORE] + self.command(cfg, ports)
            with open(logf, "w") as lf:
                proc = subprocess.Popen(cmd, stdout=lf, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent,
                                        cwd=self.workdir)
            _children.append(proc)
            if all(wait_listening(p, proc) for p in ports):
                return proc, ports, logf
            stop(proc)
            with open(logf) as lf:
                last = lf.read()[-2000:]
        raise RuntimeError(f"{self.name} did not start listening; its log ends:\n{last}")

    def template_config(self):
        """The configuration as the report shows it (ports as PORT)."""
        _, text = self.config([11111, 22222][: self.nports()])
        return text.replace("11111", "PORT").replace("22222", "PORT5")

    def template_command(self):
        cmd = self.command("CONFIG", [11111, 22222][: self.nports()])
        return " ".join(["taskset", "-c", BROKER_CORE] + [shlex.quote(c) for c in cmd]) \
            .replace("11111", "PORT").replace("22222", "PORT5")


class Ringmq(Broker):
    name = "ringmq"

    def bin(self):
        return os.path.join(self.root, "target", "release", "ringmq")

    def config(self, ports):
        return "ringmq.toml", (
            "# benches/compare.py: one shard; queue limits as Mosquitto's in this run\n"
            "shards = 1\n\n"
            "[limits]\n"
            f"receive_maximum = {INFLIGHT}\n"
            f"max_inflight = {INFLIGHT}\n"
            f"max_queued_messages = {QUEUE_LIMIT}\n"
            "max_outbound_buffer = 1048576\n")

    def command(self, cfg, ports):
        return [self.bin(), "--config", cfg, "--listen", f"127.0.0.1:{ports[0]}",
                "--shards", "1", "--log", "warn"]

    def template_command(self):
        return super().template_command().replace(self.bin(), "target/release/ringmq")

    def version(self):
        def git(*a):
            return subprocess.run(["git", "-C", self.root] + list(a), capture_output=True,
                                  text=True).stdout.strip()
        commit = git("rev-parse", "--short", "HEAD") or "unknown"
        dirty = git("status", "--porcelain", "--untracked-files=no")
        return f"commit {commit}" + (" with uncommitted changes" if dirty else "")


class RingmqTokio(Ringmq):
    """ringmq on its tokio runtime (`--runtime tokio`), the same binary and configuration."""

    name = "ringmq-tokio"

    def command(self, cfg, ports):
        return super().command(cfg, ports) + ["--runtime", "tokio"]


class RingmqSpin(Ringmq):
    """ringmq (glommio) with `runtime.spin_before_park_us = 50`: the executor polls 50 µs
    before sleeping, trading an idle core's CPU for the wake-up on the next packet. Not the
    default; compared separately (`--brokers ringmq,mosquitto,ringmq-spin`)."""

    name = "ringmq-spin"

    def config(self, ports):
        name, text = super().config(ports)
        return name, text + "\n[runtime]\nspin_before_park_us = 50\n"


class Mosquitto(Broker):
    name = "mosquitto"

    def config(self, ports):
        user = "user root\n" if os.geteuid() == 0 else ""
        return "mosquitto.conf", (
            "# benches/compare.py\n"
            f"listener {ports[0]} 127.0.0.1\n"
            "allow_anonymous true\n"
            "set_tcp_nodelay true\n"
            f"max_inflight_messages {INFLIGHT}\n"
            f"max_queued_messages {QUEUE_LIMIT}\n"
            "persistence false\n"
            "log_dest stderr\n"
            "log_type error\n"
            "log_type warning\n"
            f"{user}")

    def command(self, cfg, ports):
        return [shutil.which("mosquitto") or "mosquitto", "-c", cfg]

    def template_command(self):
        return super().template_command().replace(shutil.which("mosquitto") or "mosquitto",
                                                  "mosquitto")

    def version(self):
        out = subprocess.run(["mosquitto", "-h"], capture_output=True, text=True)
        first = (out.stdout or out.stderr).strip().splitlines()
        return first[0] if first else "unknown"


class Rumqttd(Broker):
    """rumqttd serves MQTT 3.1.1 and 5 on two listeners: ports[0] is v4, ports[1] v5."""

    name = "rumqttd"

    def nports(self):
        return 2

    def port_for(self, ports, version):
        return ports[1] if version == 5 else ports[0]

    def config(self, ports):
        conn = (f"connection_timeout_ms = 60000\nmax_payload_size = 1048576\n"
                f"max_inflight_count = {INFLIGHT}\ndynamic_filters = true\n")
        return "rumqttd.toml", (
            "# benches/compare.py\n"
            "id = 0\n\n"
            "[router]\n"
            "id = 0\n"
            f"max_connections = {IDLE_CONNS + 100}\n"
            "max_outgoing_packet_count = 200\n"
            "max_segment_size = 10485760\n"
            "max_segment_count = 10\n\n"
            "[v4.1]\n"
            "name = \"v4-1\"\n"
            f"listen = \"127.0.0.1:{ports[0]}\"\n"
            "next_connection_delay_ms = 0\n"
            "[v4.1.connections]\n" + conn + "\n"
            "[v5.1]\n"
            "name = \"v5-1\"\n"
            f"listen = \"127.0.0.1:{ports[1]}\"\n"
            "next_connection_delay_ms = 0\n"
            "[v5.1.connections]\n" + conn)

    def command(self, cfg, ports):
        return [shutil.which("rumqttd") or "rumqttd", "--quiet", "--config", cfg]

    def template_command(self):
        return super().template_command().replace(shutil.which("rumqttd") or "rumqttd",
                                                  "rumqttd")

    def version(self):
        out = subprocess.run(["rumqttd", "--version"], capture_output=True, text=True)
        return (out.stdout or out.stderr).strip() or "unknown"


def stop(proc, grace=8.0):
    """SIGINT, then SIGKILL after `grace` seconds."""
    if proc.poll() is None:
        try:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        except ProcessLookupError:
            pass
    if proc in _children:
        _children.remove(proc)


def kill_children(*_):
    for p in list(_children):
        if p.poll() is None:
            p.kill()
    for p in list(_children):
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


def thread_cpus(pid):
    """Cpus_allowed_list of each thread of a process (to check the pinning)."""
    out = set()
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if line.startswith("Cpus_allowed_list:"):
                        out.add(line.split(":", 1)[1].strip())
    except OSError:
        pass
    return sorted(out)


# --------------------------------------------------------------------------------------------
# CPU sampling


def cpu_ticks(pid):
    """utime + stime of a process (all its threads), in clock ticks; None when gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
        return int(rest[11]) + int(rest[12])
    except (OSError, IndexError, ValueError):
        return None


def core_ticks():
    """Busy clock ticks of each core (all but idle and iowait), from /proc/stat."""
    out = {}
    try:
        with open("/proc/stat") as f:
            for line in f:
                if line.startswith("cpu") and line[3:4].isdigit():
                    parts = line.split()
                    v = [int(x) for x in parts[1:]]
                    out["core" + parts[0][3:]] = sum(v[:8]) - v[3] - v[4]
    except (OSError, ValueError):
        pass
    return out


class CpuSampler:
    """Samples the CPU time of some processes every 0.1 s; peak() is the busiest 1-s window
    (the whole run when shorter), as a share of one core."""

    def __init__(self, pids):
        self.pids = dict(pids)
        self.samples = {k: [] for k in self.pids}
        self.samples.update({f"core{c}": [] for c in (BROKER_CORE, TOOL_CORE)})
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.hz = os.sysconf("SC_CLK_TCK")

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *_):
        self.done.set()
        self.thread.join()
        self._sample()  # a last sample of whoever is still alive

    def _sample(self):
        now = time.monotonic()
        for k, pid in self.pids.items():
            t = cpu_ticks(pid)
            if t is not None:
                self.samples[k].append((now, t))
        for k, t in core_ticks().items():
            if k in self.samples:
                self.samples[k].append((now, t))

    def _run(self):
        while True:
            self._sample()
            if self.done.wait(0.1):
                return

    def peak(self, key):
        s = self.samples[key]
        if len(s) < 2:
            return None
        if s[-1][0] - s[0][0] < 0.99:  # a short run: its whole span
            return round(100.0 * (s[-1][1] - s[0][1]) / self.hz / (s[-1][0] - s[0][0]))
        best = 0.0
        j = 0
        for i in range(len(s)):
            j = max(j, i)
            while j < len(s) and s[j][0] - s[i][0] < 0.99:
                j += 1
            if j >= len(s):
                break
            best = max(best, (s[j][1] - s[i][1]) / self.hz / (s[j][0] - s[i][0]))
        return round(100.0 * best)

    def total(self, key):
        s = self.samples[key]
        return round((s[-1][1] - s[0][1]) / self.hz, 2) if len(s) >= 2 else None


# --------------------------------------------------------------------------------------------
# Running


def tool_command(root, load, port, pid):
    if load.kind == "idle":
        return [sys.executable, os.path.join(root, "benches", "idle_conns.py"), "--port",
                str(port), "--pid", str(pid), "--json"] + load.args
    return [os.path.join(root, "target", "release", "ringmq-bench"), "--port", str(port),
            "--version", str(load.version), "--json", "--quiet"] + load.args


def template_tool_command(load):
    if load.kind == "idle":
        cmd = ["python3", "benches/idle_conns.py", "--port", "PORT", "--pid", "BROKER_PID",
               "--json"] + load.args
    else:
        cmd = ["target/release/ringmq-bench", "--port", "PORT", "--version",
               str(load.version), "--json", "--quiet"] + load.args
    return " ".join(["taskset", "-c", TOOL_CORE] + [shlex.quote(c) for c in cmd])


def run_one(root, broker, load, run, outdir):
    tag = f"{load.name}-r{run}-{broker.name}"
    rec = {"load": load.name, "run": run, "broker": broker.name, "ok": False}
    t0 = time.monotonic()
    try:
        proc, ports, blog = broker.start(tag)
    except RuntimeError as e:
        rec["error"] = str(e)
        log(f"{tag}: {e}")
        return rec
    port = broker.port_for(ports, load.version)
    rec["port"] = port
    rec["broker_log"] = os.path.relpath(blog, root)
    try:
        time.sleep(0.3)  # let it settle (and its threads take their affinity)
        rec["broker_threads_cpus"] = thread_cpus(proc.pid)
        cmd = ["taskset", "-c", TOOL_CORE] + tool_command(root, load, port, proc.pid)
        rec["command"] = " ".join(shlex.quote(c) for c in cmd)
        tool = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        started = time.monotonic()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        with CpuSampler({"broker": proc.pid, "tool": tool.pid}) as cpu:
            try:
                out, err = tool.communicate(timeout=load.timeout)
            except subprocess.TimeoutExpired:
                tool.kill()
                out, err = tool.communicate()
                rec["error"] = f"timed out after {load.timeout} s"
        wall = time.monotonic() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        # The tool is the only child reaped meanwhile: its exact CPU time.
        tool_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        rec["tool_secs"] = round(wall, 2)
        rec["cpu_tool_secs"] = round(tool_cpu, 2)
        rec["cpu_broker_secs"] = cpu.total("broker")
        rec["cpu_broker_peak_pct"] = cpu.peak("broker")
        rec["cpu_tool_peak_pct"] = cpu.peak("tool")
        rec["core_broker_peak_pct"] = cpu.peak(f"core{BROKER_CORE}")
        rec["core_tool_peak_pct"] = cpu.peak(f"core{TOOL_CORE}")
        if wall < 1.0 or rec["cpu_tool_peak_pct"] is None:
            rec["cpu_tool_peak_pct"] = round(100.0 * tool_cpu / wall) if wall > 0 else None
        with open(os.path.join(outdir, f"{tag}.tool.log"), "w") as f:
            f.write(out)
            f.write("\n--- stderr ---\n")
            f.write(err)
        if proc.poll() is not None:
            rec["error"] = f"the broker exited (code {proc.returncode}) during the run"
        elif tool.returncode != 0 and "error" not in rec:
            rec["error"] = f"tool exit code {tool.returncode}: {err.strip()[-500:]}"
        if "error" not in rec:
            rec["result"], rec["raw"] = parse_result(load, out)
            rec["ok"] = True
    except (ValueError, KeyError, OSError) as e:
        rec["error"] = f"{type(e).__name__}: {e}"
    finally:
        stop(proc)
    rec["secs"] = round(time.monotonic() - t0, 1)
    if rec["ok"]:
        log(f"{tag}: {summary(load, rec['result'])} (CPU peak: broker "
            f"{rec['cpu_broker_peak_pct']}% of core {BROKER_CORE} busy "
            f"{rec['core_broker_peak_pct']}%, tool {rec['cpu_tool_peak_pct']}% of core "
            f"{TOOL_CORE} busy {rec['core_tool_peak_pct']}%; {rec['secs']} s)")
    else:
        log(f"{tag}: FAILED: {rec.get('error')}")
    return rec


def summary(load, r):
    if load.kind == "stress":
        return f"aggregate {r['aggregate']:,.0f} msg/s, loss {r['loss']}"
    if load.kind == "flow":
        return f"received {r['received_per_sec']:,.0f} msg/s, loss {r['loss_pct']:.2f}%"
    if load.kind == "latency":
        return (f"p50 {r['p50_us']} µs, p99 {r['p99_us']} µs, p99.9 {r['p999_us']} µs, "
                f"max {r['max_us']} µs, loss {r['loss']}")
    return f"{r['per_conn_kib']:.2f} KiB/conn"


# --------------------------------------------------------------------------------------------
# Figures and markdown


def median_of(records, key):
    vals = [r["result"][key] for r in records if r.get("ok") and key in r.get("result", {})]
    return statistics.median(vals) if vals else None


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def fmt_num(v, key=""):
    if v is None:
        return "n/a"
    if key.endswith("_us"):
        return f"{v:,.0f} µs"
    if key.endswith("_kib"):
        return f"{v:.2f} KiB"
    if key.endswith("pct"):
        return f"{v:.2f}%"
    if isinstance(v, float) and abs(v) < 100:
        return f"{v:.2f}"
    return f"{v:,.0f}"


def fmt_rate(v):
    if v is None:
        return "n/a"
    if v >= 1e6:
        return f"{v / 1e6:.2f} M/s"
    if v >= 1e3:
        return f"{v / 1e3:.1f} k/s"
    return f"{v:.0f}/s"


def fmt_metric(v, key):
    if key in ("aggregate", "received_per_sec", "sent_per_sec") or key.endswith("_median"):
        return fmt_rate(v)
    return fmt_num(v, key)


def fmt_ratio(x):
    return "n/a" if x is None else f"{x:.2f}×"


def target_met(x, better, target):
    if x is None or target is None:
        return ""
    ok = x >= target if better == "higher" else x <= target
    return "met" if ok else "**not met**"


def cell(load, recs, key):
    """A main-table cell: the median, and the median loss beside a throughput."""
    v = median_of(recs, key)
    text = fmt_metric(v, key)
    failed = sum(1 for r in recs if not r.get("ok"))
    if load.kind in ("stress", "flow") and v is not None:
        text += f" (loss {fmt_num(median_of(recs, 'loss_pct'), 'loss_pct')})"
    if load.kind == "latency" and key == "p99_us" and v is not None:
        loss = median_of(recs, "loss")
        if loss:
            text += f" (loss {loss:,.0f})"
    if failed:
        text += f" ({failed} of {len(recs)} runs failed)"
    return text


def render(ctx):
    """The markdown between the markers."""
    loads, brokers, records = ctx["loads"], ctx["brokers"], ctx["records"]
    names = [b.name for b in brokers]
    peers = [n for n in names if n not in ("ringmq", "mosquitto")]
    by = {}
    for r in records:
        by.setdefault((r["load"], r["broker"]), []).append(r)
    out = []
    w = out.append
    w("")
    w(f"Generated by `{ctx['command']}` on {ctx['date']} ({ctx['elapsed_min']:.1f} min; "
      f"{ctx['runs']} run(s) of each load per broker, the median reported).")
    if ctx["quick"]:
        w("")
        w("> **Smoke run (`--quick`)**: short durations, one stress N, 1,000 idle connections "
          "and one run, on a machine busy with other work. These figures only show that the "
          "script works end to end; they are not a measurement.")
    skipped = ctx.get("skipped")
    if skipped:
        w("")
        w(f"Not compared: {skipped}")
    w("")
    w("| | |")
    w("|---|---|")
    m = ctx["machine"]
    w(f"| CPU | {m['cpu']} ({m['cores']} cores) |")
    w(f"| kernel | {m['kernel']} |")
    w(f"| load average | {m['load_start']} at the start, {m['load_end']} at the end |")
    for b in brokers:
        w(f"| {b.name} | {ctx['versions'][b.name]} |")
    w(f"| load tool | `ringmq-bench` at the same commit, {m['rustc']}, release profile |")
    w(f"| pinning | each broker `taskset -c {BROKER_CORE}` (ringmq `--shards 1`), "
      f"the load tool `taskset -c {TOOL_CORE}` |")
    w("")
    head = ["load", "ringmq", "mosquitto"] + peers + ["ringmq / mosquitto", "target", ""]
    w("| " + " | ".join(head) + " |")
    w("|" + "---|" * len(head))
    for load in loads:
        for title, key, better, target_text, target in load.rows:
            rm = by.get((load.name, "ringmq"), [])
            mo = by.get((load.name, "mosquitto"), [])
            x = None if key == "send_lag_p99_us" else ratio(median_of(rm, key), median_of(mo, key))
            arrow = "higher is better" if better == "higher" else "lower is better"
            row = [f"{title} ({arrow})", cell(load, rm, key), cell(load, mo, key)]
            row += [cell(load, by.get((load.name, p), []), key) for p in peers]
            row += ["" if x is None and key == "send_lag_p99_us" else f"**{fmt_ratio(x)}**",
                    target_text, target_met(x, better, target)]
            w("| " + " | ".join(row) + " |")
    w("")
    w("Ratios are ringmq's median over Mosquitto's. For throughput (msg/s) a ratio above 1 "
      "means ringmq is faster; for latency and memory, lower is better, so a ratio below 1 "
      "means ringmq is better. Loss is the share of expected messages that never arrived "
      "(median of the runs): at QoS 0 a broker may drop what a subscriber cannot take in time, "
      "and ringmq does so beyond its queue limits (`max_outbound_buffer`, "
      "`max_queued_messages`), so its received rate is counted without the dropped messages.")

    stress = [l for l in loads if l.kind == "stress"]
    if stress:
        w("")
        w("`stress` as mqtt-stresser reports it (per-client throughput, median of the runs; "
          "publish: M over the time a client took to publish M; receive: M over the time from "
          "the start of publishing to its last message) beside the aggregate (N×M over the wall "
          "time):")
        w("")
        w("| load | broker | publish median | publish fastest / slowest | receive median | "
          "receive fastest / slowest | aggregate | received / expected | errors |")
        w("|---|---|---|---|---|---|---|---|---|")
        for load in stress:
            for n in names:
                rs = by.get((load.name, n), [])
                g = lambda k: median_of(rs, k)  # noqa: E731
                w(f"| {load.title} | {n} | {fmt_rate(g('publish_median'))} | "
                  f"{fmt_rate(g('publish_fastest'))} / {fmt_rate(g('publish_slowest'))} | "
                  f"{fmt_rate(g('receive_median'))} | {fmt_rate(g('receive_fastest'))} / "
                  f"{fmt_rate(g('receive_slowest'))} | {fmt_rate(g('aggregate'))} | "
                  f"{fmt_num(g('received'))} / {fmt_num(g('expected'))} | "
                  f"{fmt_num(g('errors'))} |")

    w("")
    w("<details><summary>Every run</summary>")
    w("")
    w("CPU: the busiest 1-second window of the broker and of the load tool during the run, "
      "in % of one core (sampled from `/proc/PID/stat` every 0.1 s; the whole run when "
      "shorter), and in brackets how busy their core was in its busiest second (`/proc/stat`: "
      "that process and anything else on the core). A broker near 100% is the bottleneck; a "
      "load tool near 100% with the broker below it means the tool is; a process well below "
      "100% on a core that is at 100% shared its core with other work.")
    w("")
    w(f"| load | run | broker | figures | loss | broker CPU (core {BROKER_CORE}) | "
      f"tool CPU (core {TOOL_CORE}) |")
    w("|---|---|---|---|---|---|---|")
    for load in loads:
        for run in range(1, ctx["runs"] + 1):
            for n in names:
                for r in by.get((load.name, n), []):
                    if r["run"] != run:
                        continue
                    if r.get("ok"):
                        res = r["result"]
                        figs = summary_cells(load, res)
                        loss = (f"{res['loss']:,} ({res.get('loss_pct', 0):.2f}%)"
                                if "loss" in res else "")
                    else:
                        figs, loss = f"failed: {r.get('error', '?')[:120]}", ""
                    w(f"| {load.name} | {run} | {n} | {figs} | {loss} | "
                      f"{cpu_cell(r, 'cpu_broker_peak_pct', 'core_broker_peak_pct')} | "
                      f"{cpu_cell(r, 'cpu_tool_peak_pct', 'core_tool_peak_pct')} |")
    w("")
    w("</details>")

    w("")
    w("Loads, and why these parameters:")
    w("")
    for note in ctx["notes"]:
        w(f"* {note}")
    w("")
    w("Configurations (written to a temporary directory for each run; `PORT` is a random "
      "free loopback port in 20000-40000):")
    for b in brokers:
        w("")
        w(f"`{b.name}`: `{b.template_command()}`")
        w("")
        w("```")
        w(b.template_config().rstrip())
        w("```")
    w("")
    w("Load-tool commands (`PORT`: the broker's; `BROKER_PID`: its process id). For each load, "
      "for each run, each broker in turn is started fresh, given one load, and stopped "
      "(SIGINT):")
    w("")
    w("```sh")
    w("cargo build --release -p ringmq -p ringmq-benches --bins")
    for load in loads:
        w(f"# {load.title}")
        w(template_tool_command(load))
    w("```")
    w("")
    w(f"Reproduce: `{ctx['command']}` (raw results: `target/compare/{ctx['json_name']}`).")
    w("")
    return "\n".join(out)


def cpu_cell(r, proc_key, core_key):
    p, c = r.get(proc_key), r.get(core_key)
    if p is None:
        return ""
    return f"{p}%" + ("" if c is None else f" ({c}%)")


def summary_cells(load, r):
    if load.kind == "stress":
        return (f"aggregate {fmt_rate(r['aggregate'])}; publish median "
                f"{fmt_rate(r['publish_median'])}, receive median {fmt_rate(r['receive_median'])}")
    if load.kind == "flow":
        return f"sent {fmt_rate(r['sent_per_sec'])}, received {fmt_rate(r['received_per_sec'])}"
    if load.kind == "latency":
        return (f"p50 {r['p50_us']} / p99 {r['p99_us']} / p99.9 {r['p999_us']} / max "
                f"{r['max_us']} µs; sent {fmt_rate(r['sent_per_sec'])}, tool send lag p99 "
                f"{r['send_lag_p99_us']} µs")
    return (f"{r['per_conn_kib']:.2f} KiB/conn (RSS {r['rss_before_kib']:,} → "
            f"{r['rss_during_kib']:,} KiB)")


def notes(quick, latency_rate, brokers, records):
    d = 3 if quick else 10
    mosq = median_of([r for r in records if r["load"] == "p2p-q0" and
                      r["broker"] == "mosquitto"], "received_per_sec")
    capacity_note = ""
    if mosq:
        capacity_note = (f" In this run it is {100.0 * latency_rate / mosq:.0f}% of "
                         f"Mosquitto's p2p QoS 0 capacity ({fmt_rate(mosq)}).")
    out = [
        f"`stress`: mqtt-stresser's method (the Mochi README's table: N = 2, 10, 100 clients, "
        f"M = {STRESS_M:,} messages each, QoS 0), on MQTT 3.1.1 as mqtt-stresser's Paho client "
        "speaks it. Each client publishes to its own topic and subscribes to it.",
        f"`p2p`: {P2P_PAIRS} publisher → subscriber pairs, each on its own topic, 64-byte "
        f"payloads, publishing for {d} s as fast as the broker takes them (QoS 0: as fast as "
        f"the socket takes them; QoS 1: {INFLIGHT} unacknowledged per publisher, the brokers' "
        "Receive Maximum). One connection of the tool writes over a million QoS 0 messages a "
        "second, more than any of these brokers takes on one core; ten pairs spread the load "
        "over several connections as real traffic does. The CPU columns of the per-run table "
        "show whether the broker's core was the limit: at QoS 1 the window (10 × "
        f"{INFLIGHT} messages in flight) over the round trip can bound the rate first. The "
        "figure is messages received per second.",
        f"`fanout`: 1 publisher → {FANOUT_SUBS} subscribers of one topic, QoS 0, publishing "
        f"for {d} s as fast as the broker takes it; the figure is deliveries per second.",
        f"Throughput is what arrived over the time to the last arrival. A run waits "
        f"{FLOW_TAIL} s after publishing ends (and 2 s more while anything still arrives); "
        "what a broker still holds then counts as lost, with what it dropped.",
        f"`latency`: an open loop at {latency_rate:,} msg/s over {LATENCY_PAIRS} pairs (QoS 0, "
        "64 B), corrected for coordinated omission (each message is stamped with its intended "
        "send time). The rate is a round number well under Mosquitto's measured p2p QoS 0 "
        "capacity (see the table), so both brokers sustain it and the latency is not queueing "
        "behind saturation. `--latency-rate R` changes it." + capacity_note,
        "Mosquitto runs with `user root` only when the script runs as root (else it would "
        "switch to the `mosquitto` user), so every broker runs as the same user.",
        "`idle`: `benches/idle_conns.py` opens MQTT 5.0 connections (CONNECT, CONNACK, then "
        "nothing; keep alive 600 s, so no PINGREQ falls in the run; rumqttd refuses keep alive "
        "0) and reports the growth of the broker's VmRSS per connection.",
        f"Queue limits: every broker queues at most {QUEUE_LIMIT:,} messages per client beyond "
        f"the {INFLIGHT} in flight (Mosquitto `max_queued_messages`, ringmq "
        "`max_queued_messages`), so no stress load can drop (a client never has more than "
        f"M = {STRESS_M:,} outstanding) while a subscriber slower than its publisher makes "
        "each broker drop beyond the same bound. ringmq also bounds the encoded output held per "
        "connection (`max_outbound_buffer`, 1 MiB, its default: about 10,000 of these "
        "messages). Mosquitto documents `max_queued_messages` for QoS 1/2 messages; what it does "
        "with QoS 0 beyond it is its own, and the loss column shows what each broker dropped.",
    ]
    if any(b.name == "rumqttd" for b in brokers):
        out.append(
            "rumqttd: its router keeps a commit log per topic instead of per-client queues; "
            "`max_segment_size` 10 MiB × `max_segment_count` 10 bounds a topic's log, a slow "
            "subscriber loses what falls off its end. `next_connection_delay_ms = 0` (the "
            "example config's 1 ms would throttle accepting connections). MQTT 3.1.1 loads "
            "use its v4 listener, MQTT 5 loads its v5 listener.")
    return out


def splice(text, block):
    """Puts `block` between the markers of `text`, creating the section (after the intro of
    "# Benchmarks") when the markers are missing."""
    b, e = text.find(BEGIN), text.find(END)
    if b != -1 and e != -1 and b < e:
        return text[: b + len(BEGIN)] + "\n" + block.strip("\n") + "\n" + text[e:]
    section = (f"{SECTION_TITLE}\n\n{BEGIN}\n{block.strip(chr(10))}\n{END}\n\n{BOTTLENECK}\n")
    m = re.search(r"^# Benchmarks[^\n]*\n", text, re.M)
    if m:
        nxt = re.search(r"^## ", text[m.end():], re.M)
        if nxt:
            at = m.end() + nxt.start()
            return text[:at] + section + text[at:]
    return text.rstrip("\n") + "\n\n" + section


def machine():
    def sh(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True).stdout
        except OSError:
            return ""
    cpu = "unknown"
    for line in sh(["lscpu"]).splitlines():
        if line.startswith("Model name:"):
            cpu = line.split(":", 1)[1].strip()
    hyper = "KVM guest" if "Hypervisor vendor" in sh(["lscpu"]) else ""
    return {
        "cpu": f"{cpu}{', ' + hyper if hyper else ''}",
        "cores": os.cpu_count(),
        "kernel": os.uname().release,
        "rustc": sh(["rustc", "-V"]).strip() or "rustc unknown",
        "load_start": " ".join(open("/proc/loadavg").read().split()[:3]),
    }


# --------------------------------------------------------------------------------------------


def self_test():
    assert statistics.median([3, 1, 2]) == 2
    recs = [{"ok": True, "result": {"x": v}} for v in (5, 1, 3)] + [{"ok": False}]
    assert median_of(recs, "x") == 3
    assert median_of([{"ok": False}], "x") is None
    assert ratio(6, 3) == 2 and ratio(1, 0) is None and ratio(None, 1) is None
    assert target_met(5.1, "higher", 5.0) == "met"
    assert target_met(0.6, "lower", 0.5) == "**not met**"
    assert fmt_rate(1_234_567) == "1.23 M/s" and fmt_rate(12_345) == "12.3 k/s"
    doc = "# Benchmarks\n\nIntro.\n\n## Targets\n\nx\n"
    once = splice(doc, "T1")
    assert once.index(BEGIN) < once.index("## Targets") and "T1" in once
    assert SECTION_TITLE in once and BOTTLENECK.splitlines()[0] in once
    lead = once.replace("To be filled in by hand", "Filled in")
    twice = splice(lead, "T2")
    assert "T2" in twice and "T1" not in twice and "Filled in" in twice
    assert twice.count(BEGIN) == 1 and twice.count(SECTION_TITLE) == 1
    assert splice("no title\n", "T").endswith(BOTTLENECK + "\n")
    loads = make_loads(False, LATENCY_RATE)
    assert [l.name for l in loads] == ALL_LOADS
    assert [l.name for l in select_loads(loads, "stress,idle")] == [
        "stress-2", "stress-10", "stress-100", "idle"]
    s = CpuSampler({})
    s.hz = 100
    s.samples["b"] = [(0.0, 0), (0.5, 50), (1.0, 100), (1.5, 120)]
    assert s.peak("b") == 100 and s.total("b") == 1.2
    out = '{"mode":"p2p","received_per_sec":10.0,"sent_per_sec":11.0,"sent":11,"expected":11,' \
          '"received":10,"loss":1,"loss_pct":9.0}'
    r, _ = parse_result(loads[3], "progress\n" + out)
    assert r["received_per_sec"] == 10.0 and r["loss"] == 1
    print("compare.py self-test: ok")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=None, help="runs per load and broker "
                    "(default 3; 1 with --quick)")
    ap.add_argument("--quick", action="store_true", help="smoke run: short loads, ~2 min")
    ap.add_argument("--only", default="", help="comma-separated loads: " +
                    ", ".join(["stress"] + ALL_LOADS))
    ap.add_argument("--no-write", action="store_true", help="print the table; leave "
                    "BENCHMARKS.md alone")
    ap.add_argument("--brokers", default="", help="comma-separated subset of ringmq, "
                    "mosquitto, ringmq-tokio, ringmq-spin, rumqttd (default: all installed but "
                    "ringmq-spin)")
    ap.add_argument("--latency-rate", type=int, default=LATENCY_RATE,
                    help=f"offered msg/s of the latency load (default {LATENCY_RATE})")
    ap.add_argument("--root", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap.add_argument("--self-test", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.self_test:
        self_test()
        return 0
    runs = args.runs if args.runs is not None else (1 if args.quick else 3)
    if runs < 1:
        raise SystemExit("--runs must be at least 1")
    root = os.path.abspath(args.root)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda s, _f: (kill_children(), sys.exit(128 + s)))

    workdir = tempfile.mkdtemp(prefix="ringmq-compare.")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    outdir = os.path.join(root, "target", "compare", stamp)
    os.makedirs(outdir, exist_ok=True)

    wanted = [b.strip() for b in args.brokers.split(",") if b.strip()] or \
        ["ringmq", "mosquitto", "ringmq-tokio", "rumqttd"]
    brokers, skipped = [], []
    for cls in (Ringmq, Mosquitto, RingmqTokio, RingmqSpin, Rumqttd):
        if cls.name not in wanted:
            continue
        if cls is Mosquitto and not shutil.which("mosquitto"):
            raise SystemExit("mosquitto is not on PATH (benches/compare.sh installs it)")
        if cls is Rumqttd and not shutil.which("rumqttd"):
            skipped.append("rumqttd (not on PATH; `cargo install rumqttd` to include it)")
            log("rumqttd is not on PATH: skipped")
            continue
        brokers.append(cls(root, workdir, outdir))
    if not any(b.name == "ringmq" for b in brokers) or \
            not any(b.name == "mosquitto" for b in brokers):
        raise SystemExit("--brokers must include ringmq and mosquitto (ratios need both)")
    for bin_ in ("ringmq", "ringmq-bench"):
        if not os.access(os.path.join(root, "target", "release", bin_), os.X_OK):
            raise SystemExit(f"target/release/{bin_} is missing: cargo build --release -p "
                             "ringmq -p ringmq-benches --bins")

    loads = select_loads(make_loads(args.quick, args.latency_rate), args.only)
    m = machine()
    versions = {b.name: b.version() for b in brokers}
    t0 = time.monotonic()
    date = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    log(f"{len(loads)} load(s) × {runs} run(s) × {len(brokers)} broker(s); logs in {outdir}")
    records = []
    try:
        for load in loads:
            for run in range(1, runs + 1):
                for b in brokers:
                    records.append(run_one(root, b, load, run, outdir))
    finally:
        kill_children()
    m["load_end"] = " ".join(open("/proc/loadavg").read().split()[:3])

    shown = ["benches/compare.sh"] + sys.argv[1:]
    shown = [a for i, a in enumerate(shown) if a != "--root" and
             (i == 0 or shown[i - 1] != "--root")]
    json_name = f"compare-{stamp}.json"
    ctx = {
        "command": " ".join(shlex.quote(a) for a in shown),
        "date": date, "elapsed_min": (time.monotonic() - t0) / 60, "runs": runs,
        "quick": args.quick, "loads": loads, "brokers": brokers, "records": records,
        "machine": m, "versions": versions, "skipped": "; ".join(skipped),
        "notes": notes(args.quick, args.latency_rate, brokers, records),
        "json_name": json_name,
    }
    block = render(ctx)
    raw = {
        "date": date, "command": ctx["command"], "runs": runs, "quick": args.quick,
        "machine": m, "versions": versions, "skipped": skipped,
        "loads": [{"name": l.name, "title": l.title, "command": template_tool_command(l)}
                  for l in loads],
        "brokers": {b.name: {"command": b.template_command(), "config": b.template_config()}
                    for b in brokers},
        "records": records,
    }
    for path in (os.path.join(root, "target", "compare", json_name),
                 os.path.join(root, "target", "compare", "latest.json")):
        with open(path, "w") as f:
            json.dump(raw, f, indent=1)
    with open(os.path.join(outdir, "table.md"), "w") as f:
        f.write(block)
    print(block)
    if not args.no_write:
        path = os.path.join(root, "BENCHMARKS.md")
        with open(path) as f:
            text = f.read()
        with open(path, "w") as f:
            f.write(splice(text, block))
        log(f"wrote the table into {path}")
    log(f"raw results: target/compare/{json_name}")
    shutil.rmtree(workdir, ignore_errors=True)
    failed = sum(1 for r in records if not r.get("ok"))
    if failed:
        log(f"{failed} run(s) failed (see the table)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
