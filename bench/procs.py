"""bench/procs.py - the processes a benchmark runs: commands timed, daemons
mounted and always unmounted, caches dropped, files read and checked.
"""

import atexit
import csv
import hashlib
import json
import os
import pathlib
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
    # the latest first: a mount may sit on a folder of an earlier one
    for m in list(reversed(MOUNTS)):
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
    """Bytes the positions in the archives take in an index file (dbstat): the
    checkpoints, with the members' compressed ends in their rows (about one
    per member on JPEG data; on tiny members, one per block), and the table
    `ends` of indexes before schema 13, which held those."""
    con = sqlite3.connect(f"file:{idx}?mode=ro", uri=True)
    try:
        return con.execute("SELECT coalesce(sum(pgsize), 0) FROM dbstat "
                           "WHERE name IN ('checkpoints', 'ends')").fetchone()[0]
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


def warm_files(root, sample):
    """Reads every file of the sample under root once (into the page cache)."""
    for rel, _ in sample:
        with open(pathlib.Path(root) / rel, "rb") as fh:
            while fh.read(1 << 20):
                pass


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
