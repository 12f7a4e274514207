"""Skip a test when a database server it needs is not running, except in CI, where that fails it.

A developer without PostgreSQL or MariaDB still gets a green run of everything
else; CI (``CI=true``) has the servers, so a missing one there is a broken setup,
not a reason to pass quietly.
"""

from __future__ import annotations

import os
import socket

import pytest

POSTGRES_ADDRESS = ("127.0.0.1", 5432)
MYSQL_ADDRESS = ("127.0.0.1", 3306)


def require_service(name: str, address: tuple[str, int]) -> None:
    """Skip the calling test (fail it under ``CI=true``) unless ``address`` accepts TCP connections.

    :param name: the service's name, for the reason shown.
    :param address: its host and port.
    """
    try:
        socket.create_connection(address, timeout=2).close()
    except OSError as error:
        reason = f"{name} is not reachable at {address[0]}:{address[1]} ({error})"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason}; CI=true, so a missing service is a failure, not a skip")
        pytest.skip(reason)


def require_postgres() -> None:
    """PostgreSQL: user ``postgres`` (trust auth), database ``test``."""
    require_service("PostgreSQL", POSTGRES_ADDRESS)


def require_mysql() -> None:
    """MariaDB/MySQL: user ``root`` with an empty password, database ``test``."""
    require_service("MariaDB/MySQL", MYSQL_ADDRESS)
