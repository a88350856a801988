"""The package's layers (docs/ARCHITECTURE.md): each folder imports only from the folders below it, the
modules import each other in no circle, and nothing below `ros/` imports ROS.

perception/ and inference/ stand side by side on model/: the pipeline holds the engine by its
protocol (pipeline.Engine), never importing it, so it runs as well on the tests' perfect network.

Read from the sources' own import statements, those inside functions too (the lazy imports that keep
`--help` fast are imports all the same), so a new module or import that breaks the layout fails here.
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "deephar_ros"

LAYERS = ("ground", "model", "inference", "perception", "offline", "ros")
# What each layer may import, itself included.
MAY_IMPORT = {
    "ground": {"ground"},
    "model": {"ground", "model"},
    "inference": {"ground", "model", "inference"},
    "perception": {"ground", "model", "perception"},
    "offline": {"ground", "model", "inference", "perception", "offline"},
    "ros": set(LAYERS),
}
# The ground: the package's face (the image size cap) and the names users pick (choices.py).
GROUND = {"deephar_ros", "deephar_ros.choices"}
# Imported only by the ROS adapters: rclpy, the ROS messages (ours, deephar_ros.msg, are generated).
ROS_ROOTS = {"rclpy", "message_filters", "tf2_ros", "cv_bridge", "launch", "launch_ros"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def layer_of(module: str) -> str:
    if module in GROUND:
        return "ground"
    if module.startswith("deephar_ros.msg"):
        return "ros"
    layer = module.split(".")[1]
    if layer not in LAYERS:
        raise AssertionError(f"{module} is in no layer: put it in one of the folders {LAYERS[1:]}")
    return layer


def imported_names(source: str, package: str) -> set[str]:
    """The absolute names the import statements of `source` take, those inside functions too.

    `package`: the package the source's module sits in, for relative imports. `from package import
    module` takes the module; `from module import name` the module.
    """
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join([*parts[: len(parts) - node.level + 1], *([base] if base else [])])
            for alias in node.names:
                name = f"{base}.{alias.name}"
                names.add(name if name in MODULES else base)
    return names


def imported(module: str) -> set[str]:
    path = MODULES[module]
    return imported_names(
        path.read_text(), module if path.name == "__init__.py" else module.rpartition(".")[0]
    )


def package_imports(module: str) -> set[str]:
    """The modules of this package that `module` imports (a name inside a module counts as the module)."""
    found = set()
    for name in imported(module):
        if name.split(".")[0] != "deephar_ros":
            continue
        while name not in MODULES and not name.startswith("deephar_ros.msg") and "." in name:
            name = name.rpartition(".")[0]
        if name != module:
            found.add(name)
    return found


GRAPH = {module: package_imports(module) for module in MODULES}


def test_every_module_is_in_a_layer() -> None:
    assert {layer_of(module) for module in MODULES} == set(LAYERS)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_go_down_the_layers_only(module: str) -> None:
    allowed = MAY_IMPORT[layer_of(module)]
    refused = sorted(name for name in GRAPH[module] if layer_of(name) not in allowed)
    assert not refused, f"{module} ({layer_of(module)}) imports outside {sorted(allowed)}: {refused}"


def test_no_import_circles() -> None:
    """Depth-first search for a module reached again while still on the path."""
    state: dict[str, str] = {}
    circles = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for name in sorted(GRAPH.get(module, ())):
            if state.get(name) == "open":
                circles.append([*path[path.index(name) :], name])
            elif name not in state:
                visit(name, [*path, name])
        state[module] = "done"

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [module])
    assert not circles, "import circles: " + "; ".join(" -> ".join(circle) for circle in circles)


def test_only_the_ros_layer_imports_ros() -> None:
    ros_users = {
        module
        for module in MODULES
        for name in imported(module)
        if name.split(".")[0] in ROS_ROOTS
        or name.split(".")[0].endswith("_msgs")
        or name.startswith("deephar_ros.msg")
    }
    assert ros_users and all(layer_of(module) == "ros" for module in ros_users), sorted(
        module for module in ros_users if layer_of(module) != "ros"
    )


def test_the_check_reads_lazy_and_relative_imports() -> None:
    """An upward import inside a function, or written relative, is still seen (the check can fail)."""
    source = "def f():\n    from deephar_ros.ros import perception_node\n    from ..offline import video\n"
    names = imported_names(source, "deephar_ros.perception")
    assert names == {"deephar_ros.ros.perception_node", "deephar_ros.offline.video"}
    assert not any(layer_of(name) in MAY_IMPORT["perception"] for name in names)
    assert "deephar_ros.offline.video_job" in GRAPH["deephar_ros.offline.cli"]  # imported inside _run


def test_the_dotted_names_in_the_readme_and_the_architecture_import() -> None:
    """The README's library example and every `deephar_ros.x.y` the docs name resolve after a move."""
    docs = [PACKAGE.parent / "README.md", PACKAGE.parent / "docs" / "ARCHITECTURE.md"]
    text = "\n".join(path.read_text() for path in docs)
    examples = re.findall(r"```python\n(.*?)```", text, re.S)
    statements = [
        line for block in examples for line in block.splitlines() if line.startswith("from deephar_ros")
    ]
    assert statements, "the README shows the library's imports"
    for statement in statements:
        exec(statement, {})
    names = set(re.findall(r"`(deephar_ros(?:\.\w+)+)", text))
    assert "deephar_ros.perception.live_stream.LiveStream" in names
    for name in sorted(names):
        module, attributes = name, []
        while True:
            try:
                found = importlib.import_module(module)
                break
            except ModuleNotFoundError:
                assert "." in module, f"{name} does not import"
                module, _, attribute = module.rpartition(".")
                attributes.insert(0, attribute)
        for attribute in attributes:
            assert hasattr(found, attribute), f"{name}: {found.__name__} has no {attribute}"
            found = getattr(found, attribute)
