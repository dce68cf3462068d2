"""The checked exercises (package ``checks``): each notebook's hidden solution passes its check, known
wrong answers fail with their hint, ``check`` never raises, and a student copy runs with its answers blank."""
from __future__ import annotations

import ast
import json
import math

import nbformat
import pytest
import torch

from checks import REGISTRY, check, verdict
from checks.student_copy import student_notebook, write_student_copy
from helpers.io import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
VERDICTS = ("Right: ", "Not yet: ", "Not answered yet: ")


def code_cells(path):
    return ["".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]


def solution_cells() -> dict[str, tuple[str, str, list[str]]]:
    """exercise id -> (notebook name, solution cell source, the notebook's import lines), for every
    solution cell that calls ``check("NN.k", solution_...)``."""
    found = {}
    for path in NOTEBOOKS:
        cells = json.loads(path.read_text())["cells"]
        imports = [line for c in cells if c["cell_type"] == "code" for line in "".join(c["source"]).splitlines()
                   if line.startswith(("import ", "from "))]
        for cell in cells:
            if cell["cell_type"] == "code" and "solution" in cell["metadata"].get("tags", []):
                src = "".join(cell["source"])
                for call in ast.walk(ast.parse(src)):
                    if isinstance(call, ast.Call) and getattr(call.func, "id", "") == "check":
                        found[call.args[0].value] = (path.name, src, imports)
    return found


def solution_answer(exercise_id: str):
    """The answer the notebook's solution cell gives: its ``solution_...`` definitions run, without the rest."""
    name, src, imports = solution_cells()[exercise_id]
    tree = ast.parse(src)
    keep = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name.startswith("solution_")
            or isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "").startswith("solution_")]
    namespace: dict = {}
    exec("\n".join(imports), namespace)                                      # the notebook's imports
    exec(compile(ast.Module(body=keep, type_ignores=[]), name, "exec"), namespace)
    (arg,) = [c.args[1].id for c in ast.walk(tree) if isinstance(c, ast.Call) and getattr(c.func, "id", "") == "check"
              and c.args[0].value == exercise_id]
    return namespace[arg]


def test_every_registered_exercise_has_a_solution_cell_and_every_check_call_a_registered_id():
    assert set(solution_cells()) == set(REGISTRY)
    assert set(REGISTRY) == {"01.1", "01.2", "01.3", "01.4", "02.1", "02.2", "02.3", "03.1", "03.2", "03.3",
                             "08.1", "08.2", "08.3"}


@pytest.mark.parametrize("exercise_id", sorted(REGISTRY))
def test_the_notebooks_solution_passes(exercise_id, capsys):
    assert check(exercise_id, solution_answer(exercise_id)) is True
    out = capsys.readouterr().out
    assert out.startswith("Right: ") and out.count("\n") == 1, out


# ---- plausible wrong answers, each with (a part of) the hint it must get -----------------------------------

def _x0(x_t, t, eps, alpha_bar, index=lambda t: t, root=torch.sqrt, sign=-1):
    ab = alpha_bar[index(t)].view(-1, 1, 1, 1)
    return (x_t + sign * root(1 - ab) * eps) / root(ab)


def _halves(logits):
    import torch.nn.functional as F
    target = torch.arange(len(logits))
    return F.cross_entropy(logits, target), F.cross_entropy(logits.T, target)


def _area_length(mask):
    from helpers.morphometry import skeleton
    return mask.sum(dim=(1, 2)).float(), skeleton(mask).sum(dim=(1, 2)).float()


def _wins(pos, neg, tie=0.5):
    return float((pos[:, None] > neg[None, :]).double().mean() + tie * (pos[:, None] == neg[None, :]).double().mean())


def _d(decay, step):
    return min(decay, (1 + step) / (10 + step))


def _count(*args, skips=True):
    from helpers.unet import UNet, count_parameters
    return count_parameters(UNet(*args, skip_connections=skips))


WRONG = {
    "01.1": [
        (lambda x, t, e, ab: _x0(x, t, e, ab, root=lambda v: v), "undo alpha_bar itself"),            # forgot the sqrt
        (lambda x, t, e, ab: _x0(x, t, e, ab, index=lambda t: t - 1), "one timestep early"),           # off by one
        (lambda x, t, e, ab: _x0(x, t, e, ab, index=lambda t: t + 1), "one timestep late"),
        (lambda x, t, e, ab: _x0(x, t, e, ab, sign=+1), "taken away from x_t, not added"),
        (lambda x, t, e, ab: x - (1 - ab[t].view(-1, 1, 1, 1)).sqrt() * e, "undo that scaling too"),
        (lambda x, t, e, ab: (x - (1 - ab[t]).sqrt() * e) / ab[t].sqrt(), "it needs shape (B, 1, 1, 1)"),  # no view
        (lambda x, t, e, ab: _x0(x, t, e, ab).double(), "dtype torch.float64"),
        (lambda x, t, e, ab: _x0(x, t, e, ab)[:, 0], "has shape"),
        (lambda x, t, e, ab: x / ab[t].view(-1, 1, 1, 1).sqrt(), "off by up to"),       # forgot the noise
    ],
    "01.2": [
        (lambda ab: int((ab / (1 - ab) >= 1).nonzero()[-1]), "last t at which the SNR is still at least 1"),
        (lambda ab: int((ab / (1 - ab) < 1).nonzero()[0]) + 1, "but so is the SNR at t ="),
        (lambda ab: int((ab / (1 - ab) < 1).sum()), "how many timesteps"),
        (lambda ab: (ab / (1 - ab) < 1).nonzero(), "one int"),
        (lambda ab: float((ab < 0.5).nonzero()[0]), "should be an int"),
        (lambda ab: int((ab < 0.25).nonzero()[0]), "is below 1, but so is"),      # SNR < 1/3, not < 1
    ],
    "01.3": [
        (lambda a1, a2: (a1 * a2, math.sqrt(1 - a1 * a2)), "each step scales its input by a square root"),
        (lambda a1, a2: (math.sqrt(a1 * a2), math.sqrt(1 - a1) + math.sqrt(1 - a2)), "variances do"),
        (lambda a1, a2: (math.sqrt(a1 * a2), math.sqrt(2 - a1 - a2)), "passes through the second step too"),
        (lambda a1, a2: (math.sqrt(a1 * a2), 1 - a1 * a2), "its standard deviation"),
        (lambda a1, a2: math.sqrt(a1 * a2), "should return a pair"),
        (lambda a1, a2: (math.sqrt(a1 + a2), 0.5), "what multiplies it"),
    ],
    "02.1": [
        (lambda c_in, c_out, k: c_in * c_out * k * k, "one more number per output channel"),        # forgot the bias
        (lambda c_in, c_out, k: c_in * c_out * k + c_out, "k * k weights"),                        # k, not k^2
        (lambda c_in, c_out, k: c_in * k * k + c_out, "its own kernel over every input channel"),
        (lambda c_in, c_out, k: 2 * c_in * c_out * k * k, "too many"),
        (lambda c_in, c_out, k: float(c_in * c_out * k * k + c_out), "should be an int"),
    ],
    "02.2": [
        (lambda size, levels: size % 2 ** levels == 0, "halves it"),                                 # off by one level
        (lambda size, levels: size % 2 == 0, "refuses 28 x 28 images with 4 levels"),
        (lambda size, levels: 1, "True or False"),
        (lambda size, levels: "yes", "True or False"),
    ],
    "02.3": [
        (lambda *a: _count(*a, skips=False) - _count(*a), "the sign is reversed"),
        (lambda *a: _count(*a, skips=False), "one model's whole count"),
        (lambda *a: _count(*a) - _count(*a, skips=False) + 1, "build both models"),
        (lambda *a: _count(*a) / _count(*a, skips=False), "should be an int"),
    ],
    "08.1": [
        (lambda lg: _halves(lg)[0], "only the images' half"),                                       # rows only
        (lambda lg: _halves(lg)[1], "only the captions' half"),                                     # columns only
        (lambda lg: sum(_halves(lg)), "their mean, not their sum"),
        (lambda lg: -sum(_halves(lg)) / 2, "the sign is reversed"),
        (lambda lg: sum(_halves(lg)) / 2 * len(lg), "summed over the batch"),
        (lambda lg: -(lg.log_softmax(1)[:, 0].mean() + lg.log_softmax(0)[0].mean()) / 2, "the target of row i is i"),
        (lambda lg: -(lg.log_softmax(1).diagonal() + lg.log_softmax(0).diagonal()) / 2, "one number"),  # no mean
        (lambda lg: -lg.diagonal().mean(), "cross-entropy of the rows and of the columns"),  # logits, not log-probs
    ],
    "08.2": [
        (lambda m: _area_length(m)[1] / _area_length(m)[0], "upside down"),
        (lambda m: _area_length(m)[0], "the ink's area alone"),
        (lambda m: _area_length(m)[1], "the skeleton's length alone"),
        (lambda m: _area_length(m)[0] / (28 * 28), "not by the whole image's pixel count"),
        (lambda m: _area_length(m)[0] / m.sum(dim=1).max(dim=1).values, "off by up to"),   # divided by the height
        (lambda m: (_area_length(m)[0] / _area_length(m)[1])[:5], "one thickness per digit"),
    ],
    "08.3": [
        (lambda p, n: 1 - _wins(p, n), "that is 1 - AUC"),
        (lambda p, n: _wins(p, n, tie=0.0), "counts as half a win"),
        (lambda p, n: _wins(p, n, tie=1.0), "not a whole one"),
        (lambda p, n: float((p > 0).double().mean()), "compare every positive with every negative"),
        (lambda p, n: torch.tensor([_wins(p, n)] * 2), "should be a number"),
    ],
    "03.1": [
        (lambda s, p, w, n: p * min(1, s / w) * 0.5 * (1 + math.cos(math.pi * s / n)),
         "the first update would do nothing"),
        (lambda s, p, w, n: p * 0.5 * (1 + math.cos(math.pi * s / n)), "warm-up starts near zero"),   # no warm-up
        (lambda s, p, w, n: p * min(1, (s + 1) / w), "brought it to zero"),                             # no decay
        (lambda s, p, w, n: p * min(1, (s + 1) / w) * 0.5 * (1 + math.cos(2 * math.pi * s / n)), "brought it to zero"),
        (lambda s, p, w, n: p * min(1, (s + 1) / w) * math.cos(math.pi * s / n / 2), "the course's"),  # quarter cosine
        (lambda s, p, w, n: "2e-3", "should be a number"),
    ],
    "03.2": [
        (lambda e, p, d, s: (1 - _d(d, s)) * e + _d(d, s) * p, "follows the newest weights"),         # swapped
        (lambda e, p, d, s: d * e + (1 - d) * p, "you use the decay as given"),                         # no warm-up
        (lambda e, p, d, s: _d(d, s) * e + p, "weights sum to 1"),
        (lambda e, p, d, s: (_d(d, s) * e + (1 - _d(d, s)) * p).tolist(), "should be a torch.Tensor"),
    ],
    "03.3": [
        (lambda ab: math.sqrt((1 - ab) / ab), "the other direction"),
        (lambda ab: ab / (1 - ab), "square roots"),
        (lambda ab: math.sqrt(ab), "see what multiplies x0_hat"),
        (lambda ab: (math.sqrt(ab), math.sqrt(1 - ab)), "should be a number"),
    ],
    "01.4": [(910, "not below 0.01 yet"), (920, "a shorter chain does too"), (1000, "a shorter chain does too"),
             (300, "not below 0.01 yet"), (911.0, "should be an int"), ("911", "should be an int"), (1, "at least 2")],
}


def test_every_exercise_has_wrong_answers_listed():
    assert set(WRONG) == set(REGISTRY)


@pytest.mark.parametrize("exercise_id, index", [(i, k) for i in sorted(WRONG) for k in range(len(WRONG[i]))])
def test_a_plausible_wrong_answer_fails_with_its_hint(exercise_id, index):
    answer, hint = WRONG[exercise_id][index]
    passed, message = verdict(exercise_id, answer)
    assert not passed and message.startswith("Not yet: ") and hint in message, message


# ---- never raises ----------------------------------------------------------------------------------------

def _raises(*args):
    raise ValueError("not written yet")


GARBAGE = ["a string", 42, -3.5, [1, 2], {"a": 1}, object(), float("nan"), torch.zeros(3), torch.tensor(float("nan")),
           _raises, lambda: 1, lambda *a: "a string", lambda *a: torch.zeros(2, 2), lambda *a: (1, 2, 3),
           lambda *a: torch.full((16, 1, 28, 28), float("nan")), lambda *a: [torch.zeros(1)] * 2,
           lambda *a: (float("nan"), float("nan")), lambda *a: True]


@pytest.mark.parametrize("exercise_id", sorted(REGISTRY))
def test_check_never_raises_and_prints_one_line_on_garbage(exercise_id, capsys):
    for garbage in GARBAGE:
        assert check(exercise_id, garbage) is False, garbage
        out = capsys.readouterr().out
        assert out.startswith(VERDICTS[1:]) and out.count("\n") == 1, (garbage, out)


def test_a_raising_function_gets_its_error_in_the_hint():
    assert verdict("01.1", _raises) == (False, "Not yet: your function raised ValueError: not written yet")


FUNCTIONS = ("01.1", "01.2", "01.3", "02.1", "02.2", "02.3", "03.1", "03.2", "03.3", "08.1", "08.2", "08.3")   # answered by a function


@pytest.mark.parametrize("exercise_id", sorted(REGISTRY))
def test_a_blank_answer_is_not_answered_yet(exercise_id):
    placeholder = lambda *args: None  # noqa: E731  (the learner's cell as given: `return None  # your code`)
    for blank in (None, ...) + ((placeholder,) if exercise_id in FUNCTIONS else ()):
        passed, message = verdict(exercise_id, blank)
        assert not passed and message.startswith("Not answered yet: ") and len(message) > 30, message


def test_an_unknown_exercise_names_the_known_ones():
    passed, message = verdict("99.1", 1)
    assert not passed and "'99.1'" in message and "01.1" in message


# ---- the student copy --------------------------------------------------------------------------------------

def test_the_student_copy_has_no_solutions_and_no_outputs(tmp_path):
    written = write_student_copy(tmp_path)
    assert [p.name for p in written] == [p.name for p in NOTEBOOKS] and (tmp_path / "GLOSSARY.md").is_file()
    for path in written:
        nb = nbformat.read(path, as_version=4)
        assert not any("solution" in c.metadata.get("tags", []) for c in nb.cells)
        assert not any(c.get("outputs") or c.get("execution_count") for c in nb.cells if c.cell_type == "code")
    original = nbformat.read(ROOT / "notebooks" / "01_forward_diffusion.ipynb", as_version=4)
    assert any("solution" in c.metadata.get("tags", []) for c in original.cells), "the original was changed"


def test_the_student_copy_refuses_to_write_over_the_notebooks():
    from checks.student_copy import main
    with pytest.raises(SystemExit):
        main([str(ROOT / "notebooks")])


@pytest.mark.slow
def test_a_student_copy_of_01_runs_top_to_bottom_with_its_answers_blank(tmp_path, monkeypatch):
    from nbclient import NotebookClient

    monkeypatch.setenv("DDPM_FAST", "1")
    monkeypatch.setenv("PYTHONPATH", str(ROOT))          # the kernel imports this checkout's checks and helpers
    path = ROOT / "notebooks" / "01_forward_diffusion.ipynb"
    nb = student_notebook(nbformat.read(path, as_version=4))
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()      # raises on an error
    printed = ["".join(o.get("text", "")) for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    blanks = [p for p in printed if p.startswith("Not answered yet: ")]
    assert len(blanks) == sum('check("01.' in c.source for c in nb.cells) == 4, printed
    assert not any(p.startswith(("Right: ", "Not yet: ")) for p in printed)
