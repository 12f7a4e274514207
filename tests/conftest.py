"""Test settings shared by the whole suite: an isolated AIRFLOW_HOME, quiet logs.

The sandbox fixtures (``contacts_sandbox``) come from the package's pytest plugin.
"""

from __future__ import annotations

import os
import tempfile

_airflow_home = tempfile.mkdtemp(prefix="airflow-home-")
os.environ.setdefault("AIRFLOW_HOME", _airflow_home)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")
