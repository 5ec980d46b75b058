"""Helpers shared by the Python tests: generating fixtures and reading what a
fixture folder holds (manifest.tsv, fixture.json, the JSON in the zips).

A plain module rather than conftest.py, so that every test folder can import it
(tests/ is put on sys.path by tests/conftest.py).
"""

import csv
import json
import pathlib
import subprocess
import zipfile

REPO = pathlib.Path(__file__).resolve().parent.parent
MAKE_FIXTURE = REPO / "scripts" / "make-fixture"


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
