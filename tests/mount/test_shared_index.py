"""Several daemons mounting at once with one index path (-o index=PATH), as
machines sharing a file system would: one takes the build lock and builds,
the others wait for it and serve the index it made; a lock holder killed
mid-build is taken over. Each daemon's bytes are compared with the manifest;
the builds are counted from the daemons' stderr and, over HTTP, from the
bytes nginx sent of each tarball."""

import concurrent.futures
import hashlib
import os
import pathlib
import re
import shutil
import signal
import sys
import time

import pytest

from fixturelib import load_manifest
from mountlib import Mount, unmount

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "remote"))
import servers  # noqa: E402

DAEMONS = 4
# slow enough that the daemons started together meet the build running
SLOW = "scan_limit=0.4"


def check_bytes(mnt, data_dir, step=7):
    rows = load_manifest(data_dir)
    for row in rows[::step]:
        with open(mnt / row["path"], "rb") as f:
            assert hashlib.md5(f.read()).hexdigest() == row["md5"], (mnt, row["path"])
    return len(rows[::step])


def start_together(source, base, index, extra=lambda i: ()):
    """DAEMONS mounts of source with one index, started at the same moment."""
    with concurrent.futures.ThreadPoolExecutor(DAEMONS) as ex:
        futs = [ex.submit(Mount, source, base / f"mnt{i}", SLOW, *extra(i), index=index,
                          timeout=180) for i in range(DAEMONS)]
        mounts, errors = [], []
        for f in futs:
            try:
                mounts.append(f.result())
            except Exception as e:  # noqa: BLE001 - reported below, after cleanup
                errors.append(e)
    if errors:
        for m in mounts:
            m.close()
        raise errors[0]
    return mounts


def count_builds(mounts):
    errs = [m.stderr() for m in mounts]
    built = [e for e in errs if "inatfs: building the index" in e]
    waited = [e for e in errs if "is being built by process" in e]
    return errs, built, waited


def test_concurrent_first_mounts_build_once(tiny_dir, tmp_path):
    index = tmp_path / "shared" / "inat.idx"
    index.parent.mkdir()
    mounts = start_together(tiny_dir, tmp_path, index)
    try:
        errs, built, waited = count_builds(mounts)
        assert len(built) == 1, errs
        # the others met the build running, showed its progress, used its index
        assert len(waited) == DAEMONS - 1, errs
        for e in waited:
            assert "inatfs: waiting: another process scans" in e, e
            assert "that another process built" in e, e
            assert "inatfs: scanning" not in e, e
        for m in mounts:
            assert check_bytes(m.mnt, tiny_dir) > 10
    finally:
        codes = [m.close() for m in mounts]
    assert codes == [0] * DAEMONS
    # one index, no temporaries, the lock gone
    assert sorted(p.name for p in index.parent.iterdir()) == ["inat.idx"]


def tarball_bytes_sent(access_log, offset):
    """Bytes nginx sent of each tarball since offset of its access log
    (combined format: the body size follows the status)."""
    sent = {}
    with open(access_log, "rb") as f:
        f.seek(offset)
        for line in f.read().decode("utf-8", "replace").splitlines():
            m = re.search(r'"GET /([^ ?]+)[^"]*" (\d{3}) (\d+)', line)
            if m and m.group(1).endswith(".tar.gz"):
                sent[m.group(1)] = sent.get(m.group(1), 0) + int(m.group(3))
    return sent


@pytest.fixture
def served_tiny(tiny_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(k, raising=False)
    d = tmp_path / "data"
    shutil.copytree(tiny_dir, d, ignore=shutil.ignore_patterns(".inatfs-index*"))
    n = servers.Nginx(d, tmp_path / "nginx")
    yield d, n
    n.stop()


def test_concurrent_first_remote_mounts_scan_the_archives_once(served_tiny, tmp_path):
    d, n = served_tiny
    index = tmp_path / "shared" / "inat.idx"
    index.parent.mkdir()
    log = tmp_path / "nginx" / "access.log"
    start = log.stat().st_size if log.exists() else 0
    # each its own cache, as on machines of their own
    mounts = start_together(n.http, tmp_path, index,
                            extra=lambda i: (f"cache={tmp_path / f'cache{i}'}",))
    try:
        sent = tarball_bytes_sent(log, start)
        errs, built, waited = count_builds(mounts)
        assert len(built) == 1, errs
        assert len(waited) == DAEMONS - 1, errs
        # the tarballs went over the wire once (the scan), not once per daemon
        for name in ("train_val_images.tar.gz", "test2017.tar.gz"):
            size = (d / name).stat().st_size
            assert size <= sent.get(name, 0) < 1.5 * size, (name, size, sent)
        for m in mounts:
            assert check_bytes(m.mnt, d) > 10
    finally:
        codes = [m.close() for m in mounts]
    assert codes == [0] * DAEMONS


def test_a_killed_lock_holder_is_taken_over(tiny_dir, tmp_path):
    index = tmp_path / "shared" / "inat.idx"
    index.parent.mkdir()
    lock = pathlib.Path(str(index) + ".lock")
    holder = Mount(tiny_dir, tmp_path / "holder", "scan_limit=0.05", index=index,
                   wait_scan=False)
    waiter = fut = None
    try:
        assert lock.exists()
        assert f"pid {holder.proc.pid}\n" in lock.read_text()
        with concurrent.futures.ThreadPoolExecutor(1) as ex:
            fut = ex.submit(Mount, tiny_dir, tmp_path / "waiter", index=index, timeout=120)
            deadline = time.time() + 30
            werr = tmp_path / "waiter.stderr"
            while not werr.exists() or "is being built by process" not in werr.read_text():
                assert time.time() < deadline, "the second daemon did not wait"
                time.sleep(0.1)
            t0 = time.monotonic()
            os.kill(holder.proc.pid, signal.SIGKILL)
            holder.proc.wait()
            waiter = fut.result()
            took = time.monotonic() - t0
        err = waiter.stderr()
        assert "taking it over" in err, err
        assert "inatfs: indexed" in err, err
        # the dead holder is judged gone within seconds, not the 30 s a
        # silent holder on another machine is given
        assert took < 25, (took, err)
        assert check_bytes(waiter.mnt, tiny_dir, step=3) > 30
    finally:
        unmount(holder.mnt)
        holder.close()
        if waiter is None and fut is not None and fut.done() and not fut.exception():
            fut.result().close()   # a failed check above: the waiter's mount goes too
    assert waiter.close() == 0, waiter.stderr()
    assert not lock.exists()


def test_index_url_is_fetched_once_checked_and_used(served_tiny, tmp_path):
    d, n = served_tiny
    from mountlib import inatfs
    # an index built from the local copy, published beside the downloads
    r = inatfs("index", d, "--index", d / "inat.idx")
    assert r.returncode == 0, r.stderr
    (d / "not-an-index.idx").write_bytes(b"SQLite format 3\0" + b"\x07" * 5000)
    url = n.http + "inat.idx"
    m = Mount(n.http, tmp_path / "mnt", f"cache={tmp_path / 'c'}", index=url)
    try:
        err = m.stderr()
        assert "fetching the index " + url in err, err
        assert "building the index" not in err, err
        assert check_bytes(m.mnt, d) > 10
    finally:
        assert m.close() == 0, m.stderr()
    copies = list((tmp_path / "xdg" / "inatfs").glob("*inat.idx*.idx"))
    assert len(copies) == 1, copies
    assert copies[0].read_bytes() == (d / "inat.idx").read_bytes()
    # fetched once: the next mount and info use the copy
    m = Mount(d, tmp_path / "mnt", index=url)
    try:
        err = m.stderr()
        assert "fetching the index" not in err and "building the index" not in err, err
        assert check_bytes(m.mnt, d, step=11) > 5
    finally:
        assert m.close() == 0, m.stderr()
    r = inatfs("info", n.http, "--index", url, "--nocache")
    assert r.returncode == 0, r.stderr
    assert f"index: {copies[0]}" in r.stdout and "index state: up to date" in r.stdout
    # an index that does not serve these downloads is never used
    bad = n.http + "not-an-index.idx"
    m = Mount(n.http, tmp_path / "mnt", f"cache={tmp_path / 'c'}", index=bad)
    try:
        err = m.stderr()
        assert f"the index {bad} does not serve" in err, err
        assert "building the index" in err, err
        assert check_bytes(m.mnt, d) > 10
    finally:
        assert m.close() == 0, m.stderr()
    # a missing one is a clear error, nothing mounted
    r = inatfs("info", n.http, "--index", n.http + "missing.idx", "--nocache")
    assert r.returncode == 2 and "missing.idx" in r.stderr, r
