"""The first scan on several threads: `-o scan_threads=N` (for `inatfs
index`, a first mount and `inatfs verify`) builds the same index as the
serial scan (`scan_threads=0`, the reference), row for row, on the tiny
fixture and on one whose image tarball spans several 4 MiB chunks (big
members: random bytes in stored blocks, where the block finder finds
nothing, and 3 MB of text in dynamic blocks, where it does)."""

from mountlib import Mount, inatfs, tables, unexpected_stderr


def build(data, idx, threads):
    r = inatfs("index", data, "--index", idx, "-o", f"scan_threads={threads}")
    assert r.returncode == 0, r.stderr
    return tables(idx)


def test_same_index_on_any_number_of_threads(tiny_dir, big_dir, tmp_path):
    for name, data in (("tiny", tiny_dir), ("big", big_dir[0])):
        ref = build(data, tmp_path / f"{name}-serial.sqlite", 0)
        assert ref["checkpoints"] and ref["nodes"]
        for n in (1, 2, 5):
            assert build(data, tmp_path / f"{name}-{n}.sqlite", n) == ref, (name, n)
    v = inatfs("verify", big_dir[0], "--index", tmp_path / "big-2.sqlite", "-o", "scan_threads=3")
    assert v.returncode == 0, v.stdout + v.stderr
    assert "0 damaged" in v.stdout


def test_first_mount_scans_on_threads(tiny_dir, tmp_path):
    ref = build(tiny_dir, tmp_path / "serial.sqlite", 0)
    idx = tmp_path / "m" / "index.sqlite"
    idx.parent.mkdir()
    m = Mount(tiny_dir, tmp_path / "mnt", "scan_threads=3", index=idx)
    try:
        assert any((m.mnt / "train").iterdir())
    finally:
        rc = m.close()
    assert rc == 0 and unexpected_stderr(m.stderr()) == [], m.stderr()
    assert tables(idx) == ref


def test_scan_threads_refused(tiny_dir, tmp_path):
    idx = tmp_path / "index.sqlite"
    for bad in ("x", "-1", "257", "", "2x"):
        r = inatfs("index", tiny_dir, "--index", idx, "-o", f"scan_threads={bad}")
        assert r.returncode == 1 and "scan_threads" in r.stderr, r.stderr
        r = inatfs(tiny_dir, tmp_path, "-f", "-o", f"scan_threads={bad}")
        assert r.returncode == 1 and "scan_threads" in r.stderr, r.stderr
    r = inatfs("index", tiny_dir, "--index", idx, "-o", "scan_limit=3")
    assert r.returncode == 1 and "unknown option" in r.stderr, r.stderr
    assert not idx.exists()
