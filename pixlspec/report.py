"""A small report builder: one document, rendered as Markdown and as self-contained HTML.

The demo (:mod:`pixlspec.demo`) writes its findings with it; anything that
wants a readable summary next to its files can do the same::

    from pixlspec.report import Report

    r = Report("Salts in Naltsos")
    r.paragraph("Fitted **121** points; see `results.h5`.")
    r.table(["oxide", "wt%"], [["SiO2", "49.9"], ["FeO", "11.1"]], align="lr")
    r.figure("figures/phases.png", "Phase map")
    r.write("out/")            # out/report.md and out/report.html (figures embedded)

Inline markup is the small common subset of Markdown: ``**bold**``,
``*italic*``, ```code```, ``[text](url)``. Figures are linked (relative
paths) in the Markdown and embedded as base64 PNG in the HTML, so the HTML
file can be mailed or moved on its own. Both files are written atomically.
"""
from __future__ import annotations

import base64
import html
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["Report", "md_escape"]

_INLINE = re.compile(r"(`[^`]+`)|(\*\*[^*]+\*\*)|(\*[^*\s][^*]*\*)|(\[[^\]]+\]\([^)\s]+\))")

CSS = """
body { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; max-width: 60em;
       margin: 2em auto; padding: 0 1em; line-height: 1.45; color: #222; }
h1 { border-bottom: 2px solid #d84315; padding-bottom: .2em; }
h2 { border-bottom: 1px solid #ddd; padding-bottom: .15em; margin-top: 1.8em; }
h3 { margin-top: 1.4em; }
code, pre { font-family: Menlo, Consolas, "DejaVu Sans Mono", monospace; font-size: .9em;
            background: #f5f5f5; border-radius: 3px; }
code { padding: .05em .3em; }
pre { padding: .6em .8em; overflow-x: auto; }
table { border-collapse: collapse; margin: .8em 0; font-size: .92em; }
th, td { border: 1px solid #ccc; padding: .25em .6em; vertical-align: top; }
th { background: #fbe9e7; }
tr:nth-child(even) td { background: #fafafa; }
td.r, th.r { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1.2em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption, p.caption { font-size: .9em; color: #555; margin-top: .3em; }
p.caption { margin-top: -.4em; }
.note { background: #fff8e1; border-left: 4px solid #ffb300; padding: .5em .8em; }
"""


def md_escape(text: str) -> str:
    """Escape the characters that would break a Markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def _inline_html(text: str) -> str:
    """Markdown inline subset → HTML (the rest is escaped)."""
    out, pos = [], 0
    for m in _INLINE.finditer(text):
        out.append(html.escape(text[pos:m.start()]))
        tok = m.group(0)
        if m.group(1):
            out.append(f"<code>{html.escape(tok[1:-1])}</code>")
        elif m.group(2):
            out.append(f"<strong>{_inline_html(tok[2:-2])}</strong>")
        elif m.group(3):
            out.append(f"<em>{_inline_html(tok[1:-1])}</em>")
        else:
            label, url = tok[1:].split("](", 1)
            out.append(f'<a href="{html.escape(url[:-1], quote=True)}">{_inline_html(label)}</a>')
        pos = m.end()
    out.append(html.escape(text[pos:]))
    return "".join(out)


def _slug(text: str) -> str:
    s = re.sub(r"[^\w\s-]", "", text.lower()).strip()
    return re.sub(r"[\s_]+", "-", s) or "section"


@dataclass
class _Block:
    kind: str
    data: dict = field(default_factory=dict)


class Report:
    """A document of headings, paragraphs, lists, tables, code blocks and figures.

    Parameters
    ----------
    title : str
        The first-level heading (and the HTML page title).
    """

    def __init__(self, title: str):
        self.title = title
        self.blocks: list[_Block] = []

    # --- building ------------------------------------------------------------------------
    def heading(self, text: str, level: int = 2) -> "Report":
        self.blocks.append(_Block("heading", {"text": text, "level": max(2, min(int(level), 6))}))
        return self

    def paragraph(self, text: str) -> "Report":
        self.blocks.append(_Block("paragraph", {"text": text}))
        return self

    def note(self, text: str) -> "Report":
        """A highlighted paragraph (a caveat the reader must not miss)."""
        self.blocks.append(_Block("note", {"text": text}))
        return self

    def bullets(self, items: Sequence[str]) -> "Report":
        self.blocks.append(_Block("bullets", {"items": [str(i) for i in items]}))
        return self

    def table(self, headers: Sequence[str], rows: Sequence[Sequence], align: str | None = None,
              caption: str | None = None) -> "Report":
        """A table; ``align`` has one letter per column, ``l`` or ``r`` (default: all left)."""
        headers = [str(h) for h in headers]
        align = (align or "l" * len(headers)).ljust(len(headers), "l")
        self.blocks.append(_Block("table", {"headers": headers, "rows": [[str(c) for c in r] for r in rows],
                                            "align": align, "caption": caption}))
        return self

    def code(self, text: str, language: str = "") -> "Report":
        self.blocks.append(_Block("code", {"text": text.rstrip("\n"), "language": language}))
        return self

    def figure(self, path: str, caption: str = "", alt: str | None = None) -> "Report":
        """A PNG figure; ``path`` relative to the folder the report is written to."""
        self.blocks.append(_Block("figure", {"path": path, "caption": caption, "alt": alt or caption or path}))
        return self

    # --- rendering -------------------------------------------------------------------------
    def to_markdown(self) -> str:
        out = [f"# {self.title}", ""]
        for b in self.blocks:
            d = b.data
            if b.kind == "heading":
                out += ["#" * d["level"] + " " + d["text"], ""]
            elif b.kind == "paragraph":
                out += [d["text"], ""]
            elif b.kind == "note":
                out += ["> " + d["text"], ""]
            elif b.kind == "bullets":
                out += [f"* {i}" for i in d["items"]] + [""]
            elif b.kind == "table":
                out.append("| " + " | ".join(md_escape(h) for h in d["headers"]) + " |")
                out.append("|" + "|".join("---:" if a == "r" else "---" for a in d["align"]) + "|")
                out += ["| " + " | ".join(md_escape(c) for c in r) + " |" for r in d["rows"]]
                out.append("")
                if d["caption"]:
                    out += [f"*{d['caption']}*", ""]
            elif b.kind == "code":
                out += [f"```{d['language']}", d["text"], "```", ""]
            elif b.kind == "figure":
                out += [f"![{md_escape(d['alt'])}]({d['path']})", ""]
                if d["caption"]:
                    out += [f"*{d['caption']}*", ""]
        return "\n".join(out).rstrip("\n") + "\n"

    def to_html(self, base_dir: str | os.PathLike | None = None, embed: bool = True) -> str:
        """Standalone HTML; figures embedded (base64) from ``base_dir`` when ``embed``, else linked."""
        body = [f"<h1>{_inline_html(self.title)}</h1>"]
        for b in self.blocks:
            d = b.data
            if b.kind == "heading":
                lv = d["level"]
                body.append(f'<h{lv} id="{_slug(d["text"])}">{_inline_html(d["text"])}</h{lv}>')
            elif b.kind == "paragraph":
                body.append(f"<p>{_inline_html(d['text'])}</p>")
            elif b.kind == "note":
                body.append(f'<p class="note">{_inline_html(d["text"])}</p>')
            elif b.kind == "bullets":
                body.append("<ul>" + "".join(f"<li>{_inline_html(i)}</li>" for i in d["items"]) + "</ul>")
            elif b.kind == "table":
                cls = ['' if a == "l" else ' class="r"' for a in d["align"]]
                head = "".join(f"<th{c}>{_inline_html(h)}</th>" for h, c in zip(d["headers"], cls))
                rows = "".join("<tr>" + "".join(f"<td{c}>{_inline_html(v)}</td>" for v, c in zip(r, cls)) + "</tr>"
                               for r in d["rows"])
                body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
                if d["caption"]:
                    body.append(f'<p class="caption">{_inline_html(d["caption"])}</p>')
            elif b.kind == "code":
                body.append(f"<pre><code>{html.escape(d['text'])}</code></pre>")
            elif b.kind == "figure":
                src = html.escape(d["path"], quote=True)
                if embed and base_dir is not None:
                    p = os.path.join(os.fspath(base_dir), d["path"])
                    if os.path.isfile(p):
                        with open(p, "rb") as fh:
                            src = "data:image/png;base64," + base64.b64encode(fh.read()).decode("ascii")
                cap = f"<figcaption>{_inline_html(d['caption'])}</figcaption>" if d["caption"] else ""
                body.append(f'<figure><img src="{src}" alt="{html.escape(d["alt"], quote=True)}">{cap}</figure>')
        return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                f"<title>{html.escape(self.title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
                + "\n".join(body) + "\n</body>\n</html>\n")

    def write(self, directory: str | os.PathLike, name: str = "report", embed: bool = True) -> tuple[str, str]:
        """Write ``name.md`` and ``name.html`` into ``directory`` (atomically); returns both paths."""
        from .io.atomic import atomic_write_text

        directory = os.fspath(directory)
        md = os.path.join(directory, name + ".md")
        ht = os.path.join(directory, name + ".html")
        atomic_write_text(md, self.to_markdown())
        atomic_write_text(ht, self.to_html(directory, embed=embed))
        return md, ht


