"""bench/cases_remote.py - the bench fixture as a remote source: nginx serves
its folder, the tests' fault proxy in front of it adds 20 ms to every
request (a nearby region of an object store), and each figure is a ratio
against a baseline measured in the same round: requests and bytes per image
read with a cold cache, 32 readers against 1, the first scan against the
local one, a second epoch (cache warm) against a local mount. Beside them,
on the same server in the same rounds, what a user would do instead
(remote_alt.py): download the folder and mount the copy (time to the first
image), or mount the server with rclone and inatfs on that folder (the
same reads as inatfs's own rows).
"""

import os
import pathlib
import random
import shutil
import statistics
import sys

from procs import BenchError, Daemon, REPO, check_md5, log, read_sample, run, stat_ready, stats
from remote_alt import (download, first_image, need_rclone, no_build, rclone_about,
                        rclone_mount, settle)
from report import fmt, row

LATENCY = 0.020
EPOCH2_PASSES = 3


def fetched(s):
    """(requests, body bytes the proxy sent) in a stats answer."""
    return len(s["log"]), sum(e["sent"] for e in s["log"])


class RemoteCases:
    def remote(self):
        sys.path.insert(0, str(REPO / "tests" / "remote"))
        import servers  # the tests' nginx and fault proxy

        need_rclone()
        w = self.work / "remote"
        w.mkdir()
        # the default index and cache of a URL go here, not to the user's
        os.environ["XDG_CACHE_HOME"] = str(w / "xdg")
        # autoindex: rclone's http backend lists the folder from its HTML
        ng = servers.Nginx(self.bench_dir, w / "nginx", autoindex=True)
        px = None
        try:
            px = servers.Proxy(ng.http_port, w)
            px.config(latency=LATENCY)
            self._remote_rounds(px, w)
        finally:
            if px:
                px.stop()
            ng.stop()

    def _mount(self, src, mnt, index, *opts, ready=None):
        args = [str(self.inatfs), str(src), str(mnt), "-f"]
        if index:
            args += ["-o", f"index={index}"]
        for o in opts:
            args += ["-o", o]
        return Daemon(args, mnt, ready or stat_ready(self.sample[0][0]),
                      self.work / (pathlib.Path(mnt).name + ".log"))

    def _first_image(self, px, w, r, sizes, remote_idx, add, ratios):
        """Seconds to the first image of the sample read whole: downloading
        the folder (curl) then a first mount of the copy, against inatfs on
        the URL with no index (its first mount builds over the network) and
        with the round's shared index; each with a cold cache."""
        rel, size = self.sample[0]
        ready = first_image(rel, size)
        dl = w / f"download{r}"
        t_dl = download(px.url, sizes, dl)
        m = self._mount(dl, w / "mnt-download", None, ready=ready)   # its default index
        t_dm = t_dl + m.start_s
        m.close()
        shutil.rmtree(dl)
        idx, cache = w / f"first{r}.idx", w / f"first-cache{r}"
        m = self._mount(px.url, w / "mnt-remote", idx, f"cache={cache}", ready=ready)
        t_a = m.start_s
        m.close()
        for f in w.glob(idx.name + "*"):
            f.unlink()
        shutil.rmtree(cache)
        cache = w / f"shared-cache{r}"
        m = self._mount(px.url, w / "mnt-remote", remote_idx, f"cache={cache}", ready=ready)
        t_b = m.start_s
        no_build(m, "the shared index")
        m.close()
        shutil.rmtree(cache)
        add("first image: download the folder (curl, one file after another)", t_dl, "s")
        add("first image: download + first mount of the copy", t_dm, "s")
        add("first image: inatfs on the URL, no index (its first mount builds)", t_a, "s")
        add("first image: inatfs on the URL, shared index (-o index=)", t_b, "s")
        ratios["dl_a"].append(t_dm / t_a)
        ratios["dl_b"].append(t_dm / t_b)

    def _rclone_index(self, px, w, local_idx):
        """The index inatfs uses on the rclone folder: the local folder's
        when its fingerprints match there, else one built through rclone
        (timed). Returns (index, note on which, scan seconds or None)."""
        rc = rclone_mount(px.url, w / "mnt-rclone", w)
        try:
            _, cp = run([str(self.inatfs), "info", str(rc.mnt), "--index", str(local_idx)])
            state = [ln for ln in cp.stdout.splitlines()
                     if ln.startswith(("index state:", "why:"))]
            if "index state: up to date" in state:
                out = local_idx, "the local folder's index serves it (fingerprints match)", None
            else:
                idx = w / "rclone.idx"
                dt, _ = run([str(self.inatfs), "index", str(rc.mnt), "--index", str(idx)])
                out = idx, ("the local folder's index does not serve it (" + "; ".join(state) +
                            "): inatfs builds one through rclone, once a run"), dt
        finally:
            rc.close()
        settle(px)
        return out

    def _rclone(self, px, w, idx, sample, readers, check=False):
        """inatfs over a fresh rclone mount (cold): reads sample with readers
        threads; (seconds, the proxy's stats once rclone has closed its
        streams, with the most requests in flight during the reads)."""
        rc = rclone_mount(px.url, w / "mnt-rclone", w)
        m = None
        try:
            m = self._mount(rc.mnt, w / "mnt-over-rclone", idx)
            no_build(m, "inatfs over rclone")
            settle(px)
            px.reset()
            dt, _, _ = read_sample(m.mnt, sample, readers)
            most = px.stats()["max_inflight"]
            if check:   # its reads add to the counts: ask for it where they are not used
                check_md5(m.mnt, sample, self.md5)
        finally:
            if m:
                m.close()
            rc.close()
        s = settle(px)
        s["max_inflight"] = most
        return dt, s

    def _remote_rounds(self, px, w):
        d = self.bench_dir
        sizes = {p.name: p.stat().st_size for p in d.iterdir() if p.is_file()}
        gz = sizes["train_val_images.tar.gz"] + sizes.get("test2017.tar.gz", 0)
        local_idx, remote_idx = w / "local.idx", w / "remote.idx"
        n1 = min(len(self.sample), 100 if self.quick else 200)
        res = {}
        ratios = {"scan": [], "scan1": [], "req": [], "bytes": [], "conc": [], "epoch2": [],
                  "dl_a": [], "dl_b": [], "rc_bytes": [], "rc_1": [], "rc_32": []}
        rc_idx = None

        def add(label, v, unit):
            res.setdefault(label, (unit, []))[1].append(v)

        for r in range(self.rounds):
            log(f"remote source, round {r + 1}/{self.rounds}")
            # first scan: local, then through the proxy (a fresh cache each time)
            dt_l, _ = run([str(self.inatfs), "index", str(d), "--index", str(local_idx),
                           "--force"])
            cache = w / f"scan-cache{r}"
            dt_r, _ = run([str(self.inatfs), "index", px.url, "--index", str(remote_idx),
                           "--force", "--cache", str(cache)])
            shutil.rmtree(cache, ignore_errors=True)
            add("first scan, local folder (MB/s of tarball)", gz / dt_l / 1e6, "MB/s")
            add("first scan through the proxy (MB/s of tarball)", gz / dt_r / 1e6, "MB/s")
            ratios["scan"].append(dt_l / dt_r)
            # the same with one decoding thread: the CPU the proxy and nginx
            # take is spare, so what is left is whether the read-ahead hides
            # the round trips
            one_t = ["-o", "scan_threads=1"]
            dt_l1, _ = run([str(self.inatfs), "index", str(d), "--index",
                            str(w / "scan1-local.idx"), "--force"] + one_t)
            dt_r1, _ = run([str(self.inatfs), "index", px.url, "--index",
                            str(w / "scan1-remote.idx"), "--force", "--cache", str(cache)] + one_t)
            shutil.rmtree(cache, ignore_errors=True)
            for f in w.glob("scan1-*"):
                f.unlink()
            add("first scan, one decoding thread, local folder (MB/s of tarball)",
                gz / dt_l1 / 1e6, "MB/s")
            add("first scan, one decoding thread, through the proxy (MB/s of tarball)",
                gz / dt_r1 / 1e6, "MB/s")
            ratios["scan1"].append(dt_l1 / dt_r1)

            order = self.sample[:]
            random.Random(3000 + r).shuffle(order)
            one = order[:n1]
            img_bytes = sum(s for _, s in one)
            # cold cache, 1 reader: what each image read costs on the wire
            cache = w / f"cache{r}"
            m = self._mount(px.url, w / "mnt-remote", remote_idx, f"cache={cache}")
            settle(px)
            px.reset()
            dt1, n, _ = read_sample(m.mnt, one, 1)
            nreq, nbytes = fetched(settle(px))
            if r == 0:
                check_md5(m.mnt, one, self.md5)
            m.close()
            reqs, per_byte = nreq / len(one), nbytes / img_bytes
            add("requests per image read (cold cache)", reqs, "x")
            add("bytes fetched per image byte (cold cache)", per_byte, "x")
            add("images/s, cold cache, 1 reader", len(one) / dt1, "img/s")
            ratios["req"].append(reqs)
            ratios["bytes"].append(per_byte)
            # cold cache, 32 readers (a cache of its own each time): the
            # sample, beside rclone's row, and the larger one, for the ratio
            many = self.sample_many[:]
            random.Random(4000 + r).shuffle(many)
            for imgs, label in ((order, "the sample"), (many, "the larger sample")):
                c32 = w / f"cache32-{r}"
                m = self._mount(px.url, w / "mnt-remote", remote_idx, f"cache={c32}")
                px.reset()
                dt, n, _ = read_sample(m.mnt, imgs, 32)
                add(f"requests in flight at the proxy, most (32 readers, {label})",
                    px.stats()["max_inflight"], "requests")
                m.close()
                shutil.rmtree(c32, ignore_errors=True)
                add(f"images/s, cold cache, 32 readers ({label}, {len(imgs)} images)",
                    len(imgs) / dt, "img/s")
                if imgs is order:
                    dt32 = dt
                else:
                    ratios["conc"].append((len(imgs) / dt) / (len(one) / dt1))
            # second epoch: the first one's cache, against a local mount
            # (a pass of the sample is short: EPOCH2_PASSES of each, fresh
            # mounts, in alternating order, are summed)
            dt2 = dtl = 0.0
            for k in range(EPOCH2_PASSES):
                for which in (("remote", "local") if k % 2 == 0 else ("local", "remote")):
                    if which == "remote":
                        m = self._mount(px.url, w / "mnt-remote", remote_idx, f"cache={cache}")
                    else:
                        m = self._mount(d, w / "mnt-local", local_idx)
                    dt, n, _ = read_sample(m.mnt, one, 1)
                    m.close()
                    if which == "remote":
                        dt2 += dt
                    else:
                        dtl += dt
            dt2 /= EPOCH2_PASSES
            dtl /= EPOCH2_PASSES
            shutil.rmtree(cache, ignore_errors=True)
            add("images/s, second epoch (cache warm), 1 reader", len(one) / dt2, "img/s")
            add("images/s, local mount (gz in page cache), 1 reader", len(one) / dtl, "img/s")
            ratios["epoch2"].append(dtl / dt2)

            # what a user would do instead: download, then mount the copy
            self._first_image(px, w, r, sizes, remote_idx, add, ratios)
            # or rclone's mount of the server with inatfs on it (cold each time)
            if rc_idx is None:
                rc_idx, rc_note, dt_rs = self._rclone_index(px, w, local_idx)
                if dt_rs is not None:
                    add("rclone + inatfs: first scan through rclone, once a run "
                        "(MB/s of tarball)", gz / dt_rs / 1e6, "MB/s")
            dt_r1, s1 = self._rclone(px, w, rc_idx, one, 1)
            nreq, nbytes = fetched(s1)
            add("rclone + inatfs: requests per image read (cold rclone)", nreq / len(one), "x")
            add("rclone + inatfs: bytes fetched per image byte (cold rclone)",
                nbytes / img_bytes, "x")
            add("rclone + inatfs: images/s, 1 reader", len(one) / dt_r1, "img/s")
            dt_r32, s32 = self._rclone(px, w, rc_idx, order, 32, check=r == 0)
            add("rclone + inatfs: requests in flight at the proxy, most (32 readers)",
                s32["max_inflight"], "requests")
            add("rclone + inatfs: images/s, 32 readers", len(order) / dt_r32, "img/s")
            ratios["rc_bytes"].append((nbytes / img_bytes) / per_byte)
            ratios["rc_1"].append((len(one) / dt1) / (len(one) / dt_r1))
            ratios["rc_32"].append((len(order) / dt32) / (len(order) / dt_r32))

        version, defaults = rclone_about()
        rows = self.rep.section(
            f"Remote source (nginx + a proxy adding {LATENCY * 1e3:.0f} ms per request)",
            "The bench fixture served over HTTP on loopback through tests/remote/faultproxy.py "
            f"(one upstream connection per request, {LATENCY * 1e3:.0f} ms before each, the "
            "answer streamed). Image "
            f"reads: {n1} images of the random sample (the 32-reader rows: all "
            f"{len(self.sample)}, and a larger sample of {len(self.sample_many)}, whose rate is "
            "the one compared with 1 reader: 300 images take 32 readers half a second, much "
            "of it opening connections and starting threads); requests and bytes from the proxy's log, bytes as the "
            "body bytes its sockets took (a client that closes a stream early is counted "
            "what it was sent by then, its socket buffers included). The second-epoch and "
            f"local-mount rows: {EPOCH2_PASSES} passes of each on fresh mounts, in "
            "alternating order, timed together. The *one decoding thread* rows: the first "
            "scan with `-o scan_threads=1`, which leaves the CPU the proxy and nginx use "
            "free, so that they show whether the read-ahead hides the round trips. "
            "What a user would do "
            "instead, on the same server in the same rounds: *first image* rows: the time "
            "until the sample's first image reads whole, after downloading every file of "
            "the folder with curl (one after another, one connection) and a first mount of "
            "the copy (it builds the index), or with inatfs on the URL, with no index (the "
            "first mount builds over the network) and with the round's index "
            "(`-o index=`), each with a cold cache. *rclone + inatfs* rows: "
            f"`rclone mount :http: MNT --http-url URL` ({version}, no config file, its "
            f"defaults: {defaults}; nginx's autoindex on for its listing), a fresh rclone "
            "process for each run, and inatfs with that folder as its DATA_DIR; "
            f"{rc_note}; the requests and bytes counted until rclone has closed its "
            "streams. Each ratio is taken within one round against the baseline measured "
            "in it.")
        for label, (unit, xs) in res.items():
            rows.append(row(label, xs, unit))
        for key, label in (
                ("scan1", "first scan, one decoding thread: through the proxy / local"),
                ("dl_a", "first image: download + mount / inatfs on the URL, no index"),
                ("dl_b", "first image: download + mount / inatfs on the URL, shared index"),
                ("rc_bytes", "bytes per image byte: rclone + inatfs / inatfs on the URL"),
                ("rc_1", "images/s, 1 reader: inatfs on the URL / rclone + inatfs"),
                ("rc_32", "images/s, 32 readers: inatfs on the URL / rclone + inatfs")):
            rows.append(row(label, ratios[key], "x"))
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
