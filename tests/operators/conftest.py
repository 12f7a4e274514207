"""Fixtures of the operator tests: the contacts table, the metadata DB for ``dag.test()``."""

from __future__ import annotations

from tests.airflow_db import airflow_db
from tests.operators.e2e import contacts_table, unthrottled_mailtrap

__all__ = ["airflow_db", "contacts_table", "unthrottled_mailtrap"]
