"""`testbed bench network`: committed transactions per second and commit latency of the shared
ledger, embedded and on local networks of 4 and 7 validators (3 NATS servers, R3), with
41-home market intervals as the load.

The load is a market of the default feeder's 41 homes in 15-minute intervals whose gate
closes ``GROUP_S`` (an hour) before delivery. Every hour of market time is one operator clock
tick, and its transactions are the market's work due at that time: every meter's sealed
reading and the settlement of the 4 intervals that ended in the hour, every home's reveal and
the clearing of the 4 intervals whose gate closed, and every home's sealed order for the 4
intervals whose gate closes next (about 500 signed transactions). It is generated before
timing, through an embedded chain with the same operator and market (so clearings and
settlements are the contract's own), and replayed:

- embedded: one block per tick into a new ledger file (`Chain.produce`), the baseline;
- network: each tick's transactions submitted through one node with the operator's clock,
  at most ``WINDOW`` ticks outstanding. Commit latency of a transaction is from its
  submission to the moment the last node announced it had applied the block holding it (so:
  proposed, validated by every validator, certified, appended to the stream and applied
  everywhere). Every validator checks every signature.
- the same at 4 validators with one of them killed (SIGKILL) halfway through the load: the
  others go on, each of its turns costing a round timeout; latency counts the live nodes.
- a node's answer time to status requests, sent every ``STATUS_EVERY_S`` to one validator
  while the 4-validator network works at full load (a request unanswered within
  ``STATUS_TIMEOUT_S`` counts as that long).
"""

from __future__ import annotations

import asyncio
import bisect
import json
import os
import signal
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from testbed.agents.proposer import gated_clearing, settle
from testbed.benchmarks import BenchResult
from testbed.ledger.chain import Chain
from testbed.ledger.keys import DEV_PASSPHRASE, KeyPair, ViewKey, passphrase
from testbed.ledger.sealing import Keyring, Sealers, seeded_entropy
from testbed.ledger.transactions import (
    SALT_BYTES,
    Deposit,
    OrderCommitment,
    OrderReveal,
    RegisterParticipant,
    Reveal,
    Role,
    SetValidatorsViewKey,
    Side,
    Transaction,
    sign,
)
from testbed.ledger.wire import Clock
from testbed.market.contract import MarketContract
from testbed.market.params import MarketParams
from testbed.market.private import seal_reading
from testbed.market.sealed import bond_units, commitment
from testbed.network.access import ClientRole

HOMES = 41  # the default feeder's
INTERVAL_S = 900
GROUP_S = 3600  # gate closure before delivery, and the market time between clock ticks
WINDOW = 3  # ticks submitted and not yet applied everywhere, at most
STATUS_EVERY_S = 0.01
START = 1_466_467_200  # 2016-06-21T00:00:00Z, the profile year's summer day
DEPOSIT = 10**12
PARAMS = MarketParams(gate_closure_seconds=GROUP_S, reading_deadline_seconds=GROUP_S,
                      reveal_seconds=GROUP_S - 1)  # sealed orders are revealed a tick later
BOND = bond_units(PARAMS)
EMBEDDED_VIEW = ViewKey.development("bench-network/validators")


@dataclass(frozen=True)
class Tick:
    """Transactions due at one market time, in the order they must run."""

    time: int
    txs: tuple[Transaction, ...]


def market_load(operator: KeyPair, chain_id: int, ticks: int, validators_view: ViewKey,
                homes: int = HOMES, seed: int = 0, idle: Sequence[KeyPair] = ()) -> list[Tick]:
    """A registration tick, then ``ticks`` ticks of a private market (sealed orders revealed
    at the next tick, sealed readings and details), generated through an embedded chain in
    memory whose genesis the operator signed, like the network's, and whose validators hold
    ``validators_view``. Its randomness is seeded: the same load every time. The ``idle``
    accounts are registered and funded too, and do not trade (a test submits as them)."""
    rng = np.random.default_rng(seed)
    entropy = seeded_entropy(b"bench-network/%d" % seed)
    sealers = Sealers(entropy)
    accounts = [KeyPair.development(f"bench-network/home-{i}") for i in range(homes)]
    meters = [KeyPair.development(f"bench-network/meter-{i}") for i in range(homes)]
    views = [ViewKey.development(f"bench-network/view-{i}") for i in range(homes)]
    proposer = KeyPair.development("bench-network/shadow")
    shadow = Chain.create(":memory:", [proposer], MarketContract(Keyring([validators_view])),
                          chain_id, PARAMS.encode(), 0, operator)
    out: list[Tick] = []

    def run(t: int, txs: list[Transaction]) -> list[Transaction]:
        shadow.produce(txs, t, proposer)
        return txs

    def signed(body: object, key: KeyPair, later: int = 0) -> Transaction:
        return sign(body, key, shadow.next_nonce(key.public) + later, chain_id)

    t = START
    joining = [*zip(accounts, meters, views),
               *((a, KeyPair.development(f"bench-network/idle-meter-{i}"),
                  ViewKey.development(f"bench-network/idle-view-{i}")) for i, a in enumerate(idle))]
    setup = run(t, [signed(body, operator, i) for i, body in enumerate([
        SetValidatorsViewKey(validators_view.public),
        *(RegisterParticipant(a.public, i + 1, Role.PROSUMER, m.public, v.public)
          for i, (a, m, v) in enumerate(joining))])])
    setup += run(t, [signed(Deposit(a.public, DEPOSIT), operator, i)
                     for i, (a, _, _) in enumerate(joining)])
    out.append(Tick(t, tuple(setup)))
    per_tick = GROUP_S // INTERVAL_S
    ordered: list[int] = []
    reveals: dict[int, list[tuple[KeyPair, Reveal]]] = {}
    for _ in range(ticks):
        t += GROUP_S
        txs: list[Transaction] = []
        contract = shadow.state.contract
        ended = [j for j in ordered if j + INTERVAL_S <= t and j in contract.cleared]
        for j in ended:
            txs += run(t, [signed(seal_reading(contract, a.public, j,
                                               *_metered(rng, shadow, a, j),
                                               sealers.of(m.public)), m)
                           for a, m in zip(accounts, meters)])
            txs += run(t, [signed(settle(shadow.state.contract, j,
                                         sealers.of(operator.public)).body, operator)])
        ordered = [j for j in ordered if j not in ended]
        gate_closed = [j for j in ordered if j - GROUP_S <= t
                       and j not in shadow.state.contract.cleared]
        for j in gate_closed:
            txs += run(t, [signed(OrderReveal((body,)), key) for key, body in reveals.pop(j)])
            txs += run(t, [signed(gated_clearing(shadow.state.contract, j), operator)])
        first = t + GROUP_S + INTERVAL_S
        for j in range(first, first + per_tick * INTERVAL_S, INTERVAL_S):
            sealed = []
            for i, a in enumerate(accounts):
                side = Side.OFFER if i % 2 else Side.BID
                wh = int(rng.integers(200, 2000))
                price = int(rng.integers(PARAMS.feed_in_price_per_kwh,
                                         PARAMS.retail_price_per_kwh))
                salt = entropy(b"salt|%d|%d" % (i, j))[:SALT_BYTES]
                tx = signed(OrderCommitment(j, commitment(chain_id, a.public, j, side, wh,
                                                          price, salt), BOND), a)
                sealed.append((tx, (a, Reveal(tx.txid, side, wh, price, salt))))
            txs += run(t, [tx for tx, _ in sealed])
            reveals[j] = [reveal for _, reveal in sealed]
            ordered.append(j)
        out.append(Tick(t, tuple(txs)))
    shadow.close()
    return out


def _metered(rng: np.random.Generator, shadow: Chain, account: KeyPair,
             interval: int) -> tuple[int, int]:
    """What a home's meter reads: its order's energy, give or take a fifth."""
    order = next(o for o in shadow.state.contract.book(interval) if o.owner == account.public)
    wh = int(order.energy_wh * rng.uniform(0.8, 1.2))
    return (wh, 0) if order.side == Side.BID else (0, wh)


def embedded(load: list[Tick], operator: KeyPair, chain_id: int, folder: Path) -> float:
    """Transactions per second of the load through the embedded ledger (a file), one block
    per tick."""
    validator = KeyPair.development("bench-network/embedded")
    chain = Chain.create(folder / "embedded.sqlite", [validator],
                         MarketContract(Keyring([EMBEDDED_VIEW])), chain_id, PARAMS.encode(),
                         0, operator)
    chain.produce(load[0].txs, load[0].time, validator)
    start = time.perf_counter()
    for tick in load[1:]:
        chain.produce(tick.txs, tick.time, validator)
    elapsed = time.perf_counter() - start
    chain.close()
    return sum(len(t.txs) for t in load[1:]) / elapsed


async def _replay(network, load: list[Tick], operator: KeyPair, warmup: int,
                  kill_halfway: str | None = None) -> dict:
    """Submit the load through one node, ``WINDOW`` ticks in flight; tx/s and latencies, and
    another node's status answer times meanwhile. ``kill_halfway``: a node killed once half
    the timed ticks are submitted (latency then counts the nodes alive)."""
    from testbed.network.client import NetworkClient

    client = await NetworkClient.connect(network.urls, network.genesis,
                                         network.credentials(ClientRole.OPERATOR), "bench")
    live = {n.name for n in network.nodes}
    seen: dict[int, dict[str, float]] = defaultdict(dict)
    sizes: dict[int, int] = {}
    done = {"height": 0, "txs": 0}
    cums: list[int] = []  # transactions applied everywhere, after each height
    times: list[float] = []  # when the last node applied that height
    progress = asyncio.Event()

    async def on_applied(msg) -> None:
        now = time.perf_counter()
        a = json.loads(msg.data)
        seen[a["height"]][a["node"]] = now
        sizes[a["height"]] = a["transactions"]
        while live <= set(seen.get(done["height"] + 1, ())):
            done["height"] += 1
            done["txs"] += sizes[done["height"]]
            cums.append(done["txs"])
            times.append(max(seen.pop(done["height"]).values()))
        progress.set()

    watched = network.nodes[1].name
    status_ms: list[float] = []

    async def ask_status() -> None:
        while True:
            asked = time.perf_counter()
            await client.status(watched)  # None after STATUS_TIMEOUT_S: counted as that
            status_ms.append((time.perf_counter() - asked) * 1e3)
            await asyncio.sleep(STATUS_EVERY_S)

    await client.nc.subscribe(client.subjects.applied, cb=on_applied)
    gateway = network.nodes[0].name
    targets: list[int] = []
    submitted: list[float] = []
    committed: dict[int, float] = {}
    total = 0
    for tick in load:
        total += len(tick.txs)
        targets.append(total)

    async def wait_for(txs: int) -> float:
        deadline = time.monotonic() + 120
        while done["txs"] < txs:
            progress.clear()
            if time.monotonic() > deadline:
                raise TimeoutError(f"{done['txs']} of {txs} transactions applied everywhere")
            try:
                await asyncio.wait_for(progress.wait(), 1.0)
            except TimeoutError:
                pass
        return times[bisect.bisect_left(cums, txs)]

    asking = asyncio.create_task(ask_status())
    halfway = warmup + (len(load) - warmup) // 2
    try:
        for g, tick in enumerate(load):
            if g == halfway and kill_halfway is not None:
                victim = next(n for n in network.nodes if n.name == kill_halfway)
                os.kill(victim.pid, signal.SIGKILL)
                live.discard(victim.name)
            if g >= WINDOW and g - WINDOW not in committed:
                committed[g - WINDOW] = await wait_for(targets[g - WINDOW])
            submitted.append(time.perf_counter())
            receipts = await client.submit(tick.txs, Clock.sign(network.chain_id, tick.time,
                                                                  operator), node=gateway)
            refused = [r for r in receipts if not r.accepted]
            if refused:
                raise RuntimeError(f"tick {g}: {refused[0].reason}")
            if g < warmup:  # setup and warm-up ticks: one at a time, untimed
                committed[g] = await wait_for(targets[g])
        for g in range(len(load)):
            if g not in committed:
                committed[g] = await wait_for(targets[g])
    finally:
        asking.cancel()
        await client.close()
    timed = range(warmup, len(load))
    # a transaction of tick g is applied everywhere once the applied count reaches targets[g]
    latencies = np.repeat([committed[g] - submitted[g] for g in timed],
                          [len(load[g].txs) for g in timed])
    elapsed = committed[len(load) - 1] - submitted[warmup]
    return {"tx_per_s": sum(len(load[g].txs) for g in timed) / elapsed,
            "p50_ms": float(np.percentile(latencies, 50) * 1000),
            "p99_ms": float(np.percentile(latencies, 99) * 1000),
            "status_p99_ms": float(np.percentile(status_ms, 99))}


def on_network(validators: int, ticks: int, folder: Path, warmup: int = 3,
               kill_halfway: bool = False) -> dict:
    """Start a local network of ``validators`` nodes, replay a market load (killing the last
    node halfway if asked), stop it."""
    from testbed.network import local

    network = local.create(folder, validators, 3, params=PARAMS)
    try:
        network = local.up(folder)
        secret = passphrase(development=True)
        operator = KeyPair.load(network.operator_key, secret)
        view = ViewKey.load(network.validators_view_key, secret)
        load = market_load(operator, network.chain_id, ticks + warmup - 1, view)
        victim = network.nodes[-1].name if kill_halfway else None
        result = asyncio.run(_replay(network, load, operator, warmup, victim))
        heads = {r["head"] for r in local.status(folder) if r["node"] != victim}
        if len(heads) != 1:
            raise RuntimeError(f"nodes ended on different heads: {heads}")
        return result
    finally:
        local.down(folder)


def run(quick: bool = False) -> BenchResult:
    ticks = 10 if quick else 60
    sizes = (4,) if quick else (4, 7)
    operator = KeyPair.development("bench-network/operator")
    results: dict[str, float] = {"homes": HOMES, "ticks": ticks, "window": WINDOW}
    with tempfile.TemporaryDirectory(prefix="testbed-bench-network-") as tmp:
        load = market_load(operator, 7, ticks, EMBEDDED_VIEW)
        results["tx_per_tick"] = float(np.mean([len(t.txs) for t in load[1:]]))
        results["embedded_tx_per_s"] = embedded(load, operator, 7, Path(tmp))
        for n in sizes:
            got = on_network(n, ticks, Path(tmp) / f"validators-{n}")
            results[f"validators_{n}_tx_per_s"] = got["tx_per_s"]
            results[f"validators_{n}_commit_p50_ms"] = got["p50_ms"]
            results[f"validators_{n}_commit_p99_ms"] = got["p99_ms"]
            if n == 4:
                results["node_status_p99_ms"] = got["status_p99_ms"]
        got = on_network(4, ticks, Path(tmp) / "validators-4-one-killed", kill_halfway=True)
        results["validators_4_one_killed_tx_per_s"] = got["tx_per_s"]
        results["validators_4_one_killed_commit_p99_ms"] = got["p99_ms"]
    ratios = {f"validators_{n}_vs_embedded": results[f"validators_{n}_tx_per_s"]
              / results["embedded_tx_per_s"] for n in sizes}
    return BenchResult(
        benchmark="network", results=results, ratios=ratios,
        notes=[(f"load: {HOMES} homes, 15-minute intervals, gate closure {GROUP_S} s; each "
               "tick is an hour of market work (readings, settlements, clearings, orders)"),
               ("a private market: sealed orders revealed a tick later, sealed readings and "
                "settlement details (HPKE), every link TLS"),
               ("network: 3 NATS servers (JetStream R3) and the validators on this machine's "
               "loopback; latency = submit to applied on every node"),
               "goals at 4 validators: >= 5,000 tx/s, commit p99 <= 250 ms",
               (f"node_status_p99_ms: one validator's answers to a status request every "
                f"{STATUS_EVERY_S * 1e3:g} ms, at full load"),
               f"development keys ({DEV_PASSPHRASE!r} passphrase)"],
    )
