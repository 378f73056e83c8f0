"""Storage helpers for hand-written SQL: rows as model instances, SQLite's write lock."""
