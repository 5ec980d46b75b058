#!/usr/bin/python3
"""bench/bench.py - measures inatfs side by side with the alternatives.

Driven by scripts/bench (which installs packages, builds and generates the
fixtures first). Prints a markdown report, writes it to docs/bench/results.md
and draws docs/bench/latency.png with gnuplot.

Every figure is the median of several runs with [min - max]; ratios are
computed pair by pair within one round, then their median is taken. Every
mount is unmounted and every daemon stopped on exit, whatever happens; a step
that fails stops the whole run (no table with wrong numbers).
"""

import argparse
import atexit
import csv
import datetime
import hashlib
import json
import os
import pathlib
import platform
import random
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import threading
import time

REPO = pathlib.Path(__file__).resolve().parents[1]


class BenchError(Exception):
    pass


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- cleanup

MOUNTS = []      # mount points we created (unmounted on exit)
PROCS = []       # daemons we started (terminated on exit)
TEMPS = []       # folders we remove on exit


def is_mounted(path):
    path = os.path.realpath(path)
    with open("/proc/self/mountinfo", encoding="utf-8") as fh:
        return any(line.split()[4] == path for line in fh)


def unmount(path):
    if not is_mounted(path):
        return
    for cmd in (["fusermount3", "-u", str(path)], ["fusermount", "-u", str(path)],
                ["umount", str(path)], ["fusermount3", "-u", "-z", str(path)],
                ["umount", "-l", str(path)]):
        if shutil.which(cmd[0]) is None:
            continue
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        for _ in range(50):
            if not is_mounted(path):
                return
            time.sleep(0.02)


def stop(proc, timeout=30):
    if proc.poll() is None:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def cleanup():
    for m in list(MOUNTS):
        try:
            unmount(m)
        except Exception as e:  # noqa: BLE001 - cleanup must go on
            log(f"cleanup: unmount {m}: {e}")
    for p in list(PROCS):
        try:
            stop(p, timeout=10)
        except Exception as e:  # noqa: BLE001
            log(f"cleanup: stop pid {p.pid}: {e}")
    for t in list(TEMPS):
        shutil.rmtree(t, ignore_errors=True)


atexit.register(cleanup)


def _on_signal(signum, _frame):
    raise SystemExit(128 + signum)


signal.signal(signal.SIGTERM, _on_signal)
signal.signal(signal.SIGHUP, _on_signal)


# ---------------------------------------------------------------- helpers

def run(cmd, shell=False, check=True, **kw):
    """Runs cmd, returns (seconds, CompletedProcess); raises on failure."""
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    t0 = time.perf_counter()
    cp = subprocess.run(cmd, shell=shell, text=True, **kw)
    dt = time.perf_counter() - t0
    if check and cp.returncode != 0:
        raise BenchError(f"command failed ({cp.returncode}): {cmd}\n{(cp.stderr or '')[-2000:]}")
    return dt, cp


def sh(script):
    """A bash pipeline with pipefail; returns (seconds, CompletedProcess)."""
    return run(["bash", "-o", "pipefail", "-c", script])


def run_phases(cmd):
    """Runs cmd reading its stderr progress live; returns (seconds, {phase:
    seconds}) where a phase is the text of a progress line before its first
    ':' (e.g. 'scanning train_val_images.tar.gz') and lasts until the next."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    PROCS.append(p)
    marks = []
    buf = b""
    text = []
    while True:
        chunk = p.stderr.read1(65536)
        if not chunk:
            break
        now = time.perf_counter() - t0
        buf += chunk
        parts = re.split(rb"[\r\n]", buf)
        buf = parts.pop()
        for line in parts:
            line = line.decode("utf-8", "replace").strip()
            if not line:
                continue
            text.append(line)
            name = line.removeprefix("inatfs: ")
            name = re.split(r"[:(]", name, maxsplit=1)[0]
            name = re.sub(r"\s*\[[^]]*\]\s*$", "", name).strip()
            if not marks or marks[-1][0] != name:
                marks.append([name, now, now])
            else:
                marks[-1][2] = now
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    rc = p.returncode
    run_phases.maxrss = ru.ru_maxrss * 1024
    PROCS.remove(p)
    dt = time.perf_counter() - t0
    if rc != 0:
        raise BenchError(f"command failed ({rc}): {cmd}\n" + "\n".join(text[-20:]))
    phases = {}
    for i, (name, t, last) in enumerate(marks):
        end = marks[i + 1][1] if i + 1 < len(marks) else dt
        if not name.startswith(("reading", "scanning", "joining", "writing", "packing")):
            continue
        phases[name] = phases.get(name, 0.0) + (end - t)
        if last > t and end - last > 5:
            # silent time after the phase's last progress line (work it does not report)
            k = f"{name}: after its last progress line"
            phases[k] = phases.get(k, 0.0) + (end - last)
    return dt, phases


def q(p):
    return "'" + str(p).replace("'", "'\\''") + "'"


CAN_DROP = os.access("/proc/sys/vm/drop_caches", os.W_OK)


REAL_MEMBERS = 675_170 + 182_707   # images in the two real tarballs
PAIRS = 3   # inatfs 1-reader / 2-reader passes per round of random reads


def checkpoint_bytes(idx):
    """Bytes the checkpoints table and its key take in an index file (dbstat)."""
    con = sqlite3.connect(f"file:{idx}?mode=ro", uri=True)
    try:
        return con.execute("SELECT coalesce(sum(pgsize), 0) FROM dbstat "
                           "WHERE name='checkpoints'").fetchone()[0]
    finally:
        con.close()


def drop_caches():
    if not CAN_DROP:
        raise BenchError("cannot drop the page cache (run as root)")
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w", encoding="ascii") as fh:
        fh.write("3\n")


def warm_file(path):
    run(["cat", str(path)], stdout=subprocess.DEVNULL)


def stats(xs):
    if not xs:
        raise BenchError("no samples")
    return statistics.median(xs), min(xs), max(xs)


def vm_hwm(pid, key="VmHWM"):
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise BenchError(f"no {key} for pid {pid}")


# ---------------------------------------------------------------- mounts

class Daemon:
    """A FUSE daemon in the foreground; ready() decides when it answers."""

    def __init__(self, args, mnt, ready, log_path, timeout=600):
        self.mnt = pathlib.Path(mnt)
        self.mnt.mkdir(parents=True, exist_ok=True)
        if is_mounted(self.mnt):
            raise BenchError(f"{self.mnt} is already mounted")
        self.errlog = open(log_path, "w+", encoding="utf-8")
        MOUNTS.append(self.mnt)
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=self.errlog)
        PROCS.append(self.proc)
        deadline = t0 + timeout
        while True:
            if self.proc.poll() is not None:
                raise BenchError(f"{args[0]} exited with {self.proc.returncode}: {self.stderr()}")
            if ready(self.mnt):
                break
            if time.perf_counter() > deadline:
                raise BenchError(f"{args[0]}: mount did not answer in {timeout}s: {self.stderr()}")
            time.sleep(0.001)
        self.start_s = time.perf_counter() - t0

    def stderr(self):
        self.errlog.flush()
        self.errlog.seek(0)
        return self.errlog.read()[-3000:]

    def hwm(self):
        return vm_hwm(self.proc.pid)

    def close(self):
        unmount(self.mnt)
        stop(self.proc)
        rc = self.proc.returncode
        if self.proc in PROCS:
            PROCS.remove(self.proc)
        if self.mnt in MOUNTS:
            MOUNTS.remove(self.mnt)
        self.errlog.close()
        if rc not in (0, None):
            raise BenchError(f"daemon for {self.mnt} exited with {rc}")
        return rc


def stat_ready(rel):
    def ready(mnt):
        if not is_mounted(mnt):
            return False
        try:
            os.stat(mnt / rel)
            return True
        except OSError:
            return False
    return ready


def mounted_ready(mnt):
    return is_mounted(mnt)


def live_first_mount(inatfs, data_dir, mnt, idx, log_path, timeout=900):
    """A first mount (no index): seconds until the split views answer (the
    train/ folder and one class folder list), and until the scan has ended
    and the index is in place ("inatfs: indexed" on stderr); the daemon's
    peak RSS (the build's, in the same process) and its RSS once the scan
    is over (what it keeps while serving)."""
    if idx.exists():
        idx.unlink()

    def usable(m):
        if not is_mounted(m):
            return False
        try:
            classes = sorted(os.listdir(m / "train"))
            return bool(classes) and bool(os.listdir(m / "train" / classes[-1]))
        except OSError:
            return False

    t0 = time.perf_counter()
    d = Daemon([str(inatfs), str(data_dir), str(mnt), "-f", "-o", f"index={idx}"], mnt, usable,
               log_path, timeout=timeout)
    t_usable = time.perf_counter() - t0
    try:
        while "inatfs: indexed " not in d.stderr():
            if d.proc.poll() is not None:
                raise BenchError(f"first mount exited with {d.proc.returncode}: {d.stderr()}")
            if time.perf_counter() - t0 > timeout:
                raise BenchError(f"first mount: the scan did not end: {d.stderr()}")
            time.sleep(0.01)
        t_end = time.perf_counter() - t0
        time.sleep(0.5)
        hwm = d.hwm()
        rss = vm_hwm(d.proc.pid, "VmRSS")
    finally:
        d.close()
    if not idx.exists():
        raise BenchError("first mount: no index after the scan")
    return t_usable, t_end, hwm, rss


def resumed_build(inatfs, data_dir, idx, at=0.5, timeout=900):
    """`inatfs index` SIGKILLed once its scan has committed past `at` of the
    image tarball, then run again (it goes on with the interrupted build):
    returns (seconds of the second run, its stderr)."""
    for p in idx.parent.glob(idx.name + ".tmp-*"):
        p.unlink()
    if idx.exists():
        idx.unlink()
    p = subprocess.Popen([str(inatfs), "index", str(data_dir), "--index", str(idx)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    PROCS.append(p)
    t0 = time.perf_counter()
    try:
        while True:
            if p.poll() is not None:
                raise BenchError("resume: the build ended before it could be interrupted")
            if time.perf_counter() - t0 > timeout:
                raise BenchError("resume: the scan did not get far enough")
            tmps = [t for t in idx.parent.glob(idx.name + ".tmp-*")
                    if not t.name.endswith("-journal")]
            row = None
            if tmps:
                try:
                    con = sqlite3.connect(f"file:{tmps[0]}?mode=ro", uri=True, timeout=5)
                    row = con.execute("SELECT value FROM meta WHERE key='scan_progress'"
                                      ).fetchone()
                    con.close()
                except sqlite3.Error:
                    row = None
            if row:
                f, done, total = row[0].split()
                if f != "train_val_images.tar.gz" or int(done) >= at * int(total):
                    break
            time.sleep(0.05)
        p.kill()
        p.wait()
    finally:
        PROCS.remove(p)
    t1 = time.perf_counter()
    r = subprocess.run([str(inatfs), "index", str(data_dir), "--index", str(idx)],
                       capture_output=True, text=True, timeout=timeout)
    dt = time.perf_counter() - t1
    if r.returncode != 0 or "going on with an interrupted build" not in r.stderr:
        raise BenchError(f"resume: the second build did not go on ({r.returncode}): {r.stderr}")
    return dt, r.stderr


def rows_digest(idx):
    """A digest of an index's tree, images and checkpoints (to compare builds)."""
    con = sqlite3.connect(f"file:{idx}?mode=ro", uri=True)
    h = hashlib.sha256()
    for q in ("SELECT * FROM nodes ORDER BY id", "SELECT * FROM images ORDER BY rid",
              "SELECT * FROM checkpoints ORDER BY key"):
        for row in con.execute(q):
            h.update(repr(row).encode())
    con.close()
    return h.hexdigest()


# ---------------------------------------------------------------- reads

def read_whole(path, bufsize=1 << 20):
    fd = os.open(path, os.O_RDONLY)
    try:
        n = 0
        while True:
            b = os.read(fd, bufsize)
            if not b:
                return n
            n += len(b)
    finally:
        os.close(fd)


def read_sample(root, sample, readers):
    """Reads every (relpath, size) of sample under root with `readers`
    threads sharing one queue. Returns (seconds, bytes, latencies in s)."""
    lat = [None] * len(sample)
    errors = []
    lock = threading.Lock()
    nxt = [0]
    total = [0]

    def worker():
        while True:
            with lock:
                i = nxt[0]
                nxt[0] += 1
            if i >= len(sample) or errors:
                return
            rel, size = sample[i]
            t0 = time.perf_counter()
            try:
                n = read_whole(os.path.join(root, rel))
            except OSError as e:
                errors.append(f"{rel}: {e}")
                return
            lat[i] = time.perf_counter() - t0
            if n != size:
                errors.append(f"{rel}: read {n} bytes, expected {size}")
                return
            with lock:
                total[0] += n

    threads = [threading.Thread(target=worker) for _ in range(readers)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    dt = time.perf_counter() - t0
    if errors:
        raise BenchError(f"read failed under {root}: {errors[0]}")
    return dt, total[0], lat


def check_md5(root, sample, md5s, k=20):
    for rel, _ in sample[:k]:
        h = hashlib.md5()
        with open(os.path.join(root, rel), "rb") as fh:
            for b in iter(lambda: fh.read(1 << 20), b""):
                h.update(b)
        if h.hexdigest() != md5s[rel]:
            raise BenchError(f"wrong content under {root}: {rel}")


# ---------------------------------------------------------------- report

class Report:
    def __init__(self):
        self.sections = []   # (title, rows, note)
        self.targets = []    # (name, value str, target str, met bool)
        self.latency = {}    # label -> list of ms
        self.notes = []

    def section(self, title, note=None, cols=None):
        rows = []
        self.sections.append((title, rows, note, cols))
        return rows

    def target(self, name, value, target, met):
        self.targets.append((name, value, target, met))

    def markdown(self, header):
        out = [header]
        out.append("## Targets\n")
        out.append("| target | measured | goal | status |")
        out.append("|---|---|---|---|")
        for name, value, goal, met in self.targets:
            out.append(f"| {name} | {value} | {goal} | {'met' if met else '**missed**'} |")
        out.append("")
        for title, rows, note, cols in self.sections:
            out.append(f"## {title}\n")
            if note:
                out.append(note + "\n")
            cols = cols or ["tool / case", "median", "min", "max", "unit", "runs"]
            out.append("| " + " | ".join(cols) + " |")
            out.append("|" + "---|" * len(cols))
            for r in rows:
                out.append("| " + " | ".join(str(c) for c in r) + " |")
            out.append("")
        if self.notes:
            out.append("## Notes\n")
            out += [f"- {n}" for n in self.notes]
            out.append("")
        return "\n".join(out)


def fmt(x, unit):
    if x is None:
        return "-"
    if unit in ("ms",) and x < 10:
        return f"{x:.2f}"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}" if abs(x) >= 1 else f"{x:.3f}"


def row(label, xs, unit):
    m, lo, hi = stats(xs)
    return [label, fmt(m, unit), fmt(lo, unit), fmt(hi, unit), unit, len(xs)]


# ---------------------------------------------------------------- fixture

def load_manifest(data_dir):
    rows = []
    with open(data_dir / "manifest.tsv", encoding="utf-8", newline="") as fh:
        for r in csv.DictReader(fh, delimiter="\t"):
            r["size"] = int(r["size"])
            rows.append(r)
    return rows


def tar_sizes(data_dir, cache):
    """Uncompressed size of each tarball (cached beside the fixture)."""
    if cache.exists():
        return json.loads(cache.read_text())
    sizes = {}
    for name in ("train_val_images.tar.gz", "test2017.tar.gz"):
        p = data_dir / name
        if p.exists():
            _, cp = sh(f"igzip -dc {q(p)} | wc -c")
            sizes[name] = int(cp.stdout.strip())
    cache.write_text(json.dumps(sizes))
    return sizes


# ---------------------------------------------------------------- the run

class Bench:
    def __init__(self, args):
        self.a = args
        self.quick = args.quick
        self.inatfs = pathlib.Path(args.inatfs)
        self.gzbench = pathlib.Path(args.gz_bench)
        self.fix = pathlib.Path(args.fixtures)
        self.bench_dir = self.fix / "bench-1"
        self.scale_dir = self.fix / "scale-1"
        self.work = pathlib.Path(args.work)
        if self.work.exists():
            for line in open("/proc/self/mountinfo", encoding="utf-8"):
                mp = line.split()[4]
                if mp.startswith(str(self.work.resolve()) + "/"):
                    unmount(mp)
            shutil.rmtree(self.work)
        self.work.mkdir(parents=True)
        TEMPS.append(self.work)
        self.rep = Report()
        self.hwm = {}
        self.build_hwm = {}   # first mounts: the build runs in the daemon (not serving)
        self.index_hwm = None
        self.rounds = 1 if self.quick else 3
        self.nsample = 100 if self.quick else 300
        self.narchive = 4 if self.quick else 6

    # -- first mount --------------------------------------------------------
    def first_mount(self):
        d = self.bench_dir
        tars = [d / "train_val_images.tar.gz", d / "test2017.tar.gz"]
        sizes = tar_sizes(d, self.fix / "bench-1.sizes.json")
        self.sizes = sizes
        out_bytes = sum(sizes.values())
        tv_bytes = sizes["train_val_images.tar.gz"]
        in_bytes = sum(t.stat().st_size for t in tars)
        for t in tars:
            warm_file(t)
        T = {k: [] for k in ("inatfs", "igzip", "gzip", "tar", "r_igzip", "r_gzip", "r_tar",
                             "usable", "ended")}
        idx = self.work / "bench-index.sqlite"
        ext = self.work / "extracted"
        tarlist = " ".join(q(t) for t in tars)
        for r in range(self.rounds):
            log(f"first mount, round {r + 1}/{self.rounds}")
            if idx.exists():
                idx.unlink()
            dt, cp = run([str(self.inatfs), "index", str(d), "--index", str(idx), "--force"])
            if not idx.exists():
                raise BenchError("inatfs index wrote no index")
            T["inatfs"].append(dt)
            self.index_log = cp.stderr
            dt, _ = sh(f"igzip -dc {tarlist} > /dev/null")
            T["igzip"].append(dt)
            T["r_igzip"].append(T["inatfs"][-1] / dt)
            if r == 0 or not self.quick:
                dt, _ = sh(f"gzip -dc {tarlist} > /dev/null")
                T["gzip"].append(dt)
                T["r_gzip"].append(T["inatfs"][-1] / dt)
            shutil.rmtree(ext, ignore_errors=True)
            ext.mkdir()
            os.sync()
            dt, _ = sh(" && ".join(f"tar -xzf {q(t)} -C {q(ext)}" for t in tars) + " && sync")
            T["tar"].append(dt)
            T["r_tar"].append(T["inatfs"][-1] / dt)
            if r == 0 or not self.quick:
                u, e, hwm, rss = live_first_mount(self.inatfs, d, self.work / "mnt-first", idx,
                                                  self.work / "mnt-first.log")
                T["usable"].append(u)
                T["ended"].append(e)
                self.build_hwm.setdefault("first mount (bench)", []).append(hwm)
                self.hwm.setdefault("first mount, RSS once its scan ended (bench)",
                                    []).append(rss)
        self.index = idx
        self.extracted = ext
        self.index_bytes = idx.stat().st_size
        self.cp_bytes_per_member = checkpoint_bytes(idx) / self.n_members
        rows = self.rep.section(
            "First mount (bench fixture)",
            f"Both tarballs: {in_bytes / 1e6:,.0f} MB of gzip, {out_bytes / 1e6:,.0f} MB of tar "
            f"({self.n_members:,} images, train_val {tv_bytes / 1e6:,.0f} MB). Archives in page "
            "cache. MB/s = tar (uncompressed) bytes per second. `inatfs index` = full scan + "
            "index build; `tar -xzf` includes `sync`.")
        for k, label in (("inatfs", "`inatfs index` (scan + index)"),
                         ("igzip", "`igzip -dc > /dev/null`"),
                         ("gzip", "`gzip -dc > /dev/null`"),
                         ("tar", "`tar -xzf` into a folder")):
            rows.append(row(label + " time", T[k], "s"))
            rows.append(row(label + " speed", [out_bytes / t / 1e6 for t in T[k]], "MB/s"))
        rows.append(row("ratio inatfs index / igzip time (pairwise)", T["r_igzip"], "x"))
        rows.append(row("ratio inatfs index / gzip time (pairwise)", T["r_gzip"], "x"))
        rows.append(row("ratio inatfs index / tar -xzf time (pairwise)", T["r_tar"], "x"))
        rows.append(row("`inatfs DATA MNT` (no index): split views answer after", T["usable"],
                        "s"))
        rows.append(row("`inatfs DATA MNT` (no index): scan ended, index in place after",
                        T["ended"], "s"))
        rows.append(["index size", f"{self.index_bytes:,}", "", "", "bytes", 1])
        rows.append(["index size per image", fmt(self.index_bytes / self.n_members, "B"), "", "",
                     "bytes", 1])
        rows.append(["checkpoints in the index per image (JPEG payloads)",
                     fmt(self.cp_bytes_per_member, "B"), "", "", "bytes", 1])
        self.igzip_mbs = [out_bytes / t / 1e6 for t in T["igzip"]]

    # -- scan threads -------------------------------------------------------
    def scan_threads(self):
        """`inatfs index` (scan + index build) with the serial scan and with
        the chunked scan on 1, 2, 4, 8, 16 threads, each round beside an
        `igzip -dc` of the same files; every index must equal the serial
        scan's, row for row."""
        d = self.bench_dir
        tars = [d / "train_val_images.tar.gz", d / "test2017.tar.gz"]
        out_bytes = sum(self.sizes.values())
        tarlist = " ".join(q(t) for t in tars)
        counts = [0, 1, 2, 4, 8, 16]
        default = os.cpu_count() or 1
        T = {n: [] for n in counts}
        R = {n: [] for n in counts}    # pairwise: time / the round's igzip time
        M = {n: [] for n in counts}    # peak RSS
        ig = []
        digests = {}
        for t in tars:
            warm_file(t)
        for r in range(self.rounds):
            log(f"scan threads, round {r + 1}/{self.rounds}")
            # the counts in a different order each round, and each build right
            # after its own igzip run (the machine is shared: the load changes)
            order = counts[r % len(counts):] + counts[:r % len(counts)]
            for n in order:
                dt_ig, _ = sh(f"igzip -dc {tarlist} > /dev/null")
                ig.append(dt_ig)
                idx = self.work / f"threads-{n}.sqlite"
                if idx.exists():
                    idx.unlink()
                dt, _ = run_phases([str(self.inatfs), "index", str(d), "--index", str(idx),
                                    "--force", "-o", f"scan_threads={n}"])
                T[n].append(dt)
                R[n].append(dt / dt_ig)
                M[n].append(run_phases.maxrss)
                if r == 0:
                    digests[n] = rows_digest(idx)
                idx.unlink()
        differ = [n for n in counts if digests[n] != digests[0]]
        if differ:
            raise BenchError(f"scan threads: the index built on {differ} threads differs from "
                             "the serial scan's")
        rows = self.rep.section(
            "Scan threads (bench fixture)",
            f"`inatfs index --force -o scan_threads=N` on both tarballs ({out_bytes / 1e6:,.0f} "
            f"MB of tar), archives in page cache, each right after an `igzip -dc` of the same "
            f"files (the ratio is that pair's). 0 = the serial scan (zlib, the reference); N = "
            f"the chunked scan on N threads ({default} = the default here, one per CPU). MB/s "
            "= tar bytes per second of the whole build. Every index equals the serial scan's, "
            "row for row (checked on round 1).")
        rows.append(row("`igzip -dc` time", ig, "s"))
        rows.append(row("`igzip -dc` speed", [out_bytes / t / 1e6 for t in ig], "MB/s"))
        for n in counts:
            label = "serial scan" if n == 0 else f"{n} thread{'s' if n > 1 else ''}"
            rows.append(row(f"{label}: time", T[n], "s"))
            rows.append(row(f"{label}: speed", [out_bytes / t / 1e6 for t in T[n]], "MB/s"))
            rows.append(row(f"{label}: time / `igzip -dc` time (pairwise)", R[n], "x"))
            rows.append(row(f"{label}: peak RSS", [x / 1e6 for x in M[n]], "MB"))
        dn = default if default in T else max(k for k in counts if k <= default)
        med = statistics.median(R[dn])
        self.rep.target(f"`inatfs index` time vs `igzip -dc` ({dn} threads, pairwise)",
                        f"{med:.2f}x", "<= 0.8x", med <= 0.8)
        self.rep.target("`inatfs index` vs the serial scan (same run)",
                        f"{statistics.median(T[0]) / statistics.median(T[dn]):.2f}x faster",
                        "faster", statistics.median(T[dn]) < statistics.median(T[0]))

    # -- gz engine bench ----------------------------------------------------
    def gz_engine(self):
        if not self.gzbench.exists():
            self.rep.notes.append("gz engine bench (build/bench/inatfs-gz-bench) not built: "
                                  "its rows are left out")
            return
        tv = self.bench_dir / "train_val_images.tar.gz"
        K = {}
        ratio = []
        nreads = 100 if self.quick else 300
        for r in range(1 if self.quick else 2):
            log(f"gz engine bench, round {r + 1}")
            _, cp = run([str(self.gzbench), str(tv), str(nreads)])
            kv = {}
            for line in cp.stdout.splitlines():
                if ":" in line:
                    k, v = line.split(":", 1)
                    try:
                        kv[k.strip()] = float(v)
                    except ValueError:
                        pass
            for k, v in kv.items():
                K.setdefault(k, []).append(v)
            dt, _ = sh(f"igzip -dc {q(tv)} > /dev/null")
            ig = self.sizes["train_val_images.tar.gz"] / dt / 1e6
            K.setdefault("igzip_mb_s", []).append(ig)
            ratio.append(kv["scan_mb_s"] / ig)
            if kv.get("seq_ok", 1) != 1:
                raise BenchError("gz bench: sequential inflate size mismatch")
        rows = self.rep.section(
            "gz engine (`inatfs-gz-bench train_val_images.tar.gz`)",
            "Scan with a checkpoint before every member; a sequential inflate through one "
            "cursor; whole-member reads in shuffled order from a cold cursor. The member read "
            "ratio is (time of one member read) / (member size at the sequential speed).")
        for key, label, unit in (("scan_mb_s", "scan speed", "MB/s"),
                                 ("igzip_mb_s", "`igzip -dc` same file, same round", "MB/s"),
                                 ("seq_mb_s", "sequential inflate (one cursor)", "MB/s"),
                                 ("checkpoints", "checkpoints", "count"),
                                 ("entry_checkpoints", "checkpoints with an entry (start inside "
                                  "the block, at the member)", "count"),
                                 ("avg_checkpoint_bytes", "bytes per checkpoint", "B"),
                                 ("avg_window_bytes", "stored sparse window per checkpoint", "B"),
                                 ("index_bytes_per_gb", "checkpoint bytes per GB of gzip", "B/GB"),
                                 ("member_median_ms", "random member read, median", "ms"),
                                 ("member_ratio_median", "random member read overhead ratio", "x"),
                                 ("member_avg_lead_bytes", "bytes inflated before a member", "B")):
            if key in K:
                rows.append(row(label, K[key], unit))
        rows.append(row("scan / igzip (pairwise)", ratio, "x"))
        self.gz_ratio = ratio

    # -- later mount --------------------------------------------------------
    def later_mount(self):
        probe = self.sample[0][0]
        ts = []
        hw = []
        for r in range(3 if self.quick else 7):
            m = self.mount_inatfs(self.work / "mnt-later", probe)
            ts.append(m.start_s)
            hw.append(m.hwm())
            m.close()
        rows = self.rep.section("Later mount (index already built, bench fixture)",
                                "From starting `inatfs DATA MNT -f -o index=FILE` until "
                                "`stat` of an image in the mount answers.")
        rows.append(row("inatfs", [t * 1e3 for t in ts], "ms"))

    def mount_inatfs(self, mnt, probe, data=None, index=None, opts=()):
        args = [str(self.inatfs), str(data or self.bench_dir), str(mnt), "-f",
                "-o", f"index={index or self.index}"]
        for o in opts:
            args += ["-o", o]
        return Daemon(args, mnt, stat_ready(probe), self.work / (pathlib.Path(mnt).name + ".log"))

    # -- random reads -------------------------------------------------------
    def random_reads(self):
        S = self.sample
        mb = sum(s for _, s in S) / 1e6
        res = {}       # label -> list of (img/s, MB/s)
        lat = {}       # label -> latencies (first round)
        lat_all = {}   # label -> latencies (all rounds)
        pair_1 = []    # inatfs 1 reader / igzip
        pair_2 = []    # inatfs 2 readers / 1 reader
        tv = self.bench_dir / "train_val_images.tar.gz"
        probe = S[0][0]

        def record(label, dt, nbytes, l):
            res.setdefault(label, []).append((len(l) / dt, nbytes / dt / 1e6))
            lat.setdefault(label, [x * 1e3 for x in l])
            lat_all.setdefault(label, []).extend(x * 1e3 for x in l)
            return nbytes / dt / 1e6

        for r in range(self.rounds):
            log(f"random reads, round {r + 1}/{self.rounds}")
            rs = random.Random(1000 + r)
            order = S[:]
            rs.shuffle(order)
            # inatfs cold: page cache dropped, fresh mount; then a warm pass
            if CAN_DROP:
                drop_caches()
                m = self.mount_inatfs(self.work / "mnt-r", probe)
                dt, n, l = read_sample(m.mnt, order, 1)
                record("inatfs, cold (drop_caches + fresh mount), 1 reader", dt, n, l)
                dt, n, l = read_sample(m.mnt, order, 1)
                record("inatfs, warm (second pass, same mount), 1 reader", dt, n, l)
                dt, n, l = read_sample(m.mnt, order, 2)
                record("inatfs, warm (second pass, same mount), 2 readers", dt, n, l)
                self.hwm.setdefault("random reads (bench)", []).append(m.hwm())
                m.close()
            # inatfs with the gz in page cache, fresh mounts; paired with igzip
            warm_file(tv)
            dt_ig, _ = sh(f"igzip -dc {q(tv)} > /dev/null")
            ig = self.sizes["train_val_images.tar.gz"] / dt_ig / 1e6
            res.setdefault("`igzip -dc train_val_images.tar.gz` (reference)", []).append((None, ig))
            # 1 reader then 2 readers, back to back, PAIRS times: one pass is
            # ~0.5 s, short enough for a hiccup of the shared host to move it
            ones = []
            for k in range(PAIRS):
                m = self.mount_inatfs(self.work / "mnt-r", probe)
                dt, n, l = read_sample(m.mnt, order, 1)
                one = record("inatfs, fresh mount (gz in page cache), 1 reader", dt, n, l)
                if r == 0 and k == 0:
                    check_md5(m.mnt, order, self.md5)
                self.hwm.setdefault("random reads (bench)", []).append(m.hwm())
                m.close()
                m = self.mount_inatfs(self.work / "mnt-r", probe)
                dt, n, l = read_sample(m.mnt, order, 2)
                two = record("inatfs, fresh mount (gz in page cache), 2 readers", dt, n, l)
                self.hwm.setdefault("random reads (bench)", []).append(m.hwm())
                m.close()
                ones.append(one)
                pair_2.append(two / one)
            pair_1.append(statistics.median(ones) / ig)
            # extracted folder
            ext = self.extracted
            if CAN_DROP:
                drop_caches()
                dt, n, l = read_sample(ext, order, 1)
                record("extracted folder, cold (drop_caches), 1 reader", dt, n, l)
                drop_caches()
                dt, n, l = read_sample(ext, order, 2)
                record("extracted folder, cold (drop_caches), 2 readers", dt, n, l)
            dt, n, l = read_sample(ext, order, 1)
            record("extracted folder, warm (page cache), 1 reader", dt, n, l)
            dt, n, l = read_sample(ext, order, 2)
            record("extracted folder, warm (page cache), 2 readers", dt, n, l)
            # squashfuse
            warm_file(self.sqfs)
            m = Daemon(["squashfuse", "-f", str(self.sqfs), str(self.work / "mnt-sq")],
                       self.work / "mnt-sq", stat_ready(probe), self.work / "sq.log")
            dt, n, l = read_sample(m.mnt, order, 1)
            record("squashfuse (tar2sqfs image in page cache), fresh mount, 1 reader", dt, n, l)
            m.close()
            m = Daemon(["squashfuse", "-f", str(self.sqfs), str(self.work / "mnt-sq")],
                       self.work / "mnt-sq", stat_ready(probe), self.work / "sq.log")
            dt, n, l = read_sample(m.mnt, order, 2)
            record("squashfuse (tar2sqfs image in page cache), fresh mount, 2 readers", dt, n, l)
            m.close()
        # archivemount: once, a few files
        log(f"archivemount: mount + {self.narchive} reads")
        order = S[:]
        random.Random(1000).shuffle(order)
        m = Daemon(["archivemount", "-f", "-o", "readonly", str(tv), str(self.work / "mnt-am")],
                   self.work / "mnt-am", stat_ready(probe), self.work / "am.log")
        am_mount = m.start_s
        dt, n, l = read_sample(m.mnt, order[:self.narchive], 1)
        record(f"archivemount (first {self.narchive} of the sample), 1 reader", dt, n, l)
        m.close()

        rows = self.rep.section(
            f"Random whole-image reads (bench fixture, {len(S)} images, {mb:.0f} MB, shuffled)",
            "Each image: open, read to EOF in 1 MiB reads, close. 2 readers = 2 threads "
            f"sharing one queue. Cells: median [min, max] over the runs (inatfs with the gz in "
            f"page cache: {PAIRS} runs of 1 reader, each followed by one of 2 readers, per "
            "round); latency percentiles per image over all runs.",
            cols=["tool / case", "readers", "images/s", "MB/s", "p50 ms", "p90 ms", "max ms",
                  "runs"])

        def mm(xs, unit):
            m, lo, hi = stats(xs)
            return f"{fmt(m, unit)} [{fmt(lo, unit)}, {fmt(hi, unit)}]"

        for label, v in res.items():
            rd = "2" if label.endswith("2 readers") else "1"
            name = label.replace(", 1 reader", "").replace(", 2 readers", "")
            ips = mm([x[0] for x in v], "img/s") if v[0][0] is not None else "-"
            if label in lat_all:
                ls = sorted(lat_all[label])
                p50 = fmt(ls[len(ls) // 2], "ms")
                p90 = fmt(ls[min(len(ls) - 1, int(len(ls) * 0.9))], "ms")
                mx = fmt(ls[-1], "ms")
            else:
                p50 = p90 = mx = "-"
            rows.append([name, rd, ips, mm([x[1] for x in v], "MB/s"), p50, p90, mx, len(v)])
        rows = self.rep.section("Random reads: ratios and conversion costs")
        rows.append(row("inatfs 1 reader / igzip -dc MB/s (pairwise: the round's median "
                        "1-reader run / its igzip run)", pair_1, "x"))
        rows.append(row("inatfs 2 readers / 1 reader (pairwise: each 2-reader run / the "
                        "1-reader run just before it)", pair_2, "x"))
        rows.append(["archivemount mount time (reads the whole archive)", fmt(am_mount, "s"),
                     "", "", "s", 1])
        rows.append(["tar2sqfs conversion (igzip -dc | tar2sqfs -c gzip)", fmt(self.sqfs_s, "s"),
                     "", "", "s", 1])
        rows.append(["tar2sqfs image size", f"{self.sqfs.stat().st_size / 1e6:,.0f}", "", "",
                     "MB", 1])
        m1 = statistics.median(pair_1)
        self.rep.target("inatfs 1 reader MB/s vs `igzip -dc` (fresh mount, gz in page cache)",
                        f"{m1:.0%}", ">= 70%", m1 >= 0.70)
        m2 = statistics.median(pair_2)
        self.rep.target("inatfs 2 readers vs 1 reader", f"{m2:.2f}x", ">= 1.7x", m2 >= 1.7)
        self.rep.latency = lat

    def make_sqfs(self):
        log("tar2sqfs conversion")
        self.sqfs = self.work / "train_val_images.sqfs"
        tv = self.bench_dir / "train_val_images.tar.gz"
        warm_file(tv)
        self.sqfs_s, _ = sh(f"igzip -dc {q(tv)} | tar2sqfs -q -c gzip {q(self.sqfs)} && sync")

    # -- sequential ---------------------------------------------------------
    def sequential(self):
        res = {}
        ratio_tv, ratio_train = [], []
        for r in range(1 if self.quick else 2):
            log(f"sequential pass, round {r + 1}")
            warm_file(self.bench_dir / "train_val_images.tar.gz")
            m = self.mount_inatfs(self.work / "mnt-s", self.sample[0][0])
            dt, cp = sh(f"tar -cf - -C {q(m.mnt)} train_val_images | wc -c")
            a = int(cp.stdout) / dt / 1e6
            res.setdefault("inatfs `train_val_images/` (archive order), fresh mount", []).append(a)
            self.hwm.setdefault("sequential pass (bench)", []).append(m.hwm())
            m.close()
            m = self.mount_inatfs(self.work / "mnt-s", self.sample[0][0], opts=("nosidecar",))
            dt, cp = sh(f"tar -cf - -C {q(m.mnt)} train | wc -c")
            b = int(cp.stdout) / dt / 1e6
            res.setdefault("inatfs `train/` view (class-id order, nosidecar), fresh mount",
                           []).append(b)
            self.hwm.setdefault("sequential pass (bench)", []).append(m.hwm())
            m.close()
            if CAN_DROP:
                drop_caches()
                dt, cp = sh(f"tar -cf - -C {q(self.extracted)} train_val_images | wc -c")
                res.setdefault("extracted `train_val_images/`, cold (drop_caches)", []).append(
                    int(cp.stdout) / dt / 1e6)
            dt, cp = sh(f"tar -cf - -C {q(self.extracted)} train_val_images | wc -c")
            e = int(cp.stdout) / dt / 1e6
            res.setdefault("extracted `train_val_images/`, warm (page cache)", []).append(e)
            ratio_tv.append(a / e)
            ratio_train.append(b / e)
        rows = self.rep.section("Sequential pass over a view (bench fixture)",
                                "`tar -cf - -C ROOT DIR | wc -c`, MB/s of tar output.")
        for k, v in res.items():
            rows.append(row(k, v, "MB/s"))
        rows.append(row("inatfs train_val_images / extracted warm (pairwise)", ratio_tv, "x"))
        rows.append(row("inatfs train view / extracted warm (pairwise)", ratio_train, "x"))

    # -- training loader ----------------------------------------------------
    def loader(self):
        m = self.mount_inatfs(self.work / "mnt-l", self.sample[0][0], opts=("nosidecar",))
        try:
            # an extracted twin of the train view: hard links into the extracted tree
            by_hash = {}
            for r in self.manifest:
                if r["archive"] == "train_val_images.tar.gz":
                    by_hash[os.path.basename(r["path"])] = r["path"]
            twin = self.work / "extracted-train"
            n = 0
            for cls in sorted(os.listdir(m.mnt / "train")):
                (twin / cls).mkdir(parents=True)
                for f in os.listdir(m.mnt / "train" / cls):
                    if f in by_hash:
                        os.link(self.extracted / by_hash[f], twin / cls / f)
                        n += 1
            if n == 0:
                raise BenchError("no images found in the train view")
            batches = 12 if self.quick else 20
            res = {"inatfs": [], "extracted": []}
            ratio = []
            for r in range(1 if self.quick else 3):
                log(f"training loader, round {r + 1}")
                v = {}
                for name, root in (("inatfs", m.mnt / "train"), ("extracted", twin)):
                    _, cp = run([sys.executable, str(REPO / "bench" / "loader.py"), str(root),
                                 str(batches), str(r)], timeout=900)
                    v[name] = float(json.loads(cp.stdout.strip().splitlines()[-1])["images_per_s"])
                    res[name].append(v[name])
                ratio.append(v["inatfs"] / v["extracted"])
            self.hwm.setdefault("training loader (bench)", []).append(m.hwm())
        finally:
            m.close()
        rows = self.rep.section(
            "Training loader (bench fixture)",
            f"torchvision `ImageFolder(ROOT/train)` ({n:,} images) + PIL decode + "
            f"RandomResizedCrop(224) + ToTensor, DataLoader(batch 32, 2 workers, shuffled), "
            f"images/s over {batches - 1} batches after the first. Extracted = the same "
            "train tree as hard links into the extracted folder (page cache warm); inatfs "
            "= fresh mount, gz in page cache, sidecars off.")
        rows.append(row("inatfs", res["inatfs"], "img/s"))
        rows.append(row("extracted folder", res["extracted"], "img/s"))
        rows.append(row("inatfs / extracted (pairwise)", ratio, "x"))
        mr = statistics.median(ratio)
        self.rep.target("training loader, inatfs vs extracted", f"{mr:.0%}", ">= 90%", mr >= 0.9)

    # -- scale --------------------------------------------------------------
    def scale(self):
        d = self.scale_dir
        idx = self.work / "scale-index.sqlite"
        log("scale: index build")
        warm_file(d / "train_val_images.tar.gz")
        warm_file(d / "test2017.tar.gz")
        if self.a.reuse_scale_index:
            idx = pathlib.Path(self.a.reuse_scale_index)
            idx_s, phases = None, {}
            self.rep.notes.append(f"scale index reused from {idx} (--reuse-scale-index): "
                                  "its build time is not measured in this run")
        else:
            idx_s, phases = run_phases([str(self.inatfs), "index", str(d), "--index", str(idx),
                                        "--force"])
            self.index_hwm = run_phases.maxrss
        nimg = sum(1 for r in load_manifest(d) if r["archive"].endswith(".tar.gz"))
        isize = idx.stat().st_size
        log("scale: first mount while scanning")
        live_idx = self.work / "scale-live-index.sqlite"
        live_u, live_e, live_hwm, live_rss = live_first_mount(
            self.inatfs, d, self.work / "mnt-scale-first", live_idx,
            self.work / "mnt-scale-first.log")
        self.build_hwm.setdefault("first mount (scale)", []).append(live_hwm)
        self.hwm.setdefault("first mount, RSS once its scan ended (scale)", []).append(live_rss)
        live_idx.unlink()
        log("scale: an index build killed half way through the scan, then run again")
        res_idx = self.work / "scale-resumed-index.sqlite"
        resume_s, _ = resumed_build(self.inatfs, d, res_idx, at=0.5)
        resume_same = rows_digest(res_idx) == rows_digest(idx)
        res_idx.unlink()
        # extracted copy (cached: its making is not measured)
        ext = self.fix / "scale-1.extracted"
        if not (ext / ".complete").exists():
            log("scale: extracting the tarball once (cached in build-fixtures)")
            shutil.rmtree(ext, ignore_errors=True)
            ext.mkdir()
            sh(f"tar -xzf {q(d / 'train_val_images.tar.gz')} -C {q(ext)}")
            (ext / ".complete").write_text("ok\n")
        # pick a probe path
        probe = None
        for r in load_manifest(d):
            if r["archive"] == "train_val_images.tar.gz":
                probe = r["path"]
                break
        # an extracted copy of the train/ view (same names, folders and sizes, as
        # sparse files: find and ls -lR do not read contents), cached
        tv = self.fix / "scale-1.train-view"
        if not (tv / ".complete").exists():
            log("scale: copying the train/ view's tree once (cached in build-fixtures)")
            shutil.rmtree(tv, ignore_errors=True)
            m = self.mount_inatfs(self.work / "mnt-scale", probe, data=d, index=idx)
            try:
                src = m.mnt / "train"
                for top, dirs, files in os.walk(src):
                    out = tv / "train" / os.path.relpath(top, src)
                    out.mkdir(parents=True, exist_ok=True)
                    for f in files:
                        with open(out / f, "wb") as fh:
                            fh.truncate(os.stat(os.path.join(top, f)).st_size)
            finally:
                m.close()
            (tv / ".complete").write_text("ok\n")
        cmds = [
            ("`find train_val_images -type f | wc -l`", "find {m}/train_val_images -type f | wc -l",
             "find {e}/train_val_images -type f | wc -l"),
            ("`find train -type f | wc -l`", "find {m}/train -type f | wc -l",
             "find {t}/train -type f | wc -l"),
            ("`ls -lR train > /dev/null`", "ls -lR {m}/train > /dev/null",
             "ls -lR {t}/train > /dev/null"),
            ("`ls -lR train_val_images > /dev/null`", "ls -lR {m}/train_val_images > /dev/null",
             "ls -lR {e}/train_val_images > /dev/null"),
            ("`du -s train_val_images`", "du -s {m}/train_val_images", "du -s {e}/train_val_images"),
            ("`du -s train`", "du -s {m}/train", "du -s {t}/train"),
        ]
        T = {}
        R = {}
        counts = {}
        runs = 3
        for r in range(runs):
            log(f"scale: metadata round {r + 1}/{runs}")
            if CAN_DROP:
                drop_caches()
            m = self.mount_inatfs(self.work / "mnt-scale", probe, data=d, index=idx)
            try:
                for label, ci, ce in cmds:
                    if CAN_DROP:
                        drop_caches()
                    ti, cpi = sh(ci.format(m=q(m.mnt)))
                    if CAN_DROP:
                        drop_caches()
                    te, cpe = sh(ce.format(e=q(ext), t=q(tv)))
                    T.setdefault(label, {"inatfs": [], "extracted": []})
                    T[label]["inatfs"].append(ti)
                    T[label]["extracted"].append(te)
                    R.setdefault(label, []).append(ti / te)
                    if "wc -l" in ci:
                        counts[label] = (int(cpi.stdout), int(cpe.stdout))
                self.hwm.setdefault("metadata (scale)", []).append(m.hwm())
            finally:
                m.close()
        for label, (ci, ce) in counts.items():
            if ci != ce:
                raise BenchError(f"scale: {label}: inatfs counts {ci}, extracted {ce}")
        rows = self.rep.section(
            f"Metadata at real scale (scale fixture: {nimg:,} tar members)",
            "Each round: a fresh mount (index built), then every command once on inatfs and "
            "once on an extracted copy of the same tree, each after drop_caches (dentries, "
            "inodes and pages cold on both sides): train_val_images is the scale tarball "
            "extracted (tiny payloads); train is a copy of the mount's train/ view (train "
            "images + their .json sidecars, same names and sizes, as sparse files).")
        rows.append(["`inatfs DATA MNT` at scale (no index): split views answer after",
                     fmt(live_u, "s"), "", "", "s", 1])
        rows.append(["`inatfs DATA MNT` at scale (no index): scan ended, index in place after",
                     fmt(live_e, "s"), "", "", "s", 1])
        ann = phases.get("reading annotations", 0) + phases.get("writing the index", 0)
        if ann:
            self.rep.target("first mount at scale: split views usable once the annotations are "
                            "loaded (`inatfs index` phases: reading annotations + writing)",
                            f"{live_u:.1f} s (annotations {ann:.1f} s; scan ended at "
                            f"{live_e:.1f} s)", "<= 1.25x the annotations + 2 s",
                            live_u <= 1.25 * ann + 2)
        if idx_s is not None:
            rows.append(["`inatfs index` at scale (scan + annotations + index)", fmt(idx_s, "s"),
                         "", "", "s", 1])
            for ph, t in phases.items():
                rows.append([f"phase: {ph}", fmt(t, "s"), "", "", f"s ({t / idx_s:.0%})", 1])
            if self.index_hwm:
                rows.append(["`inatfs index` at scale, peak RSS", f"{self.index_hwm / 1e6:,.0f}",
                             "", "", "MB", 1])
        rows.append(["`inatfs index` at scale killed at 50% of the image tarball's scan, "
                     "then run again: the second run", fmt(resume_s, "s"), "", "", "s", 1])
        rows.append(["the resumed index's tree, images and checkpoints equal the "
                     "uninterrupted build's", "yes" if resume_same else "**no**", "", "", "", 1])
        rows.append(["index size", f"{isize:,}", "", "", "bytes", 1])
        rows.append(["index size per image", fmt(isize / nimg, "B"), "", "", "bytes", 1])
        # The scale fixture's members are tiny and repetitive, so its checkpoints
        # say nothing about real JPEGs: the estimate takes the metadata from this
        # index and the checkpoints per member from the bench fixture's.
        cp = checkpoint_bytes(idx)
        meta_b = isize - cp
        rows.append(["index without checkpoints (metadata) per image", fmt(meta_b / nimg, "B"),
                     "", "", "bytes", 1])
        cpm = getattr(self, "cp_bytes_per_member", None)
        if cpm:
            est = meta_b + cpm * REAL_MEMBERS
            rows.append(["index at real scale, estimated (metadata here + checkpoints per "
                         f"member on JPEG data x {REAL_MEMBERS:,})", f"{est / 1e6:,.0f}", "", "",
                         "MB", 1])
            self.rep.target("index at real scale (estimated: metadata at scale + checkpoints "
                            "per member on JPEG payloads)", f"{est / 1e6:,.0f} MB "
                            f"({est / REAL_MEMBERS:.0f} B per image)", "<= 250 MB",
                            est <= 250e6)
        for label, v in T.items():
            n = counts.get(label)
            extra = f" ({n[0]:,} vs {n[1]:,} files)" if n else ""
            rows.append(row(f"{label} — inatfs{extra}", v["inatfs"], "s"))
            rows.append(row(f"{label} — extracted", v["extracted"], "s"))
            rows.append(row(f"{label} — inatfs / extracted (pairwise)", R[label], "x"))
        finds = [statistics.median(v) for k, v in R.items() if k.startswith("`find")]
        if finds:
            self.rep.target("`find` at scale (train_val_images/ and train/), inatfs vs "
                            "extracted, worse of the two", f"{max(finds):.2f}x", "<= 2x",
                            max(finds) <= 2.0)
        worst = max(statistics.median(v) for v in R.values())
        wl = max(R, key=lambda k: statistics.median(R[k]))
        self.rep.target("metadata at scale, inatfs vs extracted (worst command: "
                        f"{wl.split('`')[1]})", f"{worst:.2f}x", "<= 2x", worst <= 2.0)
        self.scale_idx = idx
        self.scale_nimg = nimg


    # -- score --------------------------------------------------------------
    def score(self):
        d = self.scale_dir
        _, cp = run([str(self.inatfs), "score", "--help"], check=False)
        if "score" not in (cp.stdout + cp.stderr) or cp.returncode == 127:
            self.rep.notes.append("`inatfs score` is not available: its row is left out")
            return
        import zipfile
        with zipfile.ZipFile(d / "train_val2017.zip") as z:
            name = next(n for n in z.namelist() if n.endswith("val2017.json")
                        and "train" not in os.path.basename(n))
            val = json.loads(z.read(name))
        cats = [c["id"] for c in val["categories"]]
        truth = {a["image_id"]: a["category_id"] for a in val["annotations"]}
        rs = random.Random(7)
        pred = self.work / "val-submission.csv"
        with open(pred, "w", encoding="ascii") as fh:
            fh.write("id,predicted\n")
            for img in val["images"]:
                t = truth[img["id"]]
                p = [t] if rs.random() < 0.5 else []
                while len(p) < 5:
                    c = rs.choice(cats)
                    if c not in p:
                        p.append(c)
                rs.shuffle(p)
                fh.write(f"{img['id']},{' '.join(map(str, p))}\n")
        nrows = len(val["images"])
        # the index lives in the data dir by default; point score at ours if it takes --index
        base = [str(self.inatfs), "score", str(pred), str(d), "--split", "val"]
        ts = []
        for _ in range(3 if self.quick else 5):
            dt, cp = run(base + ["--index", str(self.scale_idx)], check=False)
            if cp.returncode != 0 and "index" in (cp.stderr or "") and "usage" in (cp.stderr or ""):
                dt, cp = run(base, check=False)
            if cp.returncode != 0:
                raise BenchError(f"inatfs score failed ({cp.returncode}): {cp.stderr[-2000:]}")
            ts.append(dt)
        rows = self.rep.section("`inatfs score` (scale fixture)",
                                f"A {nrows:,}-row val submission generated from val2017.json "
                                "(true class among the 5 in about half the rows).")
        rows.append(row("`inatfs score PRED.csv DATA --split val`", ts, "s"))
        first = " ".join(cp.stdout.split())[:200]
        self.rep.notes.append(f"`inatfs score` output begins: {first}")

    # -- main ---------------------------------------------------------------
    def run(self):
        t0 = time.time()
        self.manifest = load_manifest(self.bench_dir)
        imgs = [r for r in self.manifest if r["archive"] == "train_val_images.tar.gz"]
        self.n_members = sum(1 for r in self.manifest if r["archive"].endswith(".tar.gz"))
        self.md5 = {r["path"]: r["md5"] for r in imgs}
        rs = random.Random(42)
        self.sample = [(r["path"], r["size"]) for r in rs.sample(imgs, min(self.nsample, len(imgs)))]
        only = set(self.a.only.split(",")) if self.a.only else None

        def want(x):
            return only is None or x in only

        if only is not None:
            self.rep.notes.append(f"--only {self.a.only}: a partial run")
        if want("bench"):
            self.first_mount()
            self.scan_threads()
            self.gz_engine()
            self.later_mount()
            self.make_sqfs()
            self.random_reads()
            self.sequential()
            self.loader()
        elif want("threads"):
            self.sizes = tar_sizes(self.bench_dir, self.fix / "bench-1.sizes.json")
            self.scan_threads()
        if not self.quick and want("scale"):
            self.scale()
            self.score()
        elif self.quick:
            self.rep.notes.append("--quick: scale fixture (metadata, index at scale, score) skipped")
        # RSS
        rows = self.rep.section(
            "inatfs daemon peak RSS (VmHWM at the end of each run)",
            "Serving runs. A first mount builds the index in the daemon's process: its peak is "
            "the build's (listed below, apart), and what counts for serving is its RSS once "
            "the scan is over.")
        worst = 0
        for k, v in self.hwm.items():
            rows.append(row(k, [x / 1e6 for x in v], "MB"))
            worst = max(worst, max(v))
        for k, v in self.build_hwm.items():
            rows.append(row(f"{k}: peak while building (not serving)", [x / 1e6 for x in v],
                            "MB"))
        if self.hwm:   # (a partial run may have measured none)
            self.rep.target("daemon peak RSS (all runs, max)", f"{worst / 1e6:.1f} MB",
                            "<= 150 MB", worst <= 150e6)
        self.elapsed = time.time() - t0


def machine():
    cpu = "?"
    with open("/proc/cpuinfo", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo", encoding="ascii") as fh:
        mem = int(fh.readline().split()[1]) * 1024
    return f"{os.cpu_count()} CPUs ({cpu}), {mem / 2**30:.1f} GiB RAM, Linux {platform.release()}"


def chart(lat, path, work):
    """Sorted per-image latency per tool (1 reader, round 1), log scale."""
    if not lat:
        return
    dat = work / "latency.dat"
    keys = [k for k in lat if "1 reader" in k]
    with open(dat, "w", encoding="utf-8") as fh:
        for k in keys:
            xs = sorted(lat[k])
            fh.write(f'# "{k}"\n')
            for i, x in enumerate(xs):
                pct = 100.0 * (i + 0.5) / len(xs)
                fh.write(f"{pct:.3f} {max(x, 1e-3):.6f}\n")
            fh.write("\n\n")
    plots = []
    for i, k in enumerate(keys):
        t = k.replace(", 1 reader", "").replace('"', "'")
        plots.append(f"'{dat}' index {i} using 1:2 with linespoints pt {i + 1} ps 0.5 "
                     f"title \"{t}\"")
    gp = work / "latency.gp"
    gp.write_text("\n".join([
        "set terminal pngcairo size 1100,700 noenhanced" if _has_cairo() else
        "set terminal png size 1100,700 noenhanced",
        f"set output '{path}'",
        "set logscale y",
        "set grid",
        "set key outside below",
        "set xlabel 'images, sorted by latency (percentile)'",
        "set ylabel 'per-image read latency, ms (log scale)'",
        "set title 'Random whole-image reads, 1 reader (bench fixture)'",
        "plot " + ", \\\n     ".join(plots),
        ""]))
    run(["gnuplot", str(gp)])


def _has_cairo():
    _, cp = run(["gnuplot", "-e", "set terminal"], check=False)
    return "pngcairo" in (cp.stdout + cp.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--inatfs", default=str(REPO / "build" / "src" / "cli" / "inatfs"))
    ap.add_argument("--gz-bench", default=str(REPO / "build" / "bench" / "inatfs-gz-bench"))
    ap.add_argument("--fixtures", default=str(REPO / "build-fixtures"))
    ap.add_argument("--work", default=str(REPO / "build-fixtures" / "bench-work"))
    ap.add_argument("--out", default=str(REPO / "docs" / "bench"))
    ap.add_argument("--only", help="for development: comma list of bench,scale (threads: "
                    "only the scan threads section of bench)")
    ap.add_argument("--reuse-scale-index", help="for development: an existing scale index "
                    "(its build is then not measured)")
    a = ap.parse_args()
    b = Bench(a)
    try:
        b.run()
    except BenchError as e:
        log(f"FAILED: {e}")
        return 1
    if not CAN_DROP:
        b.rep.notes.append("not root: cold (drop_caches) rows are left out")
    date = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    rev = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True).stdout.strip()
    header = (f"# inatfs benchmark{' (--quick)' if a.quick else ''}\n\n"
              f"- date: {date}\n- machine: {machine()}\n- commit: {rev} (working tree may differ)\n"
              f"- command: `scripts/bench{' --quick' if a.quick else ''}` "
              f"({b.elapsed / 60:.1f} min of measuring)\n"
              "- figures: median [min, max] of the runs; ratios computed pair by pair in one "
              "round. The machine is shared: expect noise.\n"
              "- chart: [latency.png](latency.png)\n")
    md = b.rep.markdown(header)
    out = pathlib.Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.md").write_text(md)
    chart(b.rep.latency, out / "latency.png", b.work)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
