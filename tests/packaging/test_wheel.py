"""The wheel, installed into a fresh virtualenv, runs outside the checkout.

The wheel is built from a copy of the package's sources (so the build leaves nothing in the
checkout) with the contracts' ABIs and bytecode exported into it as `./run setup` does. The fresh
virtualenv has no pip and no packages of its own: a ``.pth`` file lends it the project
virtualenv's dependencies, offline, but not chaincrm, which comes from the wheel alone. Every
command runs from a folder outside the checkout, with a PATH that leads nowhere into it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from web3 import Web3

from chaincrm import __version__
from chaincrm.chain.artifacts import CONTRACT_NAMES, checkout_build_dir, export_artifacts
from chaincrm.services.anvil import AnvilNode, AnvilOptions, anvil_executable, free_port, start_anvil, stop_process

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("pyproject.toml", "README.md", "chaincrm", "chaincrm_tools")
PASSWORD = "wheel-test-password"
COMMAND_TIMEOUT_SECONDS = 120


@dataclass(frozen=True)
class Installed:
    wheel: Path
    venv: Path
    outside: Path
    env: dict[str, str]

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    def run(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            args, cwd=self.outside, env=env or self.env, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_SECONDS
        )

    def chaincrm(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.run(str(self.venv / "bin" / "chaincrm"), *args)


def _build_wheel(work: Path) -> Path:
    build_dir = checkout_build_dir()
    assert build_dir is not None and (build_dir / "CrmRegistry.json").is_file(), "compile first: ./run setup"
    sources = work / "src"
    sources.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, sources / name, ignore=shutil.ignore_patterns("__pycache__", "artifacts"))
        else:
            shutil.copy2(ROOT / name, sources / name)
    export_artifacts(build_dir, sources / "chaincrm" / "contracts" / "artifacts")
    dist = work / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check", "--no-deps",
         "--no-build-isolation", "--no-index", "-w", str(dist), str(sources)],
        check=True, capture_output=True, timeout=COMMAND_TIMEOUT_SECONDS,
    )  # fmt: skip
    (wheel,) = dist.glob("chaincrm-*.whl")
    return wheel


def _fresh_venv(folder: Path, wheel: Path) -> None:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True, timeout=60)
    site_packages = subprocess.run(
        [str(folder / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    # The project virtualenv's packages, after the fresh one's own: its .pth files are not read,
    # so its editable chaincrm (a finder installed by a .pth) stays out.
    (Path(site_packages) / "project_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(folder / "bin" / "python"), "install", "--quiet",
         "--disable-pip-version-check", "--no-deps", "--no-index", str(wheel)],
        check=True, capture_output=True, timeout=COMMAND_TIMEOUT_SECONDS,
    )  # fmt: skip


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    work = tmp_path_factory.mktemp("wheel")
    wheel = _build_wheel(work)
    venv = work / "venv"
    _fresh_venv(venv, wheel)
    outside = work / "elsewhere"
    outside.mkdir()
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("CHAINCRM_", "PYTHON", "VIRTUAL_ENV", "SOLCX_", "BROWNIE"))
    }
    env.update(PATH=f"{venv / 'bin'}:/usr/bin:/bin", HOME=str(work / "home"), CHAINCRM_PASSWORD=PASSWORD)
    return Installed(wheel=wheel, venv=venv, outside=outside, env=env)


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnvilNode]:
    log = tmp_path_factory.mktemp("anvil") / "anvil.log"
    node, process = start_anvil(AnvilOptions(port=free_port(), log_file=log))
    try:
        yield node
    finally:
        stop_process(process.pid)


def test_the_wheel_carries_the_cli_and_the_contracts(installed: Installed) -> None:
    names = set(zipfile.ZipFile(installed.wheel).namelist())

    assert {"chaincrm/cli/__init__.py", "chaincrm/py.typed"} <= names
    assert {f"chaincrm/contracts/artifacts/{name}.json" for name in CONTRACT_NAMES} <= names


def test_the_wheel_carries_the_portal_pages_and_their_scripts(installed: Installed) -> None:
    names = set(zipfile.ZipFile(installed.wheel).namelist())

    assert {
        "chaincrm/portal/templates/pay.html",
        "chaincrm/portal/templates/me.html",
        "chaincrm/portal/static/pay.js",
        "chaincrm/portal/static/wallet.js",
        "chaincrm/portal/static/vendor/ethers.min.js",
        "chaincrm/portal/static/vendor/swagger/swagger-ui-bundle.js",
        "chaincrm/portal/static/api-docs.js",
        "chaincrm/console/templates/board.html",
        "chaincrm/console/static/board.js",
    } <= names


def test_the_fresh_virtualenv_imports_chaincrm_from_the_wheel(installed: Installed) -> None:
    result = installed.run(str(installed.python), "-c", "import chaincrm; print(chaincrm.__file__)")

    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()).is_relative_to(installed.venv)


def test_the_installed_cli_prints_its_version(installed: Installed) -> None:
    result = installed.chaincrm("--version")

    assert result.returncode == 0, result.stderr
    assert __version__ in result.stdout


def test_the_installed_cli_deploys_to_a_chain(installed: Installed, chain: AnvilNode) -> None:
    home = installed.outside / "home"
    created = installed.chaincrm("--home", str(home), "key", "new", "--dev-account", "0", "--json")
    assert created.returncode == 0, created.stderr
    address = json.loads(created.stdout)["address"]

    deployed = installed.chaincrm("--home", str(home), "--rpc-url", chain.url, "deploy", "--keystore", address)

    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    record = json.loads((home / "deployments" / f"{chain.options.chain_id}.json").read_text())
    assert record["chain_id"] == chain.options.chain_id
    w3 = Web3(Web3.HTTPProvider(chain.url))
    assert all(w3.eth.get_code(record[contract]) for contract in ("registry", "pipeline", "escrow"))


def test_the_installed_package_finds_anvil_through_the_path_or_its_setting(installed: Installed) -> None:
    show = "from chaincrm.services.anvil import anvil_executable as a; print(a())"
    binary = str(Path(anvil_executable()).resolve())
    bin_folder = installed.outside / "bin"
    bin_folder.mkdir(exist_ok=True)
    (bin_folder / "anvil").unlink(missing_ok=True)
    (bin_folder / "anvil").symlink_to(binary)

    missing = installed.run(str(installed.python), "-c", show)
    on_path = installed.run(
        str(installed.python), "-c", show, env={**installed.env, "PATH": f"{bin_folder}:{installed.env['PATH']}"}
    )
    configured = installed.run(str(installed.python), "-c", show, env={**installed.env, "CHAINCRM_ANVIL": binary})

    assert "anvil is not installed" in missing.stderr
    assert on_path.stdout.strip() == str(bin_folder / "anvil")
    assert configured.stdout.strip() == binary
