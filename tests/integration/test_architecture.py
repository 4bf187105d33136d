"""The package's architecture, enforced: import-linter contracts, no cross-module private imports,
no import cycles at module level.

The contracts live in pyproject.toml (``[tool.importlinter]``): the layers, bottom to top, and "the
library never imports the command line, the demo, batch or the pipeline". The imports that break the layers today
are listed there, and the private imports below: both lists may only shrink.
"""
from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys

import pytest

from tests.helpers.paths import ROOT

PACKAGE = ROOT / "pixlspec"

#: Imports of another module's underscore names that exist today (module, imported module, name).
#: Issue 16 removes them; a new one fails the test.
KNOWN_PRIVATE_IMPORTS: set[tuple[str, str, str]] = set()


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        parts = list(rel.parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        yield ".".join(parts), is_package, ast.parse(path.read_text(encoding="utf-8"))


def _absolute(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _private_imports():
    found = set()
    for module, is_package, tree in _modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                target = _absolute(module, is_package, node)
                if not target.startswith("pixlspec") or target == module:
                    continue
                private_module = next((p for p in target.split(".") if p.startswith("_")), None)
                if private_module and not module.startswith(target.rsplit(".", 1)[0] + "."):
                    found.add((module, target, "*"))  # a private module of another package
                for alias in node.names:
                    if alias.name.startswith("_") and not alias.name.startswith("__"):
                        found.add((module, target, alias.name))
    return found


def test_no_new_private_imports_across_modules():
    found = _private_imports()
    new = sorted(found - KNOWN_PRIVATE_IMPORTS)
    assert not new, "imports of another module's private names:\n" + "\n".join(map(str, new))
    gone = sorted(KNOWN_PRIVATE_IMPORTS - found)
    assert not gone, "remove these from KNOWN_PRIVATE_IMPORTS, they are fixed:\n" + "\n".join(map(str, gone))


def _module_level_graph():
    """Module -> pixlspec modules it imports at import time (module body, not inside functions)."""
    names = {m for m, _, _ in _modules()}
    graph = {}
    for module, is_package, tree in _modules():
        deps = set()
        for node in tree.body:
            stmts = [node]
            if isinstance(node, ast.If):  # `if TYPE_CHECKING:` blocks do not run
                continue
            if isinstance(node, ast.Try):
                stmts = node.body
            for st in stmts:
                if isinstance(st, ast.ImportFrom):
                    target = _absolute(module, is_package, st)
                    for alias in st.names:
                        sub = f"{target}.{alias.name}"
                        deps.add(sub if sub in names else target)
                elif isinstance(st, ast.Import):
                    deps.update(a.name for a in st.names)
        graph[module] = {d for d in deps if d in names and d != module}
    return graph


def test_no_import_cycles_at_module_level():
    graph = _module_level_graph()
    state, stack, cycles = {}, [], []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for d in sorted(graph.get(m, ())):
            if state.get(d) == 1:
                cycles.append(stack[stack.index(d):] + [d])
            elif d not in state:
                visit(d)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
    # a package's __init__ importing its own submodules is not a cycle of the design
    cycles = [c for c in cycles if not all(x == c[0] or x.startswith(c[0] + ".") for x in c)]
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


@pytest.mark.skipif(importlib.util.find_spec("importlinter") is None, reason="import-linter not installed")
def test_import_linter_contracts_kept():
    r = subprocess.run([sys.executable, "-c", "from importlinter.cli import lint_imports_command; "
                        "lint_imports_command()"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 broken" in r.stdout


def test_ignored_imports_are_lazy_imports_inside_methods():
    """Every import the layers contract ignores is the allowed exception: an object's own method (plot,
    save, load) importing the layer that does the work, inside the method — never at module level,
    where it would make the lower layer depend on the upper one for everything."""
    import tomllib

    with open(ROOT / "pyproject.toml", "rb") as fh:
        contracts = tomllib.load(fh)["tool"]["importlinter"]["contracts"]
    ignored = [tuple(s.strip() for s in rule.split("->")) for c in contracts for rule in c.get("ignore_imports", [])]
    assert ignored, "no ignored imports: drop this test's premise from the docs"
    modules = {name: (is_package, tree) for name, is_package, tree in _modules()}
    for source, target in ignored:
        is_package, tree = modules[source]
        top_level = {id(n) for n in tree.body}
        hits = []
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and _absolute(source, is_package, node) == target:
                hits.append(node)
        assert hits, f"{source} -> {target} is ignored but no longer imported: remove it from pyproject.toml"
        for node in hits:
            assert id(node) not in top_level, f"{source} imports {target} at module level (line {node.lineno})"
        # and inside a function (a method of a result object or the instrument), not a class body
        funcs = [f for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))]
        inside = {id(n) for f in funcs for n in ast.walk(f)}
        assert all(id(node) in inside for node in hits), f"{source} -> {target} outside a function"


#: Longest module of the package (lines): a module this long has more than one job.
MAX_MODULE_LINES = 700


def test_no_module_is_longer_than_the_limit():
    long = {str(p.relative_to(ROOT)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES}
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {long}"


def test_command_line_modules_only_parse_call_and_render():
    """pixlspec/cli/ does no science: none of its modules imports numpy (arithmetic lives in the library)."""
    offenders = []
    for name, _, tree in _modules():
        if not name.startswith("pixlspec.cli"):
            continue
        for node in ast.walk(tree):
            mods = ([a.name for a in node.names] if isinstance(node, ast.Import)
                    else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            offenders += [(name, m) for m in mods if m.split(".")[0] in ("numpy", "scipy")]
    assert not offenders, offenders
