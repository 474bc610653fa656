"""The SQLite feedback database the API wrote before the move to Firestore."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import dagster as dg


class SQLiteFeedbackResource(dg.ConfigurableResource):
    path: str

    def connect(self, readonly: bool = True) -> sqlite3.Connection:
        """Open the database; read-only by default so a migration can never alter its source."""
        db = Path(self.path)
        if readonly:
            if not db.exists():
                raise FileNotFoundError(f"feedback database not found: {db}")
            return sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        db.parent.mkdir(parents=True, exist_ok=True)
        return sqlite3.connect(db)
