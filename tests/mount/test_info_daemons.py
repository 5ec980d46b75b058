"""`inatfs info SOURCE` and the mounts of SOURCE running on this machine:
each daemon publishes a record (pid, mount point, its source counters) in
$XDG_CACHE_HOME/inatfs/daemons, and info lists the live ones. A URL served
by the tests' nginx is mounted and read; the daemon's requests and bytes as
info shows them are checked against nginx's access log, its cache hits
against a second read of the same images; unmounted, SIGKILLed, a process
id reused, and hostile files in the folder are each checked for what info
says and what it leaves there."""

import hashlib
import json
import os
import re
import socket
import subprocess
import time

from fixturelib import load_manifest
from mountlib import Mount, inatfs, unmount

from test_remote import cache_home, served  # noqa: F401  (fixtures)

NONE = "daemons: none serving this source on this machine"


def daemons(text):
    """info's daemon blocks: {pid: {"mountpoint", "host", "age", "requests", ...}}."""
    out, cur = {}, None
    for line in text.splitlines():
        m = re.match(r"daemon: pid (\d+)(?: on (.*?) \(another machine: not checked from "
                     r"here; written (\d+) s ago\))?, mounted at (.*?), since [\d: -]+$", line)
        if m:
            cur = out[int(m[1])] = {"host": m[2], "age": int(m[3]) if m[3] else None,
                                    "mountpoint": m[4]}
            continue
        m = re.match(r"  (requests|bytes fetched|cache hits|cache size|cache): (.*)$", line)
        if m and cur is not None:
            k, v = m[1], m[2]
            if k == "requests":
                cur["requests"], cur["retries"] = map(int, re.match(
                    r"(\d+) \(retries (\d+)\)$", v).groups())
            elif k == "cache hits":
                cur["hits"], cur["misses"], cur["bad"] = map(int, re.match(
                    r"(\d+) blocks, misses (\d+), bad (\d+)$", v).groups())
            elif k in ("bytes fetched", "cache size"):
                cur[k] = int(v.split()[0])
            else:
                cur[k] = v
        elif not line.startswith("  "):
            cur = None
    return out


def access_log(n):
    """nginx's log: [(method, status, body bytes)], one per request served."""
    out = []
    for line in (n.work / "access.log").read_text().splitlines():
        m = re.search(r'"(\w+) \S+ HTTP/[\d.]+" (\d+) (\d+)', line)
        assert m, line
        out.append((m[1], int(m[2]), int(m[3])))
    return out


def record(cache_home, pid):  # noqa: F811
    found = list((cache_home / "daemons").glob(f"*@*.{pid}.json"))
    return json.loads(found[0].read_text()) if found else None


def settle(cache_home, pid, quiet=2.5, timeout=60):  # noqa: F811
    """The daemon's record once its counters have stopped changing for
    longer than it takes the daemon to publish (reads ahead done)."""
    last, since, end = None, time.time(), time.time() + timeout
    while time.time() < end:
        r = record(cache_home, pid)
        key = r and tuple(r[k] for k in ("requests", "bytes_fetched", "cache_hits",
                                         "cache_misses"))
        if key != last:
            last, since = key, time.time()
        elif key and time.time() - since > quiet:
            return r
        time.sleep(0.2)
    raise AssertionError(f"the counters of {pid} did not settle: {last}")


class Info:
    """inatfs info URL, adding up the requests and bytes each run made itself
    (they are in nginx's log too)."""

    def __init__(self, url, *args):
        self.url, self.args, self.requests, self.bytes = url, args, 0, 0

    def __call__(self):
        r = inatfs("info", self.url, *self.args)
        assert r.returncode == 0, r.stderr
        m = re.search(r"^this command: (\d+) requests \(retries 0\), (\d+) bytes fetched$",
                      r.stdout, re.M)
        assert m, r.stdout
        self.requests += int(m[1])
        self.bytes += int(m[2])
        return r


def wait_listed(info, pid, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        r = info()
        if pid in daemons(r.stdout):
            return r
        time.sleep(0.2)
    raise AssertionError(f"pid {pid} not listed: {r.stdout}")


def direct_md5(path):
    """The file read with O_DIRECT: the page cache is bypassed, the daemon
    serves every byte (from its cache of fetched bytes)."""
    r = subprocess.run(["dd", f"if={path}", "of=/dev/stdout", "iflag=direct", "bs=1M",
                        "status=none"], check=True, capture_output=True)
    return hashlib.md5(r.stdout).hexdigest()


def test_info_shows_each_mounts_counters_as_nginx_logged_them(served, cache_home,  # noqa: F811
                                                               tmp_path):
    d, n, _ = served
    url = n.http
    r = inatfs("index", url, "--nocache")
    assert r.returncode == 0, r.stderr
    before = len(access_log(n))
    info = Info(url)
    r = info()
    assert NONE in r.stdout and "daemon: pid" not in r.stdout
    m = Mount(url, tmp_path / "mnt", f"cache={tmp_path / 'c'}")
    try:
        pid = m.proc.pid
        r = wait_listed(info, pid)
        assert "daemons: 1 serving this source" in r.stdout
        dm = daemons(r.stdout)[pid]
        assert dm["mountpoint"] == os.path.realpath(m.mnt)
        assert dm["cache"] == str(tmp_path / "c")
        rows = [x for x in load_manifest(d) if x["path"].endswith(".jpg")][::9][:12]
        assert len(rows) == 12
        for row in rows:
            with open(m.mnt / row["path"], "rb") as f:
                assert hashlib.md5(f.read()).hexdigest() == row["md5"]
        settle(cache_home, pid)
        r = info()
        first = daemons(r.stdout)[pid]
        log = access_log(n)[before:]
        assert all(status in (200, 206) for _, status, _ in log), log
        # every request nginx served since then is the daemon's or one of
        # info's own
        assert first["requests"] == len(log) - info.requests, (first, len(log), info.requests)
        assert first["retries"] == 0
        assert first["bytes fetched"] == sum(b for _, _, b in log) - info.bytes
        assert first["requests"] > 0 and first["misses"] > 0
        # the images' own bytes at least (they hardly compress)
        assert first["bytes fetched"] >= sum(int(x["size"]) for x in rows)
        assert first["cache size"] > 0

        # the same images again, past the page cache: from the cache of
        # fetched bytes, no request more
        for row in rows:
            assert direct_md5(m.mnt / row["path"]) == row["md5"]
        settle(cache_home, pid)
        r = info()
        second = daemons(r.stdout)[pid]
        assert second["hits"] > first["hits"], (first, second)
        assert second["requests"] == first["requests"]
        assert second["bytes fetched"] == first["bytes fetched"]
        log = access_log(n)[before:]
        assert second["requests"] == len(log) - info.requests

        # a second mount of the same URL is listed too; the cache folder is
        # the first one's, so it reads without one and says so
        m2 = Mount(url, tmp_path / "mnt2", f"cache={tmp_path / 'c'}")
        try:
            r = wait_listed(info, m2.proc.pid)
            both = daemons(r.stdout)
            assert set(both) == {pid, m2.proc.pid}
            assert "daemons: 2 serving this source" in r.stdout
            assert both[m2.proc.pid]["mountpoint"] == os.path.realpath(m2.mnt)
            assert both[m2.proc.pid]["cache"].startswith("none (")
            assert "in use by another inatfs process" in both[m2.proc.pid]["cache"]
        finally:
            assert m2.close() == 0, m2.stderr()
        r = info()
        assert set(daemons(r.stdout)) == {pid}
    finally:
        assert m.close() == 0, m.stderr()
    r = info()
    assert NONE in r.stdout and "daemon: pid" not in r.stdout
    # an unmount removes the record
    assert list((cache_home / "daemons").glob("*.json*")) == []


def test_a_killed_daemons_record_is_not_shown(served, cache_home, tmp_path):  # noqa: F811
    _, n, _ = served
    url = n.http
    info = Info(url, "--nocache")
    m = Mount(url, tmp_path / "mnt", "nocache")
    pid = m.proc.pid
    try:
        dm = daemons(wait_listed(info, pid).stdout)[pid]
        assert dm["cache"] == "none"
        recs = list((cache_home / "daemons").glob(f"*.{pid}.json"))
        assert len(recs) == 1
        saved = json.loads(recs[0].read_text())
    finally:
        m.proc.kill()
        m.proc.wait()
        unmount(m.mnt)
        m._err.close()
    # SIGKILL: nothing removed the record
    assert recs[0].exists()
    # a record naming a running process that is not the daemon (a process
    # id used again): its start time gives it away
    sleeper = subprocess.Popen(["sleep", "120"])
    try:
        forged = dict(saved, pid=sleeper.pid)
        fpath = recs[0].with_name(recs[0].name.replace(f".{pid}.json", f".{sleeper.pid}.json"))
        fpath.write_text(json.dumps(forged))
        r = info()
        assert NONE in r.stdout and "daemon: pid" not in r.stdout, r.stdout
        assert not recs[0].exists() and not fpath.exists()
    finally:
        sleeper.kill()
        sleeper.wait()


def test_hostile_records_never_break_info(tiny_dir, tmp_path, monkeypatch):
    """A local DATA_DIR's mount: its record gives the mount point only;
    files beside it named like records of the same source are reported or
    removed, never trusted, and info still lists the live mount."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    runs = tmp_path / "xdg" / "inatfs" / "daemons"
    idx = tmp_path / "i.sqlite"
    assert inatfs("index", tiny_dir, "--index", idx).returncode == 0
    m = Mount(tiny_dir, tmp_path / "mnt", index=idx)
    sleeper = subprocess.Popen(["sleep", "120"])
    try:
        pid = m.proc.pid
        end = time.time() + 30
        while not list(runs.glob(f"*.{pid}.json")) and time.time() < end:
            time.sleep(0.1)
        real = list(runs.glob(f"*.{pid}.json"))
        assert len(real) == 1
        rec = json.loads(real[0].read_text())
        assert rec["source"] == os.path.realpath(tiny_dir) and rec["cache"] is None
        prefix = real[0].name.split("@")[0] + "@"
        host = real[0].name[len(prefix):].rsplit(".", 2)[0]
        assert host == re.sub(r"[^A-Za-z0-9.-]+", "_", socket.gethostname()).strip("_")
        gone = subprocess.Popen(["true"])
        gone.wait()

        def put(name, data, age=None):
            p = runs / (prefix + name)
            p.write_bytes(data if isinstance(data, bytes) else data.encode())
            if age is not None:
                os.utime(p, (time.time() - age, time.time() - age))
            return p

        kept = {
            # a live process of this machine, a record too big to be one
            "big": put(f"{host}.{sleeper.pid}.json", b"{" + b" " * (70 << 10) + b"}"),
            # another machine's, malformed in ways a reader must survive
            "json": put("far.example.11.json", b"{\"inatfs_daemon\": 1, \"pid\": "),
            "types": put("far.example.12.json", json.dumps(dict(rec, pid="12"))),
            "nul": put("far.example.13.json", b"\x00\xff{}\x1b[2J"),
            # another machine's, valid but silent for two minutes: not shown
            "quiet": put("far.example.14.json", json.dumps(dict(rec, pid=14,
                                                                host="far.example")), 120),
        }
        link = runs / (prefix + "far.example.15.json")
        link.symlink_to("/etc/passwd")
        fifo = runs / (prefix + "far.example.16.json")
        os.mkfifo(fifo)
        kept["link"], kept["fifo"] = link, fifo
        removed = [
            # of this machine, the process gone: torn or whole, removed
            put(f"{host}.{gone.pid}.json", "{\"inatfs_d"),
            put(f"{host}.{gone.pid}.json.tmp", "{"),
            # another machine's, silent for two hours
            put("far.example.17.json", json.dumps(dict(rec, pid=17, host="far.example")),
                7200),
        ]
        # another machine's, fresh: shown, its mount point printed escaped
        far = put("far.example.18.json", json.dumps(dict(
            rec, pid=18, host="far.example", mountpoint="/mnt/\x1b[31mred\nline")))
        r = inatfs("info", tiny_dir, "--index", idx, timeout=60)
        assert r.returncode == 0, r.stderr
        shown = daemons(r.stdout)
        assert set(shown) == {pid, 18}, r.stdout
        assert "daemons: 2 serving this source" in r.stdout
        assert shown[pid]["mountpoint"] == os.path.realpath(m.mnt)
        assert shown[pid]["host"] is None and "requests" not in shown[pid]
        assert shown[18]["host"] == "far.example" and shown[18]["age"] < 30
        assert "\x1b" not in r.stdout and "/mnt/\\x1b[31mred\\x0aline" in r.stdout
        notes = [line for line in r.stderr.splitlines() if "(ignored)" in line]
        for k in ("big", "json", "types", "nul", "link", "fifo"):
            assert any(kept[k].name in line for line in notes), (k, r.stderr)
        assert "\x1b" not in r.stderr and "\x00" not in r.stderr
        for k, p in kept.items():
            assert os.path.lexists(p), k
        for p in removed:
            assert not p.exists(), p
        assert far.exists()
    finally:
        sleeper.kill()
        sleeper.wait()
        assert m.close() == 0, m.stderr()
    assert not real[0].exists()
