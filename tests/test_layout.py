"""The house rules of docs/development.md, read from the syntax trees of kb/ and app.py.

Nothing is imported or run: every module under kb/ is parsed with `ast`, and every import in it is
collected, wherever it stands (module level, inside a function, under `if TYPE_CHECKING:`), in
every spelling (`import a.b`, `from a import b`, `from . import b`, `from ..b import c`,
`importlib.import_module("kb.x")`, `importlib.import_module(f"kb.ui.{name}")` -> kb.ui,
`__import__("kb.x")`). The layer order is parsed from the block after `<!-- layers -->` in
docs/development.md, so the page and the code cannot drift apart.

Each failure names the file, the line and what to change.
"""
from __future__ import annotations

import ast
import itertools
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from tests.support import ROOT

KB = ROOT / "kb"
APP = ROOT / "app.py"
DOC = ROOT / "docs" / "development.md"
LAYER_MARKER = "<!-- layers -->"

APP_MODULE = "app"  # app.py, the script beside kb/: `kb serve` under another name
SURFACE_PACKAGES = ("kb.ui", "kb.cli")
SURFACE_MODULES = ("kb.__main__", APP_MODULE)
PUBLIC_API = ("kb", "kb.config", "kb.errors", "kb.vocab", "kb.knowledge")
# What a surface may import besides PUBLIC_API and its own sub-package.
SURFACE_EXTRA = {"kb.ui": (), "kb.cli": ("kb.ui",), "kb.__main__": ("kb.cli",), APP_MODULE: ("kb.cli",)}
CONFIG_MODULE = "kb.config"
MAX_TOP_LEVEL_MODULES = 8
MAX_LINES = 500
LONG_REASON = "long because"
ENV_NAMES = {"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"}
ENV_WRITE_METHODS = {"__setitem__", "__delitem__", "update", "pop", "popitem", "clear", "setdefault"}
IMPORT_FUNCTIONS = {"import_module", "__import__"}


# ---- the modules and their imports -----------------------------------------------------------------


@dataclass(frozen=True)
class Module:
    name: str  # dotted: kb, kb.embed, kb.embed.onnx, kb.__main__, app
    path: Path
    is_package: bool  # an __init__.py

    @property
    def rel(self) -> str:
        return self.path.relative_to(ROOT).as_posix()

    @property
    def package(self) -> str:
        """The package relative imports start from."""
        return self.name if self.is_package else self.name.rpartition(".")[0]


@dataclass(frozen=True)
class Import:
    importer: str
    target: str  # the kb module imported (after resolving packages and sub-modules)
    source: str  # the module as written (relative imports made absolute)
    line: int
    how: str  # "import", "local import" (inside a function), "type-checking import", "dynamic import"
    names: tuple[str, ...]  # the names taken by `from X import a, b` (empty otherwise)


@cache
def modules() -> dict[str, Module]:
    found = {}
    for path in sorted(KB.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts.pop()
        found[".".join(parts)] = Module(".".join(parts), path, is_package)
    if APP.exists():
        found[APP_MODULE] = Module(APP_MODULE, APP, False)
    return found


@cache
def tree(name: str) -> ast.Module:
    module = modules()[name]
    return ast.parse(module.path.read_text(encoding="utf-8"), filename=str(module.path))


def is_kb(dotted: str) -> bool:
    return dotted == "kb" or dotted.startswith("kb.")


def deepest_module(dotted: str) -> str | None:
    """The longest prefix of `dotted` that is a module under kb/ (None: not even `kb`)."""
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules():
            return candidate
    return None


def resolve_relative(module: Module, level: int, name: str | None) -> str:
    base = module.package.split(".")
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def _parents(root: ast.AST) -> dict[ast.AST, ast.AST]:
    return {child: parent for parent in ast.walk(root) for child in ast.iter_child_nodes(parent)}


def _how(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> str:
    how = "import"
    while node in parents:
        node = parents[node]
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            how = "local import"
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return "type-checking import"
    return how


def _literal_module(arg: ast.expr) -> str | None:
    """The module a call's first argument names: a string, or the package of an f-string's literal prefix."""
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return arg.value
    if isinstance(arg, ast.JoinedStr) and arg.values and isinstance(arg.values[0], ast.Constant):
        prefix = str(arg.values[0].value)
        return prefix.rpartition(".")[0] or None  # "kb.ui." and "kb.ui.tab_" both mean kb.ui
    return None


@cache
def raw_imports(name: str) -> tuple[tuple[str, tuple[str, ...], int, str], ...]:
    """(dotted module as written, resolved for relative imports; names taken; line; how) for every import."""
    module, root = modules()[name], tree(name)
    parents = _parents(root)
    found = []
    for node in ast.walk(root):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append((alias.name, (), node.lineno, _how(node, parents)))
        elif isinstance(node, ast.ImportFrom):
            source = resolve_relative(module, node.level, node.module) if node.level else node.module
            found.append((source, tuple(a.name for a in node.names), node.lineno, _how(node, parents)))
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
            if called in IMPORT_FUNCTIONS:
                target = _literal_module(node.args[0])
                if target and target.startswith("."):
                    package = next((k.value for k in node.keywords if k.arg == "package" and isinstance(k.value, ast.Constant)), None)
                    level = len(target) - len(target.lstrip("."))
                    target = resolve_relative(Module(package, module.path, True), level, target.lstrip(".") or None) if package else None
                if target:
                    found.append((target, (), node.lineno, "dynamic import"))
        elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "_EXPORTS" for t in node.targets) and isinstance(node.value, ast.Dict):
            # kb/__init__.py's lazy exports: name -> "module" or ("module", "name"), imported on first use
            for value in node.value.values:
                first = value.elts[0] if isinstance(value, ast.Tuple) and value.elts else value
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    found.append((first.value, (), value.lineno, "lazy export"))
    return tuple(found)


@cache
def imports(name: str) -> tuple[Import, ...]:
    """The kb modules `name` imports. `from P import x` imports P.x when that is a module, else P itself."""
    found = []
    for source, names, line, how in raw_imports(name):
        if not is_kb(source):
            continue
        targets = []
        if names:
            for taken in names:
                sub = f"{source}.{taken}"
                targets.append(sub if sub in modules() else source)
        else:
            targets.append(source)
        for target in dict.fromkeys(targets):
            resolved = target if target in modules() else deepest_module(target)
            if resolved and resolved != name:
                found.append(Import(name, resolved, source, line, how, names))
    return tuple(found)


def where(imp: Import) -> str:
    return f"{modules()[imp.importer].rel}:{imp.line}"


def kb_modules() -> list[str]:
    return [name for name in modules() if name != APP_MODULE]


def all_modules() -> list[str]:
    return list(modules())


# ---- the layers, from docs/development.md ---------------------------------------------------------


@dataclass(frozen=True)
class Layer:
    number: int
    label: str
    names: tuple[str, ...]


@cache
def layers() -> tuple[Layer, ...]:
    text = DOC.read_text(encoding="utf-8")
    if text.count(LAYER_MARKER) != 1:
        pytest.fail(f"{DOC.relative_to(ROOT)} must contain the marker {LAYER_MARKER} exactly once, just before the fenced layer block")
    after = text.split(LAYER_MARKER, 1)[1]
    block = re.match(r"\s*```[^\n]*\n(.*?)\n```", after, re.DOTALL)
    if not block:
        pytest.fail(f"no fenced block right after {LAYER_MARKER} in {DOC.relative_to(ROOT)}")
    parsed = []
    for raw in block.group(1).splitlines():
        line = re.sub(r"\(.*?\)", "", raw).strip()  # "(the package __init__ only)" is a comment
        if not line:
            continue
        match = re.fullmatch(r"(\d+)\s+(?:([\w-]+):\s*)?(.+)", line)
        names = tuple(match.group(3).split()) if match else ()
        if not match or not all(re.fullmatch(r"kb(\.\w+)*", n) for n in names):
            pytest.fail(f"cannot read the layer line {raw!r} in {DOC.relative_to(ROOT)}: write `<number> <label>: kb.a kb.b`")
        parsed.append(Layer(int(match.group(1)), match.group(2) or match.group(3), names))
    numbers = [layer.number for layer in parsed]
    if numbers != sorted(set(numbers)):
        pytest.fail(f"the layer numbers in {DOC.relative_to(ROOT)} must rise, lowest first, each once: {numbers}")
    return tuple(parsed)


def _covers(listed: str, module: str) -> bool:
    return module == listed or (listed != "kb" and module.startswith(listed + "."))


def layer_of(module: str) -> Layer | None:
    if module == APP_MODULE:
        top = layers()[-1]
        return Layer(top.number + 1, "app.py", (APP_MODULE,))
    best = None
    for layer in layers():
        for listed in layer.names:
            if _covers(listed, module) and (best is None or len(listed) > len(best[1])):
                best = (layer, listed)
    return best[0] if best else None


def describe(module: str) -> str:
    layer = layer_of(module)
    return f"{module} (layer {layer.number} {layer.label})" if layer else f"{module} (no layer)"


# ---- the rules -----------------------------------------------------------------------------------------


def test_the_layer_block_names_every_module_and_only_real_ones():
    unplaced = [f"{modules()[m].rel} ({m})" for m in kb_modules() if layer_of(m) is None]
    stale = [name for layer in layers() for name in layer.names if not any(_covers(name, m) for m in kb_modules())]
    assert not unplaced, (
        f"these modules are in no layer of {DOC.relative_to(ROOT)}: {unplaced}. "
        "Add each (or its package) to the layer block after <!-- layers -->, or move it into a package that is listed."
    )
    assert not stale, f"the layer block in {DOC.relative_to(ROOT)} names modules that do not exist: {stale}. Remove or rename them."


def test_every_kb_import_names_a_module_that_exists():
    missing = []
    for name in all_modules():
        for source, _names, line, how in raw_imports(name):
            if is_kb(source) and source not in modules():
                missing.append(f"{modules()[name].rel}:{line} {how} of {source} (no such module under kb/)")
    assert not missing, "imports of kb modules that do not exist (moved or renamed?); point them at the new place:\n  " + "\n  ".join(missing)


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as a path that ends where it starts, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_no_import_cycles_among_kb_modules():
    graph = {name: {imp.target for imp in imports(name)} for name in all_modules()}
    edges = {(imp.importer, imp.target): imp for name in all_modules() for imp in imports(name)}
    cycles = []
    while (cycle := _find_cycle(graph)) is not None:
        steps = [edges[pair] for pair in itertools.pairwise(cycle)]
        cycles.append(" -> ".join(cycle) + "\n    " + "\n    ".join(f"{where(s)}: {s.importer} {s.how}s {s.target}" for s in steps))
        a, b = cycle[0], cycle[1]
        graph[a].discard(b)  # break it and look for the next one
    assert not cycles, (
        f"{len(cycles)} import cycle(s) among kb modules. Break each by moving the shared code into the lower module "
        "(or a new one below both) or by passing it in as an argument; a function-local import is still a cycle:\n  " + "\n  ".join(cycles)
    )


def test_imports_point_down_the_layers():
    upward = []
    for name in all_modules():
        own = layer_of(name)
        for imp in imports(name):
            theirs = layer_of(imp.target)
            if own and theirs and theirs.number > own.number:
                upward.append(f"{where(imp)}: {describe(name)} -> {describe(imp.target)} [{imp.how}]")
    assert not upward, (
        f"imports that point up the layers of {DOC.relative_to(ROOT)} (a module may import its own layer and lower ones only). "
        "Move the needed code down, or have the caller pass it in:\n  " + "\n  ".join(upward)
    )


def surface_of(name: str) -> str | None:
    """The surface a module belongs to: kb.ui, kb.cli, kb.__main__, app; None for the library."""
    for package in SURFACE_PACKAGES:
        if name == package or name.startswith(package + "."):
            return package
    return name if name in SURFACE_MODULES else None


def _allowed_for(surface: str, target: str) -> bool:
    own = (surface,) if surface in SURFACE_PACKAGES else ()
    return any(target == ok or (ok != "kb" and target.startswith(ok + ".")) for ok in (*PUBLIC_API, *own, *SURFACE_EXTRA[surface]))


def test_surfaces_import_only_the_public_api():
    reaching = []
    for name in all_modules():
        surface = surface_of(name)
        if surface is None:
            continue
        for imp in imports(name):
            if not _allowed_for(surface, imp.target):
                taken = f" ({', '.join(imp.names)})" if imp.names else ""
                reaching.append(f"{where(imp)}: {name} {imp.how}s {imp.target}{taken}")
    allowed = ", ".join(PUBLIC_API)
    assert not reaching, (
        f"surfaces (kb/ui, kb/cli, kb/__main__.py, app.py) may import from kb only {allowed}, their own sub-package, "
        "and kb.cli may import kb.ui. Re-export the name from kb/__init__.py or add a KnowledgeBase method, "
        "then import it from there:\n  " + "\n  ".join(reaching)
    )


def _private(attr: str) -> bool:
    return attr.startswith("_") and not (attr.startswith("__") and attr.endswith("__"))


def _owner_is_self(node: ast.expr) -> bool:
    return isinstance(node, ast.Name) and node.id in ("self", "cls")


def _private_getattr(node: ast.AST) -> bool:
    """getattr(x, "_name") (also set/has/delattr) with x not self or cls."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and len(node.args) >= 2):
        return False
    name = node.args[1]
    return (
        node.func.id in ("getattr", "setattr", "hasattr", "delattr")
        and isinstance(name, ast.Constant)
        and isinstance(name.value, str)
        and _private(name.value)
        and not _owner_is_self(node.args[0])
    )


def _private_touches(root: ast.Module) -> list[ast.AST]:
    """`x._name` and `getattr(x, "_name")` where x is not self or cls."""
    return [
        node
        for node in ast.walk(root)
        if (isinstance(node, ast.Attribute) and _private(node.attr) and not _owner_is_self(node.value)) or _private_getattr(node)
    ]


def test_surfaces_touch_no_private_attribute():
    touches = []
    for name in all_modules():
        surface = surface_of(name)
        if surface is None:
            continue
        touches += [f"{modules()[name].rel}:{node.lineno}: {ast.unparse(node)}" for node in _private_touches(tree(name))]
        for imp in imports(name):
            if not (surface in SURFACE_PACKAGES and (imp.target == surface or imp.target.startswith(surface + "."))):
                touches += [f"{where(imp)}: from {imp.source} import {taken}" for taken in imp.names if _private(taken)]
    assert not touches, (
        "surfaces (kb/ui, kb/cli, kb/__main__.py, app.py) touch private attributes of objects they do not own. "
        "Ask for a public method or property instead (per-index caches belong in KnowledgeBase):\n  " + "\n  ".join(touches)
    )


def test_at_most_eight_plain_modules_at_the_top_of_kb():
    plain = sorted(p.name for p in KB.glob("*.py") if p.name != "__init__.py")
    assert len(plain) <= MAX_TOP_LEVEL_MODULES, (
        f"kb/ has {len(plain)} plain modules at its top level (at most {MAX_TOP_LEVEL_MODULES}): {plain}. "
        "Move the ones that belong to a room into its package (kb/notes, kb/embed, kb/retrieval, kb/links, kb/coach, kb/ui, kb/cli)."
    )


def test_no_module_is_long_without_saying_why():
    long = []
    for name in all_modules():
        lines = len(modules()[name].path.read_text(encoding="utf-8").splitlines())
        docstring = ast.get_docstring(tree(name)) or ""
        if lines > MAX_LINES and LONG_REASON not in docstring.lower():
            long.append(f"{modules()[name].rel}: {lines} lines")
    assert not long, (
        f"modules over {MAX_LINES} lines whose docstring does not say why ('{LONG_REASON} ...'). Split each along a seam "
        f"(e.g. into a sub-package), or add a sentence with '{LONG_REASON}' and the reason to its module docstring:\n  " + "\n  ".join(long)
    )


@dataclass(frozen=True)
class EnvironmentUse:
    line: int
    code: str
    writes: bool  # assigns, deletes, updates, pops, putenv... (setdefault is counted apart)
    setdefault: bool
    at_import: bool  # not inside a function: runs when the module is imported


def _environment_uses(root: ast.Module) -> list[EnvironmentUse]:
    """Every touch of os.environ / os.getenv / os.putenv ... in a module, however os or environ was imported."""
    parents = _parents(root)
    from_os = {a.asname or a.name for node in ast.walk(root) if isinstance(node, ast.ImportFrom) and node.module == "os"
               for a in node.names if a.name in ENV_NAMES}
    os_aliases = {a.asname or a.name for node in ast.walk(root) if isinstance(node, ast.Import) for a in node.names if a.name == "os"}
    found = []
    for node in ast.walk(root):
        if isinstance(node, ast.ImportFrom) and node.module == "os" and any(a.name in ENV_NAMES for a in node.names):
            found.append(EnvironmentUse(node.lineno, ast.unparse(node), False, False, _how(node, parents) != "local import"))
            continue
        via_os = isinstance(node, ast.Attribute) and node.attr in ENV_NAMES and isinstance(node.value, ast.Name) and node.value.id in os_aliases
        if not (via_os or (isinstance(node, ast.Name) and node.id in from_os)):
            continue
        hit = node
        parent = parents.get(hit)
        name_used = hit.attr if isinstance(hit, ast.Attribute) else hit.id
        method = parent.attr if isinstance(parent, ast.Attribute) and parent.value is hit else None
        assigned = isinstance(parent, ast.Subscript) and isinstance(parent.ctx, (ast.Store, ast.Del))
        writes = name_used in ("putenv", "unsetenv") or assigned or (method in ENV_WRITE_METHODS and method != "setdefault")
        code = ast.unparse(parent if method or assigned else hit)
        found.append(EnvironmentUse(hit.lineno, code, writes, method == "setdefault", _how(hit, parents) != "local import"))
    return found


def test_only_kb_config_reads_the_environment():
    outside, config_writes = [], []
    for name in all_modules():
        rel = modules()[name].rel
        for use in _environment_uses(tree(name)):
            if name != CONFIG_MODULE:
                outside.append(f"{rel}:{use.line}: {use.code}")
            elif use.writes:
                config_writes.append(f"{rel}:{use.line}: {use.code}")
    problems = []
    if outside:
        problems.append(
            "only kb/config.py may touch os.environ / os.getenv. Read a setting with kb.config.setting('KB_...') "
            "(add the variable to kb.config.SETTINGS first), and let kb.config build any environment a subprocess needs:\n  " + "\n  ".join(outside)
        )
    if config_writes:
        problems.append("kb/config.py may write the environment only through os.environ.setdefault:\n  " + "\n  ".join(config_writes))
    assert not problems, "\n".join(problems)


# ---- the tests' own conventions (docs/development.md, "Testing conventions") --------------------------


def _fixtures_in(path: Path) -> list[tuple[str, int]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for decorator in node.decorator_list:
                target = decorator.func if isinstance(decorator, ast.Call) else decorator
                if ast.unparse(target) in ("pytest.fixture", "fixture"):
                    declared = next((k.value.value for k in getattr(decorator, "keywords", []) if k.arg == "name" and isinstance(k.value, ast.Constant)), None)
                    found.append((declared or node.name, node.lineno))
    return found


def test_no_test_module_changes_the_environment_when_imported():
    at_import = []
    for path in sorted((ROOT / "tests").glob("*.py")):
        for use in _environment_uses(ast.parse(path.read_text(encoding="utf-8"))):
            if use.at_import and (use.writes or use.setdefault):
                at_import.append(f"{path.relative_to(ROOT).as_posix()}:{use.line}: {use.code}")
    assert not at_import, (
        "test modules change os.environ when imported (so merely collecting them changes every other test). "
        "Use monkeypatch.setenv in a fixture, a pytest_configure hook in tests/conftest.py, or env=kb_env(...) for a subprocess:\n  "
        + "\n  ".join(at_import)
    )


def test_each_fixture_name_is_defined_once_in_tests():
    places: dict[str, list[str]] = {}
    for path in sorted((ROOT / "tests").glob("*.py")):
        for fixture, line in _fixtures_in(path):
            places.setdefault(fixture, []).append(f"{path.relative_to(ROOT).as_posix()}:{line}")
    twice = {name: where_ for name, where_ in places.items() if len(where_) > 1}
    assert not twice, (
        "fixtures defined more than once under tests/ (one name, one meaning): rename all but one after what it gives, "
        f"or move a shared one into tests/conftest.py: {twice}"
    )
