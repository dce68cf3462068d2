"""The machinery behind :func:`check`: a registry of exercises, the three verdicts, and the small
tools every exercise's verifier uses to look at an answer without trusting it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch

CHECK_SEED = 2024        # every check draws its random inputs from a generator seeded with this


class NotYet(Exception):
    """Raised by a verifier: the answer is wrong; the message is the hint shown after "Not yet: "."""


class NotAnswered(Exception):
    """Raised by a verifier: the answer is still the placeholder (a function that returns None)."""


@dataclass(frozen=True)
class Exercise:
    """One checked exercise: ``verify(answer)`` returns what it verified, or raises NotYet / NotAnswered;
    ``blank`` says what to write, for an answer that is still the placeholder."""
    id: str
    verify: Callable[[Any], str]
    blank: str


REGISTRY: dict[str, Exercise] = {}


def exercise(exercise_id: str, blank: str):
    """Decorator: register ``verify`` as exercise ``exercise_id`` ("01.1": notebook 01, exercise 1)."""
    def register(verify: Callable[[Any], str]) -> Callable[[Any], str]:
        if exercise_id in REGISTRY:
            raise ValueError(f"exercise {exercise_id!r} is registered twice")
        REGISTRY[exercise_id] = Exercise(exercise_id, verify, blank)
        return verify
    return register


def is_blank(answer: Any) -> bool:
    """True for the placeholders of an unanswered cell: None and ``...``."""
    return answer is None or answer is Ellipsis


def verdict(exercise_id: str, answer: Any) -> tuple[bool, str]:
    """(passed, message) for ``answer``; the message starts "Right: ", "Not yet: " or "Not answered yet: ".

    Never raises (short of KeyboardInterrupt): whatever the answer does wrong becomes a "Not yet".
    """
    found = REGISTRY.get(exercise_id)
    if found is None:
        return False, f"Not yet: there is no exercise {exercise_id!r}; the exercises are {', '.join(sorted(REGISTRY))}"
    if is_blank(answer):
        return False, f"Not answered yet: {found.blank}"
    try:
        return True, f"Right: {found.verify(answer)}"
    except NotAnswered:
        return False, f"Not answered yet: {found.blank}"
    except NotYet as hint:
        return False, f"Not yet: {hint}"
    except Exception as err:            # a verifier tripped over an answer of a shape it did not foresee
        return False, f"Not yet: the check could not use your answer ({one_line(err)})"


def check(exercise_id: str, answer: Any) -> bool:
    """Check ``answer`` to exercise ``exercise_id``; print one line ("Right: ...", "Not yet: <hint>" or
    "Not answered yet: <what to write>") and return whether it passed. Never raises."""
    passed, message = verdict(exercise_id, answer)
    print(message)
    return passed


# ---- tools for verifiers -------------------------------------------------------------------------

def generator() -> torch.Generator:
    """A CPU generator seeded with CHECK_SEED: every check sees the same random inputs."""
    return torch.Generator().manual_seed(CHECK_SEED)


def one_line(err: BaseException) -> str:
    """``TypeName: first line of the message``."""
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__


def type_name(value: Any) -> str:
    """A short description of a value's type, for hints: "str 'abc'", "Tensor of shape (3,)"."""
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)} and dtype {value.dtype}"
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 40 else text[:37] + '...'}"


BROADCAST_HINT = (" (alpha_bar[t] has shape (B,); to scale a batch of images (B, C, H, W) it needs "
                  "shape (B, 1, 1, 1))")


def call(function: Any, *args: Any, name: str = "a function") -> Any:
    """``function(*args)``; a placeholder's None becomes NotAnswered and an exception a NotYet hint."""
    if not callable(function):
        raise NotYet(f"expected {name}, got {type_name(function)}")
    try:
        out = function(*args)
    except Exception as err:
        hint = BROADCAST_HINT if "must match the size of tensor" in str(err) else ""
        raise NotYet(f"your function raised {one_line(err)}{hint}") from None
    if out is None:
        raise NotAnswered
    return out


def as_tensor_like(value: Any, like: torch.Tensor, what: str, shape_hint: str = "") -> torch.Tensor:
    """``value`` if it is a tensor with ``like``'s shape and a floating dtype, else NotYet with a hint."""
    if not isinstance(value, torch.Tensor):
        raise NotYet(f"{what} should be a torch.Tensor of shape {tuple(like.shape)}, got {type_name(value)}")
    if tuple(value.shape) != tuple(like.shape):
        raise NotYet(f"{what} has shape {tuple(value.shape)}, expected {tuple(like.shape)}{shape_hint}")
    if value.dtype != like.dtype:
        raise NotYet(f"{what} has dtype {value.dtype}, expected {like.dtype}, the dtype of the inputs")
    if not torch.isfinite(value).all():
        raise NotYet(f"{what} contains inf or nan: look for a division by zero or the square root of a negative number")
    return value


def as_int(value: Any, what: str) -> int:
    """``value`` as a Python int: an int or a one-element integer tensor; anything else is NotYet."""
    if isinstance(value, torch.Tensor) and value.numel() == 1 and not value.is_floating_point() \
            and value.dtype != torch.bool:
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if hasattr(value, "dtype") and getattr(value, "shape", None) == () and "int" in str(value.dtype):   # numpy
        return int(value)
    if isinstance(value, torch.Tensor) and value.numel() > 1:
        raise NotYet(f"{what} should be one int, got a tensor of {value.numel()} values: pick the one asked for")
    raise NotYet(f"{what} should be an int, got {type_name(value)} (int(x) turns a number into one)")


def as_float(value: Any, what: str) -> float:
    """``value`` as a Python float: a real number or a one-element floating tensor; else NotYet."""
    if isinstance(value, torch.Tensor) and value.numel() == 1 and value.dtype != torch.bool:
        return float(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if hasattr(value, "dtype") and getattr(value, "shape", None) == () and hasattr(value, "item"):   # numpy
        return float(value.item())
    raise NotYet(f"{what} should be a number, got {type_name(value)}")


def close(got: torch.Tensor, want: torch.Tensor, tol: float) -> bool:
    """True when every entry agrees within ``tol`` relative to the larger magnitude (or absolutely below 1)."""
    return bool(torch.allclose(got.double(), want.double(), rtol=tol, atol=tol))


def first_match(got: torch.Tensor, mistakes: dict[str, torch.Tensor], tol: float) -> str | None:
    """The hint of the first known mistake whose output ``got`` reproduces, else None."""
    for hint, wrong in mistakes.items():
        if got.shape == wrong.shape and close(got, wrong, tol):
            return hint
    return None
