"""Firestore client resource: the real service through ADC, or Google's emulator in the sandbox."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import dagster as dg
from pydantic import Field

if TYPE_CHECKING:
    from google.cloud import firestore


class FirestoreResource(dg.ConfigurableResource):
    project: str
    database: str = "(default)"
    emulator_host: str | None = Field(
        default=None, description="host:port of the Firestore emulator (sandbox only)"
    )

    def client(self) -> firestore.Client:
        """Create the client lazily: loading definitions needs no credentials."""
        from google.cloud import firestore

        if self.emulator_host:
            # The client only discovers the emulator through this variable; the process is a
            # sandbox process, so pointing it at the emulator is exactly the intent.
            os.environ["FIRESTORE_EMULATOR_HOST"] = self.emulator_host
        return firestore.Client(project=self.project, database=self.database)
