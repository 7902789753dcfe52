"""The package's layout, checked: no import cycle, the dependency rules, no hidden imports.

RULES is the one table of who may import whom. Each package's `__init__` docstring repeats its row
as a "May import: …" line, and this test fails when the two differ, so the rules a reader sees
and the rules that are enforced cannot drift.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "grok2api"
ROOT = "grok2api"

# What each area may import besides itself. An entry names a package ("pool": any module in it)
# or one module ("storage.base": only that module). Imports under `if TYPE_CHECKING:` count too.
RULES: dict[str, tuple[str, ...]] = {
    # packages
    "storage": (),
    "upstream": ("jsonfast", "ids"),
    "fakegrok": (),
    "egress": ("upstream.identity", "upstream.errors", "storage.base", "config"),
    "access": ("storage.base",),
    "config": ("storage.base", "errors"),
    "stats": ("storage.base", "keys"),
    "media": ("config", "keys", "periodic"),
    "pool": ("catalog", "config", "storage.base", "upstream.errors", "periodic"),
    "edge": ("access", "config", "stats", "storage.base", "errors", "keys", "periodic", "jsonfast"),
    "gateway": ("pool", "upstream", "egress", "media", "stats", "catalog", "config", "storage.base", "errors",
                "keys", "periodic"),
    "api": ("gateway", "edge", "media", "config", "storage.base", "upstream.events", "errors", "keys", "jsonfast",
            "ids"),
    "admin": ("access", "pool", "gateway.jobs", "gateway.model_check", "edge.client_ip", "edge.body", "egress.pool",
              "media", "config", "catalog", "storage.base", "upstream.errors", "upstream.events",
              "upstream.statsig_chain", "doctor", "errors", "keys"),
    "doctor": ("upstream", "catalog", "gateway.model_check"),
    # cross-cutting root modules
    "errors": (),
    "jsonfast": (),
    "ids": (),
    "periodic": (),
    "logsetup": (),
    "catalog": ("config",),
}
# Root modules that compose everything (entry points and the app factory): no rule.
COMPOSERS = frozenset({"__main__", "cli", "cli_doctor", "server", "app", "demo"})
# keys.py names every shared object's type, so it imports the whole package, for the type checker only.
TYPES_ONLY = frozenset({"keys"})
# Function-level imports allowed: optional drivers loaded only when configured, and the CLI's commands.
LAZY_IMPORTS_ALLOWED = {
    "storage": "the storage engines: only the configured one is imported",
    "edge.rate_limit": "the limiter's Redis driver: only with Redis storage",
    "demo": "the simulated grok.com: only for `serve --demo`",
    "cli": "each command imports what it needs",
}


@dataclass(frozen=True, slots=True)
class Import:
    source: str  # module, relative to the package: "api.chat", "errors", "storage" (its __init__)
    target: str
    line: int
    type_only: bool  # under `if TYPE_CHECKING:`
    in_function: bool


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _targets(module: str, node: ast.ImportFrom | ast.Import, is_package: bool) -> list[str]:
    """Modules of grok2api an import statement loads, relative to the package ("" = grok2api itself)."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names if alias.name == ROOT or alias.name.startswith(ROOT + ".")]
        return [n[len(ROOT) + 1:] for n in names]
    if node.level == 0:
        if node.module is None or not (node.module == ROOT or node.module.startswith(ROOT + ".")):
            return []
        base = node.module[len(ROOT) + 1:]
    else:
        here = module.split(".") if module else []
        package = here if is_package else here[:-1]
        if node.level - 1 > len(package):
            raise AssertionError(f"{module}: relative import beyond the package")
        parts = package[:len(package) - (node.level - 1)]
        base = ".".join(parts + ([node.module] if node.module else []))
    out = []
    for alias in node.names:  # `from . import sse` loads the module api.sse, not just the package
        sub = f"{base}.{alias.name}" if base else alias.name
        out.append(sub if sub in MODULES else base)
    return out


def _imports(module: str, path: Path) -> list[Import]:
    found: list[Import] = []
    is_package = path.name == "__init__.py"

    def walk(node: ast.AST, type_only: bool, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                for target in _targets(module, child, is_package):
                    found.append(Import(module, target, child.lineno, type_only, in_function))
            elif isinstance(child, ast.If) and _is_type_checking(child):
                for stmt in child.body:
                    walk(ast.Module(body=[stmt], type_ignores=[]), True, in_function)
                for stmt in child.orelse:
                    walk(ast.Module(body=[stmt], type_ignores=[]), type_only, in_function)
            else:
                inside = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
                walk(child, type_only, inside)

    walk(ast.parse(path.read_text(encoding="utf-8"), str(path)), False, False)
    return found


IMPORTS = [imp for module, path in MODULES.items() for imp in _imports(module, path)]


def _area(module: str) -> str:
    return module.split(".")[0] if module else ""


def _allowed(target: str, entries: tuple[str, ...]) -> bool:
    return any(target == e or target.startswith(e + ".") and e.count(".") == 0 for e in entries)


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (or a self-loop), by Tarjan."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in edges.get(v, ()):
                out.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_the_walker_sees_the_package() -> None:
    assert {"app", "keys", "api.chat", "api.validate", "storage", "gateway.core"} <= set(MODULES)
    # Relative imports resolve to modules: `from . import sse` in api/chat.py is api.sse.
    assert any(i.source == "api.chat" and i.target == "api.sse" for i in IMPORTS)
    assert any(i.source == "gateway.core" and i.target == "errors" for i in IMPORTS)
    assert any(i.source == "keys" and i.type_only for i in IMPORTS)
    assert any(i.source == "storage" and i.in_function for i in IMPORTS)


def test_no_import_cycle() -> None:
    edges: dict[str, set[str]] = {}
    for imp in IMPORTS:
        if not imp.type_only and imp.target != imp.source:
            edges.setdefault(imp.source, set()).add(imp.target)
    assert _cycles(edges) == []


def test_the_cycle_finder_finds_cycles() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_every_area_has_a_rule() -> None:
    areas = {_area(m) for m in MODULES if m}
    assert areas == set(RULES) | COMPOSERS | TYPES_ONLY


def test_dependency_rules() -> None:
    broken = []
    for imp in IMPORTS:
        area = _area(imp.source)
        if area in COMPOSERS or _area(imp.target) == area:
            continue
        if area in TYPES_ONLY:
            if not imp.type_only:
                broken.append(f"{imp.source}:{imp.line} imports {imp.target} at run time")
            continue
        if not _allowed(imp.target, RULES[area]):
            broken.append(f"{imp.source}:{imp.line} imports {imp.target or ROOT}, outside {area}'s rule")
    assert broken == []


def test_the_rule_check_catches_a_breach() -> None:
    assert _allowed("storage.base", RULES["api"]) and _allowed("gateway.core", RULES["api"])
    assert not _allowed("storage.sqlite", RULES["api"])  # a module entry is that module only
    assert not _allowed("admin.views_keys", RULES["api"])
    assert not _allowed("upstream.client", RULES["api"])


def _docstring_rule(package: str) -> str:
    doc = ast.get_docstring(ast.parse((PACKAGE / package / "__init__.py").read_text(encoding="utf-8"))) or ""
    lines = doc.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("May import:")]
    assert len(starts) == 1, f"{package}/__init__.py: its docstring needs one 'May import:' sentence"
    sentence = []
    for line in lines[starts[0]:]:  # the sentence may wrap; it ends at the first full stop
        sentence.append(line.strip())
        if line.endswith("."):
            break
    return " ".join(sentence)


@pytest.mark.parametrize("package", sorted(p for p in RULES if (PACKAGE / p / "__init__.py").exists()))
def test_package_docstring_states_its_rule(package: str) -> None:
    row = RULES[package]
    expected = f"May import: {', '.join(row)}." if row else "May import: nothing of grok2api's."
    assert _docstring_rule(package) == expected


def test_function_level_imports_are_only_the_lazy_ones() -> None:
    lazy = sorted({i.source for i in IMPORTS if i.in_function})
    assert set(lazy) <= set(LAZY_IMPORTS_ALLOWED), lazy
    # Third-party imports inside functions count as well: walk them too.
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for inner in ast.walk(node):
                    if isinstance(inner, (ast.Import, ast.ImportFrom)):
                        assert module in LAZY_IMPORTS_ALLOWED, f"{module}:{inner.lineno} imports inside a function"
