"""The provider is registered the way Airflow expects and its connection forms are declared."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import airflow
import jsonschema

from airflow_contacts_provider.get_provider_info import get_provider_info

CONNECTION_TYPES = {"mailtrap", "notifuse", "sendgrid_marketing", "migma"}


def test_provider_info_matches_airflow_schema() -> None:
    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)


def test_entry_point_points_at_get_provider_info() -> None:
    entry_points = metadata.entry_points(group="apache_airflow_provider")
    ours = [ep for ep in entry_points if ep.value.startswith("airflow_contacts_provider")]
    assert len(ours) == 1
    assert ours[0].load()() == get_provider_info()


def test_connection_forms_relabel_token_and_hide_unused_fields() -> None:
    for conn in get_provider_info()["connection-types"]:
        behaviour = conn["ui-field-behaviour"]
        assert behaviour["relabeling"]["password"] == "API token"
        assert {"schema", "port", "login"} <= set(behaviour["hidden-fields"])
    ids = {c["connection-type"]: set(c["conn-fields"]) for c in get_provider_info()["connection-types"]}
    assert ids == {
        "mailtrap": {"account_id", "requests_per_minute"},
        "notifuse": {"workspace_id", "requests_per_minute"},
        "sendgrid_marketing": {"requests_per_minute"},
        "migma": {"project_id", "requests_per_minute"},
    }


def test_providers_manager_sees_the_four_connection_types() -> None:
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    manager = ProvidersManagerTaskRuntime()
    assert "airflow-contacts-provider" in manager.providers
    hooks = manager.hooks
    for conn_type in CONNECTION_TYPES:
        hook_info = hooks[conn_type]
        assert hook_info is not None, f"{conn_type} hook failed to import"
        assert hook_info.connection_type == conn_type


def test_airflow_cli_lists_the_provider() -> None:
    env = {**os.environ, "AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR"}
    cli = [sys.executable, "-m", "airflow"]
    providers = subprocess.run([*cli, "providers", "list", "-o", "json"], capture_output=True, text=True,
                               env=env, check=True)
    names = {p["package_name"] for p in json.loads(providers.stdout)}
    assert "airflow-contacts-provider" in names
    hooks = subprocess.run([*cli, "providers", "hooks", "-o", "json"], capture_output=True, text=True,
                           env=env, check=True)
    listed = {h["connection_type"]: h for h in json.loads(hooks.stdout)}
    for conn_type in CONNECTION_TYPES:
        assert "Error" not in listed[conn_type]["class"], listed[conn_type]
