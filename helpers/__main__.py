"""``python -m helpers``: the core commands of :mod:`helpers.cli` and the judge's of :mod:`helpers.evaluation.cli`."""
import sys

from .cli import build_parser
from .cli import main as run
from .evaluation.cli import add_commands


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` (default: sys.argv) with every command and run it; returns the exit status."""
    parser = build_parser()
    add_commands(parser.commands)
    return run(argv, parser)


if __name__ == "__main__":
    sys.exit(main())
