"""The project's import graph keeps its rooms: each folder's role, arrows one way, and no circle anywhere."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("engine", "web", "storage", "scripts", "tests")


def modules() -> dict[str, Path]:
    found = {}
    for top in PACKAGES:
        for path in (ROOT / top).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports (at any depth of its body, so a deferred import counts too)."""
    known = modules()
    edges: dict[str, set[str]] = {name: set() for name in known}
    for name, path in known.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join([*package.split(".")[: len(package.split(".")) - node.level + 1], base]).strip(".")
                targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
            else:
                continue
            edges[name] |= {t for t in targets if t in known and t != name}
    return edges


def test_the_graph_sees_the_project() -> None:
    edges = graph()
    assert "web.api.bookings" in edges["web.app"] and "web.http.body" in edges["web.api.bookings"]
    assert len(edges) > 100


def on_circles(edges: dict[str, set[str]]) -> set[str]:
    circles = set()
    for start in edges:
        seen, todo = set(), [start]
        while todo:
            for nxt in edges[todo.pop()]:
                if nxt == start:
                    circles.add(start)
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
    return circles


def route_crossings(edges: dict[str, set[str]]) -> set[tuple[str, str]]:
    return {(a, b) for a, t in edges.items() if a.startswith("web.api.") for b in t if b.startswith("web.api.")}


def test_no_import_circle() -> None:
    circles = on_circles(graph())
    assert not circles, f"modules on an import circle: {sorted(circles)}"


def test_no_route_module_imports_another() -> None:
    crossing = route_crossings(graph())
    assert not crossing, crossing


def test_plumbing_and_security_never_import_routes() -> None:
    edges = graph()
    lower = ("web.http", "web.security", "web.schemas", "web.cluster")
    wrong = {
        (a, b)
        for a, targets in edges.items()
        if a.startswith(lower)
        for b in targets
        if b.startswith("web.api") or b == "web.app"
    }
    assert not wrong, wrong


def test_engine_and_storage_know_nothing_of_the_web() -> None:
    edges = graph()
    wrong = {(a, b) for a, t in edges.items() if a.startswith(("engine", "storage")) for b in t if b.startswith("web")}
    assert not wrong, wrong
    for path in (ROOT / "engine").rglob("*.py"):
        tree = ast.parse(path.read_text())
        names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        names |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert not {n for n in names if n.split(".")[0] in ("aiohttp", "sqlalchemy", "aiosqlite", "asyncpg")}, path


def test_the_seat_rules_do_no_io() -> None:
    for rules in ("engine/seats.py", "engine/layout.py"):
        tree = ast.parse((ROOT / rules).read_text())
        names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        names |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        io = {"asyncio", "os", "socket", "storage", "sqlalchemy", "aiohttp", "pathlib", "subprocess"}
        assert not {n for n in names if n.split(".")[0] in io}, (rules, names)


def test_a_planted_circle_and_crossing_are_caught(tmp_path: Path, monkeypatch) -> None:
    """The rules above can fail: a route module importing another, and a circle, are both seen."""
    for top in PACKAGES:
        (tmp_path / top).mkdir()
    (tmp_path / "web" / "api").mkdir()
    for part in ("web", "web/api"):
        (tmp_path / part / "__init__.py").write_text("")
    (tmp_path / "web" / "api" / "a.py").write_text("from web.api import b\n")
    (tmp_path / "web" / "api" / "b.py").write_text("def f():\n    import web.api.a\n")
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    edges = graph()
    assert on_circles(edges) == {"web.api.a", "web.api.b"}
    assert route_crossings(edges) == {("web.api.a", "web.api.b"), ("web.api.b", "web.api.a")}
