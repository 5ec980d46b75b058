"""Bulk reads of members from 128 KiB to 8 MiB + 1 (fs.c, whole-member reads).

Every way of reading gives the archive's bytes, in multi-threaded and
single-threaded daemons, with readers of the same files racing each other
(a push into the page cache waits for the reads in flight that hold its
pages: these tests end, or the daemon deadlocked). A file read front to back
costs one request up to 8 MiB (its rest is pushed), one per readahead unit
past that. (A damaged member's first bulk read failing before serving a
byte: test_faults.py.)
"""

import mmap
import multiprocessing
import os
import random
import re
import threading

import pytest

from mountlib import Mount, inatfs

MIB = 1 << 20
MODES = {  # name: (-o options, other flags)
    "threads": ((), ()),
    "two-threads": (("max_threads=2",), ()),   # one push slot
    "single": ((), ("-s",)),                    # no pushes
}


@pytest.fixture(scope="module")
def big_index(big_dir, tmp_path_factory):
    d, big = big_dir
    idx = tmp_path_factory.mktemp("bigidx") / "i.sqlite"
    r = inatfs("index", d, "--index", idx)
    assert r.returncode == 0, r.stderr
    return d, big, idx


def vm_kb(pid, key):
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise AssertionError(key)


def drop(fd):
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)


def read_seq(path, chunk, advice=None, first=None):
    fd = os.open(path, os.O_RDONLY)
    try:
        drop(fd)
        if advice is not None:
            os.posix_fadvise(fd, 0, 0, advice)
        parts = [os.read(fd, first)] if first else []
        while True:
            b = os.read(fd, chunk)
            if not b:
                return b"".join(parts)
            parts.append(b)
    finally:
        os.close(fd)


def read_reverse(path, step=256 << 10):
    fd = os.open(path, os.O_RDONLY)
    try:
        drop(fd)
        size = os.fstat(fd).st_size
        parts = []
        for off in range((size - 1) // step * step, -1, -step):
            parts.append(os.pread(fd, step, off))
        return b"".join(reversed(parts))
    finally:
        os.close(fd)


def read_mmap(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        drop(fd)
        size = os.fstat(fd).st_size
        with mmap.mmap(fd, size, prot=mmap.PROT_READ) as mm:
            return mm[:]
    finally:
        os.close(fd)


def read_direct(path, chunk=MIB):
    """O_DIRECT: each read goes to the daemon (no page cache)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
    try:
        buf = mmap.mmap(-1, chunk)   # page-aligned
        parts, off = [], 0
        while True:
            n = os.preadv(fd, [buf], off)
            if n <= 0:
                return b"".join(parts)
            parts.append(buf[:n])
            off += n
    finally:
        os.close(fd)


PATTERNS = {
    "1 MiB reads": lambda p: read_seq(p, MIB),
    "cat (sequential advice, 128 KiB reads)": lambda p: read_seq(
        p, 128 << 10, os.POSIX_FADV_SEQUENTIAL),
    "a 4 KiB probe, then 64 KiB reads": lambda p: read_seq(p, 64 << 10, first=4096),
    "backwards, 256 KiB preads": read_reverse,
    "mmap": read_mmap,
    "O_DIRECT, 1 MiB reads": read_direct,
}


@pytest.mark.parametrize("mode", MODES)
def test_every_read_pattern(big_index, tmp_path, mode):
    d, big, idx = big_index
    opts, flags = MODES[mode]
    m = Mount(d, tmp_path / "mnt", *opts, index=idx, flags=flags)
    try:
        for rel, want in big.items():
            for name, read in PATTERNS.items():
                got = read(m.mnt / rel)
                assert got == want, f"{rel}, {name}: {len(got)} bytes, differ"
    finally:
        rc = m.close()
    assert rc == 0, m.stderr()
    assert "inatfs: read /" not in m.stderr(), m.stderr()


def race_worker(mnt, rels, seed, rounds, q):
    """Threads of one process read the big files in their own orders and
    ways; returns mismatches through q."""
    bad = []

    def one(i):
        rng = random.Random(seed * 10 + i)
        for _ in range(rounds):
            order = sorted(rels)
            rng.shuffle(order)
            for rel, want in order:
                how = rng.choice(["1 MiB reads", "cat (sequential advice, 128 KiB reads)",
                                  "backwards, 256 KiB preads", "mmap"])
                try:
                    got = PATTERNS[how](os.path.join(mnt, rel))
                except OSError as e:
                    bad.append(f"{rel} {how}: {e!r}")
                    continue
                if got != want:
                    bad.append(f"{rel} {how}: differs")

    ts = [threading.Thread(target=one, args=(i,)) for i in range(3)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    q.put(bad)


@pytest.mark.parametrize("mode", MODES)
def test_racing_readers_of_the_same_files(big_index, tmp_path, mode):
    """4 processes x 3 threads read the same files at once, each dropping
    the file's page cache first, so that pushes and reads of one file meet.
    The daemon's peak RSS stays small (the decoded copies are freed)."""
    d, big, idx = big_index
    opts, flags = MODES[mode]
    rels = [(rel, b) for rel, b in big.items() if len(b) <= 2 * MIB]
    m = Mount(d, tmp_path / "mnt", *opts, index=idx, flags=flags)
    try:
        ctx = multiprocessing.get_context("fork")
        q = ctx.Queue()
        procs = [ctx.Process(target=race_worker, args=(str(m.mnt), rels, s, 3, q))
                 for s in range(4)]
        for p in procs:
            p.start()
        results = [q.get(timeout=240) for _ in procs]   # a deadlock fails here
        for p in procs:
            p.join(timeout=60)
            assert p.exitcode == 0
        for bad in results:
            assert bad == [], bad[:10]
        # the decoded copies are freed after each read: the daemon stays small
        hwm = vm_kb(m.proc.pid, "VmHWM")
        assert hwm < 64 * 1024, hwm
    finally:
        rc = m.close()
    assert rc == 0, m.stderr()


def read_requests(log, ino):
    """READ requests for inode ino in a daemon's -o debug log."""
    return len(re.findall(rf"opcode: READ \(15\), nodeid: {ino},", log))


def test_one_request_per_file(big_index, tmp_path):
    """Read front to back (1 MiB reads, then 32 KiB ones as md5sum does, the
    page cache dropped before each), a member up to 8 MiB costs the daemon
    one READ each time (two if the kernel sends its next readahead before the
    first is answered); past 8 MiB, one per readahead unit. More files than
    there are push slots, one after the other: a slot not given back shows
    here."""
    d, big, idx = big_index
    m = Mount(d, tmp_path / "mnt", "debug", index=idx)
    try:
        inos = {}
        for rel, want in big.items():
            p = m.mnt / rel
            inos[rel] = os.stat(p).st_ino
            assert read_seq(p, MIB) == want, rel
            assert read_seq(p, 32 << 10) == want, rel
    finally:
        rc = m.close()
    assert rc == 0
    log = m.stderr()
    for rel, ino in inos.items():
        n = read_requests(log, ino)
        size = len(big[rel])
        if size <= 8 * MIB:
            assert 2 <= n <= 4, (rel, n)
        else:
            assert n >= 2 * (size // (256 << 10)), (rel, n)


def test_one_request_per_file_with_two_readers(big_index, tmp_path):
    """Two readers, each reading its own files front to back one after the
    other (page cache dropped first): each open still costs the daemon one
    READ (two if the kernel sends its next readahead before the answer). A
    reader asks for its next file as soon as it has the last one's answer;
    a push slot given back only after the answer would be still taken then
    (freeing a decoded 8 MiB takes a while), and the file read as asked
    instead, one READ per 128 KiB."""
    d, big, idx = big_index
    rels = sorted((rel for rel, b in big.items() if 256 << 10 < len(b) <= 8 * MIB),
                  key=lambda r: len(big[r]))
    assert len(rels) >= 4, rels
    halves = [rels[0::2], rels[1::2]]   # no file read by both readers
    rounds = 15
    m = Mount(d, tmp_path / "mnt", "debug", index=idx)
    try:
        inos = {rel: os.stat(m.mnt / rel).st_ino for rel in rels}
        bad = []

        def reader(mine):
            for _ in range(rounds):
                for rel in mine:
                    try:
                        if read_seq(m.mnt / rel, MIB) != big[rel]:
                            bad.append(rel)
                    except OSError as e:   # a thread's exception would go unseen
                        bad.append(f"{rel}: {e}")

        ts = [threading.Thread(target=reader, args=(h,)) for h in halves]
        for t in ts:
            t.start()
        for t in ts:
            t.join(timeout=240)
            assert not t.is_alive()
        assert bad == []
    finally:
        rc = m.close()
    assert rc == 0
    log = m.stderr()
    for rel, ino in inos.items():
        n = read_requests(log, ino)
        assert rounds <= n <= 2 * rounds, (rel, len(big[rel]), n)
