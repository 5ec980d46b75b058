"""bench/cases_build.py - building the index: a first mount, the scan on
several threads, the gz engine alone, a later mount.
"""

import os
import shutil
import statistics

from procs import (BenchError, checkpoint_bytes, live_first_mount, log, q, rows_digest, run, run_phases, sh,
                   tar_sizes, warm_file)
from report import fmt, row

class BuildCases:
    # -- first mount --------------------------------------------------------
    def first_mount(self):
        d = self.bench_dir
        tars = [d / "train_val_images.tar.gz", d / "test2017.tar.gz"]
        sizes = tar_sizes(d, self.fix / "bench-1.sizes.json")
        self.sizes = sizes
        out_bytes = sum(sizes.values())
        tv_bytes = sizes["train_val_images.tar.gz"]
        in_bytes = sum(t.stat().st_size for t in tars)
        for t in tars:
            warm_file(t)
        T = {k: [] for k in ("inatfs", "igzip", "gzip", "tar", "r_igzip", "r_gzip", "r_tar",
                             "usable", "ended")}
        idx = self.work / "bench-index.sqlite"
        ext = self.work / "extracted"
        tarlist = " ".join(q(t) for t in tars)
        for r in range(self.rounds):
            log(f"first mount, round {r + 1}/{self.rounds}")
            if idx.exists():
                idx.unlink()
            dt, cp = run([str(self.inatfs), "index", str(d), "--index", str(idx), "--force"])
            if not idx.exists():
                raise BenchError("inatfs index wrote no index")
            T["inatfs"].append(dt)
            self.index_log = cp.stderr
            dt, _ = sh(f"igzip -dc {tarlist} > /dev/null")
            T["igzip"].append(dt)
            T["r_igzip"].append(T["inatfs"][-1] / dt)
            if r == 0 or not self.quick:
                dt, _ = sh(f"gzip -dc {tarlist} > /dev/null")
                T["gzip"].append(dt)
                T["r_gzip"].append(T["inatfs"][-1] / dt)
            shutil.rmtree(ext, ignore_errors=True)
            ext.mkdir()
            os.sync()
            dt, _ = sh(" && ".join(f"tar -xzf {q(t)} -C {q(ext)}" for t in tars) + " && sync")
            T["tar"].append(dt)
            T["r_tar"].append(T["inatfs"][-1] / dt)
            if r == 0 or not self.quick:
                u, e, hwm, rss = live_first_mount(self.inatfs, d, self.work / "mnt-first", idx,
                                                  self.work / "mnt-first.log")
                T["usable"].append(u)
                T["ended"].append(e)
                self.build_hwm.setdefault("first mount (bench)", []).append(hwm)
                self.hwm.setdefault("first mount, RSS once its scan ended (bench)",
                                    []).append(rss)
        self.index = idx
        self.extracted = ext
        self.index_bytes = idx.stat().st_size
        self.cp_bytes_per_member = checkpoint_bytes(idx) / self.n_members
        rows = self.rep.section(
            "First mount (bench fixture)",
            f"Both tarballs: {in_bytes / 1e6:,.0f} MB of gzip, {out_bytes / 1e6:,.0f} MB of tar "
            f"({self.n_members:,} images, train_val {tv_bytes / 1e6:,.0f} MB). Archives in page "
            "cache. MB/s = tar (uncompressed) bytes per second. `inatfs index` = full scan + "
            "index build; `tar -xzf` includes `sync`.")
        for k, label in (("inatfs", "`inatfs index` (scan + index)"),
                         ("igzip", "`igzip -dc > /dev/null`"),
                         ("gzip", "`gzip -dc > /dev/null`"),
                         ("tar", "`tar -xzf` into a folder")):
            rows.append(row(label + " time", T[k], "s"))
            rows.append(row(label + " speed", [out_bytes / t / 1e6 for t in T[k]], "MB/s"))
        rows.append(row("ratio inatfs index / igzip time (pairwise)", T["r_igzip"], "x"))
        rows.append(row("ratio inatfs index / gzip time (pairwise)", T["r_gzip"], "x"))
        rows.append(row("ratio inatfs index / tar -xzf time (pairwise)", T["r_tar"], "x"))
        rows.append(row("`inatfs DATA MNT` (no index): split views answer after", T["usable"],
                        "s"))
        rows.append(row("`inatfs DATA MNT` (no index): scan ended, index in place after",
                        T["ended"], "s"))
        rows.append(["index size", f"{self.index_bytes:,}", "", "", "bytes", 1])
        rows.append(["index size per image", fmt(self.index_bytes / self.n_members, "B"), "", "",
                     "bytes", 1])
        rows.append(["checkpoints and member ends in the index per image (JPEG payloads)",
                     fmt(self.cp_bytes_per_member, "B"), "", "", "bytes", 1])
        self.igzip_mbs = [out_bytes / t / 1e6 for t in T["igzip"]]

    # -- scan threads -------------------------------------------------------
    def scan_threads(self):
        """`inatfs index` (scan + index build) with the serial scan and with
        the chunked scan on 1, 2, 4, 8, 16 threads, each round beside an
        `igzip -dc` of the same files; every index must equal the serial
        scan's, row for row."""
        d = self.bench_dir
        tars = [d / "train_val_images.tar.gz", d / "test2017.tar.gz"]
        out_bytes = sum(self.sizes.values())
        tarlist = " ".join(q(t) for t in tars)
        counts = [0, 1, 2, 4, 8, 16]
        default = os.cpu_count() or 1
        T = {n: [] for n in counts}
        R = {n: [] for n in counts}    # pairwise: time / the round's igzip time
        M = {n: [] for n in counts}    # peak RSS
        ig = []
        digests = {}
        for t in tars:
            warm_file(t)
        for r in range(self.rounds):
            log(f"scan threads, round {r + 1}/{self.rounds}")
            # the counts in a different order each round, and each build right
            # after its own igzip run (the machine is shared: the load changes)
            order = counts[r % len(counts):] + counts[:r % len(counts)]
            for n in order:
                dt_ig, _ = sh(f"igzip -dc {tarlist} > /dev/null")
                ig.append(dt_ig)
                idx = self.work / f"threads-{n}.sqlite"
                if idx.exists():
                    idx.unlink()
                dt, _ = run_phases([str(self.inatfs), "index", str(d), "--index", str(idx),
                                    "--force", "-o", f"scan_threads={n}"])
                T[n].append(dt)
                R[n].append(dt / dt_ig)
                M[n].append(run_phases.maxrss)
                if r == 0:
                    digests[n] = rows_digest(idx)
                idx.unlink()
        differ = [n for n in counts if digests[n] != digests[0]]
        if differ:
            raise BenchError(f"scan threads: the index built on {differ} threads differs from "
                             "the serial scan's")
        rows = self.rep.section(
            "Scan threads (bench fixture)",
            f"`inatfs index --force -o scan_threads=N` on both tarballs ({out_bytes / 1e6:,.0f} "
            f"MB of tar), archives in page cache, each right after an `igzip -dc` of the same "
            f"files (the ratio is that pair's). 0 = the serial scan (zlib, the reference); N = "
            f"the chunked scan on N threads ({default} = the default here, one per CPU). MB/s "
            "= tar bytes per second of the whole build. Every index equals the serial scan's, "
            "row for row (checked on round 1).")
        rows.append(row("`igzip -dc` time", ig, "s"))
        rows.append(row("`igzip -dc` speed", [out_bytes / t / 1e6 for t in ig], "MB/s"))
        for n in counts:
            label = "serial scan" if n == 0 else f"{n} thread{'s' if n > 1 else ''}"
            rows.append(row(f"{label}: time", T[n], "s"))
            rows.append(row(f"{label}: speed", [out_bytes / t / 1e6 for t in T[n]], "MB/s"))
            rows.append(row(f"{label}: time / `igzip -dc` time (pairwise)", R[n], "x"))
            rows.append(row(f"{label}: peak RSS", [x / 1e6 for x in M[n]], "MB"))
        dn = default if default in T else max(k for k in counts if k <= default)
        med = statistics.median(R[dn])
        self.rep.target(f"`inatfs index` time vs `igzip -dc` ({dn} threads, pairwise)",
                        f"{med:.2f}x", "<= 0.8x", med <= 0.8, "scan-igzip")
        self.rep.target("`inatfs index` vs the serial scan (same run)",
                        f"{statistics.median(T[0]) / statistics.median(T[dn]):.2f}x faster",
                        "faster", statistics.median(T[dn]) < statistics.median(T[0]), "scan-serial")

    # -- gz engine bench ----------------------------------------------------
    def gz_engine(self):
        if not self.gzbench.exists():
            self.rep.notes.append("gz engine bench (build/bench/inatfs-gz-bench) not built: "
                                  "its rows are left out")
            return
        tv = self.bench_dir / "train_val_images.tar.gz"
        K = {}
        ratio = []
        nreads = 100 if self.quick else 300
        for r in range(1 if self.quick else 2):
            log(f"gz engine bench, round {r + 1}")
            _, cp = run([str(self.gzbench), str(tv), str(nreads)])
            kv = {}
            for line in cp.stdout.splitlines():
                if ":" in line:
                    k, v = line.split(":", 1)
                    try:
                        kv[k.strip()] = float(v)
                    except ValueError:
                        pass
            for k, v in kv.items():
                K.setdefault(k, []).append(v)
            dt, _ = sh(f"igzip -dc {q(tv)} > /dev/null")
            ig = self.sizes["train_val_images.tar.gz"] / dt / 1e6
            K.setdefault("igzip_mb_s", []).append(ig)
            ratio.append(kv["scan_mb_s"] / ig)
            if kv.get("seq_ok", 1) != 1:
                raise BenchError("gz bench: sequential inflate size mismatch")
        rows = self.rep.section(
            "gz engine (`inatfs-gz-bench train_val_images.tar.gz`)",
            "Scan with a checkpoint before every member; a sequential inflate through one "
            "cursor; whole-member reads in shuffled order from a cold cursor. The member read "
            "ratio is (time of one member read) / (member size at the sequential speed).")
        for key, label, unit in (("scan_mb_s", "scan speed", "MB/s"),
                                 ("igzip_mb_s", "`igzip -dc` same file, same round", "MB/s"),
                                 ("seq_mb_s", "sequential inflate (one cursor)", "MB/s"),
                                 ("checkpoints", "checkpoints", "count"),
                                 ("entry_checkpoints", "checkpoints with an entry (start inside "
                                  "the block, at the member)", "count"),
                                 ("avg_checkpoint_bytes", "bytes per checkpoint", "B"),
                                 ("avg_window_bytes", "stored sparse window per checkpoint", "B"),
                                 ("index_bytes_per_gb", "checkpoint bytes per GB of gzip", "B/GB"),
                                 ("member_median_ms", "random member read, median", "ms"),
                                 ("member_ratio_median", "random member read overhead ratio", "x"),
                                 ("member_avg_lead_bytes", "bytes inflated before a member", "B")):
            if key in K:
                rows.append(row(label, K[key], unit))
        rows.append(row("scan / igzip (pairwise)", ratio, "x"))
        self.gz_ratio = ratio

    # -- later mount --------------------------------------------------------
    def later_mount(self):
        probe = self.sample[0][0]
        ts = []
        hw = []
        for r in range(3 if self.quick else 7):
            m = self.mount_inatfs(self.work / "mnt-later", probe)
            ts.append(m.start_s)
            hw.append(m.hwm())
            m.close()
        rows = self.rep.section("Later mount (index already built, bench fixture)",
                                "From starting `inatfs DATA MNT -f -o index=FILE` until "
                                "`stat` of an image in the mount answers.")
        rows.append(row("inatfs", [t * 1e3 for t in ts], "ms"))
        lm = statistics.median(ts)
        self.rep.target("later mount, until `stat` answers", f"{lm * 1e3:.0f} ms", "<= 0.5 s",
                        lm <= 0.5, "later-mount")
