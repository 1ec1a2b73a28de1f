"""The Prefect flows (train, retrain, predict), the tasks that wrap `imbalance_flows.tasks`, and their options."""
