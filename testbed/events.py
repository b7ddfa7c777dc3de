"""What happened in a run, as typed events on one in-process stream.

Every stage of an interval reports what it did as an event; the recorder (CSV files, the
summary), the report, the dashboard and the network subscribe. A subscriber is called in the
publishing thread and must return quickly: one that does slow work (a browser, a socket)
queues the event and moves on, so no subscriber can slow the loop.

Times: ``t_s`` is scenario seconds since the run's start; ``interval`` is an interval's start
in seconds since the Unix epoch (the ledger's time); ``k`` counts the run's intervals from 0.
Energy in Wh, power in kW, money in the smallest currency unit, prices per kWh.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from grid_models.diagram import OneLine

# -- the run ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HomeInfo:
    name: str
    bus: int
    role: str  # household | pv_owner | battery_owner
    pv_kwp: float
    battery_kwh: float
    physical: bool
    phase: str = "abc"  # a, b, c or abc (three-phase)


@dataclass(frozen=True)
class RunStarted:
    scenario: str
    start_s: int  # the first interval's start, Unix seconds
    interval_s: int
    intervals: int
    feeder: str
    homes: tuple[HomeInfo, ...]
    vm_min_pu: float
    vm_max_pu: float
    max_line_loading_percent: float
    max_trafo_loading_percent: float
    feeder_map: OneLine  # the one-line diagram; rows in the order of GridSolved.vm_pu
    phases: str = "balanced"  # how the feeder is solved: balanced | unbalanced
    max_vuf_percent: float = 2.0


@dataclass(frozen=True)
class RunFinished:
    stopped: str | None  # why the run ended early, None when it ran to its end


# -- the market ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlacedOrder:
    home: int
    side: str  # bid | offer
    energy_wh: int
    price_per_kwh: int


@dataclass(frozen=True)
class OrdersPlaced:
    k: int
    interval: int
    orders: tuple[PlacedOrder, ...]
    battery_wh: tuple[int, ...]  # each home's battery schedule for the interval, + charging


@dataclass(frozen=True)
class Binding:
    """The grid limit that cut a trade: kind, element, value and limit (units of the kind)."""

    kind: str
    element: str
    value: float
    limit: float


@dataclass(frozen=True)
class ClearedTrade:
    seller: int  # home index
    buyer: int
    energy_wh: int
    granted_wh: int
    price_per_kwh: int
    binding: Binding | None  # set exactly when granted_wh < energy_wh

    @property
    def status(self) -> str:
        if self.granted_wh == self.energy_wh:
            return "accepted"
        return "curtailed" if self.granted_wh else "rejected"


@dataclass(frozen=True)
class IntervalCleared:
    k: int
    interval: int
    price_per_kwh: int | None  # None when nothing traded
    trades: tuple[ClearedTrade, ...]


@dataclass(frozen=True)
class Payment:
    payer: int | None  # home index; None: the utility
    payee: int | None
    amount_units: int
    kind: str  # trade | retail | penalty | feed_in | forfeit | grid_fee


@dataclass(frozen=True)
class IntervalSettled:
    k: int
    interval: int
    delivered_wh: tuple[int, ...]  # per trade of the clearing, in its order
    payments: tuple[Payment, ...]


@dataclass(frozen=True)
class IntervalOutcome:
    """A settled interval against its market-off baseline (`testbed.outcomes`): the power the
    feeder drew through its transformer (kW, + from upstream; None when there is no power flow)
    and each home's bill (units, + paid), with the market and without it."""

    k: int
    interval: int
    upstream_kw: float | None
    baseline_upstream_kw: float | None
    bill_units: tuple[int, ...]
    baseline_bill_units: tuple[int, ...]


# -- the grid -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class GridViolation:
    """A limit the interval still breaks under control; ``cause`` says why no device on the
    feeder could have prevented it (substation_voltage, demand, uncontrolled_export), None when
    one could have."""

    kind: str
    element: str
    value: float
    limit: float
    cause: str | None


@dataclass(frozen=True)
class GridSolved:
    """The interval's power flow under the operator's control: bus voltages (the feeder's bus
    order), line loadings (its line order), the extremes (the tuples empty and the extremes NaN
    when it does not converge), the power each cause curtailed (summed over the homes), and the
    violations left. Unbalanced, a bus's voltage is its phase furthest from 1 pu and a line's
    loading its most loaded phase's; each phase's voltages and extremes (a, b, c), the highest
    unbalance factor and neutral loading come beside them (empty and NaN when balanced)."""

    k: int
    interval: int
    vm_pu: tuple[float, ...]
    vm_min_pu: float
    vm_max_pu: float
    max_line_loading_percent: float
    line_loading_percent: tuple[float, ...]
    export_limited_kw: float = 0.0
    volt_watt_kw: float = 0.0
    violations: tuple[GridViolation, ...] = ()
    vm_phase_pu: tuple[tuple[float, ...], ...] = ()  # (3, buses)
    vm_phase_min_pu: tuple[float, ...] = ()  # (3,)
    vm_phase_max_pu: tuple[float, ...] = ()
    vuf_max_percent: float = float("nan")
    neutral_loading_max_percent: float = float("nan")


# -- the ledger ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class BlockCommitted:
    height: int
    hash: str  # hex
    timestamp: int  # block time, Unix seconds (scenario time)
    transactions: int
    size_bytes: int  # the block's canonical bytes (signed header and transactions)
    commit_ms: float  # wall time from submission to commit
    node: str = ""  # the validator that committed it; "" for the ledger in this process


@dataclass(frozen=True)
class DecisionRefused:
    """A home's agent gave no plan the run takes for interval ``k`` (it raised, hung, crashed
    or returned an order the contract would refuse): the home places no order."""

    k: int
    interval: int  # its start, Unix seconds
    home: int
    reason: str


@dataclass(frozen=True)
class TransactionRefused:
    """The ledger refused a batch: nothing of it was committed."""

    timestamp: int  # the block's time, Unix seconds
    height: int  # the height the block would have had
    reason: str


@dataclass(frozen=True)
class SubmissionRetried:
    """A batch sent to the validator network again: its last attempt got no receipt, or its
    transactions were not committed in time. Safe: nodes commit a transaction once."""

    timestamp: int  # the batch's block time, Unix seconds
    attempt: int  # from 1; 0: the whole batch again, after its receipts, for want of a commit
    target: str  # the node the failed attempt went to, or "any node"
    reason: str


@dataclass(frozen=True)
class LedgerLate:
    """A stage of interval ``k`` could not run when it was due, because the ledger had not
    yet committed what it needs; the bench went on meanwhile (``t_s``: when it was due)."""

    t_s: float
    k: int
    stage: str
    consequence: str


# -- the bench ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Measured:
    """One control step's reading of a physical home's meter at ``t_s`` (power: + imports from
    the grid): the event, and what the stages keep of the home's last step."""

    t_s: float
    home: int
    p_kw: float
    q_kvar: float
    v_v: float
    import_kwh: float
    export_kwh: float


@dataclass(frozen=True)
class SetpointsSent:
    """A physical home's setpoints at an interval's start, as requested of the safety layer."""

    t_s: float
    home: int
    inverter_kw: float
    load_kw: float
    v_pu: float | None


@dataclass(frozen=True)
class MeterRead:
    """The energy a home's meter signed for one interval."""

    k: int
    interval: int
    home: int
    imported_wh: int
    exported_wh: int


@dataclass(frozen=True)
class StepPaced:
    """A paced control step: how late it started, and whether its work overran the next."""

    t_s: float
    lateness_ms: float
    missed: bool


@dataclass(frozen=True)
class SetpointClamped:
    """The safety layer sent less than was asked: a device's limit or its ramp."""

    t_s: float
    device: str
    setpoint: str  # the operation, e.g. set_active_power
    requested: float
    sent: float


@dataclass(frozen=True)
class WatchdogKicked:
    """A control step finished and fed the bench's watchdog."""

    t_s: float
    deadline_s: float
    misses: int  # consecutive deadlines missed so far (it trips at max_misses)
    max_misses: int
    total_misses: int


@dataclass(frozen=True)
class CommandLogged:
    """One line of the instrument command log (``t``: the log's monotonic clock, s)."""

    t: float
    device: str
    kind: str  # write | query | reply | event
    text: str


@dataclass(frozen=True)
class Alarm:
    t_s: float
    source: str  # a device, the bench, the ledger, the pacer
    kind: str  # one of ALARM_KINDS
    message: str


ALARM_KINDS = ("clamp", "trip", "deadline_miss", "refused", "retry", "ledger_late", "agent")


def alarm(event: Event, start_s: int) -> Alarm | None:
    """The alarm an event raises, if any: every alarm of the run's one list comes from here
    (``start_s``: the run's start, Unix seconds, to place ledger times on the run's clock)."""
    match event:
        case Alarm():
            return event
        case SetpointClamped():
            return Alarm(event.t_s, event.device, "clamp",
                         f"{event.setpoint} {event.requested:g} clamped to {event.sent:g}")
        case StepPaced(missed=True):
            return Alarm(event.t_s, "pacer", "deadline_miss",
                         f"step {event.lateness_ms:.1f} ms late; its work overran the next step")
        case TransactionRefused():
            return Alarm(float(event.timestamp - start_s), "ledger", "refused",
                         f"block {event.height}: {event.reason}")
        case DecisionRefused():
            return Alarm(float(event.interval - start_s), f"home {event.home}", "agent",
                         f"interval {event.k}: no order: {event.reason}")
        case SubmissionRetried():
            return Alarm(float(event.timestamp - start_s), "ledger", "retry",
                         f"attempt {event.attempt} to {event.target}: {event.reason}")
        case LedgerLate():
            return Alarm(event.t_s, "ledger", "ledger_late",
                         f"interval {event.k}: {event.stage} not yet possible (the ledger is "
                         f"still committing); {event.consequence}")
    return None


Event = (RunStarted | RunFinished | OrdersPlaced | IntervalCleared | IntervalSettled
         | IntervalOutcome | GridSolved | BlockCommitted | TransactionRefused | DecisionRefused
         | SubmissionRetried | LedgerLate | Measured
         | SetpointsSent | MeterRead | StepPaced | SetpointClamped | WatchdogKicked
         | CommandLogged | Alarm)
Subscriber = Callable[[Event], None]


class EventStream:
    """One stream per run: subscribers in order, each event to each of them.

    A subscriber may publish in turn: its event reaches every subscriber before the event it
    answers reaches the subscribers after it (an interval's outcome, published as the interval
    settles, reaches the recorder before the settlement that closes the interval's rows).
    Publishers on several threads (a paced run's control steps and its market thread) take
    turns: each event reaches every subscriber before the next one starts."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []
        self._turn = threading.RLock()  # re-entered by a subscriber that publishes in turn

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    def publish(self, event: Event) -> None:
        with self._turn:
            for subscriber in self._subscribers:
                subscriber(event)
