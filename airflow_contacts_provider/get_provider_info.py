"""The dict Airflow's providers manager reads through the ``apache_airflow_provider`` entry point.

Connection forms are declared here (not only on the hooks) so the UI can draw them
without importing any hook.
"""

from __future__ import annotations

from typing import Any

from airflow_contacts_provider import __version__

_HOOKS = "airflow_contacts_provider.hooks"


def _text_field(label: str, description: str) -> dict[str, Any]:
    return {"label": label, "description": description, "schema": {"type": ["string", "null"]}}


def _connection_type(
    conn_type: str, hook: str, default_host: str, id_field: tuple[str, str, str] | None
) -> dict[str, Any]:
    conn_fields = {
        "requests_per_minute": {
            "label": "Requests per minute",
            "description": "Optional client-side rate limit; leave empty for the provider's default.",
            "schema": {"type": ["integer", "null"]},
        }
    }
    if id_field is not None:
        key, label, description = id_field
        conn_fields = {key: _text_field(label, description), **conn_fields}
    return {
        "connection-type": conn_type,
        "hook-class-name": f"{_HOOKS}.{hook}",
        "conn-fields": conn_fields,
        "ui-field-behaviour": {
            "hidden-fields": ["schema", "port", "login"],
            "relabeling": {"password": "API token", "host": "Base URL"},
            "placeholders": {"host": default_host},
        },
    }


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-contacts-provider",
        "name": "Contacts (bulk contact import)",
        "description": "Sync contacts from data warehouses into Mailtrap, Notifuse, SendGrid Marketing "
        "and Migma bulk contact-import APIs.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": name,
                "external-doc-url": url,
                "tags": ["service"],
            }
            for name, url in (
                ("Mailtrap", "https://docs.mailtrap.io/developers/promotional/contacts/bulk-import"),
                ("Notifuse", "https://docs.notifuse.com/"),
                ("SendGrid Marketing", "https://www.twilio.com/docs/sendgrid/api-reference/contacts/import-contacts"),
                ("Migma", "https://docs.migma.ai/"),
            )
        ],
        "hooks": [
            {"integration-name": "Mailtrap", "python-modules": [f"{_HOOKS}.mailtrap"]},
            {"integration-name": "Notifuse", "python-modules": [f"{_HOOKS}.notifuse"]},
            {"integration-name": "SendGrid Marketing", "python-modules": [f"{_HOOKS}.sendgrid"]},
            {"integration-name": "Migma", "python-modules": [f"{_HOOKS}.migma"]},
        ],
        "operators": [
            {
                "integration-name": name,
                "python-modules": ["airflow_contacts_provider.operators.bulk_import"],
            }
            for name in ("Mailtrap", "Notifuse", "SendGrid Marketing", "Migma")
        ],
        "sensors": [
            {
                "integration-name": name,
                "python-modules": ["airflow_contacts_provider.sensors.import_status"],
            }
            for name in ("Mailtrap", "SendGrid Marketing", "Migma")
        ],
        "triggers": [
            {
                "integration-name": name,
                "python-modules": ["airflow_contacts_provider.triggers.import_status"],
            }
            for name in ("Mailtrap", "SendGrid Marketing", "Migma")
        ],
        "connection-types": [
            _connection_type(
                "mailtrap", "mailtrap.MailtrapHook", "https://mailtrap.io",
                ("account_id", "Account ID", "Mailtrap account id, used in /api/accounts/{id}/... paths."),
            ),
            _connection_type(
                "notifuse", "notifuse.NotifuseHook", "https://demo.notifuse.com",
                ("workspace_id", "Workspace ID", "Notifuse workspace id, sent as workspace_id."),
            ),
            _connection_type("sendgrid_marketing", "sendgrid.SendGridMarketingHook", "https://api.sendgrid.com",
                             None),
            _connection_type(
                "migma", "migma.MigmaHook", "https://api.migma.ai",
                ("project_id", "Project ID", "Migma project (brand) id, sent as projectId."),
            ),
        ],
    }
