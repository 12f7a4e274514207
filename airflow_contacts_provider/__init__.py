"""Airflow provider that syncs warehouse contacts into email-service providers' bulk import APIs."""

from __future__ import annotations

__version__ = "0.1.0"
