"""Load: 8 threads here and 2 forked processes (4 threads each) read random
ranges (aligned, unaligned, past EOF, through mmap, whole files, pread on a
shared descriptor) from every view at once for ~20 s, with the page cache of
each file dropped now and then so that the daemon serves the reads. Every byte
is compared with the truth read straight from the tarballs and zips with
Python's tarfile/zipfile. The daemon's RSS stays bounded and does not grow
from the first half of the run to the second.
"""

import mmap
import multiprocessing
import os
import pathlib
import random
import sys
import tarfile
import threading
import time
import zipfile

from fixturelib import load_manifest

from mountlib import inatfs, Mount  # noqa: E402

HALF_S = 10.0
RSS_LIMIT_KB = 100 * 1024


def truth_of(data_dir, mnt):
    """{mount path: bytes} for every image in every view and the annotation
    files at the root, from the archives themselves."""
    by_base, pristine = {}, {}
    for arc in ("train_val_images.tar.gz", "test2017.tar.gz"):
        with tarfile.open(pathlib.Path(data_dir) / arc) as t:
            for m in t.getmembers():
                if m.isfile():
                    b = t.extractfile(m).read()
                    name = m.name if m.name.startswith(("train_val_images/", "test2017/")) \
                        else "test2017/" + m.name
                    pristine[name] = b
                    by_base[name.rsplit("/", 1)[-1]] = b
    truth = {}
    for name, b in pristine.items():
        truth[os.path.join(mnt, name)] = b
    for view in ("train", "val", "by-supercategory", "with-bbox", "test"):
        for root, _, files in os.walk(os.path.join(mnt, view)):
            for f in files:
                if f.endswith(".jpg"):
                    truth[os.path.join(root, f)] = by_base[f]
    for z in pathlib.Path(data_dir).glob("*.zip"):
        with zipfile.ZipFile(z) as zf:
            for n in zf.namelist():
                if n.endswith(".json"):
                    truth[os.path.join(mnt, n.rsplit("/", 1)[-1])] = zf.read(n)
    return truth


def check_range(path, data, fd, rng):
    """One random read of path; returns None or a description of a mismatch."""
    size = len(data)
    kind = rng.choice(("whole", "aligned", "unaligned", "past_eof", "mmap", "pread_shared"))
    if rng.random() < 0.5:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    if kind == "whole":
        with open(path, "rb") as fh:
            got, want = fh.read(), data
    elif kind == "aligned":
        off = rng.randrange(0, max(size, 1), 4096) if size else 0
        n = 4096 * rng.randint(1, 4)
        got, want = os.pread(fd, n, off), data[off:off + n]
    elif kind == "unaligned":
        off = rng.randrange(0, size + 1)
        n = rng.randint(1, 70000)
        got, want = os.pread(fd, n, off), data[off:off + n]
    elif kind == "past_eof":
        off = size + rng.randint(0, 1 << 20)
        got, want = os.pread(fd, 4096, off), b""
        back = rng.randint(0, min(size, 100))
        if os.pread(fd, 4096, size - back) != data[size - back:]:
            return f"{path}: short read at the end"
    elif kind == "mmap":
        if size == 0:
            return None
        with mmap.mmap(fd, size, prot=mmap.PROT_READ) as mm:
            off = rng.randrange(0, size)
            n = rng.randint(1, size - off)
            got, want = mm[off:off + n], data[off:off + n]
    else:
        off = rng.randrange(0, size + 1)
        got, want = os.pread(fd, 8192, off), data[off:off + 8192]
    if got != want:
        return f"{path}: {kind} read differs ({len(got)} vs {len(want)} bytes)"
    return None


def worker(paths, truth, fds, seed, deadline, out, counter):
    rng = random.Random(seed)
    while time.monotonic() < deadline:
        shared = rng.random() < 0.3
        p = rng.choice(sorted(fds) if shared else paths)
        try:
            fd = fds[p] if shared else os.open(p, os.O_RDONLY)
            try:
                bad = check_range(p, truth[p], fd, rng)
            finally:
                if not shared:
                    os.close(fd)
        except OSError as e:
            bad = f"{p}: {e!r}"
        if bad:
            out.append(bad)
        counter[0] += 1


def run_threads(paths, truth, nthreads, seed, seconds):
    # a few descriptors shared by all threads (each open file holds a cursor in
    # the daemon); the other reads open and close their own
    fds = {p: os.open(p, os.O_RDONLY) for p in random.Random(seed).sample(paths, 32)}
    out, counters, ts = [], [], []
    deadline = time.monotonic() + seconds
    try:
        for i in range(nthreads):
            c = [0]
            counters.append(c)
            ts.append(threading.Thread(target=worker,
                                       args=(paths, truth, fds, seed * 100 + i, deadline, out, c)))
            ts[-1].start()
        for t in ts:
            t.join()
    finally:
        for fd in fds.values():
            os.close(fd)
    return out, sum(c[0] for c in counters)


def child(paths, truth, seed, seconds, q):
    out, n = run_threads(paths, truth, 4, seed, seconds)
    q.put((out[:20], len(out), n))


def rss_kb(pid):
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_stress_every_view(tiny_dir, tmp_path):
    # a daemon serving a built index: the RSS bound is the steady state's (a
    # first mount builds in the same process and runs up to 32 FUSE threads
    # while its scan runs; test_live.py reads through one concurrently)
    r = inatfs("index", tiny_dir, "--index", tmp_path / "i.sqlite")
    assert r.returncode == 0, r.stderr
    m = Mount(tiny_dir, tmp_path / "mnt", index=tmp_path / "i.sqlite")
    try:
        mnt = str(m.mnt)
        truth = truth_of(tiny_dir, mnt)
        paths = sorted(truth)
        n_members = len(load_manifest(tiny_dir))
        assert len(paths) > 2 * n_members     # all views are in the mix
        # the view listings hold exactly what the truth expects (no extra images)
        for view in ("train", "val", "test"):
            for root, _, files in os.walk(os.path.join(mnt, view)):
                for f in files:
                    assert f.endswith(".json") or os.path.join(root, f) in truth
        ctx = multiprocessing.get_context("fork")
        results = []
        rss = [rss_kb(m.proc.pid)]
        for half in range(2):
            q = ctx.Queue()
            procs = [ctx.Process(target=child, args=(paths, truth, 1000 + half * 10 + i,
                                                     HALF_S, q)) for i in range(2)]
            for p in procs:
                p.start()
            out, n = run_threads(paths, truth, 8, 1 + half, HALF_S)
            kids = [q.get(timeout=120) for _ in procs]
            for p in procs:
                p.join(timeout=60)
                assert p.exitcode == 0
            results.append((out, n, kids))
            rss.append(rss_kb(m.proc.pid))
        assert max(rss) < RSS_LIMIT_KB, rss
        # no growth from the end of the first half to the end of the second
        assert rss[2] <= rss[1] + 8 * 1024, rss
        for out, n, kids in results:
            assert out == [], out[:20]
            for sample, nbad, nk in kids:
                assert nbad == 0, sample
                assert nk > 50
            assert n > 100
    finally:
        rc = m.close()
    assert rc == 0, m.stderr()
    assert "inatfs: read /" not in m.stderr(), m.stderr()
