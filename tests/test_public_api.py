"""kb's public names: the literal __all__, the lazy table and the TYPE_CHECKING imports agree."""
from __future__ import annotations

import ast
import importlib

import kb
from tests.support import ROOT


def lazy_targets() -> dict[str, tuple[str, str]]:
    """public name -> (module, name there), as kb.__getattr__ reads _EXPORTS."""
    return {name: target if isinstance(target, tuple) else (target, name) for name, target in kb._EXPORTS.items()}


def type_checking_imports() -> dict[str, tuple[str, str]]:
    """public name -> (module, name there), from the `if TYPE_CHECKING:` block of kb/__init__.py."""
    tree = ast.parse((ROOT / "kb" / "__init__.py").read_text(encoding="utf-8"))
    blocks = [node for node in tree.body if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"]
    assert len(blocks) == 1, f"kb/__init__.py has {len(blocks)} `if TYPE_CHECKING:` blocks, not one"
    found = {}
    for node in blocks[0].body:
        assert isinstance(node, ast.ImportFrom) and node.module, f"line {node.lineno}: only `from kb.x import y` belongs in the block"
        for alias in node.names:
            found[alias.asname or alias.name] = (node.module, alias.name)
    return found


def test_all_is_the_lazy_table():
    assert isinstance(kb.__all__, list), "__all__ must be a literal list"
    assert set(kb.__all__) == set(kb._EXPORTS), f"only in __all__: {set(kb.__all__) - set(kb._EXPORTS)}; only in _EXPORTS: {set(kb._EXPORTS) - set(kb.__all__)}"
    assert len(kb.__all__) == len(set(kb.__all__)), "__all__ names a name twice"


def test_type_checking_block_imports_what_the_lazy_table_loads():
    assert type_checking_imports() == lazy_targets()


def test_every_public_name_resolves():
    for name, (module, attr) in lazy_targets().items():
        assert getattr(kb, name) is getattr(importlib.import_module(module), attr), f"kb.{name} is not {module}.{attr}"
    assert set(kb.__all__) <= set(dir(kb))
