"""Monitoring: batch scoring, drift and prior shift."""
