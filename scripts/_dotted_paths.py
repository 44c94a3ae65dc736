"""Let `brownie run scripts/x.py` work when a folder above the project has a dot in its name.

Brownie 1.22 imports a script under a module name made of its absolute path
(``'.'.join(path.parts[1:-1])``), so ``~/src/v1.2/chaincrm/scripts/deploy.py`` becomes
``home.me.src.v1.2.chaincrm.scripts.deploy``, which Python cannot import: "No module named
'home.me.src.v1'". `./run setup` installs a ``.pth`` file in ``.venv`` (``install_brownie_hook``)
that runs this file at the start of a `brownie run` process, and of no other. When the script's
path has a dotted folder, it appends an import finder that serves exactly that module name, and
the names Python imports on the way to it, from the script's real folders. Other imports are
untouched: the finder comes last and answers only those names.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType

SCRIPTS_FOLDER = "scripts"
PROJECT_MARKER = "brownie-config.yaml"
RUN_NAME = "__brownie_run__"
"""The name the .pth file runs this file under (runpy), so that importing it installs nothing."""


def script_path(argument: str, cwd: Path) -> Path | None:
    """The file `brownie run ARGUMENT` imports, found as Brownie finds it; None when there is none."""
    path = Path(argument).with_suffix(".py")
    if path.is_absolute():
        return path.resolve() if path.is_file() else None
    for folder in (cwd, *cwd.parents):
        if (folder / PROJECT_MARKER).is_file():
            inside = path if path.parts[:1] == (SCRIPTS_FOLDER,) else Path(SCRIPTS_FOLDER) / path
            candidate = folder / inside
            return candidate.resolve() if candidate.is_file() else None
    return None


def brownie_module_name(path: Path) -> str:
    """The module name Brownie imports ``path`` under."""
    return ".".join((*path.parts[1:-1], path.stem))


class DottedPathFinder:
    """Serves one script under Brownie's module name, and the made-up parents of that name."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = brownie_module_name(path)
        self.folder_name = ".".join(path.parts[1:-1])
        parts = self.name.split(".")
        self.parents = {".".join(parts[:end]) for end in range(1, len(parts))}

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname == self.name:
            return importlib.util.spec_from_file_location(fullname, self.path)
        if fullname == self.folder_name:
            package = self.path.parent / "__init__.py"
            if package.is_file():
                return importlib.util.spec_from_file_location(
                    fullname, package, submodule_search_locations=[str(self.path.parent)]
                )
            return ModuleSpec(fullname, None, is_package=True)
        if fullname in self.parents:
            return ModuleSpec(fullname, None, is_package=True)  # an empty namespace on the way down
        return None


def install(argv: Sequence[str], cwd: Path) -> DottedPathFinder | None:
    """Append the finder when ``argv`` is `brownie run <script>` and the script's path needs it."""
    if len(argv) < 3 or Path(argv[0]).name != "brownie" or argv[1] != "run":
        return None
    if any(type(finder).__name__ == DottedPathFinder.__name__ for finder in sys.meta_path):
        return None  # the .pth file can be read twice (lib and lib64)
    path = script_path(argv[2], cwd)
    if path is None or not any("." in part for part in path.parts[1:-1]):
        return None
    finder = DottedPathFinder(path)
    sys.meta_path.append(finder)
    return finder


if __name__ == RUN_NAME:
    # orig_argv: runpy has replaced sys.argv[0] with this file's path.
    install(sys.orig_argv[1:], Path(os.getcwd()))
