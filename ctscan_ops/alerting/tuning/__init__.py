"""Threshold tuning: the exact sweep, the walk-forward recommendation, the report body, the
Terraform variables it proposes, and its plots."""
