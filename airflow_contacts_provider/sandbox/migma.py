"""Migma contacts emulator (scaffold: filled in by the Migma work)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from airflow_contacts_provider.sandbox.state import SandboxState

ERROR_CODES = {400: "BAD_REQUEST", 401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND",
               429: "RATE_LIMITED", 500: "INTERNAL_ERROR", 503: "SERVICE_UNAVAILABLE"}


def error_body(status: int, message: str) -> dict[str, Any]:
    return {"success": False, "error": message, "code": ERROR_CODES.get(status, "ERROR"), "metadata": {}}


def build_router(state: SandboxState) -> APIRouter:
    return APIRouter()
