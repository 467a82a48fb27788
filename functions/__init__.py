"""Stateless scoring functions (one folder each): CloudEvents over HTTP in, Redis boards out.

A function is a subpackage with a ``func.py`` (Knative's func layout); ``FUNCTIONS`` lists them
by looking, so the CLI, ``stampede up`` and the manifest tests cannot disagree on the set.
"""

from __future__ import annotations

from pathlib import Path

FUNCTIONS: tuple[str, ...] = tuple(
    sorted(p.name for p in Path(__file__).parent.iterdir() if (p / "func.py").is_file())
)
