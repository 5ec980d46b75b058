"""bench/report.py - the benchmark's report: sections of figures, targets,
the markdown of docs/bench/results.md, the latency chart, and the README's
performance section made from them.
"""

import os
import platform

from procs import run, stats

class Report:
    def __init__(self):
        self.sections = []   # (title, rows, note)
        self.targets = []    # (name, value str, target str, met bool)
        self.latency = {}    # label -> list of ms
        self.notes = []

    def section(self, title, note=None, cols=None):
        rows = []
        self.sections.append((title, rows, note, cols))
        return rows

    def target(self, name, value, target, met, key):
        """A target and whether it is met; key names its paragraph in bench/why.md."""
        self.targets.append((name, value, target, met, key))

    def markdown(self, header):
        out = [header]
        out.append("## Targets\n")
        out.append("| target | measured | goal | status |")
        out.append("|---|---|---|---|")
        for name, value, goal, met, _ in self.targets:
            out.append(f"| {name} | {value} | {goal} | {'met' if met else '**missed**'} |")
        out.append("")
        for title, rows, note, cols in self.sections:
            out.append(f"## {title}\n")
            if note:
                out.append(note + "\n")
            cols = cols or ["tool / case", "median", "min", "max", "unit", "runs"]
            out.append("| " + " | ".join(cols) + " |")
            out.append("|" + "---|" * len(cols))
            for r in rows:
                out.append("| " + " | ".join(str(c) for c in r) + " |")
            out.append("")
        if self.notes:
            out.append("## Notes\n")
            out += [f"- {n}" for n in self.notes]
            out.append("")
        return "\n".join(out)


def fmt(x, unit):
    if x is None:
        return "-"
    if unit in ("ms",) and x < 10:
        return f"{x:.2f}"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}" if abs(x) >= 1 else f"{x:.3f}"


def row(label, xs, unit):
    m, lo, hi = stats(xs)
    return [label, fmt(m, unit), fmt(lo, unit), fmt(hi, unit), unit, len(xs)]


def machine():
    cpu = "?"
    with open("/proc/cpuinfo", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo", encoding="ascii") as fh:
        mem = int(fh.readline().split()[1]) * 1024
    return f"{os.cpu_count()} CPUs ({cpu}), {mem / 2**30:.1f} GiB RAM, Linux {platform.release()}"


def chart(lat, path, work):
    """Sorted per-image latency per tool (1 reader, round 1), log scale."""
    if not lat:
        return
    dat = work / "latency.dat"
    keys = [k for k in lat if "1 reader" in k]
    with open(dat, "w", encoding="utf-8") as fh:
        for k in keys:
            xs = sorted(lat[k])
            fh.write(f'# "{k}"\n')
            for i, x in enumerate(xs):
                pct = 100.0 * (i + 0.5) / len(xs)
                fh.write(f"{pct:.3f} {max(x, 1e-3):.6f}\n")
            fh.write("\n\n")
    plots = []
    for i, k in enumerate(keys):
        t = k.replace(", 1 reader", "").replace('"', "'")
        plots.append(f"'{dat}' index {i} using 1:2 with linespoints pt {i + 1} ps 0.5 "
                     f"title \"{t}\"")
    gp = work / "latency.gp"
    gp.write_text("\n".join([
        "set terminal pngcairo size 1100,700 noenhanced" if _has_cairo() else
        "set terminal png size 1100,700 noenhanced",
        f"set output '{path}'",
        "set logscale y",
        "set grid",
        "set key outside below",
        "set xlabel 'images, sorted by latency (percentile)'",
        "set ylabel 'per-image read latency, ms (log scale)'",
        "set title 'Random whole-image reads, 1 reader (bench fixture)'",
        "plot " + ", \\\n     ".join(plots),
        ""]))
    run(["gnuplot", str(gp)])


def _has_cairo():
    _, cp = run(["gnuplot", "-e", "set terminal"], check=False)
    return "pngcairo" in (cp.stdout + cp.stderr)


# ---------------------------------------------------------------- README

README_BEGIN = "<!-- bench:begin (made by scripts/bench from docs/bench/results.md) -->"
README_END = "<!-- bench:end -->"


def why_paragraphs(path):
    """{key: paragraph} from bench/why.md (one `## key` heading per target)."""
    out, key, buf = {}, None, []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            if key:
                out[key] = " ".join(buf).strip()
            key, buf = line[3:].strip(), []
        elif key and line.strip() and not line.startswith("#"):
            buf.append(line.strip())
    if key:
        out[key] = " ".join(buf).strip()
    return out


def readme_section(rep, when, where, why):
    """The README's performance section: today's run, its targets, and for
    each missed one why (bench/why.md)."""
    out = [README_BEGIN,
           f"Measured by `scripts/bench` on {where}, {when}; every figure, with the "
           "alternatives measured in the same rounds, is in "
           "[docs/bench/results.md](docs/bench/results.md), per-image latency in "
           "[docs/bench/latency.png](docs/bench/latency.png).",
           "",
           "| target | measured | goal | status |",
           "|---|---|---|---|"]
    for name, value, goal, met, _ in rep.targets:
        out.append(f"| {name} | {value} | {goal} | {'met' if met else '**missed**'} |")
    missed = [(n, v, g, k) for n, v, g, met, k in rep.targets if not met]
    if missed:
        out += ["", "Why the missed ones are missed:", ""]
        for name, value, goal, key in missed:
            text = why.get(key, "no explanation recorded (bench/why.md, key `%s`)" % key)
            out.append(f"- **{name}** ({value}, goal {goal}): {text}")
    out.append(README_END)
    return "\n".join(out)


def update_readme(readme, section):
    """Replaces the generated section of the README (between its markers)."""
    text = readme.read_text(encoding="utf-8")
    a, b = text.find(README_BEGIN), text.find(README_END)
    if a < 0 or b < a:
        raise ValueError(f"{readme}: no bench:begin/bench:end markers")
    readme.write_text(text[:a] + section + text[b + len(README_END):], encoding="utf-8")
