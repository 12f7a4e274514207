"""Fixtures of the trigger tests."""

from __future__ import annotations

from tests.operators.e2e import unthrottled_mailtrap

__all__ = ["unthrottled_mailtrap"]
