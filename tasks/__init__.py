"""The work of imbalance-flows as plain functions and classes, one concept a module, without Prefect.

Load, split and stratify (`data`), resample and augment, build members (`members`) and fit
them (`train`), vote (`vote`), evaluate and report, and keep versions (`store`). The
Prefect tasks and flows that run them live in `imbalance_flows.flows`.
"""
