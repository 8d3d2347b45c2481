"""The library is built in floors, and nothing imports a floor above it: the core (hypernet_lib/*.py) imports
none of the packages; the families (hypernets/) and the data (data/) import only the core; an app (apps/)
imports the core, the families and the data, and never another app. Only the package's public face
(hypernet_lib/__init__.py) imports everything, and the library never imports a recipe (course/)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

LIB = Path(__file__).resolve().parents[1] / "hypernet_lib"
FLOOR = {"core": 0, "hypernets": 1, "data": 1, "apps": 2, "face": 3}


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(LIB.parent).with_suffix("").parts).removesuffix(".__init__")


def floor_of(module: str) -> str:
    """'hypernet_lib' -> 'face'; 'hypernet_lib.train' -> 'core'; 'hypernet_lib.apps.maml' -> 'apps'."""
    parts = module.split(".")
    if len(parts) == 1:
        return "face"
    return parts[1] if parts[1] in FLOOR else "core"


def imported_modules(path: Path, source: str | None = None) -> set[str]:
    """Absolute names of the hypernet_lib / course modules that ``path`` imports (``from . import x``
    counts as importing the package and, if it is one, the submodule ``x``)."""
    here = module_name(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    found: set[str] = set()
    source = path.read_text(encoding="utf-8") if source is None else source
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            name = ".".join(base + ([node.module] if node.module else []))
            found.add(name)
            found |= {f"{name}.{a.name}" for a in node.names if _is_module(f"{name}.{a.name}")}
    return {m for m in found if m.split(".")[0] in ("hypernet_lib", "course")}


def _is_module(name: str) -> bool:
    path = LIB.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


MODULES = [p for p in sorted(LIB.rglob("*.py")) if module_name(p) != "hypernet_lib"]


def violations(path: Path, source: str | None = None) -> list[str]:
    """Every import of ``path`` (or of ``source``, read as if it were ``path``) that breaks the floors."""
    me, found = module_name(path), []
    for target in sorted(imported_modules(path, source)):
        mine, theirs = floor_of(me), floor_of(target)
        if target.startswith("course"):
            found.append(f"{me} imports the recipe {target}: the library never imports one")
        elif mine == "apps" and theirs == "apps" and target != "hypernet_lib.apps":
            if me != "hypernet_lib.apps" and target.split(".")[2] != me.split(".")[2]:
                found.append(f"{me} imports another app, {target}")
        elif mine != theirs and FLOOR[theirs] >= FLOOR[mine]:
            found.append(f"{me} ({mine}) imports {target} ({theirs}), a floor above it")
    return found


@pytest.mark.parametrize("path", MODULES, ids=[str(p.relative_to(LIB)) for p in MODULES])
def test_no_module_imports_a_floor_above_it_or_another_app(path: Path) -> None:
    assert violations(path) == []


def test_the_rule_catches_upward_imports_app_to_app_imports_and_recipes() -> None:
    family = LIB / "hypernets" / "_layout_probe.py"
    assert violations(family, "from ..apps import maml\nfrom ..train import fit\n") == [
        "hypernet_lib.hypernets._layout_probe (hypernets) imports hypernet_lib.apps (apps), a floor above it",
        "hypernet_lib.hypernets._layout_probe (hypernets) imports hypernet_lib.apps.maml (apps), a floor above it",
    ]  # `from ..train import fit` is the core: allowed
    app = LIB / "apps" / "_layout_probe.py"
    assert violations(app, "from .maml import inner_loop\nimport course.lec03_maml\n") == [
        "hypernet_lib.apps._layout_probe imports the recipe course.lec03_maml: the library never imports one",
        "hypernet_lib.apps._layout_probe imports another app, hypernet_lib.apps.maml",
    ]
