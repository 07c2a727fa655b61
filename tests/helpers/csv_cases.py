"""Bad CSV files whose errors are in their layout (header, label column, rows, labels): the loader and the peek
of `nnrun check` must both raise them. Each case is (file text, data options, the error's pattern)."""

from __future__ import annotations

CSV_LAYOUT_ERRORS = [
    ("a,b\n1,0\n", {"label": "c"}, r"data.label: .*d.csv has no column 'c'; its columns are a, b"),
    ("1,0\n2,1\n", {"label": "c"}, r"'c' is a column name, but .*d.csv has no header row"),
    ("1,0\n", {"label": 5}, r"there is no column 5; .*d.csv has 2 columns"),
    ("a,label\n1,0\n\n2,1,3\n", {}, r"d.csv:4: 3 fields, expected 2"),
    ("", {}, r"d.csv is empty"),
    ("a,label\n", {}, r"d.csv has no data rows after the header"),
    ("label\n1\n", {}, r"d.csv has only a label column"),
    ("label,a\n-1,0\n", {}, r"d.csv: train labels include -1"),
]
