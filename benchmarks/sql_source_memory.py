"""Peak memory of SqlSource reading PostgreSQL: it should follow the chunk size, not the row count.

Fills a table of synthetic contacts (11 columns) once, then reads N rows of it
through ``SqlSource`` for each row count and chunk size, each read in a fresh
Python process so one measurement's peak cannot hide in another's. Prints
figures only; it asserts nothing.

    .venv/bin/python benchmarks/sql_source_memory.py
    .venv/bin/python benchmarks/sql_source_memory.py --rows 100000 --chunk-sizes 5000

The connection defaults to the test server (127.0.0.1:5432, user postgres,
database test); pass ``--connection`` with an Airflow connection's JSON to use another.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid

CONN_ID = "contacts_benchmark"
DEFAULT_CONNECTION = json.dumps(
    {"conn_type": "postgres", "host": "127.0.0.1", "port": 5432, "login": "postgres", "schema": "test"}
)
COLUMNS = (
    "email text, first_name text, last_name text, phone text, country text, language text, "
    "company text, plan text, signup_date date, score double precision, is_active boolean"
)
FILL = """
INSERT INTO {table}
SELECT
    'user' || i || '@example.com',
    (ARRAY['Ana', 'Bruno', 'Chloé', 'Dmitri', 'Emeka'])[1 + i %% 5],
    'Lastname' || (i %% 10000),
    '+3361' || lpad((i %% 10000000)::text, 7, '0'),
    (ARRAY['FR', 'DE', 'US', 'BR', 'JP', 'NG'])[1 + i %% 6],
    (ARRAY['fr', 'de', 'en', 'pt', 'ja'])[1 + i %% 5],
    'Company ' || (i %% 5000),
    (ARRAY['free', 'pro', 'team'])[1 + i %% 3],
    DATE '2020-01-01' + (i %% 1500),
    (i %% 1000) / 10.0,
    i %% 4 <> 0
FROM generate_series(1, %s) AS i
"""


def peak_rss_mib() -> float:
    """This process's peak resident memory so far (Linux reports ``ru_maxrss`` in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def read_in_this_process(table: str, rows: int, chunk_size: int) -> None:
    """The child's work: read ``rows`` rows in chunks, print one JSON line of figures."""
    from airflow_contacts_provider.sources import SqlSource

    source = SqlSource(CONN_ID, f"SELECT * FROM {table} LIMIT %s", parameters=[rows])
    rss_before_reading = peak_rss_mib()
    started = time.perf_counter()
    rows_read = sum(len(chunk) for chunk in source.iter_chunks(chunk_size))
    seconds = time.perf_counter() - started
    figures = {"rows": rows_read, "seconds": seconds, "baseline_mib": rss_before_reading, "peak_mib": peak_rss_mib()}
    print(json.dumps(figures))


def measure(table: str, rows: int, chunk_size: int) -> dict[str, float]:
    """Run one read in a fresh interpreter and return its figures."""
    child = subprocess.run(
        [sys.executable, __file__, "--child", table, str(rows), str(chunk_size)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(child.stdout.strip().splitlines()[-1])


def fill_table(table: str, rows: int) -> None:
    """Create and fill a contacts table of ``rows`` rows."""
    from airflow.sdk import BaseHook

    hook = BaseHook.get_connection(CONN_ID).get_hook()
    hook.run(f"CREATE TABLE {table} ({COLUMNS})")
    hook.run(FILL.format(table=table), parameters=[rows])


def drop_table(table: str) -> None:
    from airflow.sdk import BaseHook

    BaseHook.get_connection(CONN_ID).get_hook().run(f"DROP TABLE IF EXISTS {table}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[500_000, 2_000_000])
    parser.add_argument("--chunk-sizes", type=int, nargs="+", default=[10_000, 50_000])
    parser.add_argument("--connection", default=DEFAULT_CONNECTION, help="an Airflow connection as JSON")
    parser.add_argument("--child", nargs=3, metavar=("TABLE", "ROWS", "CHUNK_SIZE"), help=argparse.SUPPRESS)
    arguments = parser.parse_args()

    if arguments.child:
        table, rows, chunk_size = arguments.child
        read_in_this_process(table, int(rows), int(chunk_size))
        return

    # Children inherit the connection and a throwaway Airflow home through the environment.
    os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = arguments.connection
    os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="airflow-home-"))
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")

    print(f"filling a table of {max(arguments.rows):,} contacts ...", flush=True)
    table = f"contacts_benchmark_{uuid.uuid4().hex[:8]}"
    try:
        fill_table(table, max(arguments.rows))
        print(f"{'rows':>10} {'chunk size':>10} {'seconds':>8} {'rows/s':>9} {'baseline MiB':>12} {'peak MiB':>9}")
        for rows in arguments.rows:
            for chunk_size in arguments.chunk_sizes:
                figures = measure(table, rows, chunk_size)
                print(
                    f"{figures['rows']:>10,} {chunk_size:>10,} {figures['seconds']:>8.2f} "
                    f"{figures['rows'] / figures['seconds']:>9,.0f} {figures['baseline_mib']:>12.0f} "
                    f"{figures['peak_mib']:>9.0f}",
                    flush=True,
                )
    finally:
        drop_table(table)
    print("baseline MiB: peak RSS after imports, before reading; peak MiB: after reading every row.")


if __name__ == "__main__":
    main()
