"""Model registry: content-addressed checkpoints on GCS, versions, CAS aliases, gated promotion."""
