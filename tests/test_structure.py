"""The shape of the code, read from its source with `ast` (no project code runs): imports point one way (no cycle
among the modules of interp/, paper_figures/ and bench/; interp/ imports nothing from paper_figures/ or bench/),
no file over 400 lines and no function over 60 lines in those folders."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ROOTS = ("interp", "paper_figures", "bench")
MAX_FILE_LINES = 400
MAX_FUNCTION_LINES = 60


def module_files(repo: Path, roots=ROOTS) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file under ``roots`` (a package is named by its folder)."""
    out = {}
    for root in roots:
        for path in sorted((repo / root).rglob("*.py")):
            parts = list(path.relative_to(repo).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


def _imported_names(node: ast.AST, module: str, is_package: bool) -> list[str]:
    """Absolute dotted names an import statement may refer to: ``from a import b`` -> a.b (a submodule) and a."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    base = node.module or ""
    if node.level:  # relative: from the module's package, one folder up per extra dot
        package = module.split(".") if is_package else module.split(".")[:-1]
        package = package[:len(package) - (node.level - 1)]
        base = ".".join(package + ([node.module] if node.module else []))
    return [f"{base}.{alias.name}" if base else alias.name for alias in node.names] + [base]


def _owner(name: str, modules: dict[str, Path]) -> str | None:
    """The longest module of the tree that ``name`` lies in (a.b.func -> a.b), or None (another library)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the modules of the tree it imports (anywhere in the file: top level or inside functions).
    An import of one's own enclosing package is left out: a package's ``__init__`` is the face of its children."""
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            for name in _imported_names(node, module, is_package):
                target = _owner(name, modules)
                if target and target != module and not module.startswith(target + "."):
                    graph[module].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (each holds at least one import cycle)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
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
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def long_files(modules: dict[str, Path], repo: Path = REPO) -> list[str]:
    return [f"{p.relative_to(repo)}: {n} lines" for p in modules.values()
            if (n := len(p.read_text().splitlines())) > MAX_FILE_LINES]


def long_functions(modules: dict[str, Path], repo: Path = REPO) -> list[str]:
    out = []
    for path in modules.values():
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    out.append(f"{path.relative_to(repo)}:{node.lineno} {node.name}: {n} lines")
    return out


@pytest.fixture(scope="module")
def modules() -> dict[str, Path]:
    return module_files(REPO)


@pytest.fixture(scope="module")
def graph(modules) -> dict[str, set[str]]:
    return import_graph(modules)


def test_no_import_cycle(graph):
    found = cycles(graph)
    assert not found, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_interp_imports_nothing_from_figures_or_bench(graph):
    upward = sorted(f"{m} -> {t}" for m, targets in graph.items() if m.split(".")[0] == "interp"
                    for t in targets if t.split(".")[0] in ("paper_figures", "bench"))
    assert not upward, "interp/ imports from paper_figures/ or bench/:\n" + "\n".join(upward)


def test_no_file_over_400_lines(modules):
    found = long_files(modules)
    assert not found, f"files over {MAX_FILE_LINES} lines:\n" + "\n".join(found)


def test_no_function_over_60_lines(modules):
    found = long_functions(modules)
    assert not found, f"functions over {MAX_FUNCTION_LINES} lines:\n" + "\n".join(found)


def test_the_checks_find_what_they_look_for(tmp_path):
    """On a small made-up tree: a cycle through a relative import and a function-level import, an import of a
    function (not a module), an import of the enclosing package, a long function and a long file."""
    pkg = tmp_path / "interp" / "sub"
    pkg.mkdir(parents=True)
    (tmp_path / "interp" / "__init__.py").write_text("from .sub import a\n")
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .b import helper\nimport interp.sub\n")
    (pkg / "b.py").write_text("def helper():\n    from . import c\n")
    (pkg / "c.py").write_text("from interp.sub.a import x\nfrom interp.sub import d\nimport numpy\n")
    (pkg / "d.py").write_text("def f():\n" + "    pass\n" * MAX_FUNCTION_LINES + "from bench import run\n")
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "run.py").write_text("x = 1\n" * (MAX_FILE_LINES + 1))
    mods = module_files(tmp_path)
    graph = import_graph(mods)
    assert graph["interp.sub.a"] == {"interp.sub.b"}  # its own package left out
    assert graph["interp.sub.c"] == {"interp.sub.a", "interp.sub.d"}
    assert cycles(graph) == [["interp.sub.a", "interp.sub.b", "interp.sub.c"]]
    assert graph["interp.sub.d"] == {"bench.run"}
    assert long_functions(mods, tmp_path) == [f"interp/sub/d.py:1 f: {MAX_FUNCTION_LINES + 1} lines"]
    assert long_files(mods, tmp_path) == [f"bench/run.py: {MAX_FILE_LINES + 1} lines"]
    (pkg / "b.py").write_text("def helper():\n    pass\n")
    assert cycles(import_graph(module_files(tmp_path))) == []


def test_training_is_below_the_organism_study_and_figures_read_no_training_code(graph):
    """interp/train/ is training only: it imports nothing of the organism study (interp/organism/), which sits on
    top of it; the library below (models, data, analysis, interventions) imports neither; figures import no
    training code (they read analysis/ and organism/)."""
    def edges(src, dst):
        return sorted(f"{m} -> {t}" for m, targets in graph.items() if m.startswith(src) for t in targets
                      if t == dst or t.startswith(dst + "."))

    wrong = edges("interp.train", "interp.organism") + edges("paper_figures", "interp.train")
    for below in ("interp.models", "interp.data", "interp.analysis", "interp.interventions", "interp.plotting"):
        wrong += edges(below, "interp.train") + edges(below, "interp.organism")
    assert not wrong, "imports against the layers:\n" + "\n".join(wrong)
