"""Per-environment Terraform resource inventory of the infra world (JSON)."""
