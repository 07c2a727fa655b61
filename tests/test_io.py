"""nnrun.io.inline: the one-line rendering that messages and table cells use."""

from __future__ import annotations

import numpy as np

from nnrun.io import inline


def test_inline_stays_on_one_line_for_long_and_nested_values():
    assert inline(list(range(9))) == "[0, 1, 2, 3, 4, 5, 6, 7, 8]"  # longer than dump_yaml's inline lists
    assert inline({"b": [1, [2, 3]], "a": (np.float32(0.5), None)}) == "{b: [1, [2, 3]], a: [0.5, null]}"
    assert inline(["identity", 0.0]) == "[identity, 0.0]"
    assert inline(3) == "3" and inline("relu") == "'relu'"
