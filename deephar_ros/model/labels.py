"""Action label sets shipped with the package, in the order of the released models' score vectors.

NTU RGB+D 60 follows the authors' deephar/data/ntu.py (class A001 first). Penn Action's 15 classes
are the data set's action names in sorted order, the order of the authors' annotation file.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

LABEL_FILES = {"ntu60": "ntu60_labels.txt", "penn_action": "penn_action_labels.txt"}


@cache
def _read_labels(label_set: str) -> tuple[str, ...]:
    text = resources.files("deephar_ros.model").joinpath("data", LABEL_FILES[label_set]).read_text("utf-8")
    return tuple(line.strip() for line in text.splitlines() if line.strip())


def load_labels(label_set: str) -> list[str]:
    """The class names of a label set ("ntu60" or "penn_action"), in score-vector order."""
    if label_set not in LABEL_FILES:
        raise ValueError(f"unknown label set {label_set!r}; known: {', '.join(LABEL_FILES)}")
    return list(_read_labels(label_set))
