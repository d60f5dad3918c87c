"""Puts the suite's app (suites/llm-single-node/app) on sys.path, as Ray's workers have it."""

import sys
from pathlib import Path

APP_DIR = Path(__file__).resolve().parent.parent / "app"
sys.path.insert(0, str(APP_DIR))
