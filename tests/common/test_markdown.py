"""The one markdown-table helper: cells cannot break the table."""

from __future__ import annotations

from ctscan_ops.common.markdown import md_cell, md_table


def test_pipes_and_line_breaks_stay_inside_their_cell():
    table = md_table(["a|b", "c"], [["x|y", "line 1\nline 2\r\nline 3"], [None, 2]])
    lines = table.split("\n")
    assert lines == [
        "| a\\|b | c |",
        "|---|---|",
        "| x\\|y | line 1<br>line 2<br>line 3 |",
        "| None | 2 |",
    ]
    # every row has exactly as many unescaped separators as the header
    for line in lines:
        assert line.replace("\\|", "").count("|") == 3


def test_format_applies_to_cells_not_to_the_header():
    fmt = lambda v: "–" if v is None else f"{v:.3g}"  # noqa: E731
    assert md_table(["v"], [[0.123456], [None]], fmt).split("\n")[2:] == ["| 0.123 |", "| – |"]
    assert md_cell("a\rb") == "a<br>b"
