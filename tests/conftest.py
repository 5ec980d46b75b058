"""Shared pytest fixtures and helpers for inatfs's Python tests.

Run with /usr/bin/python3 -m pytest (Debian's python has PIL and numpy).
"""

import os
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from fixturelib import (REPO, MAKE_FIXTURE, load_fixture_meta, load_manifest,  # noqa: E402,F401
                        make_fixture, zip_json)


# ------------------------------------------------------------------ fixtures

@pytest.fixture(scope="session")
def tiny_dir():
    """The tiny preset, seed 1, generated once (cached across sessions:
    make-fixture does nothing when the folder already holds it)."""
    cache = os.environ.get("INATFS_FIXTURE_CACHE")
    d = pathlib.Path(cache) if cache else REPO / "build-fixtures" / "tiny-1"
    return make_fixture(d, preset="tiny", seed=1)
