"""Fixtures of the mount tests; the helpers live in mountlib.py."""

import pytest

from mountlib import Mount, unexpected_stderr


@pytest.fixture(scope="session")
def mounted(tiny_dir, tmp_path_factory):
    """The tiny fixture mounted with default options (sidecars on)."""
    base = tmp_path_factory.mktemp("mount")
    m = Mount(tiny_dir, base / "mnt", index=base / "index.sqlite")
    try:
        yield m.mnt
    finally:
        rc = m.close()
        err = m.stderr()
    assert rc == 0, err
    assert unexpected_stderr(err) == [], err
