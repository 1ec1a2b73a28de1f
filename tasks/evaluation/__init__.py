"""Evaluation: metrics that respect imbalance, reports, the examples a model gets wrong, figures."""
