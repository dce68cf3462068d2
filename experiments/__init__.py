"""The experiments behind the course's numbers; run each from the repository root as
``python -m experiments.NAME`` (``--help`` for its flags). ``experiments/README.md`` lists them."""
