"""The package finds the course's files (models/, results/) from a checkout or from DDPM_COURSE_ROOT,
and says in one line what to do when it is installed without them."""
import os
import shutil
import subprocess
import sys

import pytest

from helpers.io import ROOT

pytestmark = pytest.mark.slow          # subprocesses that import torch afresh

PROBE = ("from helpers.io import ROOT, ROOT_FOUND, CheckpointError, load_model, reference_model\n"
         "print(ROOT, ROOT_FOUND)\n"
         "try:\n    load_model(reference_model())\nexcept CheckpointError as e:\n    print('error:', e)\n")


def _run(tmp_path, env_root=None):
    """Run PROBE with a copy of the package alone on the path, as a non-editable install has it."""
    site = tmp_path / "site"
    shutil.copytree(ROOT / "helpers", site / "helpers", ignore=shutil.ignore_patterns("__pycache__"))
    env = {k: v for k, v in os.environ.items() if k != "DDPM_COURSE_ROOT"}
    env["PYTHONPATH"] = str(site)
    if env_root:
        env["DDPM_COURSE_ROOT"] = str(env_root)
    run = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, cwd=tmp_path, env=env,
                         timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout.splitlines()


def test_an_install_without_the_course_says_how_to_point_at_it(tmp_path):
    where, error = _run(tmp_path)
    assert where == f"{tmp_path / 'site'} False"
    assert "does not exist" in error and "the course's files (models/, results/) were not found" in error
    assert "set DDPM_COURSE_ROOT" in error


def test_ddpm_course_root_points_an_install_at_a_checkout(tmp_path):
    lines = _run(tmp_path, env_root=ROOT)
    assert lines == [f"{ROOT} True"]                     # the reference model loads: no error line
