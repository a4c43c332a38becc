"""The package's rooms and the direction of its imports, read from the source itself.

- `core/` is pure: it imports only the core, a short list of side-effect-free standard modules and
  exifread; never the engine, `rules/`, `nextcloud/`, file, process or network modules, nor a web library.
- The rule model and matching (`rules/model.py`, `facts.py`, `match.py`) are pure the same way: they
  may import the core and each other, and read TOML from text.
- Nothing outside `nextcloud/` imports `nextcloud/`, nc_py_api or a web framework.
- `ex_app/lib/main.py` is the only wiring into AppAPI, and stays as small as nc_py_api's examples.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

LIB = Path(__file__).resolve().parents[1] / "ex_app" / "lib"
PACKAGE = LIB / "mobile_backups"
PURE_STDLIB = {
    "__future__", "bisect", "collections", "dataclasses", "datetime", "enum", "functools", "hashlib", "io",
    "itertools", "logging", "math", "re", "struct", "time", "typing", "xml", "zlib", "zoneinfo",
}
PURE_THIRD_PARTY = {"exifread"}
PURE_RULES = {"model", "facts", "match"}  # the modules of rules/ that decide without touching a file
PURE_RULES_STDLIB = {"fnmatch", "posixpath", "tomllib"}
PURE_PATHLIB = {"PurePath", "PurePosixPath"}  # path arithmetic only, never the filesystem
WEB = {"fastapi", "starlette", "uvicorn", "niquests", "httpx", "requests", "aiohttp", "urllib3", "http", "nc_py_api"}
APPAPI_WIRING = {"run_app", "set_handlers", "AppAPIAuthMiddleware"}
MAIN_MAX_LINES = 60


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def dotted(path: Path) -> str:
    return ".".join(path.relative_to(LIB).with_suffix("").parts).removesuffix(".__init__")


def imports(path: Path) -> list[tuple[str, list[str]]]:
    """(absolute module, imported names) of every import in the file, relative ones resolved."""
    tree = ast.parse(path.read_text(), str(path))
    package = dotted(path).split(".") if path.name == "__init__.py" else dotted(path).split(".")[:-1]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((alias.name, []) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names = [alias.name for alias in node.names]
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
                if not node.module:  # `from . import a, b`: each name is a module of that package
                    found.extend((f"{module}.{name}", []) for name in names)
                    continue
            else:
                module = node.module or ""
            found.append((module, names))
    return found


def room(module: str) -> str:
    """core, rules, nextcloud, or engine (the top level of the package), or '' outside the package."""
    parts = module.split(".")
    if parts[0] != "mobile_backups":
        return ""
    return parts[1] if len(parts) > 1 and parts[1] in ("core", "rules", "nextcloud") else "engine"


def test_the_imports_are_read_from_every_module() -> None:
    engine = PACKAGE / "engine.py"
    assert ("mobile_backups.core.capture", ["capture_time"]) in imports(engine)
    rooms = {room(dotted(p)) for p in modules()}
    assert {"core", "nextcloud", "engine"} <= rooms


@pytest.mark.parametrize("path", [p for p in modules() if room(dotted(p)) == "core"], ids=lambda p: p.name)
def test_core_is_pure(path: Path) -> None:
    for module, names in imports(path):
        top = module.split(".")[0]
        if top == "mobile_backups":
            assert room(module) == "core", f"{path.name} imports {module}: the core may import only the core"
        elif top == "pathlib":
            assert set(names) <= PURE_PATHLIB, f"{path.name} imports {names} from pathlib: only pure paths in the core"
        else:
            assert top in PURE_STDLIB | PURE_THIRD_PARTY, f"{path.name} imports {module}: not a pure module (file, process, network or web)"


@pytest.mark.parametrize("path", [PACKAGE / "rules" / f"{name}.py" for name in sorted(PURE_RULES)], ids=lambda p: p.name)
def test_rule_matching_is_pure(path: Path) -> None:
    for module, names in imports(path):
        top = module.split(".")[0]
        if top == "mobile_backups":
            pure = room(module) == "core" or module.removeprefix("mobile_backups.rules.") in PURE_RULES
            assert pure, f"rules/{path.name} imports {module}: rule matching may import only the core and pure rule modules"
        elif top == "pathlib":
            assert set(names) <= PURE_PATHLIB, f"rules/{path.name} imports {names} from pathlib: only pure paths"
        else:
            assert top in PURE_STDLIB | PURE_RULES_STDLIB, f"rules/{path.name} imports {module}: not a pure module"


@pytest.mark.parametrize("path", [p for p in modules() if room(dotted(p)) != "nextcloud"], ids=lambda p: str(p.relative_to(PACKAGE)))
def test_only_the_exapp_knows_nextcloud(path: Path) -> None:
    for module, _ in imports(path):
        assert room(module) != "nextcloud", f"{path.name} imports {module}: only nextcloud/ may"
        assert module.split(".")[0] not in WEB, f"{path.name} imports {module}: web and Nextcloud libraries belong in nextcloud/"


def test_main_is_the_only_wiring_into_appapi() -> None:
    for path in modules():
        for module, names in imports(path):
            wired = APPAPI_WIRING & set(names)
            assert not (module.startswith("nc_py_api") and wired), f"{path.relative_to(PACKAGE)} wires {wired} into AppAPI: main.py does"
    main = LIB / "main.py"
    wiring = {name for module, names in imports(main) if module.startswith("nc_py_api") for name in names}
    assert APPAPI_WIRING <= wiring
    assert {room(m) for m, _ in imports(main)} <= {"", "nextcloud"}, "main.py wires the ExApp (nextcloud/) only"
    assert len(main.read_text().splitlines()) <= MAIN_MAX_LINES
