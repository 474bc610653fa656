"""Feedback: SQLite -> Firestore migration, parity, the store interface (see README.md)."""
