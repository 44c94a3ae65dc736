"""`chaincrm deploy`: the contracts to a local chain, a testnet or an L2, and `deploy networks`."""

from __future__ import annotations

import sys
from dataclasses import asdict
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console

from chaincrm.cli import Declined
from chaincrm.cli.context import ADDRESS, ETH_AMOUNT, WEI_PER_ETH, App, json_option, keystore_option, pass_app
from chaincrm.cli.output import console, emit, facts, table, working
from chaincrm.deploy.plan import (
    DAY_SECONDS,
    DEFAULT_APPROVAL_THRESHOLD_WEI,
    DEFAULT_DISPUTE_RESOLUTION_SECONDS,
    DEFAULT_DISPUTE_WINDOW_SECONDS,
    DEFAULT_PAYMENT_TERM_SECONDS,
)
from chaincrm.errors import ChainError, ConfigError

if TYPE_CHECKING:
    from chaincrm.deploy.networks import Network
    from chaincrm.deploy.runner import Proposal

DAYS = click.FloatRange(min=0, min_open=True)
GWEI = 10**9


class GweiType(click.ParamType):
    name = "GWEI"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        try:
            amount = Decimal(str(value).strip())
        except InvalidOperation:
            self.fail(f"{value!r} is not a number of gwei (e.g. 30 or 0.05)", param, ctx)
        if not amount.is_finite() or amount <= 0:
            self.fail(f"{value!r} is not a positive number of gwei", param, ctx)
        return int(amount * GWEI)


@click.group(
    name="deploy",
    invoke_without_command=True,
    help="Deploy the CRM's contracts and write the chain's deployment record <home>/deployments/<chainid>.json. "
    "Escrow and approval settings are fixed at deployment (the approval threshold can change later, by an "
    "admin). Before sending it shows each contract's estimated gas and the cost at current fees (with the L1 "
    "data fee on OP-stack chains) and asks; an interrupted deploy resumes when run again with the same options. "
    "`chaincrm deploy networks` lists the named networks.",
)
@click.option("--network", "network_name", metavar="NAME", help="A named network (`chaincrm deploy networks`).")
@click.option(
    "--rpc-url",
    "deploy_rpc_url",
    metavar="URL",
    help="The node to deploy through [default: the network's URL, else chaincrm's --rpc-url]; with --network, "
    "the node must serve that network's chain id.",
)
@keystore_option
@click.option("--treasury", type=ADDRESS, help="Where released invoice payments go [default: the deployer].")
@click.option(
    "--dispute-window-seconds",
    type=click.IntRange(min=1),
    default=DEFAULT_DISPUTE_WINDOW_SECONDS,
    show_default=True,
    help="How long a payer may dispute a paid invoice.",
)
@click.option(
    "--payment-term-seconds",
    type=click.IntRange(min=1),
    default=DEFAULT_PAYMENT_TERM_SECONDS,
    show_default=True,
    help="How long after issue an invoice is due.",
)
@click.option(
    "--dispute-resolution-days",
    type=DAYS,
    default=DEFAULT_DISPUTE_RESOLUTION_SECONDS / DAY_SECONDS,
    show_default=True,
    help="How long a manager has to resolve a dispute before the payer may reclaim the payment.",
)
@click.option(
    "--treasury-delay-days",
    type=DAYS,
    help="How long a proposed treasury waits before it may accept; must exceed the dispute window "
    "[default: the dispute window plus one day].",
)
@click.option(
    "--approval-threshold",
    "approval_threshold_wei",
    type=ETH_AMOUNT,
    default=str(DEFAULT_APPROVAL_THRESHOLD_WEI // WEI_PER_ETH),
    show_default=True,
    help="Deals worth more (ETH; or 20gwei, 100wei) need a manager to move to won; 0: every deal does.",
)
@click.option(
    "--max-fee",
    "max_fee_wei",
    type=GweiType(),
    help="The most to pay per gas, in gwei: a deploy whose next block needs more is refused, nothing sent.",
)
@click.option(
    "--confirmations",
    type=click.IntRange(min=1),
    help="Blocks on top of the last step before the code is checked and the record written "
    "[default: CHAINCRM_CONFIRMATIONS, 1].",
)
@click.option("--yes", is_flag=True, help="Do not ask before sending (needed when not run from a terminal).")
@click.option("--force", is_flag=True, hidden=True, help="No longer needed: each chain has its own record.")
@json_option
@click.pass_context
def deploy_command(
    ctx: click.Context,
    network_name: str | None,
    deploy_rpc_url: str | None,
    keystore: str | None,
    treasury: str | None,
    dispute_window_seconds: int,
    payment_term_seconds: int,
    dispute_resolution_days: float,
    treasury_delay_days: float | None,
    approval_threshold_wei: int,
    max_fee_wei: int | None,
    confirmations: int | None,
    yes: bool,
    force: bool,
    as_json: bool,
) -> None:
    if ctx.invoked_subcommand is not None:
        return
    from chaincrm.config import check_rpc_url
    from chaincrm.contracts.client import connect
    from chaincrm.contracts.deployment import deploy_settings
    from chaincrm.deploy.networks import find_network
    from chaincrm.deploy.runner import DeployRun, is_dev_chain

    app = ctx.find_object(App)
    assert app is not None
    treasury_delay_seconds = None if treasury_delay_days is None else round(treasury_delay_days * DAY_SECONDS)
    if treasury_delay_seconds is not None and treasury_delay_seconds <= dispute_window_seconds:
        raise ConfigError(
            f"--treasury-delay-days {treasury_delay_days:g} is not longer than the dispute window "
            f"({dispute_window_seconds:,} s): a new treasury could receive payments still in dispute"
        )
    settings = app.settings
    network = find_network(network_name, settings.home) if network_name else None
    rpc_url = check_rpc_url(deploy_rpc_url or (network.rpc_url if network else settings.rpc_url))
    deployer = app.signer(keystore)
    chain = connect(rpc_url)
    chain_id = _chain_id(chain, network, settings.home)
    if network is not None and chain_id != network.chain_id:
        raise ConfigError(
            f"the node at {rpc_url} serves chain {chain_id}, network {network.name} is chain {network.chain_id}: "
            "nothing was sent"
        )
    where = f"{network.title or network.name} (chain {chain_id})" if network else f"chain {chain_id}"
    if not yes and not is_dev_chain(chain_id) and not sys.stdin.isatty():
        raise ConfigError(f"not run from a terminal: pass --yes to deploy to {where} (nothing was sent)")
    deploy_with = deploy_settings(
        deployer.address,
        treasury=treasury or deployer.address,
        dispute_window_seconds=dispute_window_seconds,
        payment_term_seconds=payment_term_seconds,
        dispute_resolution_seconds=max(1, round(dispute_resolution_days * DAY_SECONDS)),
        treasury_delay_seconds=treasury_delay_seconds,
        approval_threshold_wei=approval_threshold_wei,
    )
    err = console(err=True)
    run = DeployRun(
        chain,
        rpc_url,
        settings.home,
        deployer.account,
        cap_wei=max_fee_wei,
        confirmations=confirmations or settings.confirmations,
        op_stack=bool(network and network.op_stack),
        on_progress=lambda line: err.print(line, markup=False),
    )
    with working(f"Planning the deploy to {where}"):
        proposal = run.propose(deploy_with)
    show_plan(err, proposal, where, deployer.address)
    if (
        not yes
        and not is_dev_chain(chain_id)
        and proposal.estimates
        and not click.confirm(f"Deploy to {where}?", err=True)
    ):
        raise Declined("nothing was sent")
    with working(f"Deploying to {where}"):
        result = run.execute(proposal)
    fields = asdict(result.deployment) | {
        "record": str(result.record),
        "network": network.name if network else None,
        "resumed": result.resumed,
        "code_checked": result.code_checked,
        "estimated_gas": proposal.total_gas,
        "estimated_cost_wei": proposal.cost_wei,
        "l1_fee_wei": proposal.l1_fee_wei if proposal.oracle else None,
    }

    def human(out: Console) -> None:
        out.print(facts(f"Deployed on {where}", fields))
        if network and network.explorer:
            out.print(f"registry: {network.explorer.rstrip('/')}/address/{result.deployment.registry}", markup=False)

    emit(fields, as_json, human)


def _chain_id(chain: Any, network: Network | None, home: Any) -> int:
    """The node's chain id; unreachable, what any unfinished deploy had done."""
    from chaincrm.deploy.journal import journal_path, load_journal
    from chaincrm.deploy.runner import unfinished_deploys, unreachable

    try:
        return int(chain.chain_id)
    except ChainError as exc:
        if "not reachable" not in str(exc):
            raise
        journals = [load_journal(journal_path(home, network.chain_id))] if network else unfinished_deploys(home)
        known = [journal for journal in journals if journal is not None]
        if len(known) == 1:
            raise unreachable(chain.endpoint, known[0]) from None
        if known:
            chains = ", ".join(str(journal.chain_id) for journal in known)
            raise ChainError(
                f"{exc}; unfinished deploys on chains {chains}: {' | '.join(j.summary() for j in known)}"
            ) from None
        raise


def show_plan(out: Console, proposal: Proposal, where: str, deployer: str) -> None:
    """What a deploy will send and what it costs (also what scripts/deploy.py prints)."""
    from chaincrm.deploy.fees import GAS_PRICE_ORACLE, gwei

    for step in proposal.done:
        out.print(f"already deployed: {step.describe()}", markup=False)
    if not proposal.estimates:
        return
    rows = [
        (
            estimate.name if estimate.creates else f"{estimate.contract}.{estimate.name}",
            estimate.address,
            "unknown" if estimate.gas is None else f"{estimate.gas:,}",
            *((_eth(estimate.l1_fee_wei or 0),) if proposal.oracle else ()),
        )
        for estimate in proposal.estimates
    ]
    columns = ("step", "address", "gas", *(("L1 data fee (ETH)",) if proposal.oracle else ()))
    verb = "Resuming the deploy" if proposal.resumed else "Deploying"
    out.print(table(f"{verb} to {where} from {deployer}", columns, rows))
    fees = proposal.fees
    price = f"{gwei(fees.needed)} gwei (base fee {gwei(fees.base_fee)} + tip {gwei(fees.priority_fee)})"
    if proposal.total_gas is None:
        out.print(f"gas: some steps cannot be estimated before the earlier ones land; price {price}", markup=False)
    else:
        out.print(
            f"total {proposal.total_gas:,} gas at {price}: about {_eth(proposal.cost_wei or 0)} ETH, "
            f"at most {_eth(proposal.max_cost_wei or 0)} ETH (max fee {gwei(fees.max_fee)} gwei); "
            f"the deployer holds {_eth(proposal.balance_wei)} ETH",
            markup=False,
        )
    if proposal.oracle:
        out.print(f"of which L1 data fee {_eth(proposal.l1_fee_wei)} ETH (GasPriceOracle.getL1Fee)", markup=False)
    elif proposal.op_stack:
        out.print(f"L1 data fee: unknown, no GasPriceOracle at {GAS_PRICE_ORACLE} on this chain", markup=False)


def _eth(wei: int) -> str:
    return f"{Decimal(wei) / Decimal(10**18):.9f}".rstrip("0").rstrip(".")


@deploy_command.command(name="networks", help="The named networks: packaged, and <home>/networks.toml over them.")
@json_option
@pass_app
def networks_command(app: App, as_json: bool) -> None:
    from chaincrm.deploy.networks import load_networks

    networks = load_networks(app.settings.home)
    fields = [asdict(network) for network in sorted(networks.values(), key=lambda n: n.name)]

    def human(out: Console) -> None:
        rows = [
            (n["name"], n["title"], n["chain_id"], n["rpc_url"], "yes" if n["op_stack"] else "", n["explorer"])
            for n in fields
        ]
        out.print(table("Networks", ("name", "title", "chain id", "rpc url", "OP stack", "explorer"), rows))

    emit(fields, as_json, human)
