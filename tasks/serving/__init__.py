"""Serving: scoring new data with a saved model."""
