"""The market's off-chain actors: what each party runs outside the contract.

The homes' traders (`trader`: the `Trader` protocol, what a home decides for an interval from
what it may know; `strategies`: the built-in ones), the operator's proposer (`proposer`: the
clearing and settlement bodies the contract re-checks) and the grid gate it asks (`grid_gate`).
The contract (`testbed.market`) imports none of these: they use its public API.
"""
