"""Bounds of the database's number types, for input checks."""

BIGINT_MAX = 2**63 - 1  # the largest id (bigint) PostgreSQL stores
