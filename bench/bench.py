#!/usr/bin/python3
"""bench/bench.py - measures inatfs side by side with the alternatives.

Driven by scripts/bench (which installs packages, builds and generates the
fixtures first). Prints a markdown report, writes it to docs/bench/results.md
and draws docs/bench/latency.png with gnuplot.

Every figure is the median of several runs with [min - max]; ratios are
computed pair by pair within one round, then their median is taken. Every
mount is unmounted and every daemon stopped on exit, whatever happens; a step
that fails stops the whole run (no table with wrong numbers).
"""

import argparse
import datetime
import pathlib
import random
import shutil
import subprocess
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from procs import (BenchError, CAN_DROP, REPO, TEMPS, load_manifest, log,  # noqa: E402
                   tar_sizes, unmount)
from report import (Report, chart, machine, readme_section, row,  # noqa: E402
                    update_readme, why_paragraphs)
from cases_build import BuildCases  # noqa: E402
from cases_read import ReadCases  # noqa: E402
from cases_remote import RemoteCases  # noqa: E402
from cases_scale import ScaleCases  # noqa: E402


class Bench(BuildCases, ReadCases, ScaleCases, RemoteCases):
    def __init__(self, args):
        self.a = args
        self.quick = args.quick
        self.inatfs = pathlib.Path(args.inatfs)
        self.gzbench = pathlib.Path(args.gz_bench)
        self.fix = pathlib.Path(args.fixtures)
        self.bench_dir = self.fix / "bench-1"
        self.scale_dir = self.fix / "scale-1"
        self.work = pathlib.Path(args.work)
        if self.work.exists():
            for line in open("/proc/self/mountinfo", encoding="utf-8"):
                mp = line.split()[4]
                if mp.startswith(str(self.work.resolve()) + "/"):
                    unmount(mp)
            shutil.rmtree(self.work)
        self.work.mkdir(parents=True)
        TEMPS.append(self.work)
        self.rep = Report()
        self.hwm = {}
        self.build_hwm = {}   # first mounts: the build runs in the daemon (not serving)
        self.index_hwm = None
        self.rounds = 1 if self.quick else 3
        self.nsample = 100 if self.quick else 300
        self.narchive = 4 if self.quick else 6

    def run(self):
        t0 = time.time()
        self.manifest = load_manifest(self.bench_dir)
        imgs = [r for r in self.manifest if r["archive"] == "train_val_images.tar.gz"]
        self.n_members = sum(1 for r in self.manifest if r["archive"].endswith(".tar.gz"))
        self.md5 = {r["path"]: r["md5"] for r in imgs}
        rs = random.Random(42)
        self.sample = [(r["path"], r["size"]) for r in rs.sample(imgs, min(self.nsample, len(imgs)))]
        # 32 readers run through a sample of 300 in half a second, much of it
        # opening connections and starting threads: their rate is taken over more
        self.sample_many = [(r["path"], r["size"])
                            for r in random.Random(43).sample(imgs, min(4 * self.nsample,
                                                                        len(imgs)))]
        only = set(self.a.only.split(",")) if self.a.only else None

        def want(x):
            return only is None or x in only

        if only is not None:
            self.rep.notes.append(f"--only {self.a.only}: a partial run")
        if want("bench"):
            self.first_mount()
            self.scan_threads()
            self.gz_engine()
            self.later_mount()
            self.make_sqfs()
            self.random_reads()
            self.sequential()
            self.loader()
        elif want("threads"):
            self.sizes = tar_sizes(self.bench_dir, self.fix / "bench-1.sizes.json")
            self.scan_threads()
        if want("remote"):
            self.remote()
        if not self.quick and want("scale"):
            self.scale()
            self.score()
        elif self.quick:
            self.rep.notes.append("--quick: scale fixture (metadata, index at scale, score) skipped")
        # RSS
        rows = self.rep.section(
            "inatfs daemon peak RSS (VmHWM at the end of each run)",
            "Serving runs. A first mount builds the index in the daemon's process: its peak is "
            "the build's (listed below, apart), and what counts for serving is its RSS once "
            "the scan is over.")
        worst = 0
        for k, v in self.hwm.items():
            rows.append(row(k, [x / 1e6 for x in v], "MB"))
            worst = max(worst, max(v))
        for k, v in self.build_hwm.items():
            rows.append(row(f"{k}: peak while building (not serving)", [x / 1e6 for x in v],
                            "MB"))
        if self.hwm:   # (a partial run may have measured none)
            self.rep.target("daemon peak RSS (all runs, max)", f"{worst / 1e6:.1f} MB",
                            "<= 150 MB", worst <= 150e6, "rss")
        self.elapsed = time.time() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--inatfs", default=str(REPO / "build" / "src" / "cli" / "inatfs"))
    ap.add_argument("--gz-bench", default=str(REPO / "build" / "bench" / "inatfs-gz-bench"))
    ap.add_argument("--fixtures", default=str(REPO / "build-fixtures"))
    ap.add_argument("--work", default=str(REPO / "build-fixtures" / "bench-work"))
    ap.add_argument("--out", default=str(REPO / "docs" / "bench"))
    ap.add_argument("--only", help="for development: comma list of bench,scale,remote (threads: "
                    "only the scan threads section of bench)")
    ap.add_argument("--readme", default=str(REPO / "README.md"),
                    help="README whose performance section a full run rewrites")
    ap.add_argument("--reuse-scale-index", help="for development: an existing scale index "
                    "(its build is then not measured)")
    a = ap.parse_args()
    b = Bench(a)
    try:
        b.run()
    except BenchError as e:
        log(f"FAILED: {e}")
        return 1
    if not CAN_DROP:
        b.rep.notes.append("not root: cold (drop_caches) rows are left out")
    date = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    rev = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True).stdout.strip()
    header = (f"# inatfs benchmark{' (--quick)' if a.quick else ''}\n\n"
              f"- date: {date}\n- machine: {machine()}\n- commit: {rev} (working tree may differ)\n"
              f"- command: `scripts/bench{' --quick' if a.quick else ''}` "
              f"({b.elapsed / 60:.1f} min of measuring)\n"
              "- figures: median [min, max] of the runs; ratios computed pair by pair in one "
              "round. The machine is shared: expect noise.\n"
              "- chart: [latency.png](latency.png)\n")
    md = b.rep.markdown(header)
    out = pathlib.Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.md").write_text(md)
    chart(b.rep.latency, out / "latency.png", b.work)
    if not a.quick and not a.only and not a.reuse_scale_index:
        # the README states today's figures: only a full run may write them
        why = why_paragraphs(pathlib.Path(__file__).resolve().parent / "why.md")
        update_readme(pathlib.Path(a.readme), readme_section(b.rep, date, machine(), why))
        log(f"wrote the performance section of {a.readme}")
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
