"""Every timeout, retry and poll interval of the network, in one place, with the reason for
each value.

The figures they are set against, measured on the project's 2-core machine with 4 validators
and 3 NATS servers sharing it (`testbed bench network`): a node answers a submission of a
market interval's ~500 transactions in 5-50 ms; a block commits 0.3-0.7 s after submission; a
node restarted with a warm Numba cache answers within 3-5 s; a round trip on loopback is
about 0.2 ms.
"""

from __future__ import annotations

# --- a client's submission ---------------------------------------------------------------------

ATTEMPT_TIMEOUT_S = 2.0
"""How long one submission attempt waits for a node's receipt: 40x the slowest answer seen
under load, yet short enough that a dead node costs a retry, not the run."""

BACKOFF_FIRST_S = 0.1
BACKOFF_MAX_S = 2.0
"""Backoff between attempts: doubling from the first value to the cap, each wait jittered by up
to half its length, so clients that lost the same node do not retry in step. The cap is one
attempt's timeout: a node that comes back is tried again within seconds."""

RESUBMIT_AFTER_S = 5.0
"""A batch whose receipts came but of which nothing commits for this long is submitted again:
the node that admitted it may have died before passing it on to the others. Five rounds: a
dead proposer's turn passes on within one, so a live network has committed it by then."""

COMMIT_DEADLINE_S = 120.0
"""How long a batch may take from its first submission to its commit before the run gives
up. A validator restarted by hand, or a paused one resumed, is back well within it (3-15 s);
two minutes is the most a bench should wait with its devices held before it stops safely."""

# --- the nodes ---------------------------------------------------------------------------------

MEMPOOL_TTL_S = COMMIT_DEADLINE_S
"""How long a node holds a transaction before it drops it and tells its party: the default
commit deadline, past which its client has given up on it, and a nonce gap its sender has not
filled by then never will be. A client with a longer deadline loses nothing: it submits again
what has not committed every RESUBMIT_AFTER_S, and a node holds it afresh."""

ROUND_TIMEOUT_S = 1.0
"""A proposer silent this long with transactions waiting passes its turn on: twice the p99
commit latency, so a slow but live proposer keeps its turn and a dead one costs one second."""

TICK_S = 0.01
"""A node checks rounds, proposals and fallback appends this often: a hundredth of a round."""

POLL_S = 0.2
"""A node (and a client following blocks) reads the stream this often when no append was
announced: announcements are core NATS and may be lost; this bounds what such a loss costs."""

SERVER_CHECK_S = 0.2
"""While `network up` waits for the cluster, it checks this often whether a server has exited
(a port taken, a broken configuration): a dead server is named within a fifth of a second, for
a few reads of /proc."""

STATUS_TIMEOUT_S = 1.0
"""How long a status request waits: a node answers from a snapshot, in under a millisecond,
whatever it is validating; silence for a second means it is not running (or paused)."""

MAX_QUEUED_SUBMISSIONS = 64
"""Client submissions a node holds waiting for its validator thread; beyond it a node answers
"busy" at once and the client tries another node, so a flood cannot grow a node's memory."""

PENDING_MESSAGES = 10_000
PENDING_BYTES = 256 << 20
"""Messages (and bytes) a node's subscription may hold unprocessed before NATS drops them (a
slow consumer): a few hundred blocks' worth of proposals and votes. Consensus survives lost
messages (a round passes the turn on); it does not survive memory growing without a bound."""

JETSTREAM_TIMEOUT_S = 2.0
"""A JetStream request (an append, a read of one entry): the cluster answers in milliseconds,
or elects a new leader in about two seconds after losing one."""

CONNECT_TIMEOUT_S = 2.0
RECONNECT_WAIT_S = 0.1
"""Connecting to one server, and the pause before trying the next: a killed server's clients
are on another within a fraction of a second."""

# --- starting a local network ------------------------------------------------------------------

READY_TIMEOUT_S = 120.0
"""How long `testbed network up` waits for the servers and for a quorum of nodes to answer:
nodes load their kernels from the cache `up` filled before starting them (a few seconds), and
re-validate their stores (a year's ledger takes a minute)."""

NICENESS = 10
"""The niceness of the processes a run starts for the network (servers, validators): the bench
loop, at 0, gets about nine times their share of a core when both want one, so it keeps its
pace whatever the ledger does."""
