"""bench/cases_remote.py - the bench fixture as a remote source: nginx serves
its folder, the tests' fault proxy in front of it adds 20 ms to every
request (a nearby region of an object store), and each figure is a ratio
against a baseline measured in the same round: requests and bytes per image
read with a cold cache, 32 readers against 1, the first scan against the
local one, a second epoch (cache warm) against a local mount.
"""

import os
import pathlib
import random
import shutil
import statistics
import sys

from procs import BenchError, Daemon, REPO, check_md5, log, read_sample, run, stat_ready, stats
from report import fmt, row

LATENCY = 0.020


def range_bytes(entry, sizes):
    """Bytes a logged request asked for (its Range, else the whole object)."""
    name = entry["path"].rsplit("/", 1)[-1].split("?")[0]
    size = sizes.get(name, 0)
    rng = entry["headers"].get("range", "")
    if not rng.startswith("bytes="):
        return size if entry["method"] == "GET" else 0
    a, _, b = rng[6:].partition("-")
    end = min(int(b), size - 1) if b else size - 1
    return max(0, end - int(a) + 1)


class RemoteCases:
    def remote(self):
        sys.path.insert(0, str(REPO / "tests" / "remote"))
        import servers  # the tests' nginx and fault proxy

        w = self.work / "remote"
        w.mkdir()
        # the default index and cache of a URL go here, not to the user's
        os.environ["XDG_CACHE_HOME"] = str(w / "xdg")
        ng = servers.Nginx(self.bench_dir, w / "nginx")
        px = None
        try:
            px = servers.Proxy(ng.http_port, w)
            px.config(latency=LATENCY)
            self._remote_rounds(px, w)
        finally:
            if px:
                px.stop()
            ng.stop()

    def _mount(self, src, mnt, index, *opts):
        args = [str(self.inatfs), str(src), str(mnt), "-f", "-o", f"index={index}"]
        for o in opts:
            args += ["-o", o]
        return Daemon(args, mnt, stat_ready(self.sample[0][0]),
                      self.work / (pathlib.Path(mnt).name + ".log"))

    def _remote_rounds(self, px, w):
        d = self.bench_dir
        sizes = {p.name: p.stat().st_size for p in d.iterdir() if p.is_file()}
        gz = sizes["train_val_images.tar.gz"] + sizes.get("test2017.tar.gz", 0)
        local_idx, remote_idx = w / "local.idx", w / "remote.idx"
        n1 = min(len(self.sample), 100 if self.quick else 200)
        res = {}
        ratios = {"scan": [], "req": [], "bytes": [], "conc": [], "epoch2": []}

        def add(label, v):
            res.setdefault(label, []).append(v)

        for r in range(self.rounds):
            log(f"remote source, round {r + 1}/{self.rounds}")
            # first scan: local, then through the proxy (a fresh cache each time)
            dt_l, _ = run([str(self.inatfs), "index", str(d), "--index", str(local_idx),
                           "--force"])
            cache = w / f"scan-cache{r}"
            dt_r, _ = run([str(self.inatfs), "index", px.url, "--index", str(remote_idx),
                           "--force", "--cache", str(cache)])
            shutil.rmtree(cache, ignore_errors=True)
            add("first scan, local folder (MB/s of tarball)", gz / dt_l / 1e6)
            add("first scan through the proxy (MB/s of tarball)", gz / dt_r / 1e6)
            ratios["scan"].append(dt_l / dt_r)

            order = self.sample[:]
            random.Random(3000 + r).shuffle(order)
            one = order[:n1]
            img_bytes = sum(s for _, s in one)
            # cold cache, 1 reader: what each image read costs on the wire
            cache = w / f"cache{r}"
            m = self._mount(px.url, w / "mnt-remote", remote_idx, f"cache={cache}")
            px.reset()
            dt1, n, _ = read_sample(m.mnt, one, 1)
            entries = px.stats()["log"]
            if r == 0:
                check_md5(m.mnt, one, self.md5)
            m.close()
            reqs = len(entries) / len(one)
            fetched = sum(range_bytes(e, sizes) for e in entries) / img_bytes
            add("requests per image read (cold cache)", reqs)
            add("bytes fetched per image byte (cold cache)", fetched)
            add("images/s, cold cache, 1 reader", len(one) / dt1)
            ratios["req"].append(reqs)
            ratios["bytes"].append(fetched)
            # cold cache, 32 readers (a cache of its own)
            c32 = w / f"cache32-{r}"
            m = self._mount(px.url, w / "mnt-remote", remote_idx, f"cache={c32}")
            px.reset()
            dt32, n, _ = read_sample(m.mnt, order, 32)
            add("requests in flight at the proxy, most (32 readers)", px.stats()["max_inflight"])
            m.close()
            shutil.rmtree(c32, ignore_errors=True)
            add("images/s, cold cache, 32 readers", len(order) / dt32)
            ratios["conc"].append((len(order) / dt32) / (len(one) / dt1))
            # second epoch: the first one's cache, against a local mount
            m = self._mount(px.url, w / "mnt-remote", remote_idx, f"cache={cache}")
            dt2, n, _ = read_sample(m.mnt, one, 1)
            m.close()
            m = self._mount(d, w / "mnt-local", local_idx)
            dtl, n, _ = read_sample(m.mnt, one, 1)
            m.close()
            shutil.rmtree(cache, ignore_errors=True)
            add("images/s, second epoch (cache warm), 1 reader", len(one) / dt2)
            add("images/s, local mount (gz in page cache), 1 reader", len(one) / dtl)
            ratios["epoch2"].append(dtl / dt2)

        rows = self.rep.section(
            f"Remote source (nginx + a proxy adding {LATENCY * 1e3:.0f} ms per request)",
            "The bench fixture served over HTTP on loopback through tests/remote/faultproxy.py "
            f"(one upstream connection per request, {LATENCY * 1e3:.0f} ms before each). Image "
            f"reads: {n1} images of the random sample (the 32-reader row: all "
            f"{len(self.sample)}); requests and bytes from the proxy's log. Each ratio is "
            "taken within one round against the baseline measured in it.")
        for label, xs in res.items():
            unit = ("x" if "per image" in label else "MB/s" if "MB/s" in label
                    else "requests" if "in flight" in label else "img/s")
            rows.append(row(label, xs, unit))
        med = {k: statistics.median(v) for k, v in ratios.items()}
        for k, v in ratios.items():
            m, lo, hi = stats(v)
            log(f"remote {k}: {m:.3f} [{lo:.3f}, {hi:.3f}]")
        self.rep.target("remote: requests per image read (cold cache)", f"{med['req']:.3f}",
                        "<= 1.05", med["req"] <= 1.05, "remote-requests")
        self.rep.target("remote: bytes fetched per image byte (cold cache)",
                        f"{med['bytes']:.3f}", "<= 1.10", med["bytes"] <= 1.10, "remote-bytes")
        self.rep.target("remote: images/s, 32 readers / 1 reader (cold cache)",
                        f"{fmt(med['conc'], 'x')}x", ">= 20x", med["conc"] >= 20,
                        "remote-readers")
        self.rep.target("remote: first scan through the proxy / local scan (MB/s)",
                        f"{med['scan'] * 100:.0f}%", ">= 90%", med["scan"] >= 0.90,
                        "remote-scan")
        self.rep.target("remote: second epoch (cache warm) / local mount (images/s)",
                        f"{med['epoch2'] * 100:.0f}%", ">= 90%", med["epoch2"] >= 0.90,
                        "remote-epoch2")
        if not all(ratios.values()):
            raise BenchError("the remote case measured nothing")
