"""inatfs installed like any file system tool: `meson install` puts the
binary and the man page inatfs(1) in place; the man page, `inatfs --help` and
the README say the same; mount(8) mounts it through mount.fuse3, from the
command line and from the README's /etc/fstab line.

The mount tests run in a private mount namespace where the installed tree
is bound over the build's prefix (/usr/local), so that mount.fuse3, which
finds `inatfs` on a PATH of its own, runs the installed binary; nothing
outside the namespace changes."""

import json
import os
import re
import shutil
import subprocess

import pytest

from expected import Expected
from mountlib import BUILD, REPO, unmount

README = REPO / "README.md"


def readme_part(section):
    """The README's man part(s) named section (scripts/gen-docs markers)."""
    text = README.read_text(encoding="utf-8")
    parts = re.findall(r"<!-- man %s(?: help)? -->\n(.*?)<!-- /man -->" % re.escape(section),
                       text, re.S)
    assert parts, section
    return "\n".join(parts)


def table_tags(md):
    """The first cells of a Markdown table's rows, without the header."""
    rows = [l for l in md.splitlines() if l.startswith("|")]
    tags = [r.strip("|").split("|")[0].strip().replace("`", "") for r in rows[2:]]
    return [t for t in tags if t]


def flat(text):
    """Rendered man text with its line-end hyphenation and spacing undone."""
    text = text.replace("\u2010\n", "").replace("\u2212", "-").replace("\u2010", "-")
    return re.sub(r"\s+", " ", text)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """meson install --destdir: (destdir, prefix, bindir, mandir)."""
    opts = json.loads(subprocess.run(["meson", "introspect", str(BUILD), "--buildoptions"],
                                     check=True, capture_output=True, text=True).stdout)
    opt = {o["name"]: o["value"] for o in opts}
    dest = tmp_path_factory.mktemp("install") / "root"
    r = subprocess.run(["meson", "install", "-C", str(BUILD), "--destdir", str(dest),
                        "--no-rebuild"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    return dest, opt["prefix"], opt["bindir"], opt["mandir"]


def test_install_puts_the_binary_and_the_man_page(installed):
    dest, prefix, bindir, mandir = installed
    files = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
    want = sorted([os.path.join(prefix, bindir, "inatfs").lstrip("/"),
                   os.path.join(prefix, mandir, "man1", "inatfs.1").lstrip("/")])
    assert files == want
    exe = dest / want[0] if want[0].endswith("inatfs") else dest / want[1]
    assert os.access(exe, os.X_OK)
    r = subprocess.run([str(exe), "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and re.fullmatch(r"inatfs \d+\.\d+\.\d+\n", r.stdout), r


def test_man_page_renders_and_says_what_the_readme_says(installed):
    dest, prefix, bindir, mandir = installed
    page = dest / prefix.lstrip("/") / mandir / "man1" / "inatfs.1"
    r = subprocess.run(["man", "--warnings", "-l", str(page)], capture_output=True, text=True,
                       env={**os.environ, "MANWIDTH": "100", "LANG": "C.UTF-8"})
    assert r.returncode == 0 and r.stderr == "", r.stderr
    text = flat(r.stdout)
    for sec in ("NAME", "SYNOPSIS", "DESCRIPTION", "COMMANDS", "OPTIONS", "VIEWS",
                "EXIT STATUS", "DIAGNOSTICS", "FILES", "SEE ALSO"):
        assert re.search(r"(^|\n)%s\n" % sec, r.stdout), sec
    help_text = subprocess.run([str(dest / prefix.lstrip("/") / bindir / "inatfs"), "--help"],
                               capture_output=True, text=True).stdout
    options = table_tags(readme_part("OPTIONS"))
    assert "-o index=PATH" in options and "-o scan_limit=MBPS" in options
    for tag in options:
        assert tag in text, tag
        assert tag in help_text, tag
    for code in table_tags(readme_part("EXIT STATUS")):
        assert re.search(r"\b%s\b" % code, text)
    for cmd in ("inatfs index", "inatfs info", "inatfs verify", "inatfs score"):
        assert cmd in text and cmd in help_text
    for view in ("train_val_images/", "2017/", "by-supercategory/", "with-bbox/",
                 "submission_template.csv"):
        assert view in text, view


def fstab_line():
    """The README's /etc/fstab example."""
    lines = [l for l in README.read_text(encoding="utf-8").splitlines()
             if "fuse.inatfs" in l and not l.startswith(("mount", "inatfs", "`", "<"))
             and len(l.split()) == 6]
    assert len(lines) == 1, lines
    return lines[0].split()


@pytest.fixture
def data_copy(tiny_dir, tmp_path):
    """A writable copy of the tiny fixture (the README's line keeps the index
    in DATA_DIR)."""
    d = tmp_path / "inat2017"
    shutil.copytree(tiny_dir, d, ignore=shutil.ignore_patterns(".inatfs-index*"))
    return d


def test_mount_t_fuse_inatfs_and_the_fstab_line(installed, data_copy, tmp_path, tiny_dir):
    dest, prefix, bindir, mandir = installed
    assert prefix == "/usr/local", "the test binds the install over /usr/local"
    exp = Expected(tiny_dir)
    sample = sorted(p for p in exp.by_path if p.startswith("train_val_images/"))[0]
    want_md5 = exp.by_path[sample]["md5"]
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    src, mp, fstype, opts, d1, d2 = fstab_line()
    assert fstype == "fuse.inatfs" and "ro" in opts.split(",")
    fstab = tmp_path / "fstab"
    fstab.write_text(f"{data_copy}  {mnt}  {fstype}  {opts}  {d1} {d2}\n")
    alias = "2017/" + sample.split("/", 1)[1]
    script = r'''
set -eu -o pipefail
dest=$1 data=$2 mnt=$3 fstab=$4 sample=$5 alias=$6
trap 'umount "$mnt" 2>/dev/null || true' EXIT
sum() { local s; s=$(md5sum < "$1"); echo "${s%% *}"; }
ro() { case ",$(awk -v m="$mnt" '$5 == m {print $6}' /proc/self/mountinfo)," in
       *,ro,*) ;; *) echo "$mnt is not mounted read-only"; exit 3 ;; esac; }
mount --bind "$dest/usr/local" /usr/local
[ "$(command -v inatfs)" = /usr/local/bin/inatfs ]
[ "$(man -w inatfs)" = /usr/local/share/man/man1/inatfs.1 ]
# the command line, as the README gives it (a first mount: it builds the index)
mount -t fuse.inatfs "$data" "$mnt" -o ro,allow_other
grep " $mnt " /proc/self/mountinfo | grep -q " - fuse.inatfs inatfs:$data "
ro
for i in $(seq 600); do [ -f "$data/.inatfs-index.sqlite" ] && break; sleep 0.1; done
a=$(sum "$mnt/$sample"); b=$(sum "$mnt/$alias")
echo "cli $a $b"
umount "$mnt"
# the fstab line
mount --fstab "$fstab" "$mnt"
grep " $mnt " /proc/self/mountinfo | grep -q " - fuse.inatfs inatfs:$data "
ro
a=$(sum "$mnt/$sample")
echo "fstab $a $(ls "$mnt" | tr '\n' ' ')"
umount "$mnt"
'''
    try:
        r = subprocess.run(["unshare", "--mount", "--propagation", "private", "bash", "-c",
                            script, "install-test", str(dest), str(data_copy), str(mnt),
                            str(fstab), sample, alias],
                           capture_output=True, text=True, timeout=300)
    finally:
        unmount(mnt)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == f"cli {want_md5} {want_md5}", r.stdout
    assert lines[1].startswith(f"fstab {want_md5} "), r.stdout
    assert {"train", "val", "2017", "train_val_images"} <= set(lines[1].split()[2:])
    # the README's line keeps the index in DATA_DIR: built once, reused
    assert (data_copy / ".inatfs-index.sqlite").is_file()
