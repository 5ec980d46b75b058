#!/usr/bin/python3
"""bench/ab.py - the random-read path of two inatfs binaries, side by side.

    bench/ab.py OLD NEW [--data DIR] [--work DIR] [--images N] [--rounds R]

Mounts DATA (default build-fixtures/bench-1) with each binary in turn, a
fresh mount per pass, and reads the same N random images of the train/val
tarball (whole, in 1 MiB reads) with 1 reader, then with 2. Each round runs
the binaries in the order OLD NEW NEW OLD, once per reader count, so that a
drift of the shared machine falls on both. Each binary reads its own index
(WORK/ab-old.sqlite, WORK/ab-new.sqlite, built by it if missing), so that two
versions with different index schemas compare too. Prints images/s (median [min, max] over the passes),
per-image latency percentiles, and the median of NEW / OLD taken pass by
pass within each round. The tarball is kept in the page cache.
"""

import argparse
import pathlib
import random
import statistics
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import procs  # noqa: E402  (the bench's mounts, reads and cleanup)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--data", default=str(procs.REPO / "build-fixtures" / "bench-1"))
    ap.add_argument("--work", default="/tmp/inatfs-ab")
    ap.add_argument("--images", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    data, work = pathlib.Path(a.data), pathlib.Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    bins = {"old": a.old, "new": a.new}
    idx = {b: work / f"ab-{b}.sqlite" for b in bins}
    for b, path in idx.items():
        if not path.exists():
            procs.log(f"indexing {data} into {path} with {bins[b]}")
            procs.run([bins[b], "index", str(data), "--index", str(path)])
    rows = [r for r in procs.load_manifest(data) if r["archive"] == "train_val_images.tar.gz"]
    sample = [(r["path"], r["size"]) for r in random.Random(1).sample(rows, a.images)]
    tv = data / "train_val_images.tar.gz"
    ips = {(b, n): [] for b in bins for n in (1, 2)}
    lat = {(b, n): [] for b in bins for n in (1, 2)}
    ratio = {1: [], 2: []}
    for r in range(a.rounds):
        order = sample[:]
        random.Random(1000 + r).shuffle(order)
        procs.warm_file(tv)
        for readers in (1, 2):
            got = {}
            for b in ("old", "new", "new", "old"):
                m = procs.Daemon([bins[b], str(data), str(work / "mnt"), "-f", "-o",
                                  f"index={idx[b]}"], work / "mnt", procs.stat_ready(order[0][0]),
                                 work / f"{b}.log")
                dt, _, ls = procs.read_sample(m.mnt, order, readers)
                m.close()
                ips[(b, readers)].append(len(order) / dt)
                lat[(b, readers)].extend(x * 1e3 for x in ls)
                got.setdefault(b, []).append(len(order) / dt)
                procs.log(f"round {r + 1}, {readers} reader(s), {b}: {len(order) / dt:.0f} img/s")
            ratio[readers] += [n / o for n, o in zip(got["new"], got["old"])]
    print(f"| binary | readers | images/s median [min, max] | p50 ms | p90 ms | passes |")
    print("|---|---|---|---|---|---|")
    for (b, n), xs in ips.items():
        ls = sorted(lat[(b, n)])
        print(f"| {b} | {n} | {statistics.median(xs):.0f} [{min(xs):.0f}, {max(xs):.0f}] | "
              f"{ls[len(ls) // 2]:.2f} | {ls[int(len(ls) * 0.9)]:.2f} | {len(xs)} |")
    for n, xs in ratio.items():
        print(f"new / old, {n} reader(s), pass by pass: median {statistics.median(xs):.3f} "
              f"[{min(xs):.3f}, {max(xs):.3f}] over {len(xs)} pairs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
