"""`inatfs score` end to end on the tiny fixture: a submission built from the
val labels scores 0 error; shifting the right label to rank 5 keeps top-5 at 0
and puts top-1 at 100%; the test template validates with --check; a broken row
is reported with its line number and exit code 2."""

import json

import pytest

from mountlib import inatfs
from expected import Expected


@pytest.fixture(scope="module")
def setup(tiny_dir, tmp_path_factory):
    d = tmp_path_factory.mktemp("score")
    return Expected(tiny_dir), d, d / "index.sqlite"


def write(path, rows):
    path.write_text("id,predicted\n" + "".join(f"{i},{' '.join(map(str, p))}\n" for i, p in rows))
    return path


def others(exp, cat, n):
    return [c for c in sorted(exp.cats) if c != cat][:n]


def score(exp_dir, csv, idx, *args):
    r = inatfs("score", csv, exp_dir, "--index", idx, "--json", *args)
    return r, (json.loads(r.stdout) if r.stdout.strip().startswith("{") else None)


def test_all_right(setup, tiny_dir):
    exp, d, idx = setup
    rows = [(i["id"], [exp.labels[("val", i["id"])]] + others(exp, exp.labels[("val", i["id"])], 4))
            for i in exp.val["images"]]
    r, js = score(tiny_dir, write(d / "right.csv", rows), idx)
    assert r.returncode == 0, r.stderr
    flat = json.dumps(js)
    assert js["valid"] is True, flat
    assert abs(js["top1_error"]) < 1e-12 and abs(js["top5_error"]) < 1e-12, flat


def test_right_at_rank_five(setup, tiny_dir):
    exp, d, idx = setup
    rows = [(i["id"], others(exp, exp.labels[("val", i["id"])], 4) + [exp.labels[("val", i["id"])]])
            for i in exp.val["images"]]
    r, js = score(tiny_dir, write(d / "rank5.csv", rows), idx)
    assert r.returncode == 0, r.stderr
    assert abs(js["top1_error"] - 1.0) < 1e-12 and abs(js["top5_error"]) < 1e-12, js


def test_template_checks_for_test_split(setup, tiny_dir, mounted):
    exp, d, idx = setup
    ids = [int(l.split(",")[0]) for l in
           (mounted / "submission_template.csv").read_text().splitlines()[1:]]
    rows = [(i, sorted(exp.cats)[:5]) for i in ids]
    r = inatfs("score", write(d / "test.csv", rows), tiny_dir, "--index", idx, "--split", "test")
    assert r.returncode == 0, r.stderr


def test_bad_row_is_named(setup, tiny_dir):
    exp, d, idx = setup
    rows = [(i["id"], sorted(exp.cats)[:5]) for i in exp.val["images"]]
    path = write(d / "bad.csv", rows)
    lines = path.read_text().splitlines()
    lines[3] = lines[3].rsplit(" ", 1)[0]          # four predictions on line 4
    path.write_text("\n".join(lines) + "\n")
    r = inatfs("score", path, tiny_dir, "--index", idx)
    assert r.returncode == 2
    assert ":4:" in r.stderr, r.stderr
