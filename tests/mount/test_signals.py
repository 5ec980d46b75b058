"""SIGINT and SIGTERM unmount cleanly: with a file half read (a gzip cursor
alive in the daemon) and a folder half listed, the daemon unmounts, exits 0,
and frees the handles the kernel never released (the sanitizer build of the
suite reports any leak at exit)."""

import os
import signal

import pytest

from mountlib import Mount, inatfs, is_mounted

MIB = 1 << 20
BIG = "train_val_images/Big/past-max.bin"


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_signal_unmounts_with_files_open(big_dir, tmp_path, sig):
    d, big = big_dir
    idx = tmp_path / "i.sqlite"
    assert inatfs("index", d, "--index", idx).returncode == 0
    # a background job inherits SIGINT ignored, and libfuse then leaves it so
    # (scripts/test may run so): the daemon starts with the default action
    old = signal.signal(signal.SIGINT, signal.SIG_DFL)
    try:
        m = Mount(d, tmp_path / "mnt", index=idx)
    finally:
        signal.signal(signal.SIGINT, old)
    fd = os.open(m.mnt / BIG, os.O_RDONLY)
    it = os.scandir(m.mnt / "train_val_images/Big")
    try:
        assert os.pread(fd, 4096, 3 * MIB) == big[BIG][3 * MIB:3 * MIB + 4096]
        next(it)
        m.proc.send_signal(getattr(signal, sig))
        rc = m.proc.wait(timeout=60)
    finally:
        it.close()
        try:
            os.close(fd)
        except OSError:
            pass
        m.close()
    assert rc == 0, m.stderr()
    assert not is_mounted(m.mnt)
    assert "Sanitizer" not in m.stderr(), m.stderr()


def test_an_aborted_connection_is_said_and_exits_4(tiny_dir, tmp_path):
    """A connection aborted through /sys/fs/fuse/connections/N/abort (what
    an administrator does to a hung mount) leaves the mount point in place,
    dead: the daemon says so, naming it and how to clear it, and exits 4,
    where a plain unmount exits 0."""
    import subprocess
    ctl = "/sys/fs/fuse/connections"
    if not os.path.ismount(ctl):
        r = subprocess.run(["mount", "-t", "fusectl", "none", ctl], capture_output=True,
                           text=True)
        assert r.returncode == 0, f"cannot mount fusectl on {ctl}: {r.stderr}"
    idx = tmp_path / "i.sqlite"
    assert inatfs("index", tiny_dir, "--index", idx).returncode == 0
    m = Mount(tiny_dir, tmp_path / "mnt", index=idx)
    try:
        assert sorted(os.listdir(m.mnt))   # serving
        minor = os.minor(os.stat(m.mnt).st_dev)   # the connection's number
        assert os.path.exists(f"{ctl}/{minor}/abort"), (minor, os.listdir(ctl))
        with open(f"{ctl}/{minor}/abort", "w") as f:
            f.write("1")
        rc = m.proc.wait(timeout=30)
        err = m.stderr()
        assert rc == 4, err
        mp = os.path.realpath(m.mnt)
        assert f"{mp}: the FUSE connection was aborted" in err, err
        assert f"fusermount3 -u {mp}" in err, err
        assert is_mounted(m.mnt)   # left dead, as libfuse leaves it
    finally:
        subprocess.run(["fusermount3", "-u", str(m.mnt)], capture_output=True)
        m.close()
    assert not is_mounted(m.mnt)
