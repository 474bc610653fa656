"""Partition definitions shared across domains.

The daily history starts at ``CTSCAN_HISTORY_START`` (read with ``os.getenv``: partition
definitions are structural and must not use ``dg.EnvVar``). Days without data in that range are
materialized as "no data" with a reason, never as failures.
"""

from __future__ import annotations

import os

import dagster as dg

from ctscan_ops.config import ENVIRONMENTS

HISTORY_START = os.getenv("CTSCAN_HISTORY_START", "2026-09-01")

daily_partitions = dg.DailyPartitionsDefinition(start_date=HISTORY_START, timezone="UTC")

# Deployment environments (Terraform workspaces, alert policies per environment).
environment_partitions = dg.StaticPartitionsDefinition(list(ENVIRONMENTS))
