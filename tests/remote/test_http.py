"""The http(s) source against nginx on loopback, directly and through the
fault proxy: exact bytes, one pool of kept-alive connections for many
threads, each fault retried to success, the deadline, a replaced object,
TLS with a private CA, redirects, and the cache and read-ahead over HTTP."""

import os
import re
import shutil
import time

from conftest import BLOB_SIZE, crc_of, timed


def test_exact_bytes_http_and_https(nginx, data, probe):
    blob = data / "blob.bin"
    for base, opts in ((nginx.http, ()), (nginx.https, (f"cacert={nginx.ca}",))):
        p = probe(base, "blob.bin", opts)
        assert p.ok, p.first
        assert p.first.startswith(f"open size={BLOB_SIZE} identity=http:{BLOB_SIZE}:\"")
        for off, n in ((0, 1), (0, 100), (4_999_000, 5000), (BLOB_SIZE - 1, 10),
                       (1_234_567, 400_000)):
            assert p.read(off, n) == crc_of(blob, off, n), (base, off, n)
        assert p.read(BLOB_SIZE, 10).startswith("ok 0 "), "past the end: nothing"
        assert p.cmd(f"verify {blob} 300 300000 1 7") == "ok 300"
    # one byte and empty files
    p = probe(nginx.http, "small.bin")
    assert p.first.startswith("open size=1 ") and p.read(0, 5) == crc_of(data / "small.bin", 0, 5)
    p = probe(nginx.http, "empty.bin")
    assert p.first.startswith("open size=0 ")


def test_https_offers_http2(nginx, data, probe):
    p = probe(nginx.https, "blob.bin", (f"cacert={nginx.ca}",))
    assert p.cmd(f"verify {data / 'blob.bin'} 20 10000 2 3") == "ok 20"
    log = (nginx.work / "access.log").read_text()
    assert "HTTP/2.0" in log, log[-500:]


def test_many_threads_one_pool(proxy, data, probe):
    """32 threads read at once through one source: the requests are in flight
    together, on at most max_conns connections that stay open."""
    p = probe(proxy.url, "blob.bin")
    proxy.reset()
    proxy.config(latency=0.2)
    out, secs = timed(lambda: p.cmd(f"verify {data / 'blob.bin'} 128 200000 32 5"))
    assert out == "ok 128"
    s = proxy.stats()
    assert s["requests"] == 128
    assert s["max_inflight"] >= 8, s["max_inflight"]
    assert s["connections"] <= 32, s["connections"]
    # a smaller pool caps the connections and what is in flight
    p2 = probe(proxy.url, "blob.bin", ("max_conns=4",))
    proxy.reset()
    assert p2.cmd(f"verify {data / 'blob.bin'} 40 100000 16 6") == "ok 40"
    s = proxy.stats()
    assert s["connections"] <= 4 and s["max_inflight"] <= 4, s


def test_if_match_on_every_get(proxy, nginx, data, probe):
    p = probe(proxy.url, "blob.bin")
    etag = re.search(r'identity=http:\d+:("[^"]*")', p.first).group(1)
    proxy.reset()
    assert p.read(1000, 5000) == crc_of(data / "blob.bin", 1000, 5000)
    assert p.read(0, BLOB_SIZE) == crc_of(data / "blob.bin", 0, BLOB_SIZE)
    log = proxy.stats()["log"]
    assert [e["headers"]["range"] for e in log] == ["bytes=1000-5999",
                                                    f"bytes=0-{BLOB_SIZE - 1}"]
    assert all(e["headers"].get("if-match") == etag for e in log), log


def test_faults_retried_to_success(proxy, data, probe):
    blob = data / "blob.bin"
    p = probe(proxy.url, "blob.bin", ("timeout=10",))
    for faults in (["503"] * 4, ["reset"], ["short"], ["stall"], ["reset", "503", "short"]):
        proxy.reset()
        before = p.stats()
        proxy.config(faults=faults)
        assert p.read(100_000, 300_000) == crc_of(blob, 100_000, 300_000), faults
        log = proxy.stats()["log"]
        assert [e["fault"] for e in log] == faults + [None], log
        assert log[-1]["status"] == 206
        after = p.stats()
        assert after["retries"] - before["retries"] == len(faults)
        assert after["requests"] - before["requests"] == len(faults) + 1
    assert p.close() == "", "retried faults log nothing"


def test_deadline_then_eio_then_back(proxy, data, probe):
    p = probe(proxy.url, "blob.bin", ("timeout=3",))
    proxy.config(always="503")
    out, secs = timed(lambda: p.read(1000, 200_000))
    assert out.startswith("error 5 "), out
    assert "bytes=1000-200999" in out and "503 SlowDown" in out and "gave up" in out
    assert 1.0 <= secs <= 8, secs
    assert proxy.stats()["requests"] >= 3, "retried before giving up"
    proxy.config()
    assert p.read(1000, 200_000) == crc_of(data / "blob.bin", 1000, 200_000), \
        "later reads work when the server is back"
    err = p.close()
    lines = [ln for ln in err.splitlines() if ln.startswith("log: ")]
    assert len(lines) == 1, err
    assert f"{proxy.url}blob.bin" in lines[0] and "bytes=1000-200999" in lines[0] \
        and "503" in lines[0]


def test_replaced_object_is_eio(nginx, data, probe):
    """The file replaced under nginx while open: its GETs fail with 412."""
    f = data / "mutable.bin"
    f.write_bytes(os.urandom(400_000))
    os.utime(f, (1_600_000_000, 1_600_000_000))
    p = probe(nginx.http, "mutable.bin")
    assert p.read(0, 1000).startswith("ok 1000")
    tmp = data / "mutable.tmp"
    tmp.write_bytes(os.urandom(400_000))
    os.replace(tmp, f)
    out = p.read(5000, 1000)
    assert out.startswith("error 5 ") and "412" in out and "changed since it was opened" in out
    assert "bytes=5000-5999" in out and "mutable.bin" in out
    err = p.close()
    assert sum(ln.startswith("log: ") for ln in err.splitlines()) == 1, err


def test_hostile_responses(proxy, data, probe):
    """A server that ignores If-Match and sends other bytes, or sends another
    range than asked: -EIO, never those bytes."""
    p = probe(proxy.url, "blob.bin")
    proxy.config(faults=["replace"])
    out = p.read(10, 1000)
    assert out.startswith("error 5 ") and "ETag" in out and "changed" in out, out
    proxy.config(faults=["badrange"])
    out = p.read(10, 1000)
    assert out.startswith("error 5 ") and "sent bytes 11-1010" in out, out
    assert p.read(10, 1000) == crc_of(data / "blob.bin", 10, 1000)


def test_tls_private_ca(nginx, data, probe, work):
    p = probe(nginx.https, "blob.bin")
    assert not p.ok and p.first.startswith("error ") and "certificate" in p.first, p.first
    p = probe(nginx.https, "blob.bin", (f"cacert={work / 'absent.pem'}",))
    assert not p.ok, p.first
    # a CA file that is not the server's CA
    other = servers_ca(work)
    p = probe(nginx.https, "blob.bin", (f"cacert={other}",))
    assert not p.ok and "certificate" in p.first, p.first
    p = probe(nginx.https, "blob.bin", (f"cacert={nginx.ca}",))
    assert p.ok, p.first


def servers_ca(work):
    import servers
    ca, _, _ = servers.make_ca(work / "other-ca")
    return ca


def test_redirects(nginx, data, probe):
    p = probe(nginx.https + "to-http/", "blob.bin", (f"cacert={nginx.ca}",))
    assert not p.ok and "redirect to a non-https URL (refused)" in p.first, p.first
    p = probe(nginx.https + "to-https/", "blob.bin", (f"cacert={nginx.ca}",))
    assert p.ok, p.first
    assert p.read(77, 7777) == crc_of(data / "blob.bin", 77, 7777)


def test_open_errors(nginx, probe):
    from servers import free_port
    p = probe(nginx.http, "absent.bin")
    assert p.first.startswith("error 2 ") and "absent.bin" in p.first and "404" in p.first
    port = free_port()
    out, secs = timed(lambda: probe(f"http://127.0.0.1:{port}/", "blob.bin").first)
    assert out.startswith("error 111 ") and f"127.0.0.1:{port}" in out, out
    assert secs < 10, "a refused connection at open is said at once"


def test_cache_over_http(proxy, data, probe, work):
    blob = data / "blob.bin"
    cache = work / "httpcache"
    shutil.rmtree(cache, ignore_errors=True)
    p = probe(proxy.url, "blob.bin", (f"cache={cache}",))
    proxy.reset()
    assert p.read(100_000, 200_000) == crc_of(blob, 100_000, 200_000)
    assert p.read(100_000, 200_000) == crc_of(blob, 100_000, 200_000)
    log = proxy.stats()["log"]
    # one GET of exactly the range (its first and last blocks are kept in
    # part), the second read from disk
    assert [e["headers"]["range"] for e in log] == ["bytes=100000-299999"], log
    s = p.stats()
    assert s["hits"] == 7 and s["misses"] == 7, s
    assert 200_000 <= s["cache_bytes"] - 4096 < 200_000 + 4096, s
    # a read beside it fetches only what is not held; one that wants more
    # of a block than its run holds fetches from there (90,000 to 98,303 is
    # block 2, and block 3's run starts at 100,000); the runs join, so a
    # read across both ends is then served from disk
    proxy.reset()
    assert p.read(300_000, 50_000) == crc_of(blob, 300_000, 50_000)
    assert p.read(90_000, 20_000) == crc_of(blob, 90_000, 20_000)
    assert [e["headers"]["range"] for e in proxy.stats()["log"]] == \
        ["bytes=300000-349999", "bytes=90000-109999"]
    proxy.reset()
    assert p.read(90_000, 260_000) == crc_of(blob, 90_000, 260_000)
    assert proxy.stats()["requests"] == 0
    p.close()
    # another process, the same cache: no GET but the one that opens
    p = probe(proxy.url, "blob.bin", (f"cache={cache}",))
    proxy.reset()
    assert p.read(150_000, 100_000) == crc_of(blob, 150_000, 100_000)
    assert proxy.stats()["requests"] == 0
    # nocache: every read goes to the server
    p.close()
    p = probe(proxy.url, "blob.bin", (f"cache={cache}", "nocache"))
    proxy.reset()
    assert p.read(150_000, 100_000) == crc_of(blob, 150_000, 100_000)
    assert proxy.stats()["requests"] == 1 and p.stats()["cache_bytes"] == 0


def test_readahead_over_http(proxy, data, probe):
    """A hint fetches ahead on other threads: the reads after it send no
    request of their own."""
    blob = data / "blob.bin"
    p = probe(proxy.url, "blob.bin")
    proxy.reset()
    proxy.config(latency=0.1)
    assert p.cmd(f"hint 0 {BLOB_SIZE}") == "ok"
    for off in range(0, BLOB_SIZE, 1 << 20):
        assert p.read(off, 1 << 20) == crc_of(blob, off, 1 << 20)
    log = proxy.stats()["log"]
    assert [e["headers"]["range"] for e in log] == [f"bytes=0-{BLOB_SIZE - 1}"], log

