"""Run Slither's command line with its brownie route reading a chosen build folder.

Run with the Slither interpreter (.venv-slither/bin/python); the arguments are Slither's own:

    SLITHER_BROWNIE_BUILD_DIR=DIR python tools/slither_brownie.py . --compile-force-framework brownie ...

crytic-compile's Brownie platform takes its build folder only from the `build:` line of
brownie-config.yaml (a regex, no override flag). tools/slither_brownie_build.py writes a complete
artifact set (interfaces included, one solc run) to a folder of its own, outside the project's
build/, and this launcher points the platform there. Everything else is stock Slither.
"""

from __future__ import annotations

import os
import sys

import crytic_compile.platform.brownie as brownie_platform

build_dir = os.environ.get("SLITHER_BROWNIE_BUILD_DIR")
if build_dir:
    if not hasattr(brownie_platform, "_get_build_dir_from_config"):
        sys.exit(
            "crytic-compile no longer has platform.brownie._get_build_dir_from_config: "
            "update tools/slither_brownie.py for the crytic-compile pinned in "
            "tools/slither-requirements.txt"
        )
    brownie_platform._get_build_dir_from_config = lambda _target: build_dir

from slither.__main__ import main  # noqa: E402  (after the patch, on purpose)

if __name__ == "__main__":
    sys.argv[0] = "slither"
    main()
