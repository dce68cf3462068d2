"""The dependencies say what the code needs: the course's own list (requirements.txt, the package's
dependencies) apart from its extras, the versions CI passed with (constraints.txt), the torch floor."""
import json
import re
import subprocess
import sys

import pytest
import torch
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from helpers.io import ROOT
from helpers.train import FUSED_ADAM_SINCE, _fused_ok, build_state
from tests.tiny import tiny_config

tomllib = pytest.importorskip("tomllib")          # Python 3.11+
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
UNPINNED = {"torch", "torchvision", "jupyterlab", "playwright"}   # Colab brings torch; the browser extra is not in CI's pins


def read_requirements(path) -> list[Requirement]:
    """The requirements of a pip requirements or constraints file (comments and blank lines dropped)."""
    lines = (line.split("#")[0].strip() for line in path.read_text().splitlines())
    return [Requirement(line) for line in lines if line]


def extras() -> dict[str, list[Requirement]]:
    """Each optional-dependency group, without the package's references to its own extras."""
    return {group: [r for r in map(Requirement, deps) if canonicalize_name(r.name) != canonicalize_name(PROJECT["name"])]
            for group, deps in PROJECT["optional-dependencies"].items()}


def test_requirements_txt_is_the_list_the_colab_set_up_cell_installs():
    """The set-up cell runs `pip install -e .`: requirements.txt must say the same, and nothing of the extras."""
    core = [Requirement(d) for d in PROJECT["dependencies"]]
    assert sorted(map(str, read_requirements(ROOT / "requirements.txt"))) == sorted(map(str, core))
    core_names = {canonicalize_name(r.name) for r in core}
    for group, deps in extras().items():
        assert not core_names & {canonicalize_name(r.name) for r in deps}, group


def test_every_package_ci_installs_is_pinned_within_what_pyproject_allows():
    pins = {canonicalize_name(r.name): r for r in read_requirements(ROOT / "constraints.txt")}
    assert all(len(r.specifier) == 1 and next(iter(r.specifier)).operator == "==" for r in pins.values())
    named = [Requirement(d) for d in PROJECT["dependencies"]] + [r for deps in extras().values() for r in deps]
    for r in named:
        name = canonicalize_name(r.name)
        if name in UNPINNED:
            assert name not in pins, f"{name} is pinned in constraints.txt"
            continue
        assert name in pins, f"{name} is not pinned in constraints.txt"
        version = next(iter(pins[name].specifier)).version
        assert r.specifier.contains(version), f"constraints.txt pins {name}=={version}, outside {r}"
    assert set(pins) <= {canonicalize_name(r.name) for r in named}, "constraints.txt pins a package nothing names"


def torch_floor() -> Version:
    (spec,) = (r.specifier for r in map(Requirement, PROJECT["dependencies"]) if r.name == "torch")
    return Version(next(s.version for s in spec if s.operator == ">="))


def test_training_at_the_torch_floor_uses_adam_without_fusing(monkeypatch):
    """pyproject allows a torch older than CPU fused Adam: build_state must not ask for it there."""
    cpu = torch.device("cpu")
    assert torch_floor() < Version(FUSED_ADAM_SINCE["cpu"])          # else the fallback would be dead code
    monkeypatch.setattr(torch, "__version__", f"{torch_floor()}.0+cpu")
    assert not _fused_ok(cpu) and _fused_ok(torch.device("cuda")) and not _fused_ok(torch.device("mps"))
    assert not build_state(tiny_config(), cpu).optimizer.defaults["fused"]
    monkeypatch.setattr(torch, "__version__", f"{FUSED_ADAM_SINCE['cpu']}.0+cpu")
    assert _fused_ok(cpu) and build_state(tiny_config(), cpu).optimizer.defaults["fused"]


def notebook_modules() -> list[str]:
    """Every helpers module a notebook imports."""
    found = set()
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] == "code":
                found |= set(re.findall(r"^\s*from (helpers[\w.]*) import", "".join(cell["source"]), re.M))
    return sorted(found)


@pytest.mark.slow
def test_the_notebooks_modules_and_the_offline_digits_need_no_extra():
    """In a fresh interpreter where the extras' packages (and a scientific stack) cannot be imported."""
    blocked = ["torchmetrics", "torch_fidelity", "open_clip", "diffusers", "skimage", "scipy", "sklearn", "pandas",
               "mlxtend", "papermill", "nbformat", "nbclient", "pypdf", "pytest"]
    modules = notebook_modules()
    assert "helpers.data" in modules and len(modules) > 10
    code = (f"import sys\nfor name in {blocked!r}: sys.modules[name] = None\n"
            f"import importlib\nfor name in {modules!r}: importlib.import_module(name)\n"
            "from helpers.data import fallback_digits\nprint(len(fallback_digits(True)), len(fallback_digits(False)))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split() == ["4500", "500"]
