"""Runs the libFuzzer harnesses (tests/fuzz/run): replays every regression
input, then fuzzes each harness for 15 s from its seed corpus."""

import pathlib
import subprocess

RUN = pathlib.Path(__file__).resolve().with_name("run")


def test_fuzz_harnesses():
    r = subprocess.run([str(RUN), "15"], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    harnesses = len(list(RUN.parent.glob("fuzz_*.c")))
    assert r.stdout.count("no crash") == harnesses, r.stdout
