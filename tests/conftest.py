"""Shared pytest fixtures and helpers for inatfs's Python tests.

Run with /usr/bin/python3 -m pytest (Debian's python has PIL and numpy).
"""

import csv
import json
import os
import pathlib
import subprocess
import zipfile

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent
MAKE_FIXTURE = REPO / "scripts" / "make-fixture"


# ------------------------------------------------------------------ helpers

def make_fixture(outdir, *args, preset="tiny", seed=1):
    """Run scripts/make-fixture into outdir; returns outdir as a Path."""
    outdir = pathlib.Path(outdir)
    cmd = [str(MAKE_FIXTURE), "--preset", preset, "--seed", str(seed), *map(str, args), str(outdir)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return outdir


def load_manifest(d):
    """manifest.tsv of a fixture folder as a list of dicts (all values str)."""
    with open(pathlib.Path(d) / "manifest.tsv", encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))


def load_fixture_meta(d):
    """fixture.json of a fixture folder."""
    with open(pathlib.Path(d) / "fixture.json", encoding="utf-8") as fh:
        return json.load(fh)


def zip_json(d, zip_name, json_name):
    """Parse json_name from the zip, wherever it sits (root or a folder)."""
    with zipfile.ZipFile(pathlib.Path(d) / zip_name) as z:
        hits = [n for n in z.namelist() if n.rsplit("/", 1)[-1] == json_name]
        assert len(hits) == 1, (zip_name, json_name, z.namelist())
        return json.loads(z.read(hits[0]).decode("utf-8"))


# ------------------------------------------------------------------ fixtures

@pytest.fixture(scope="session")
def tiny_dir():
    """The tiny preset, seed 1, generated once (cached across sessions:
    make-fixture does nothing when the folder already holds it)."""
    cache = os.environ.get("INATFS_FIXTURE_CACHE")
    d = pathlib.Path(cache) if cache else REPO / "build-fixtures" / "tiny-1"
    return make_fixture(d, preset="tiny", seed=1)
