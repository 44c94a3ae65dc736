"""Write a complete, self-consistent set of Brownie-format artifacts for Slither.

Run with the project's Brownie interpreter (.venv/bin/python) from the project root, with the
same environment as `brownie compile` (SOLCX_BINARY_PATH, node on PATH):

    python tools/slither_brownie_build.py OUT_DIR

Why: Slither's brownie route (crytic-compile's Brownie platform) reads every
`<build>/contracts/*.json` and parses each artifact's AST. Brownie keeps no artifact there for
sources under `interfaces/` (it writes ABI-only files to `build/interfaces/`, from a separate solc
run), so every `import "../interfaces/..."` points to a source unit Slither never sees
("ValueError: interfaces/ICrmRegistry.sol does not exist"). The ASTs in `build/interfaces/` come
from another solc run, so their node ids do not match the ids the contracts refer to; and an
incremental `brownie compile` can leave `build/contracts` itself holding artifacts from several
solc runs.

So this script compiles every project source (contracts/ and interfaces/) in ONE solc run, with
the project's own compiler settings through Brownie's own config and compiler code, asks solc
only for ASTs and ABIs (all Slither's detectors read; no code generation, so it takes seconds,
not the ~20 s of an optimized build), and writes one Brownie-shaped artifact per contract,
interfaces included, to OUT_DIR/contracts/. It never touches the project's build/ folder.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path


def main() -> int:
    if len(sys.argv) != 2:
        print(f"usage: {sys.argv[0]} OUT_DIR", file=sys.stderr)
        return 2
    out_dir = Path(sys.argv[1]).resolve()
    project_path = Path.cwd().resolve()

    from brownie._config import (
        _load_project_compiler_config,
        _load_project_envvars,
        _load_project_structure_config,
    )
    from brownie._expansion import expand_posix_vars
    from brownie.project import compiler
    from brownie.project.compiler import solidity
    from brownie.project.main import _load_sources

    envvars = _load_project_envvars(project_path)
    structure = expand_posix_vars(_load_project_structure_config(project_path), envvars)
    config = expand_posix_vars(_load_project_compiler_config(project_path), envvars)

    def solidity_sources(folder: str, allow_json: bool) -> dict[str, str]:
        found = _load_sources(project_path, folder, allow_json)
        return {path: src for path, src in found.items() if path.endswith(".sol")}

    contract_sources = solidity_sources(structure["contracts"], False)
    interface_sources = solidity_sources(structure["interfaces"], True)
    if not contract_sources:
        print(f"no Solidity sources under {structure['contracts']}/", file=sys.stderr)
        return 1

    solc_config = config.get("solc") or {}
    version = solc_config.get("version")
    if not version:
        versions = compiler.find_solc_versions(contract_sources, install_needed=True)
        if len(versions) != 1:
            print(f"sources need several solc versions {sorted(versions)}: the brownie route "
                  "of Slither handles one", file=sys.stderr)
            return 1
        version = next(iter(versions))
    solidity.set_solc_version(version)
    solc_version = str(solidity.get_version())

    optimizer = solc_config.get("optimizer")
    if optimizer is None:
        optimize = bool(solc_config.get("optimize", True))
        optimizer = {"enabled": optimize, "runs": (solc_config.get("runs") or 0) if optimize else 0}
    input_json = compiler.generate_input_json(
        contract_sources,
        evm_version=solc_config.get("evm_version", config.get("evm_version")),
        language="Solidity",
        interface_sources=interface_sources,
        remappings=solc_config.get("remappings", []),
        optimizer=optimizer,
        viaIR=solc_config.get("viaIR", None),
    )
    input_json["settings"]["outputSelection"] = {"*": {"*": ["abi"], "": ["ast"]}}
    output = compiler.compile_from_input_json(
        input_json, silent=True, allow_paths=project_path.as_posix()
    )

    tmp_dir = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp_dir, ignore_errors=True)
    (tmp_dir / "contracts").mkdir(parents=True)
    names: dict[str, str] = {}
    uncovered = []
    for source_path, source_output in sorted(output["sources"].items()):
        contracts = output.get("contracts", {}).get(source_path, {})
        if not contracts:
            # A file with no contract (OpenZeppelin's interfaces/IERC20.sol only re-exports
            # token/ERC20/IERC20.sol, and SafeERC20 imports it) gets no source unit on this route,
            # and Slither then stops at its import ("... does not exist"). An artifact under a
            # placeholder name with the file's AST and nothing else gives it one.
            placeholder = "SourceOnly_" + "".join(c if c.isalnum() else "_" for c in source_path)
            artifact = {
                "contractName": placeholder,
                "sourcePath": source_path,
                "abi": [],
                "ast": source_output["ast"],
                "bytecode": "",
                "deployedBytecode": "",
                "sourceMap": "",
                "deployedSourceMap": "",
            }
            with open(tmp_dir / "contracts" / f"{placeholder}.json", "w", encoding="utf-8") as fp:
                json.dump(artifact, fp, sort_keys=True)
            uncovered.append(source_path)
        for name, contract_output in sorted(contracts.items()):
            if name in names:
                # crytic-compile keys nothing by file name here, but one file per name keeps
                # the artifact set unambiguous, as Brownie's own build folder does.
                print(f"contract name {name} is defined in both {names[name]} and "
                      f"{source_path}", file=sys.stderr)
                return 1
            names[name] = source_path
            artifact = {
                "contractName": name,
                "sourcePath": source_path,
                "abi": contract_output.get("abi", []),
                "ast": source_output["ast"],
                "bytecode": "",
                "deployedBytecode": "",
                "sourceMap": "",
                "deployedSourceMap": "",
                "compiler": {
                    "version": solc_version,
                    "optimize": bool(optimizer.get("enabled")),
                    "optimizer": optimizer,
                    "evm_version": input_json["settings"].get("evmVersion"),
                },
            }
            with open(tmp_dir / "contracts" / f"{name}.json", "w", encoding="utf-8") as fp:
                json.dump(artifact, fp, sort_keys=True)
    if uncovered:
        # crytic-compile makes source units only from contract artifacts: a file with nothing
        # but free functions, errors or constants cannot be represented on this route.
        print("note: sources without a contract, given placeholder artifacts: "
              + ", ".join(uncovered), file=sys.stderr)
    # Every file solc read, for tools/slither.sh to tell when the artifacts are out of date.
    with open(tmp_dir / "sources.txt", "w", encoding="utf-8") as fp:
        fp.writelines(f"{source_path}\n" for source_path in sorted(output["sources"]))
    shutil.rmtree(out_dir, ignore_errors=True)
    os.replace(tmp_dir, out_dir)
    print(f"slither artifacts: {len(names)} contracts from {len(output['sources'])} sources, "
          f"one solc {solc_version} run -> {out_dir}/contracts")
    return 0


if __name__ == "__main__":
    sys.exit(main())
