"""The course as a reader meets it: one set-up cell, exercises with solutions, no lab-log in teaching
text, a README whose numbers and links come from the files."""
import json
import re

import pytest

from experiments import readme
from helpers.io import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
TEACHING = [ROOT / "README.md", ROOT / "notebooks" / "GLOSSARY.md", *NOTEBOOKS]


def cells(path):
    return json.loads(path.read_text())["cells"]


def source(cell) -> str:
    return "".join(cell["source"])


def test_every_notebook_opens_with_the_same_set_up_cell_and_the_repository_of_pyproject():
    first = {path.name: source(next(c for c in cells(path) if c["cell_type"] == "code")) for path in NOTEBOOKS}
    assert len(set(first.values())) == 1, f"set-up cells differ: {sorted(first)}"
    setup = next(iter(first.values()))
    assert f'REPO_URL = "{readme.repo_url()}"' in setup and "raise ModuleNotFoundError" in setup


WITH_EXERCISES = ("01", "02", "03", "04", "05", "06", "07", "09")     # 10 ends with "Going further"; 11 is the analysis


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if p.name[:2] in WITH_EXERCISES], ids=lambda p: p.name)
def test_exercises_have_collapsed_solutions_that_run(path):
    nb = cells(path)
    questions = [i for i, c in enumerate(nb) if c["cell_type"] == "markdown" and re.search(r"^\*\*\d\.", source(c), re.M)]
    solutions = [c for c in nb if "solution" in c["metadata"].get("tags", []) and c["cell_type"] == "code"]
    assert 2 <= len(questions) <= 4 and len(solutions) == len(questions), (len(questions), len(solutions))
    assert any("## Your turn" in source(c) for c in nb)
    for cell in solutions:
        assert cell["metadata"]["jupyter"]["source_hidden"] and cell["execution_count"] is not None


@pytest.mark.parametrize("path", TEACHING, ids=lambda p: p.name)
def test_teaching_text_names_no_issue_history_or_machine_path(path):
    nb = path.suffix == ".ipynb"
    texts = [source(c) for c in cells(path)] if nb else [path.read_text()]
    if nb:
        texts += ["".join(o.get("text", "")) + json.dumps(o.get("data", {}).get("text/plain", ""))
                  + "".join(o.get("traceback", []))
                  for c in cells(path) for o in c.get("outputs", [])]
    text = "\n".join(texts)
    for pattern in (r"\bissue \d+", r"/work/", r"/tmp/", r"/home/", r"/root/", r"\bseed report\b", r"\bsittings?\b",
                    r"\bcandidate (model|run)s?\b", r"benchmarks/RESULTS", r"scripts/"):
        assert not re.search(pattern, text, re.IGNORECASE), f"{path.name} says {pattern!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebooks_find_files_from_the_repository_root(path):
    code = "\n".join(source(c) for c in cells(path) if c["cell_type"] == "code")
    assert '"../' not in code and "'../" not in code, "a path relative to the working directory"
    assert "GLOSSARY.md" in "\n".join(source(c) for c in cells(path) if c["cell_type"] == "markdown") \
        or path.name.startswith("11")


def test_the_colour_notebook_says_which_pictures_its_outputs_show():
    """Its heading and first paragraph say when the committed outputs come from the generated stand-in."""
    nb = cells(next(p for p in NOTEBOOKS if p.name.startswith("10_")))
    printed = "".join("".join(o.get("text", "")) for c in nb for o in c.get("outputs", []))
    heading = " ".join(source(nb[0]).split())
    on_stand_in = "uses the generated stand-in" in printed
    assert on_stand_in or "CIFAR-10: " in printed, "the data cell's output says neither"
    assert ("outputs saved with the course were made on the stand-in" in heading) == on_stand_in


def test_readme_is_a_front_door_whose_tables_come_from_the_files():
    text = (ROOT / "README.md").read_text()
    assert len(text.encode()) <= 6 * 1024
    assert readme.main(["--check"]) == 0, "README.md is out of date: python -m experiments.readme"
    for path in NOTEBOOKS:
        assert readme.colab_link(path.name) in text
    for picture in re.findall(r"!\[[^]]*\]\(([^)]+)\)", text):
        assert (ROOT / picture).is_file(), picture


def test_the_readme_check_fails_when_a_number_is_edited(tmp_path, monkeypatch):
    text = (ROOT / "README.md").read_text()
    edited = text.replace("99.52%", "99.99%", 1)
    assert edited != text
    (tmp_path / "README.md").write_text(edited)
    for name in ("pyproject.toml", "notebooks", "results", "models"):
        (tmp_path / name).symlink_to(ROOT / name)
    monkeypatch.setattr(readme, "ROOT", tmp_path)
    monkeypatch.setattr(readme, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(readme, "NOTEBOOKS", tmp_path / "notebooks")
    assert readme.main(["--check"]) == 1
