"""A migrated Airflow metadata database, for tests that run DAGs with ``dag.test()``.

``tests/conftest.py`` points AIRFLOW_HOME at a temporary directory; ``dag.test()`` needs the
metadata tables there and finds a DAG only inside the DAGs folder. Use it from a conftest::

    from tests.airflow_db import airflow_db, use_dags_folder  # noqa: F401
"""

from __future__ import annotations

import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """Run ``airflow db migrate`` with this process's AIRFLOW_HOME, once however many conftests use it."""
    failure = _migrate()
    if failure:
        pytest.fail(failure)


@cache
def _migrate() -> str | None:
    airflow = Path(sys.executable).with_name("airflow")
    result = subprocess.run([str(airflow), "db", "migrate"], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        return f"airflow db migrate failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
    return None


def use_dags_folder(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """Point Airflow at ``folder`` for one test: the setting and the value Airflow read at import."""
    from airflow import settings

    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(folder))
    monkeypatch.setattr(settings, "DAGS_FOLDER", str(folder))
