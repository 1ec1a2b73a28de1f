"""`python -m imbalance_flows ...`: the same as the `imbalance-flows` command."""

from imbalance_flows.cli import entry

entry()
