#!/usr/bin/python3
"""bench/epoch2_ab.py - a second epoch through a remote mount's warm cache,
two inatfs binaries side by side, against a local mount.

    bench/epoch2_ab.py OLD NEW [--data DIR] [--work DIR] [--images N] [--rounds R]
                       [--latency S]

Serves DATA (default build-fixtures/bench-1) with nginx behind the tests'
fault proxy (tests/remote/faultproxy.py, --latency seconds before each
request, default 0.020), as the bench's remote case does. Each binary fills
a cache of its own by reading N random images of the train/val tarball
through a first mount of the URL (cold); then each round mounts, in the
order OLD NEW local NEW OLD local, a fresh mount of the URL with that warm
cache (no request reaches the server) or of DATA itself (NEW's binary, the
tarball in the page cache), and reads the same images whole, 1 reader, in
1 MiB reads (each round in its own order). Prints images/s per kind
(median [min, max] over the passes), per-image latency percentiles, the
median of the ratios taken within each round (each binary's warm epoch over
the round's local mount, and NEW over OLD), and the same ratios from each
image's median latency over all the passes (robust to a pass slowed by other
work on a shared machine). The indexes (WORK/local.idx, WORK/remote.idx)
are built by NEW when missing and kept.
"""

import argparse
import os
import pathlib
import random
import shutil
import statistics
import sys

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests" / "remote"))
import procs  # noqa: E402  (the bench's mounts, reads and cleanup)
import servers  # noqa: E402  (the tests' nginx and fault proxy)


def mount(binary, src, mnt, idx, first, log, *opts):
    args = [binary, str(src), str(mnt), "-f", "-o", f"index={idx}"]
    for o in opts:
        args += ["-o", o]
    return procs.Daemon(args, mnt, procs.stat_ready(first), log)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--data", default=str(procs.REPO / "build-fixtures" / "bench-1"))
    ap.add_argument("--work", default="/tmp/inatfs-epoch2-ab")
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--latency", type=float, default=0.020)
    a = ap.parse_args()
    data, work = pathlib.Path(a.data).resolve(), pathlib.Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    os.environ["XDG_CACHE_HOME"] = str(work / "xdg")   # daemon records, not the user's
    bins = {"old": str(pathlib.Path(a.old).resolve()), "new": str(pathlib.Path(a.new).resolve())}
    rows = [r for r in procs.load_manifest(data) if r["archive"] == "train_val_images.tar.gz"]
    sample = [(r["path"], r["size"]) for r in random.Random(42).sample(rows, a.images)]
    first = sample[0][0]
    ng = servers.Nginx(data, work / "nginx")
    px = None
    try:
        px = servers.Proxy(ng.http_port, work)
        px.config(latency=a.latency)
        local_idx, remote_idx = work / "local.idx", work / "remote.idx"
        if not local_idx.exists():
            procs.log(f"indexing {data}")
            procs.run([bins["new"], "index", str(data), "--index", str(local_idx)])
        if not remote_idx.exists():
            procs.log(f"indexing {px.url} (through the proxy)")
            tmp = work / "index-cache"
            procs.run([bins["new"], "index", px.url, "--index", str(remote_idx),
                       "--cache", str(tmp)])
            shutil.rmtree(tmp, ignore_errors=True)
        caches = {b: work / f"cache-{b}" for b in bins}
        for b, c in caches.items():   # the first epoch of each binary: its cache
            shutil.rmtree(c, ignore_errors=True)
            m = mount(bins[b], px.url, work / "mnt", remote_idx, first, work / f"{b}.log",
                      f"cache={c}")
            px.reset()
            dt, _, _ = procs.read_sample(m.mnt, sample, 1)
            m.close()
            procs.log(f"{b}: first epoch {len(sample) / dt:.0f} img/s, "
                      f"{len(px.stats()['log'])} requests")
        ips = {k: [] for k in ("old", "new", "local")}
        lat = {k: [] for k in ips}
        per = {k: [[] for _ in sample] for k in ips}   # each image's latencies
        ratio = {"old/local": [], "new/local": [], "new/old": []}
        for r in range(a.rounds):
            idx = list(range(len(sample)))
            random.Random(1000 + r).shuffle(idx)
            order = [sample[i] for i in idx]
            procs.warm_file(data / "train_val_images.tar.gz")
            got = {k: [] for k in ips}
            for k in ("old", "new", "local", "new", "old", "local"):
                if k == "local":
                    m = mount(bins["new"], data, work / "mnt", local_idx, first,
                              work / "local.log")
                else:
                    m = mount(bins[k], px.url, work / "mnt", remote_idx, first,
                              work / f"{k}.log", f"cache={caches[k]}")
                    px.reset()
                dt, _, ls = procs.read_sample(m.mnt, order, 1)
                if k != "local" and px.stats()["log"]:
                    raise procs.BenchError(f"{k}: the warm epoch sent requests: "
                                           f"{px.stats()['log'][:3]}")
                m.close()
                got[k].append(len(order) / dt)
                ips[k].append(len(order) / dt)
                lat[k].extend(x * 1e3 for x in ls)
                for i, x in zip(idx, ls):
                    per[k][i].append(x)
                procs.log(f"round {r + 1}, {k}: {len(order) / dt:.0f} img/s")
            loc = statistics.median(got["local"])
            for b in bins:
                ratio[f"{b}/local"] += [x / loc for x in got[b]]
            ratio["new/old"] += [n / o for n, o in zip(got["new"], got["old"])]
    finally:
        if px:
            px.stop()
        ng.stop()
    print(f"{a.images} images, {a.rounds} rounds, proxy latency {a.latency * 1e3:.0f} ms")
    print("| mount | images/s median [min, max] | p50 ms | p90 ms | passes |")
    print("|---|---|---|---|---|")
    for k, xs in ips.items():
        ls = sorted(lat[k])
        name = "local" if k == "local" else f"{k}, URL, warm cache"
        print(f"| {name} | {statistics.median(xs):.0f} [{min(xs):.0f}, {max(xs):.0f}] | "
              f"{ls[len(ls) // 2]:.2f} | {ls[int(len(ls) * 0.9)]:.2f} | {len(xs)} |")
    for k, xs in ratio.items():
        print(f"{k}, images/s within rounds: median {statistics.median(xs):.3f} "
              f"[{min(xs):.3f}, {max(xs):.3f}] over {len(xs)}")
    # each image's median latency over its passes, summed: what a pass costs
    # with the shared machine's hiccups (one slow pass) left out
    tot = {k: sum(statistics.median(x) for x in per[k]) for k in per}
    for k in ("old", "new"):
        print(f"{k}/local, images/s from each image's median latency: "
              f"{tot['local'] / tot[k]:.3f} ({tot[k] * 1e3 / len(sample):.3f} ms per image, "
              f"local {tot['local'] * 1e3 / len(sample):.3f})")
    print(f"new/old, the same: {tot['old'] / tot['new']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
