"""bench/cases_read.py - reading images: random whole-image reads beside
the alternatives, sequential reads, the training loader.
"""

import json
import os
import pathlib
import random
import statistics
import sys

from procs import (BenchError, CAN_DROP, Daemon, PAIRS, REPO, check_md5, drop_caches, log, q,
                   read_sample, run, sh, stat_ready, stats, warm_file, warm_files)
from report import fmt, row

class ReadCases:
    def mount_inatfs(self, mnt, probe, data=None, index=None, opts=()):
        args = [str(self.inatfs), str(data or self.bench_dir), str(mnt), "-f",
                "-o", f"index={index or self.index}"]
        for o in opts:
            args += ["-o", o]
        return Daemon(args, mnt, stat_ready(probe), self.work / (pathlib.Path(mnt).name + ".log"))

    # -- random reads -------------------------------------------------------
    def random_reads(self):
        S = self.sample
        mb = sum(s for _, s in S) / 1e6
        res = {}       # label -> list of (img/s, MB/s)
        lat = {}       # label -> latencies (first round)
        lat_all = {}   # label -> latencies (all rounds)
        pair_1 = []    # inatfs 1 reader / igzip
        pair_2 = []    # inatfs 2 readers / 1 reader
        pair_floor = []   # inatfs per image / (passthrough_ll per image + inflate at igzip)
        floor_ms = []     # (inatfs, passthrough_ll, inflate) ms per image, per round
        self.build_passthrough()
        tv = self.bench_dir / "train_val_images.tar.gz"
        probe = S[0][0]

        def record(label, dt, nbytes, l):
            res.setdefault(label, []).append((len(l) / dt, nbytes / dt / 1e6))
            lat.setdefault(label, [x * 1e3 for x in l])
            lat_all.setdefault(label, []).extend(x * 1e3 for x in l)
            return nbytes / dt / 1e6

        for r in range(self.rounds):
            log(f"random reads, round {r + 1}/{self.rounds}")
            rs = random.Random(1000 + r)
            order = S[:]
            rs.shuffle(order)
            # inatfs cold: page cache dropped, fresh mount; then a warm pass
            if CAN_DROP:
                drop_caches()
                m = self.mount_inatfs(self.work / "mnt-r", probe)
                dt, n, l = read_sample(m.mnt, order, 1)
                record("inatfs, cold (drop_caches + fresh mount), 1 reader", dt, n, l)
                dt, n, l = read_sample(m.mnt, order, 1)
                record("inatfs, warm (second pass, same mount), 1 reader", dt, n, l)
                dt, n, l = read_sample(m.mnt, order, 2)
                record("inatfs, warm (second pass, same mount), 2 readers", dt, n, l)
                self.hwm.setdefault("random reads (bench)", []).append(m.hwm())
                m.close()
            # inatfs with the gz in page cache, fresh mounts; paired with igzip
            warm_file(tv)
            dt_ig, _ = sh(f"igzip -dc {q(tv)} > /dev/null")
            ig = self.sizes["train_val_images.tar.gz"] / dt_ig / 1e6
            res.setdefault("`igzip -dc train_val_images.tar.gz` (reference)", []).append((None, ig))
            # 1 reader then 2 readers, back to back, PAIRS times: one pass is
            # ~0.5 s, short enough for a hiccup of the shared host to move it
            ones, one_s = [], []
            for k in range(PAIRS):
                m = self.mount_inatfs(self.work / "mnt-r", probe)
                dt, n, l = read_sample(m.mnt, order, 1)
                one = record("inatfs, fresh mount (gz in page cache), 1 reader", dt, n, l)
                one_s.append(dt / len(l))
                if r == 0 and k == 0:
                    check_md5(m.mnt, order, self.md5)
                self.hwm.setdefault("random reads (bench)", []).append(m.hwm())
                m.close()
                m = self.mount_inatfs(self.work / "mnt-r", probe)
                dt, n, l = read_sample(m.mnt, order, 2)
                two = record("inatfs, fresh mount (gz in page cache), 2 readers", dt, n, l)
                self.hwm.setdefault("random reads (bench)", []).append(m.hwm())
                m.close()
                ones.append(one)
                pair_2.append(two / one)
            pair_1.append(statistics.median(ones) / ig)
            # the floor of any FUSE file system here: libfuse's own example
            # serving the extracted files (in page cache), same sample
            warm_files(self.extracted, order)
            m = Daemon([str(self.passthrough), "-f", "-o", f"source={self.extracted}",
                        str(self.work / "mnt-pt")], self.work / "mnt-pt", stat_ready(probe),
                       self.work / "pt.log")
            dt, n, l = read_sample(m.mnt, order, 1)
            record("passthrough_ll (libfuse's example) over the extracted folder, fresh "
                   "mount, 1 reader", dt, n, l)
            m.close()
            # inatfs per image against that floor plus inflating the image at
            # igzip -dc speed: what no FUSE file system over the tarball can beat
            floor = dt / len(l) + (n / len(l)) / (ig * 1e6)
            pair_floor.append(statistics.median(one_s) / floor)
            floor_ms.append((statistics.median(one_s) * 1e3, dt / len(l) * 1e3,
                             (n / len(l)) / (ig * 1e6) * 1e3))
            # extracted folder
            ext = self.extracted
            if CAN_DROP:
                drop_caches()
                dt, n, l = read_sample(ext, order, 1)
                record("extracted folder, cold (drop_caches), 1 reader", dt, n, l)
                drop_caches()
                dt, n, l = read_sample(ext, order, 2)
                record("extracted folder, cold (drop_caches), 2 readers", dt, n, l)
            dt, n, l = read_sample(ext, order, 1)
            record("extracted folder, warm (page cache), 1 reader", dt, n, l)
            dt, n, l = read_sample(ext, order, 2)
            record("extracted folder, warm (page cache), 2 readers", dt, n, l)
            # squashfuse
            warm_file(self.sqfs)
            m = Daemon(["squashfuse", "-f", str(self.sqfs), str(self.work / "mnt-sq")],
                       self.work / "mnt-sq", stat_ready(probe), self.work / "sq.log")
            dt, n, l = read_sample(m.mnt, order, 1)
            record("squashfuse (tar2sqfs image in page cache), fresh mount, 1 reader", dt, n, l)
            m.close()
            m = Daemon(["squashfuse", "-f", str(self.sqfs), str(self.work / "mnt-sq")],
                       self.work / "mnt-sq", stat_ready(probe), self.work / "sq.log")
            dt, n, l = read_sample(m.mnt, order, 2)
            record("squashfuse (tar2sqfs image in page cache), fresh mount, 2 readers", dt, n, l)
            m.close()
        # archivemount: once, a few files
        log(f"archivemount: mount + {self.narchive} reads")
        order = S[:]
        random.Random(1000).shuffle(order)
        m = Daemon(["archivemount", "-f", "-o", "readonly", str(tv), str(self.work / "mnt-am")],
                   self.work / "mnt-am", stat_ready(probe), self.work / "am.log")
        am_mount = m.start_s
        dt, n, l = read_sample(m.mnt, order[:self.narchive], 1)
        record(f"archivemount (first {self.narchive} of the sample), 1 reader", dt, n, l)
        m.close()

        rows = self.rep.section(
            f"Random whole-image reads (bench fixture, {len(S)} images, {mb:.0f} MB, shuffled)",
            "Each image: open, read to EOF in 1 MiB reads, close. 2 readers = 2 threads "
            f"sharing one queue. Cells: median [min, max] over the runs (inatfs with the gz in "
            f"page cache: {PAIRS} runs of 1 reader, each followed by one of 2 readers, per "
            "round); latency percentiles per image over all runs.",
            cols=["tool / case", "readers", "images/s", "MB/s", "p50 ms", "p90 ms", "max ms",
                  "runs"])

        def mm(xs, unit):
            m, lo, hi = stats(xs)
            return f"{fmt(m, unit)} [{fmt(lo, unit)}, {fmt(hi, unit)}]"

        for label, v in res.items():
            rd = "2" if label.endswith("2 readers") else "1"
            name = label.replace(", 1 reader", "").replace(", 2 readers", "")
            ips = mm([x[0] for x in v], "img/s") if v[0][0] is not None else "-"
            if label in lat_all:
                ls = sorted(lat_all[label])
                p50 = fmt(ls[len(ls) // 2], "ms")
                p90 = fmt(ls[min(len(ls) - 1, int(len(ls) * 0.9))], "ms")
                mx = fmt(ls[-1], "ms")
            else:
                p50 = p90 = mx = "-"
            rows.append([name, rd, ips, mm([x[1] for x in v], "MB/s"), p50, p90, mx, len(v)])
        rows = self.rep.section("Random reads: ratios and conversion costs")
        rows.append(row("inatfs 1 reader / igzip -dc MB/s (pairwise: the round's median "
                        "1-reader run / its igzip run)", pair_1, "x"))
        rows.append(row("inatfs 2 readers / 1 reader (pairwise: each 2-reader run / the "
                        "1-reader run just before it)", pair_2, "x"))
        rows.append(["archivemount mount time (reads the whole archive)", fmt(am_mount, "s"),
                     "", "", "s", 1])
        rows.append(["tar2sqfs conversion (igzip -dc | tar2sqfs -c gzip)", fmt(self.sqfs_s, "s"),
                     "", "", "s", 1])
        rows.append(["tar2sqfs image size", f"{self.sqfs.stat().st_size / 1e6:,.0f}", "", "",
                     "MB", 1])
        rows.append(row("inatfs 1 reader, per image / (passthrough_ll per image + the image "
                        "inflated at `igzip -dc` speed) (pairwise, per round)", pair_floor, "x"))
        for k, name in enumerate(("inatfs", "passthrough_ll", "inflate at igzip -dc speed")):
            rows.append(row(f"per image, 1 reader: {name}", [x[k] for x in floor_ms], "ms"))
        mf = statistics.median(pair_floor)
        self.rep.target("inatfs per image <= 1.1x (FUSE floor: passthrough_ll per image + the "
                        "image inflated at `igzip -dc` speed)", f"{mf:.2f}x", "<= 1.1x",
                        mf <= 1.1, "read-floor")
        m1 = statistics.median(pair_1)
        self.rep.target("inatfs 1 reader MB/s vs `igzip -dc` (fresh mount, gz in page cache; "
                        "moves with the host's speed)", f"{m1:.0%}", ">= 70%", m1 >= 0.70, "read-igzip")
        m2 = statistics.median(pair_2)
        self.rep.target("inatfs 2 readers vs 1 reader", f"{m2:.2f}x", ">= 1.7x", m2 >= 1.7, "read-2readers")
        self.rep.latency = lat

    def build_passthrough(self):
        """libfuse's example passthrough_ll, as Debian's libfuse3-dev ships its source."""
        src = pathlib.Path("/usr/share/doc/libfuse3-dev/examples/passthrough_ll.c")
        if not src.exists():
            raise BenchError(f"{src}: missing (libfuse3-dev)")
        self.passthrough = self.work / "passthrough_ll"
        _, cp = run(f"gcc -O2 -o {q(self.passthrough)} {q(src)} $(pkg-config --cflags --libs "
                    "fuse3)", shell=True)

    def make_sqfs(self):
        log("tar2sqfs conversion")
        self.sqfs = self.work / "train_val_images.sqfs"
        tv = self.bench_dir / "train_val_images.tar.gz"
        warm_file(tv)
        self.sqfs_s, _ = sh(f"igzip -dc {q(tv)} | tar2sqfs -q -c gzip {q(self.sqfs)} && sync")

    # -- sequential ---------------------------------------------------------
    def sequential(self):
        res = {}
        ratio_tv, ratio_train = [], []
        for r in range(1 if self.quick else 2):
            log(f"sequential pass, round {r + 1}")
            warm_file(self.bench_dir / "train_val_images.tar.gz")
            m = self.mount_inatfs(self.work / "mnt-s", self.sample[0][0])
            dt, cp = sh(f"tar -cf - -C {q(m.mnt)} train_val_images | wc -c")
            a = int(cp.stdout) / dt / 1e6
            res.setdefault("inatfs `train_val_images/` (archive order), fresh mount", []).append(a)
            self.hwm.setdefault("sequential pass (bench)", []).append(m.hwm())
            m.close()
            m = self.mount_inatfs(self.work / "mnt-s", self.sample[0][0], opts=("nosidecar",))
            dt, cp = sh(f"tar -cf - -C {q(m.mnt)} train | wc -c")
            b = int(cp.stdout) / dt / 1e6
            res.setdefault("inatfs `train/` view (class-id order, nosidecar), fresh mount",
                           []).append(b)
            self.hwm.setdefault("sequential pass (bench)", []).append(m.hwm())
            m.close()
            if CAN_DROP:
                drop_caches()
                dt, cp = sh(f"tar -cf - -C {q(self.extracted)} train_val_images | wc -c")
                res.setdefault("extracted `train_val_images/`, cold (drop_caches)", []).append(
                    int(cp.stdout) / dt / 1e6)
            dt, cp = sh(f"tar -cf - -C {q(self.extracted)} train_val_images | wc -c")
            e = int(cp.stdout) / dt / 1e6
            res.setdefault("extracted `train_val_images/`, warm (page cache)", []).append(e)
            ratio_tv.append(a / e)
            ratio_train.append(b / e)
        rows = self.rep.section("Sequential pass over a view (bench fixture)",
                                "`tar -cf - -C ROOT DIR | wc -c`, MB/s of tar output.")
        for k, v in res.items():
            rows.append(row(k, v, "MB/s"))
        rows.append(row("inatfs train_val_images / extracted warm (pairwise)", ratio_tv, "x"))
        rows.append(row("inatfs train view / extracted warm (pairwise)", ratio_train, "x"))

    # -- training loader ----------------------------------------------------
    def loader(self):
        m = self.mount_inatfs(self.work / "mnt-l", self.sample[0][0], opts=("nosidecar",))
        try:
            # an extracted twin of the train view: hard links into the extracted tree
            by_hash = {}
            for r in self.manifest:
                if r["archive"] == "train_val_images.tar.gz":
                    by_hash[os.path.basename(r["path"])] = r["path"]
            twin = self.work / "extracted-train"
            n = 0
            for cls in sorted(os.listdir(m.mnt / "train")):
                (twin / cls).mkdir(parents=True)
                for f in os.listdir(m.mnt / "train" / cls):
                    if f in by_hash:
                        os.link(self.extracted / by_hash[f], twin / cls / f)
                        n += 1
            if n == 0:
                raise BenchError("no images found in the train view")
            batches = 12 if self.quick else 20
            res = {"inatfs": [], "extracted": []}
            ratio = []
            for r in range(1 if self.quick else 3):
                log(f"training loader, round {r + 1}")
                v = {}
                for name, root in (("inatfs", m.mnt / "train"), ("extracted", twin)):
                    _, cp = run([sys.executable, str(REPO / "bench" / "loader.py"), str(root),
                                 str(batches), str(r)], timeout=900)
                    v[name] = float(json.loads(cp.stdout.strip().splitlines()[-1])["images_per_s"])
                    res[name].append(v[name])
                ratio.append(v["inatfs"] / v["extracted"])
            self.hwm.setdefault("training loader (bench)", []).append(m.hwm())
        finally:
            m.close()
        rows = self.rep.section(
            "Training loader (bench fixture)",
            f"torchvision `ImageFolder(ROOT/train)` ({n:,} images) + PIL decode + "
            f"RandomResizedCrop(224) + ToTensor, DataLoader(batch 32, 2 workers, shuffled), "
            f"images/s over {batches - 1} batches after the first. Extracted = the same "
            "train tree as hard links into the extracted folder (page cache warm); inatfs "
            "= fresh mount, gz in page cache, sidecars off.")
        rows.append(row("inatfs", res["inatfs"], "img/s"))
        rows.append(row("extracted folder", res["extracted"], "img/s"))
        rows.append(row("inatfs / extracted (pairwise)", ratio, "x"))
        mr = statistics.median(ratio)
        self.rep.target("training loader, inatfs vs extracted", f"{mr:.0%}", ">= 90%", mr >= 0.9, "loader")
