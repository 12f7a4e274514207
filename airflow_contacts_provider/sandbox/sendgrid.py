"""SendGrid Marketing contacts emulator (scaffold: filled in by the SendGrid work)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from airflow_contacts_provider.sandbox.state import SandboxState


def error_body(status: int, message: str) -> dict[str, Any]:
    return {"errors": [{"field": None, "message": message.lower()}]}


def build_router(state: SandboxState) -> APIRouter:
    return APIRouter()
