"""The demo's report builder and all-or-nothing output folders (pixlspec.report)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pixlspec.report import Report, staged_dir


def test_report_markdown_and_html(tmp_path):
    r = Report("A <title>")
    r.paragraph("Some **bold**, *italic*, `code` and a [link](https://example.org) & <b>raw</b>.")
    r.table(["a|b", "value"], [["x", "1.0"], ["y", "2.0"]], align="lr", caption="caption")
    r.bullets(["one", "two"])
    r.code("pixlspec demo")
    (tmp_path / "figures").mkdir()
    png = b"\x89PNG\r\n\x1a\n" + b"0" * 16
    (tmp_path / "figures" / "f.png").write_bytes(png)
    r.figure("figures/f.png", "A figure")
    md_path, html_path = r.write(tmp_path)
    md = Path(md_path).read_text()
    assert md.startswith("# A <title>\n") and "| a\\|b | value |" in md and "|---|---:|" in md
    assert "![A figure](figures/f.png)" in md
    html = Path(html_path).read_text()
    assert "<strong>bold</strong>" in html and "<em>italic</em>" in html and "<code>code</code>" in html
    assert '<a href="https://example.org">link</a>' in html and "&lt;b&gt;raw&lt;/b&gt;" in html
    assert "<title>A &lt;title&gt;</title>" in html and 'class="r"' in html
    assert "data:image/png;base64," in html
    assert "figures/f.png" in r.to_html(tmp_path, embed=False)


def test_staged_dir_all_or_nothing(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(ValueError):
        with staged_dir(out) as tmp:
            Path(tmp, "a.txt").write_text("a")
            raise ValueError("boom")
    assert os.listdir(tmp_path) == []
    out.mkdir()
    (out / "keep.txt").write_text("keep")
    with staged_dir(out) as tmp:
        Path(tmp, "sub").mkdir()
        Path(tmp, "sub", "b.txt").write_text("b")
    assert sorted(os.listdir(out)) == ["keep.txt", "sub"] and (out / "sub" / "b.txt").read_text() == "b"
    assert sorted(os.listdir(tmp_path)) == ["out"]
