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
