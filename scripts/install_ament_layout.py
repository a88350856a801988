"""Gives a venv the ament layout that colcon's install space has, for `ros2 run` and `ros2 launch`.

    python scripts/install_ament_layout.py [--prefix PREFIX]      (default: this Python's sys.prefix)

pip's editable install (scripts/setup.sh) installs no data_files, so this writes them itself:
  - share/ament_index/resource_index/packages/deephar_ros, the marker ament_index looks for;
  - share/deephar_ros/package.xml, a copy;
  - share/deephar_ros/{launch,config,rviz,model}, folders of symlinks to the repository's files (like
    colcon's --symlink-install: edits show without a re-install, as the editable sources do);
  - share/deephar_ros/labels, symlinks to the action label lists (deephar_ros/model/data/*_labels.txt);
  - lib/deephar_ros/{perception_node,demo_source}, nodes/ with this Python in the shebang, so
    `ros2 run` started from a system ROS shell still runs the venv's interpreter.
Idempotent: what is already right is left alone; a file or folder in the way is replaced.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

PACKAGE = "deephar_ros"
REPO_ROOT = Path(__file__).resolve().parents[1]
SHARE_FOLDERS = ("launch", "config", "rviz", "model")
# share folders whose files come from another repository folder: name -> (that folder, file pattern)
SHARE_SELECTIONS = {"labels": (f"{PACKAGE}/model/data", "*_labels.txt")}
EXECUTABLES = ("perception_node", "demo_source")


def _write_if_changed(path: Path, text: str, mode: int) -> None:
    if path.is_symlink() or path.is_dir():
        _remove(path)
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)
    path.chmod(mode)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def _link(path: Path, target: Path) -> None:
    if path.is_symlink() and path.readlink() == target:
        return
    if path.exists() or path.is_symlink():
        _remove(path)
    path.symlink_to(target)


def _link_files(folder: Path, source: Path, pattern: str = "*") -> None:
    """folder: a real directory holding one symlink per file of source matching pattern, as colcon
    --symlink-install.

    Not one link to the whole folder: `ros2 launch <package> <file>` finds the file with os.walk,
    which does not enter linked folders.
    """
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        _remove(folder)
    wanted = {path.relative_to(source) for path in source.rglob(pattern) if path.is_file()}
    for installed in sorted(folder.rglob("*"), reverse=True):  # what the source no longer has
        relative = installed.relative_to(folder)
        if installed.is_symlink() or installed.is_file():
            if relative not in wanted:
                installed.unlink()
        elif installed.is_dir() and not any(installed.iterdir()):
            installed.rmdir()
    for relative in sorted(wanted):
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        _link(folder / relative, source / relative)


def executable_text(node: str, interpreter: str) -> str:
    """nodes/<node> with its `#!/usr/bin/env python3` line replaced by interpreter."""
    lines = (REPO_ROOT / "nodes" / node).read_text().splitlines(keepends=True)
    return f"#!{interpreter}\n" + "".join(lines[1:])


def install_layout(prefix: Path, interpreter: str = sys.executable) -> list[Path]:
    """Write the layout under prefix; the paths it consists of."""
    share = prefix / "share" / PACKAGE
    lib = prefix / "lib" / PACKAGE
    marker = prefix / "share" / "ament_index" / "resource_index" / "packages" / PACKAGE
    for folder in (share, lib, marker.parent):
        folder.mkdir(parents=True, exist_ok=True)
    _write_if_changed(marker, "", 0o644)
    _write_if_changed(share / "package.xml", (REPO_ROOT / "package.xml").read_text(), 0o644)
    for folder in SHARE_FOLDERS:
        _link_files(share / folder, REPO_ROOT / folder)
    for folder, (source, pattern) in SHARE_SELECTIONS.items():
        _link_files(share / folder, REPO_ROOT / source, pattern)
    for node in EXECUTABLES:
        _write_if_changed(lib / node, executable_text(node, interpreter), 0o755)
    return [
        marker,
        share / "package.xml",
        *(share / f for f in (*SHARE_FOLDERS, *SHARE_SELECTIONS)),
        *(lib / n for n in EXECUTABLES),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prefix", type=Path, default=Path(sys.prefix), help="install prefix (a venv)")
    args = parser.parse_args(argv)
    install_layout(args.prefix.resolve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
