"""Small pure helpers shared by the domains (no Dagster, no domain knowledge)."""
