"""Local, contract-faithful emulators of the Mailtrap, Notifuse, SendGrid and Migma import APIs.

For this project's tests, its demo, and users' own DAG tests::

    with Sandbox() as sandbox:
        os.environ.update(sandbox.connection_env())
        ...
"""

from __future__ import annotations

from airflow_contacts_provider.sandbox.server import Sandbox
from airflow_contacts_provider.sandbox.state import Fault

__all__ = ["Fault", "Sandbox"]
