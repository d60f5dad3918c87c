"""Puts the recsys app (suites/recsys/app) on sys.path, as Ray's workers have it, and
registers the `ray` marker of the tests that start a local Ray cluster with Serve
(`-m "not ray"` leaves them out)."""

import sys
from pathlib import Path

APP_DIR = Path(__file__).resolve().parent.parent / "app"
sys.path.insert(0, str(APP_DIR))


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "ray: starts a local Ray cluster and Serve (about 30 s)"
    )
