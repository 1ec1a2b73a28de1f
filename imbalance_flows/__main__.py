"""`python -m imbalance_flows ...`: the same as the `imbalance-flows` command."""

import sys

from imbalance_flows.cli import main

sys.exit(main())
