"""The mount with a URL prefix in place of DATA_DIR: the tiny fixture served by
nginx (HTTP, HTTPS with a CA made here) and by an S3 server that checks
signatures (tests/remote/servers.py), some of it through the fault proxy.
Every view is compared with a mount of the same files from the local folder
and with the manifest; the proxy's log counts the requests and bytes each
image read costs; the errors at mount name the URL and mount nothing."""

import concurrent.futures
import hashlib
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time

import pytest

from fixturelib import load_manifest
from mountlib import Mount, inatfs, is_mounted, unmount

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "remote"))
import servers  # noqa: E402

import test_stress  # noqa: E402


def md5(path):
    h = hashlib.md5()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 16), b""):
            h.update(b)
    return h.hexdigest()


def tree(mnt):
    """{relative path: (size, md5)} of every file, and every folder."""
    out = {}
    for root, dirs, files in os.walk(mnt):
        for d in dirs:
            out[os.path.relpath(os.path.join(root, d), mnt)] = "dir"
        for f in files:
            p = os.path.join(root, f)
            out[os.path.relpath(p, mnt)] = (os.stat(p).st_size, md5(p))
    return out


@pytest.fixture(scope="module")
def served(tiny_dir, tmp_path_factory):
    """A copy of the tiny fixture (tests replace files in it) and nginx over it."""
    work = tmp_path_factory.mktemp("remote-mount")
    d = work / "data"
    shutil.copytree(tiny_dir, d, ignore=shutil.ignore_patterns(".inatfs-index*"))
    n = servers.Nginx(d, work / "nginx")
    yield d, n, work
    n.stop()


@pytest.fixture(scope="module")
def local_tree(tiny_dir, tmp_path_factory):
    base = tmp_path_factory.mktemp("local-mount")
    m = Mount(tiny_dir, base / "mnt", index=base / "i.sqlite")
    try:
        t = tree(m.mnt)
    finally:
        assert m.close() == 0, m.stderr()
    return t


@pytest.fixture
def cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path / "xdg" / "inatfs"


def check_views(mnt, local_tree, data_dir):
    got = tree(mnt)
    assert got == local_tree
    for row in load_manifest(data_dir):
        assert got[row["path"]] == (int(row["size"]), row["md5"]), row["path"]


def test_http_mount_serves_every_view(served, local_tree, cache_home, tmp_path):
    d, n, _ = served
    m = Mount(n.http, tmp_path / "mnt")
    try:
        check_views(m.mnt, local_tree, d)
    finally:
        assert m.close() == 0, m.stderr()
    # the index and the cache live under XDG_CACHE_HOME, named from the URL
    idx = list(cache_home.glob("http_127.0.0.1_*.idx"))
    assert len(idx) == 1
    assert (cache_home / "cache").is_dir()
    # a second mount reuses both: no rebuild, every byte from the cache
    m = Mount(n.http, tmp_path / "mnt")
    try:
        assert "building the index" not in m.stderr()
        check_views(m.mnt, local_tree, d)
    finally:
        assert m.close() == 0, m.stderr()
    r = inatfs("info", n.http)
    assert r.returncode == 0, r.stderr
    assert "index state: up to date" in r.stdout
    assert "cache size: " in r.stdout and "cache size: 0 bytes" not in r.stdout


def test_https_mount_with_a_private_ca(served, local_tree, cache_home, tmp_path):
    d, n, _ = served
    m = Mount(n.https, tmp_path / "mnt", f"cacert={n.ca}", "nocache")
    try:
        check_views(m.mnt, local_tree, d)
    finally:
        assert m.close() == 0, m.stderr()


def test_one_index_serves_the_local_copy_and_the_remote_one(served, local_tree, cache_home,
                                                            tmp_path):
    d, n, _ = served
    idx = tmp_path / "shared.idx"
    r = inatfs("index", d, "--index", idx)
    assert r.returncode == 0, r.stderr
    before = idx.stat().st_mtime_ns
    m = Mount(n.http, tmp_path / "mnt", "nocache", index=idx)
    try:
        assert "building" not in m.stderr() and "rebuilding" not in m.stderr(), m.stderr()
        check_views(m.mnt, local_tree, d)
    finally:
        assert m.close() == 0, m.stderr()
    assert idx.stat().st_mtime_ns == before


@pytest.fixture(scope="module")
def s3_tiny(served):
    d, _, work = served
    s = servers.s3_server(sorted(p for p in d.iterdir() if p.suffix in (".gz", ".zip")),
                          work / "s3")
    yield s
    s.stop()


def test_s3_signed_mount(served, s3_tiny, local_tree, cache_home, tmp_path, monkeypatch):
    d, _, _ = served
    url = f"s3://{s3_tiny.bucket}/data/"
    opts = [f"endpoint={s3_tiny.endpoint}", "region=us-east-1"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_tiny.key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_tiny.secret)
    m = Mount(url, tmp_path / "mnt", *opts)
    try:
        check_views(m.mnt, local_tree, d)
        # the daemon's record (for inatfs info) holds no credential
        recs = list((cache_home / "daemons").glob("*.json"))
        assert len(recs) == 1
        for secret in (s3_tiny.secret, s3_tiny.key_id):
            assert secret.encode() not in recs[0].read_bytes()
        r = inatfs("info", url, *(f"--{o}" for o in opts))
        assert r.returncode == 0, r.stderr
        assert f"daemon: pid {m.proc.pid}, mounted at {os.path.realpath(m.mnt)}" in r.stdout
        assert s3_tiny.secret not in r.stdout + r.stderr
    finally:
        assert m.close() == 0, m.stderr()
    r = inatfs("info", url, *(f"--{o}" for o in opts))
    assert r.returncode == 0, r.stderr
    assert "up to date" in r.stdout
    # the secret is nowhere: not in what was printed, not in the index
    for text in (m.stderr(), r.stdout, r.stderr):
        assert s3_tiny.secret not in text
    for idx in cache_home.glob("*.idx"):
        assert s3_tiny.secret.encode() not in idx.read_bytes()
    # a wrong key: refused at mount, one message, nothing mounted
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong" + s3_tiny.secret[5:])
    mnt = tmp_path / "mnt2"
    mnt.mkdir()
    r = inatfs(url, mnt, *(x for o in opts for x in ("-o", o)), "-o", "nocache")
    assert r.returncode == 2, r.stderr
    assert url.rstrip("/") in r.stderr and not is_mounted(mnt)
    assert "wrong" not in r.stderr
    # no credentials at all
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    r = inatfs(url, mnt, *(x for o in opts for x in ("-o", o)))
    assert r.returncode == 2 and "credentials" in r.stderr and not is_mounted(mnt)


@pytest.mark.parametrize("case", ["host", "refused", "tls", "missing"])
def test_errors_at_mount_name_the_url(served, cache_home, tmp_path, case):
    d, n, _ = served
    port = servers.free_port()
    url = {"host": "http://no-such-host.invalid/2017/",
           "refused": f"http://127.0.0.1:{port}/2017/",
           "tls": n.https,                      # no cacert: the system's CAs refuse it
           "missing": n.http + "nothing-here/"}[case]
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    r = inatfs(url, mnt)
    assert r.returncode == 2, (case, r.stderr)
    assert url.rstrip("/") in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    want = {"host": "resolve", "refused": "connect", "tls": "certificate",
            "missing": "train_val_images.tar.gz: missing"}[case]
    assert want in r.stderr, r.stderr
    assert not is_mounted(mnt)
    for sub in (("index", url), ("info", url), ("verify", url)):
        r = inatfs(*sub)
        assert r.returncode == 2, (sub, r.stderr)


def gets(proxy):
    return [e for e in proxy.stats()["log"]]


def test_a_build_opens_each_download_with_one_request(tiny_dir, cache_home, tmp_path):
    """A build opens each download several times (the probe, the catalog,
    the fingerprints); only the first asks the server what the object is
    (a GET of byte 0), and a zip is fetched whole at once, not 64 KiB at a
    time as libarchive reads it (the annotations zip is made larger here,
    with a member no view reads). The probes go out at once, and so do the
    reads that fingerprint the zips: with 100 ms added to every request,
    each is still in flight when the others start."""
    import random
    import zipfile
    d = tmp_path / "data"
    shutil.copytree(tiny_dir, d, ignore=shutil.ignore_patterns(".inatfs-index*"))
    with zipfile.ZipFile(d / "train_val2017.zip", "a") as z:
        z.writestr("padding.bin", random.Random(5).randbytes(300_000))
    assert (d / "train_val2017.zip").stat().st_size > 300_000
    n = servers.Nginx(d, tmp_path / "nginx")
    proxy = servers.Proxy(n.http_port, tmp_path)
    try:
        proxy.config(latency=0.1)
        proxy.reset()
        r = inatfs("index", proxy.url, "-o", "nocache")
        assert r.returncode == 0, r.stderr
        log = gets(proxy)

        def at_once(what, entries):
            assert len(entries) >= 2, (what, entries)
            assert max(e["t0"] for e in entries) < min(e["t1"] for e in entries), \
                (what, [(e["path"], e["t0"], e["t1"]) for e in entries])

        at_once("the probes", [e for e in log if e["headers"].get("range") == "bytes=0-0"])
        # a zip is hashed whole: its first read past the probe
        zips = [next(e for e in log if e["path"] == "/" + z.name
                     and e["headers"].get("range") != "bytes=0-0")
                for z in sorted(d.glob("*.zip"))]
        at_once("the zips' fingerprints", zips)
        names = {e["path"] for e in log}
        assert {"/train_val_images.tar.gz", "/train_val2017.zip"} <= names, names
        for name in names:
            probes = [e for e in log if e["path"] == name
                      and e["headers"].get("range") == "bytes=0-0"]
            assert len(probes) == 1, (name, len(probes))
            if name.endswith(".zip"):
                size = (d / name[1:]).stat().st_size
                ranges = {e["headers"].get("range") for e in log if e["path"] == name}
                assert ranges == {"bytes=0-0", f"bytes=0-{size - 1}"}, (name, ranges)
    finally:
        proxy.stop()
        n.stop()


def test_each_image_read_is_one_ranged_request(served, cache_home, tmp_path):
    d, n, work = served
    proxy = servers.Proxy(n.http_port, work)
    try:
        r = inatfs("index", proxy.url, "-o", "nocache")
        assert r.returncode == 0, r.stderr
        m = Mount(proxy.url, tmp_path / "mnt", "nocache")
        try:
            rows = [r for r in load_manifest(d) if r["path"].endswith(".jpg")][::7]
            assert len(rows) > 10
            requests = 0
            for row in rows:
                proxy.reset()
                with open(m.mnt / row["path"], "rb") as f:
                    assert hashlib.md5(f.read()).hexdigest() == row["md5"]
                log = gets(proxy)
                # one GET, or none where the bytes came with the image before
                # it (the same deflate block, still held by the read-ahead)
                assert [e["method"] for e in log] in (["GET"], []), \
                    (row["path"], [e["headers"].get("range") for e in log])
                requests += len(log)
                for e in log:
                    a, b = (int(x) for x in e["headers"]["range"].split("=")[1].split("-"))
                    # its own bytes and the block before them back to its
                    # checkpoint (the bound)
                    assert b + 1 - a <= int(row["size"]) + (64 << 10), (row, e)
            assert requests >= len(rows) // 2
        finally:
            assert m.close() == 0, m.stderr()
        # with the cache: one request the first time, none the second
        m = Mount(proxy.url, tmp_path / "mnt", f"cache={tmp_path / 'c'}")
        try:
            for row in rows[:5]:
                for expect in (1, 0):
                    proxy.reset()
                    subprocess.run(["dd", f"if={m.mnt / row['path']}", "of=/dev/null",
                                    "iflag=direct", "bs=1M"], check=True,
                                   capture_output=True)
                    assert len(gets(proxy)) == expect, (row["path"], gets(proxy))
        finally:
            assert m.close() == 0, m.stderr()
    finally:
        proxy.stop()


def wide_copy(tiny_dir, d, n_members, size):
    """The tiny fixture with n_members members of size random bytes appended
    to train_val_images.tar.gz (train_val_images/Wide/: only the pristine
    tree shows them), each in deflate blocks of its own. Returns their mount
    paths and MD5s."""
    import gzip
    import io
    import random
    import tarfile
    shutil.copytree(tiny_dir, d, ignore=shutil.ignore_patterns(".inatfs-index*"))
    tar = d / "train_val_images.tar.gz"
    rng = random.Random(11)
    with tarfile.open(tar) as src:
        members = [(m, src.extractfile(m).read() if m.isfile() else None)
                   for m in src.getmembers()]
    wide = {}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as out:
        for m, b in members:
            out.addfile(m, io.BytesIO(b) if b is not None else None)
        for i in range(n_members):
            data = rng.randbytes(size)
            ti = tarfile.TarInfo(f"train_val_images/Wide/w{i:03d}.bin")
            ti.size = size
            ti.mtime = 1500000000
            out.addfile(ti, io.BytesIO(data))
            wide[f"train_val_images/Wide/w{i:03d}.bin"] = hashlib.md5(data).hexdigest()
    tar.write_bytes(gzip.compress(buf.getvalue(), 6))
    return wide


def test_concurrent_readers_have_their_requests_in_flight_at_once(tiny_dir, cache_home,
                                                                  tmp_path):
    """32 readers of different files through a server 50 ms away: the
    requests go out together (not queued behind the kernel's default of 12
    background reads, nor behind the read-ahead's few threads), and each
    file still costs one request (or a little more, see below)."""
    wide = wide_copy(tiny_dir, tmp_path / "data", 64, 192 << 10)
    n = servers.Nginx(tmp_path / "data", tmp_path / "nginx")
    proxy = servers.Proxy(n.http_port, tmp_path)
    try:
        r = inatfs("index", proxy.url, "-o", "nocache")
        assert r.returncode == 0, r.stderr
        m = Mount(proxy.url, tmp_path / "mnt", f"cache={tmp_path / 'c'}")
        try:
            proxy.config(latency=0.05)
            proxy.reset()

            def one(item):
                path, want = item
                with open(m.mnt / path, "rb") as f:
                    return hashlib.md5(f.read()).hexdigest() == want

            with concurrent.futures.ThreadPoolExecutor(32) as ex:
                assert all(ex.map(one, wide.items()))
            s = proxy.stats()
            assert s["max_inflight"] >= 16, s["max_inflight"]
            gets = [e for e in s["log"] if e["method"] == "GET"]
            # one each; two readers of neighbours at the same moment may
            # each ask for the bytes they share (the bound: 1.05)
            ranges = sorted(e["headers"].get("range") for e in gets)
            assert len(wide) <= len(gets) <= len(wide) * 1.05, ranges
            assert len(set(ranges)) == len(ranges), ranges
        finally:
            proxy.config(latency=0)
            assert m.close() == 0, m.stderr()
    finally:
        proxy.stop()
        n.stop()


def test_faults_give_right_bytes_or_eio(served, cache_home, tmp_path):
    d, n, work = served
    proxy = servers.Proxy(n.http_port, work)
    try:
        m = Mount(proxy.url, tmp_path / "mnt", "nocache", "timeout=20")
        try:
            rows = [r for r in load_manifest(d) if r["path"].endswith(".jpg")]
            wrong = 0
            for i, row in enumerate(rows[:40]):
                kind = ["503", "reset", "short", "badrange"][i % 4]
                proxy.config(latency=0.01, faults=[kind] * (1 + i % 3))
                try:
                    with open(m.mnt / row["path"], "rb") as f:
                        wrong += hashlib.md5(f.read()).hexdigest() != row["md5"]
                except OSError as e:
                    assert e.errno == 5, e
            assert wrong == 0
            proxy.config()
            # the mount is still right after the faults
            for row in rows[40:60]:
                assert md5(m.mnt / row["path"]) == row["md5"]
        finally:
            assert m.close() == 0, m.stderr()
    finally:
        proxy.stop()


def test_object_replaced_while_mounted(served, cache_home, tmp_path):
    d, n, work = served
    copy = d / "replaced"
    shutil.copytree(d, copy, ignore=shutil.ignore_patterns("replaced"))
    url = n.http + "replaced/"
    rows = [r for r in load_manifest(copy) if r["path"].startswith("train_val_images/")]
    m = Mount(url, tmp_path / "mnt", "nocache")
    try:
        tar = copy / "train_val_images.tar.gz"
        b = bytearray(tar.read_bytes())
        b[len(b) // 2] ^= 0xFF
        tmp = copy / "t.tmp"
        tmp.write_bytes(bytes(b))
        os.utime(tmp, (time.time() + 5, time.time() + 5))
        os.replace(tmp, tar)
        with pytest.raises(OSError) as e:
            with open(m.mnt / rows[3]["path"], "rb") as f:
                f.read()
        assert e.value.errno == 5
    finally:
        m.close()
    assert "train_val_images.tar.gz" in m.stderr()
    m = Mount(url, tmp_path / "mnt", "nocache")
    try:
        assert "rebuilding the index" in m.stderr()
        assert "train_val_images.tar.gz changed" in m.stderr()
    finally:
        m.close()


def test_sigkill_mid_fetch_then_the_cache_is_reused(served, cache_home, tmp_path):
    d, n, work = served
    proxy = servers.Proxy(n.http_port, work)
    cache = tmp_path / "cache"
    try:
        r = inatfs("index", proxy.url, "--nocache")
        assert r.returncode == 0, r.stderr
        m = Mount(proxy.url, tmp_path / "mnt", f"cache={cache}")
        rows = [r for r in load_manifest(d) if r["path"].endswith(".jpg")]
        for row in rows[:30]:
            assert md5(m.mnt / row["path"]) == row["md5"]
        proxy.config(latency=0.3)
        reader = subprocess.Popen(["cat", *(str(m.mnt / r["path"]) for r in rows[30:])],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        m.proc.send_signal(signal.SIGKILL)
        m.proc.wait()
        reader.kill()
        reader.wait()
        unmount(m.mnt)
        m._err.close()
        proxy.config()
        proxy.reset()
        m = Mount(proxy.url, tmp_path / "mnt", f"cache={cache}")
        try:
            proxy.reset()
            for row in rows[:30]:
                assert md5(m.mnt / row["path"]) == row["md5"], row["path"]
            # the first 30 come from the cache: none of their bytes is fetched again
            fetched = [e for e in gets(proxy) if e["path"].endswith(".tar.gz")
                       and e["headers"].get("range") != "bytes=0-0"]
            assert fetched == [], fetched
            for row in rows[30:]:
                assert md5(m.mnt / row["path"]) == row["md5"], row["path"]
            assert any(e["path"].endswith(".tar.gz") for e in gets(proxy))
        finally:
            assert m.close() == 0, m.stderr()
    finally:
        proxy.stop()


def test_stress_through_a_remote_mount(served, cache_home, tmp_path):
    d, n, _ = served
    m = Mount(n.http, tmp_path / "mnt", f"cache={tmp_path / 'c'}")
    try:
        truth = test_stress.truth_of(d, str(m.mnt))
        out, count = test_stress.run_threads(sorted(truth), truth, 8, 7, 8.0)
        assert out == [], out[:10]
        assert count > 100
    finally:
        assert m.close() == 0, m.stderr()
