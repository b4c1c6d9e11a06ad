"""The web workers' entry point (config/wsgi.py, what gunicorn loads)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import gc
from config.wsgi import application
assert application is not None
print(gc.get_freeze_count(), len(gc.get_objects()))
"""


def test_what_start_up_loaded_is_left_out_of_the_collectors_full_passes():
    """A worker's modules, settings and apps are frozen for the garbage collector once
    loaded, so that its full passes (about 70 ms each over them) do not stall requests."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True,
        text=True,
        check=True,
    )
    frozen, tracked = (int(number) for number in result.stdout.split())
    assert frozen > 20_000  # Django, the apps and their modules
    assert tracked < frozen  # what is left for the collector is the smaller part
