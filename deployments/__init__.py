"""Deployments of the flows: `prefect.yaml` for a work pool, and `serve` for one process."""
