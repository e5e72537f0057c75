"""`meshstream upload DIR` against the real S3 server: the folder layout arrives under the prefix
(a model's parts stay in one folder), non-mesh files stay home, progress goes to stderr, and the
summary's counts match what a scan's discovery then finds in the bucket."""
from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest

from processors.discovery import group_models
from processors.samples import write_samples
from processors.storage import list_objects
from tests.conftest import ROOT

pytestmark = pytest.mark.integration


def test_upload_a_folder_keeps_its_layout(settings, s3, tmp_path):
    write_samples(tmp_path / "models")
    (tmp_path / "models" / "notes.txt").write_text("not a mesh")
    prefix = f"upload-{uuid.uuid4().hex[:8]}"
    proc = subprocess.run([sys.executable, "-m", "meshstream.cli", "upload", str(tmp_path / "models"),
                           "--bucket", "uploads", "--prefix", prefix], cwd=ROOT, env=os.environ,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    progress = proc.stderr.strip().splitlines()
    assert len(progress) == 7 and progress[0].startswith("[1/7]") and progress[-1].startswith("[7/7] 100%")
    assert proc.stdout.splitlines()[0].startswith(f"uploaded 7 files (") and "6 models" in proc.stdout
    assert "skipped 1 non-mesh files" in proc.stdout
    stored = list_objects(s3, "uploads", prefix + "/")
    assert sorted(o.key for o in stored) == sorted(f"{prefix}/{k}" for k in (
        "bracket/bracket_part_01.stl", "bracket/bracket_part_02.stl", "corrupt.stl", "cube_10mm.stl",
        "cylinder.ply", "sphere_r5.stl", "torus.obj"))
    sizes = {o.key.split("/", 1)[1]: o.size for o in stored}
    assert sizes["cube_10mm.stl"] == (tmp_path / "models" / "cube_10mm.stl").stat().st_size
    assert len(group_models(stored)) == 6
