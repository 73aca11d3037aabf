"""The layout as the README's Architecture section draws it: one direction of dependency (the
import-linter contracts of ``.importlinter``, also run by ``make lint``), no import cycle between
modules (imports inside functions included), adapters that only translate, no module too long to
read."""

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("core", "orgs", "events", "coupons", "wallets", "catalogue", "appvirality", "capillary", "backoffice")
PACKAGES += ("rewards_site",)
ADAPTERS = ("appvirality", "capillary")
MAX_LINES = 600


def modules(*packages: str) -> dict[str, Path]:
    """Every production module by dotted name (migrations aside: they never import back)."""
    found = {}
    for package in packages:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The project modules ``name`` imports, anywhere in it (functions, classes, conditionals)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            candidates = [f"{module}.{alias.name}" for alias in node.names] + [module]
        else:
            continue
        for candidate in candidates:
            while candidate and candidate not in known:
                candidate = candidate.rpartition(".")[0]
            if candidate and candidate != name and not name.startswith(candidate + "."):
                targets.add(candidate)
    return targets


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_no_module_imports_itself_back_through_others():
    everything = modules(*PACKAGES)
    known = set(everything)
    graph = {name: imports_of(name, path, known) for name, path in everything.items()}
    assert sum(len(targets) for targets in graph.values()) > 100  # the graph was read
    assert cycles(graph) == []


def test_the_cycle_check_finds_a_cycle_through_an_import_inside_a_function(tmp_path):
    (tmp_path / "a.py").write_text("import b\n")
    (tmp_path / "b.py").write_text("def later():\n    from a import x\n")
    known = {"a", "b"}
    graph = {name: imports_of(name, tmp_path / f"{name}.py", known) for name in known}
    assert cycles(graph) == [["a", "b"]]


def test_the_import_contracts_hold():
    lint_imports = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    done = subprocess.run([lint_imports, "--no-logo", "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Contracts: 2 kept, 0 broken." in done.stdout


@pytest.mark.parametrize("name", sorted(modules(*PACKAGES)))
def test_no_production_module_is_longer_than_600_lines(name):
    lines = modules(*PACKAGES)[name].read_text().count("\n")
    assert lines <= MAX_LINES, f"{name} has {lines} lines"


SQL = re.compile(r"\b(SELECT\s.+\sFROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM)\b", re.IGNORECASE | re.DOTALL)


def adapter_violations(path: Path) -> list[str]:
    """What an adapter must not do: open a transaction, run a query (ORM or SQL)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Attribute) and node.attr in ("objects", "atomic", "cursor", "raw", "on_commit"):
            found.append(f"{where}: .{node.attr}")
        elif isinstance(node, ast.ImportFrom) and node.module == "django.db":
            found.append(f"{where}: imports django.db ({', '.join(alias.name for alias in node.names)})")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL.search(node.value):
            found.append(f"{where}: SQL {node.value[:40]!r}")
    return found


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_an_adapter_opens_no_transaction_and_runs_no_query(adapter):
    found = [v for path in modules(adapter).values() for v in adapter_violations(path)]
    assert found == []


def test_the_adapter_check_sees_a_query_and_a_transaction(tmp_path):
    source = tmp_path / "bad.py"
    source.write_text(
        "from django.db import transaction\n"
        "def view():\n"
        "    with transaction.atomic():\n"
        "        Customer.objects.first()\n"
        "        run('UPDATE orgs_customer SET blocked = true')\n"
    )
    bad = ROOT / "appvirality" / "_bad_for_the_test.py"
    shutil.copy(source, bad)
    try:
        found = adapter_violations(bad)
    finally:
        bad.unlink()
    assert len(found) == 4, found
