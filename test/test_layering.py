"""Imports point one way: every module of the package sits in one layer and imports only from
its own package or from layers below it (function-local imports included), and no two modules
import each other, directly or through others."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = "espnet2_speechprompt"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE

# bottom to top: a part may import the parts before it, never those after it
LAYERS = [
    "errors",  # the base class of every user-facing error
    "fileio",  # atomic outputs, locks, hashes
    "safe_load",  # allow-listed torch/pickle reading
    "kaldi_text",  # Kaldi-style text files
    "options",  # mapping options with checked keys
    "vocab",  # fairseq dictionary and special tokens
    "batching",  # padding token rows
    "precision",  # the frozen backbone's dtype (bf16 where fast), autocast
    "training",  # the one training loop
    "speechlm",  # networks: unit LM, encoder-decoder, HuBERT; decoding
    "checkpoints",  # fairseq loaders and savers, the backbone registry
    "units",  # speech to units
    "vocoder",  # units to speech
    "data",  # corpus preparation
    "scoring",  # metrics
    "verbalizer",
    "prompt",
    "baselines",
    "api",  # the library: building, config reading, packages, SpeechPrompt
    "serving",  # HTTP serving of a task bank (FastAPI)
    "tasks",  # the ESPnet2 task: the only layer importing espnet2
    "bin",  # command lines
]
ESPNET_FREE = LAYERS[: LAYERS.index("tasks")]


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, anywhere in the file, as absolute dotted names."""
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def part_of(module: str) -> str:
    return module.split(".")[1] if module.count(".") else ""


MODULES = {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}
IMPORTS = {
    name: {m for m in imported_modules(path) if m in MODULES and m != name}
    for name, path in MODULES.items()
}


def test_every_part_has_a_layer():
    parts = {part_of(m) for m in MODULES} - {""}
    assert parts <= set(LAYERS), f"give these a layer in LAYERS: {sorted(parts - set(LAYERS))}"


@pytest.mark.parametrize("name", sorted(m for m in MODULES if part_of(m)))
def test_imports_point_down(name):
    layer = LAYERS.index(part_of(name))
    upward = sorted(m for m in IMPORTS[name] if LAYERS.index(part_of(m) or "errors") > layer)
    assert not upward, f"{name} imports from higher layers: {upward}"


@pytest.mark.parametrize("name", sorted(m for m in MODULES if part_of(m) in ESPNET_FREE))
def test_core_imports_no_espnet(name):
    espnet = sorted(m for m in imported_modules(MODULES[name]) if m.split(".")[0] == "espnet2")
    assert not espnet, f"{name} imports {espnet}: only tasks/ and bin/ may import espnet2"


def test_no_module_is_imported_both_ways():
    """No cycle in the module graph (Tarjan's strongly connected components)."""
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for child in sorted(IMPORTS[node]):
            if child not in index:
                visit(child)
                low[node] = min(low[node], low[child])
            elif child in on_stack:
                low[node] = min(low[node], index[child])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for name in MODULES:
        if name not in index:
            visit(name)
    assert not cycles, f"modules that import each other: {cycles}"


def test_the_checker_sees_lazy_and_relative_imports(tmp_path):
    module = tmp_path / PACKAGE / "prompt" / "x.py"
    module.parent.mkdir(parents=True)
    module.write_text("def f():\n    from ..tasks.speechprompt import SpeechPromptTask\n")
    found = {m for m in imported_modules_under(module, tmp_path)}
    assert f"{PACKAGE}.tasks.speechprompt" in found


def imported_modules_under(path: Path, root: Path) -> set[str]:
    global ROOT
    saved, ROOT = ROOT, root / PACKAGE
    try:
        return imported_modules(path)
    finally:
        ROOT = saved


TEST_ROOT = ROOT.parent / "test"
HELPER_USERS = sorted([*TEST_ROOT.rglob("*.py"), *(ROOT.parent / "bench").rglob("*.py")])


@pytest.mark.parametrize("path", HELPER_USERS, ids=lambda p: str(p.relative_to(ROOT.parent)))
def test_no_module_imports_a_conftest(path):
    """Tiny models and data come from ``test.factories``; conftest files are pytest's own."""
    conftests = sorted(m for m in imported_modules(path) if m.split(".")[-1] == "conftest")
    assert not conftests, f"{path} imports {conftests}: import from test.factories instead"


def is_fixture_or_hook(node: ast.stmt) -> bool:
    if not isinstance(node, ast.FunctionDef):
        return False
    decorators = [d.func if isinstance(d, ast.Call) else d for d in node.decorator_list]
    fixture = any(ast.unparse(d) == "pytest.fixture" for d in decorators)
    return fixture or node.name.startswith("pytest_")


@pytest.mark.parametrize(
    "path", sorted(TEST_ROOT.rglob("conftest.py")), ids=lambda p: str(p.relative_to(ROOT.parent))
)
def test_conftest_files_hold_only_fixtures(path):
    body = ast.parse(path.read_text(encoding="utf-8")).body
    other = [
        getattr(node, "name", ast.unparse(node).splitlines()[0])
        for node in body
        if not isinstance(node, ast.Import | ast.ImportFrom)
        and not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))
        and not is_fixture_or_hook(node)
    ]
    assert not other, f"{path}: move {other} to test/factories (conftest: fixtures only)"
