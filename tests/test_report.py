"""The demo's report builder and all-or-nothing output folders (pixlspec.report)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pixlspec.io.atomic import staged_dir
from pixlspec.report import Report


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


def _stage(out, files):
    with staged_dir(out) as tmp:
        for name, text in files.items():
            Path(tmp, name).parent.mkdir(parents=True, exist_ok=True)
            Path(tmp, name).write_text(text)


def test_staged_dir_failing_move_replaces_nothing(tmp_path, monkeypatch):
    """A failure while moving the files in (a folder in the way, a disk error) leaves out_dir as it was:
    the files already replaced are put back and the folders created removed (PixlspecError naming it)."""
    from pixlspec.errors import PixlspecError
    import pixlspec.io.atomic as atomic

    out = tmp_path / "out"
    out.mkdir()
    (out / "a.txt").write_text("old a")
    (out / "b.txt").mkdir()  # a folder where a file should go
    with pytest.raises(PixlspecError, match=r"b\.txt.*nothing was replaced"):
        _stage(out, {"a.txt": "new a", "b.txt": "new b", "new/c.txt": "c"})
    assert sorted(os.listdir(out)) == ["a.txt", "b.txt"] and (out / "a.txt").read_text() == "old a"
    assert sorted(os.listdir(tmp_path)) == ["out"]
    (out / "b.txt").rmdir()
    (out / "b.txt").write_text("old b")
    real_replace, calls = os.replace, []

    def failing_last_move(src, dst):  # the set-asides and the first moves succeed, the last move fails
        calls.append(dst)
        if len(calls) == 5:
            raise PermissionError(13, "Permission denied", dst)
        real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "replace", failing_last_move)
    with pytest.raises(PixlspecError, match="Permission denied; nothing was replaced"):
        _stage(out, {"a.txt": "new a", "b.txt": "new b", "new/c.txt": "c"})
    assert len(calls) > 5  # it got as far as the last move, then undid the others
    monkeypatch.undo()
    assert sorted(os.listdir(out)) == ["a.txt", "b.txt"]
    assert (out / "a.txt").read_text() == "old a" and (out / "b.txt").read_text() == "old b"
    _stage(out, {"a.txt": "new a", "new/c.txt": "c"})
    assert (out / "a.txt").read_text() == "new a" and (out / "new" / "c.txt").read_text() == "c"
    assert sorted(os.listdir(tmp_path)) == ["out"]
