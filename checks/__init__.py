"""Checked exercises for the course's notebooks: ``check("01.1", answer)`` prints "Right: ...",
"Not yet: <hint>" or "Not answered yet: <what to write>" and returns whether the answer passed.

Each notebook's exercises live in their own module (``checks.ex01``, ...), registered by id
("01.1": notebook 01, exercise 1). A function is checked against the package ``helpers`` on random
inputs from a fixed ``torch.Generator``; numbers within a stated tolerance. ``check`` never raises.
``python -m checks.student_copy OUTDIR`` writes the notebooks without their solutions.

otter-grader was weighed and not used: it needs ipywidgets>=8.1.5, which clashes with Colab's 7.7;
nbgrader was weighed and not used: it needs a server and a database for what a function call does here.
"""
from . import ex01, ex02, ex03, ex08  # noqa: F401  (each registers its exercises)
from .core import REGISTRY, check, verdict

__all__ = ["check", "verdict", "REGISTRY"]
