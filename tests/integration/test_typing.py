"""Public signatures in quant, minerals and plot modules carry type annotations (issue 13)."""
from __future__ import annotations

import ast
from pathlib import Path

from tests.helpers.paths import ROOT

PACKAGE_DIR = ROOT / "pixlspec"

# Module-level list of checked files, relative to the package directory.
CHECKED_FILES = tuple(
    sorted(
        str(p.relative_to(PACKAGE_DIR)).replace("\\", "/")
        for pattern in ("quant/*.py", "minerals/*.py", "plot*.py")
        for p in PACKAGE_DIR.glob(pattern)
    )
)


def _is_njit(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    for dec in node.decorator_list:
        target = dec.func if isinstance(dec, ast.Call) else dec
        name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
        if name in ("njit", "jit"):
            return True
    return False


def _is_public(name: str) -> bool:
    return not name.startswith("_") or name == "__init__"


def _missing_annotations(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    problems: list[str] = []

    def visit(body: list[ast.stmt], prefix: str, in_class: bool) -> None:
        for node in body:
            if isinstance(node, ast.ClassDef):
                if not node.name.startswith("_"):
                    visit(node.body, f"{prefix}{node.name}.", True)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if not _is_public(node.name) or _is_njit(node):
                    continue
                args = node.args
                params = [*args.posonlyargs, *args.args, *args.kwonlyargs]
                if args.vararg:
                    params.append(args.vararg)
                if args.kwarg:
                    params.append(args.kwarg)
                if in_class and params and params[0].arg in ("self", "cls"):
                    params = params[1:]
                where = f"{path.relative_to(PACKAGE_DIR)}:{node.lineno} {prefix}{node.name}"
                for p in params:
                    if p.annotation is None:
                        problems.append(f"{where}: parameter {p.arg!r}")
                if node.returns is None and node.name != "__init__":
                    problems.append(f"{where}: return")

    visit(tree.body, "", False)
    return problems


def test_public_signatures_are_annotated() -> None:
    problems: list[str] = []
    for rel in CHECKED_FILES:
        problems.extend(_missing_annotations(PACKAGE_DIR / rel))
    assert not problems, "unannotated public signatures:\n" + "\n".join(problems)


def test_py_typed_is_shipped() -> None:
    assert (PACKAGE_DIR / "py.typed").is_file()
