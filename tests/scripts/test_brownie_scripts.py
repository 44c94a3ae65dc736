"""The Brownie scripts, run as a developer runs them, against a local chain and IPFS node."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sysconfig
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from eth_account import Account
from eth_utils import to_checksum_address

from chaincrm.chain.artifacts import load_artifact
from chaincrm.contracts.client import Crm, connect
from chaincrm.contracts.deployment import load_record
from chaincrm.currency import amount_text
from chaincrm.models import Purpose, Role, Stage
from chaincrm.privacy import readers_hash
from chaincrm.privacy.customers import public_key64
from chaincrm.services.anvil import AnvilOptions, dev_private_keys, free_port, start_anvil, stop_process
from chaincrm.storage import KuboStore, digest_to_cid
from chaincrm.storage.node import NodeHandle

ROOT = Path(__file__).resolve().parents[2]
# Its own network name and a free port: `./run test`'s contract tests define `chaincrm-test`. One
# name per process: xdist workers each run the module's fixture, and two adding the same name at
# once would leave Brownie's network config with a duplicate it then refuses to load.
NETWORK = f"chaincrm-scripts-test-{os.getpid()}"
PORT = free_port()
BROWNIE = ROOT / ".venv" / "bin" / "brownie"
DOTTED_PATH_HOOK = Path(sysconfig.get_paths()["purelib"]) / "chaincrm_brownie_run.pth"


def _env(home: Path, ipfs: NodeHandle) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        CHAINCRM_HOME=str(home),
        CHAINCRM_IPFS_API=ipfs.api_addr,
        PATH=f"{ROOT / 'node_modules' / '.bin'}:{ROOT / '.venv' / 'bin'}:{env.get('PATH', '')}",
        SOLCX_BINARY_PATH=env.get("SOLCX_BINARY_PATH", str(ROOT / "tools" / "solc")),
    )
    return env


def _brownie(env: dict[str, str], *args: str, project: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BROWNIE), "run", *args, "--network", NETWORK],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def chain_on_test_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Anvil on the test network's port; Brownie attaches to it instead of starting its own."""
    with _networks_locked():
        subprocess.run([str(BROWNIE), "networks", "delete", NETWORK], cwd=ROOT, capture_output=True)
        subprocess.run(
            [str(BROWNIE), "networks", "add", "Development", NETWORK, "cmd=anvil", "host=http://127.0.0.1",
             f"port={PORT}", "accounts=10", "gas_limit=30000000"],
            cwd=ROOT, capture_output=True, check=True,
        )  # fmt: skip
    node, process = start_anvil(AnvilOptions(port=PORT, log_file=tmp_path_factory.mktemp("anvil") / "anvil.log"))
    try:
        yield node.url
    finally:
        stop_process(process.pid)
        with _networks_locked():
            subprocess.run([str(BROWNIE), "networks", "delete", NETWORK], cwd=ROOT, capture_output=True)


@contextmanager
def _networks_locked() -> Iterator[None]:
    """Brownie rewrites its whole network config to add or delete one network: two workers doing it
    at once lose one's change, so they take turns."""
    lock = Path.home() / ".brownie" / "chaincrm-networks.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.fixture(scope="module")
def deployed(
    chain_on_test_port: str, ipfs_node: NodeHandle, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    home = tmp_path_factory.mktemp("home")
    env = _env(home, ipfs_node)
    result = _brownie(env, "scripts/deploy.py")
    assert result.returncode == 0, result.stdout + result.stderr
    return env


def test_deploy_writes_a_record_the_sdk_reads(deployed: dict[str, str], chain_on_test_port: str) -> None:
    path = Path(deployed["CHAINCRM_HOME"]) / "deployments" / "31337.json"
    record = json.loads(path.read_text())

    crm = Crm.attach(connect(chain_on_test_port), load_record(path))

    assert record["chain_id"] == 31337
    assert {"registry", "pipeline", "escrow", "deployer", "block_number", "treasury"} <= set(record)
    assert crm.escrow.treasury() == record["treasury"] == record["deployer"]
    assert crm.pipeline.approval_threshold_wei() == record["approval_threshold_wei"]
    assert crm.escrow.contract.functions.issuer().call() == record["pipeline"]
    assert crm.escrow.loyalty_program() == record["loyalty"]


def test_deploy_refuses_to_replace_a_record_for_another_chain(
    ipfs_node: NodeHandle, chain_on_test_port: str, tmp_path: Path
) -> None:
    env = _env(tmp_path, ipfs_node)
    record = tmp_path / "deployment.json"
    record.write_text(json.dumps({"chain_id": 5}))

    result = _brownie(env, "scripts/deploy.py", "main", str(record))

    assert result.returncode != 0
    assert "holds the deployment for chain 5" in result.stderr
    assert json.loads(record.read_text()) == {"chain_id": 5}


def test_seed_then_query_show_the_pipeline_and_a_timeline(
    deployed: dict[str, str], chain_on_test_port: str, ipfs_node: NodeHandle
) -> None:
    seeded = _brownie(deployed, "scripts/seed.py", "main", "6", "30", "8")
    pipeline = _brownie(deployed, "scripts/query.py", "main", "pipeline")
    timeline = _brownie(deployed, "scripts/query.py", "main", "timeline", "1")

    assert seeded.returncode == 0, seeded.stdout + seeded.stderr
    assert "seeded 6 customers, 30 interactions, 8 deals" in seeded.stdout
    assert "by their own transaction: 5, by a relayed signature: 1" in seeded.stdout
    assert pipeline.returncode == 0 and "Won" in pipeline.stdout
    assert timeline.returncode == 0 and "registered" in timeline.stdout
    crm = Crm.attach(
        connect(chain_on_test_port), load_record(Path(deployed["CHAINCRM_HOME"]) / "deployments" / "31337.json")
    )
    customers = [crm.registry.customer(customer_id) for customer_id in range(1, 7)]
    assert all(c.wallet is not None and c.pending_wallet is None for c in customers)
    assert all(
        crm.registry.profile(c.id, c.profile_version).readers_hash == crm.registry.readers_hash_of(c.id)
        for c in customers
    ), "a profile was not re-sealed for its customer after the wallet accepted"
    interactions = crm.registry.interactions(from_block=crm.deployment.block_number)
    with KuboStore(ipfs_node.api_addr) as store:
        assert len(interactions) == 30
        assert all(store.has(digest_to_cid(i.content_hash)) for i in interactions)


def test_the_pipeline_shows_each_currencys_value_on_its_own(deployed: dict[str, str], chain_on_test_port: str) -> None:
    crm = Crm.attach(
        connect(chain_on_test_port), load_record(Path(deployed["CHAINCRM_HOME"]) / "deployments" / "31337.json")
    )
    admin, agent = Account.from_key(dev_private_keys(1)[0]), Account.create()
    crm.chain.w3.provider.make_request("anvil_setBalance", [agent.address, hex(10**20)])  # type: ignore[arg-type]
    crm.registry.grant_role(Role.AGENT, agent.address, admin)
    crm.registry.register_encryption_key(public_key64(agent), agent)
    artifact = load_artifact("TestStablecoin")
    factory = crm.chain.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    token = to_checksum_address(
        str(crm.chain.transact(factory.constructor("Test USD", "TUSD"), admin)["contractAddress"])
    )
    crm.escrow.allow_token(token, admin)
    registry = crm.registry
    readers = {agent.address, *(m for m in registry.managers() if registry.encryption_key_of(m))}
    customer_id = registry.register_customer(
        os.urandom(32), os.urandom(32), readers_hash(readers), None, Purpose.SALES, agent
    )
    crm.pipeline.open_deal_in(customer_id, agent.address, 1_234_500_000, token, agent)
    crm.pipeline.open_deal_in(customer_id, agent.address, 250_000, token, agent)
    crm.pipeline.open_deal(customer_id, agent.address, 3 * 10**17, agent)

    result = _brownie({**deployed, "COLUMNS": "200"}, "scripts/query.py", "main", "pipeline")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "value (ETH)" in result.stdout and "value (TUSD)" in result.stdout
    lead_wei = sum(deal.value_wei for deal in crm.pipeline.deals() if deal.stage is Stage.LEAD and not deal.currency)
    (lead,) = [line for line in result.stdout.splitlines() if " Lead " in line]
    assert amount_text(lead_wei) in lead
    assert "1234.75 TUSD" in lead  # the two token deals, added in their own units only


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("scripts/query.py", "main", "timeline", "abc"), "positive number"),
        (("scripts/query.py", "main", "bogus"), "unknown view"),
        (("scripts/seed.py", "main", "0", "1", "8"), "at least 1 customer"),
    ],
)
def test_bad_arguments_give_one_line_and_a_non_zero_exit(
    deployed: dict[str, str], args: tuple[str, ...], message: str
) -> None:
    result = _brownie(deployed, *args)

    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0]
    assert "Traceback" not in result.stderr


@pytest.fixture(scope="module")
def dotted_checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's Brownie files in a folder with a dot above it, as in ~/src/v1.2/chaincrm."""
    assert DOTTED_PATH_HOOK.is_file(), f"{DOTTED_PATH_HOOK} is missing: `./run setup` installs it"
    project = tmp_path_factory.mktemp("src") / "v1.2" / "chaincrm"
    project.mkdir(parents=True)
    shutil.copy2(ROOT / "brownie-config.yaml", project)
    for folder in ("contracts", "interfaces", "scripts", "build/contracts", "build/interfaces"):
        shutil.copytree(ROOT / folder, project / folder, ignore=shutil.ignore_patterns("__pycache__"))
    (project / "node_modules").symlink_to(ROOT / "node_modules")
    return project


def test_deploy_runs_from_a_checkout_below_a_folder_with_a_dot(
    dotted_checkout: Path, chain_on_test_port: str, ipfs_node: NodeHandle, tmp_path: Path
) -> None:
    env = _env(tmp_path, ipfs_node)

    result = _brownie(env, "scripts/deploy.py", project=dotted_checkout)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "deployed to" in result.stdout
    assert json.loads((tmp_path / "deployments" / "31337.json").read_text())["chain_id"] == 31337
