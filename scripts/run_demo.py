"""The demo: an SQLite warehouse of synthetic contacts, synced by the ``contacts_demo`` DAG into the
sandbox of all four providers, and every row accounted for.

Run by ``scripts/demo.sh`` after setup. Everything it makes stays under ``.demo/`` (gitignored):
the Airflow home, the warehouse, the rejected rows, the report and the Airflow log. The sandbox
runs in this process while ``airflow dags test`` runs the DAG in a child process.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / ".demo"
AIRFLOW = Path(sys.executable).with_name("airflow")
COLUMNS = ("email", "first_name", "last_name", "phone", "country", "language", "company", "plan",
           "signup_date", "score", "is_active")
PROVIDERS = {"mailtrap": "Mailtrap", "notifuse": "Notifuse", "sendgrid": "SendGrid Marketing", "migma": "Migma"}


def step(message: str, started: float) -> None:
    print(f"[{time.monotonic() - started:6.1f} s] {message}", flush=True)


def airflow_env(warehouse: Path) -> dict[str, str]:
    """The demo's Airflow settings, the warehouse connection and the Variables its DAG reads."""
    return {
        "AIRFLOW_HOME": str(DEMO / "airflow_home"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags_examples"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW_CONN_CONTACTS_WAREHOUSE": json.dumps({"conn_type": "sqlite", "host": str(warehouse)}),
        "AIRFLOW_VAR_CONTACTS_REJECTS_BASE": str(DEMO / "rejects"),
    }


def seed_warehouse(path: Path, rows: int, bad_every: int) -> None:
    """A ``contacts`` table of synthetic contacts, every ``bad_every``-th one spoiled."""
    from airflow_contacts_provider.sandbox.synthetic import synthetic_contacts

    contacts = synthetic_contacts(rows, bad_every=bad_every)
    contacts["signup_date"] = contacts["signup_date"].dt.strftime("%Y-%m-%d")
    contacts["is_active"] = contacts["is_active"].astype(int)
    values = contacts.astype(object).where(contacts.notna(), None)
    path.unlink(missing_ok=True)
    with sqlite3.connect(path) as db:
        db.execute("""
            CREATE TABLE contacts (
                id INTEGER PRIMARY KEY, email TEXT, first_name TEXT, last_name TEXT, phone TEXT, country TEXT,
                language TEXT, company TEXT, plan TEXT, signup_date TEXT, score REAL, is_active INTEGER
            )
        """)
        db.executemany(f"INSERT INTO contacts (id, {', '.join(COLUMNS)}) VALUES ({', '.join('?' * 12)})",
                       ((position, *row) for position, row in enumerate(values.itertuples(index=False))))


def create_sendgrid_list(sandbox: Any) -> str:
    """SendGrid adds contacts only to lists that exist: make one, as a user would in SendGrid's UI."""
    import requests

    response = requests.post(f"{sandbox.base_url('sendgrid')}/v3/marketing/lists", json={"name": "customers"},
                             headers={"Authorization": f"Bearer {sandbox.state.tokens['sendgrid']}"}, timeout=10)
    response.raise_for_status()
    return str(response.json()["id"])


def run_dag(env: dict[str, str], report_path: Path, log_path: Path, started: float) -> bool:
    """``airflow dags test contacts_demo``, its output to ``log_path``; each finished task is announced."""
    command = [str(AIRFLOW), "dags", "test", "contacts_demo", "-c", json.dumps({"report_path": str(report_path)})]
    with log_path.open("w") as log, subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                                                     stderr=subprocess.STDOUT, text=True) as child:
        assert child.stdout is not None
        for line in child.stdout:
            log.write(line)
            if "[DAG TEST] end task" in line:
                task_id = line.split("task_id=", 1)[1].split()[0]
                step(f"  {task_id} done", started)
    return child.returncode == 0


def count_rejects(path: str) -> tuple[int, int]:
    """Part files under a rejects path, and the rows in them."""
    parts = sorted(Path(path).glob("part-*.csv"))
    rows = 0
    for part in parts:
        with part.open(newline="") as file:
            rows += sum(1 for _ in file) - 1
    return len(parts), rows


def print_report(report: dict[str, dict[str, Any]], stored: dict[str, int]) -> bool:
    """Each provider's reconciliation, its rejects and the sandbox's count; whether all agree."""
    agree = True
    for provider, name in PROVIDERS.items():
        result = report[provider]
        print(f"\n{name}")
        print("  " + " | ".join(f"{key.replace('_', ' ')} {result[key]:,}" for key in (
            "rows_read", "created", "updated", "rejected", "duplicates", "failed", "pending", "batches")))
        for reason, count in result["rejected_by_reason"].items():
            print(f"    rejected {count:>5,}  {reason}")
        files, rows = count_rejects(result["rejects_path"])
        print(f"  rejects: {rows:,} rows in {files} file(s) under {os.path.relpath(result['rejects_path'], ROOT)}")
        landed = result["created"] + result["updated"]
        same = stored[provider] == landed
        agree = agree and same and rows == result["rejected"] + result["duplicates"]
        print(f"  sandbox holds {stored[provider]:,} contacts ({'=' if same else '!='} created + updated)")
    return agree


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000, help="synthetic contacts in the warehouse")
    parser.add_argument("--bad-every", type=int, default=300, help="spoil every n-th contact")
    parser.add_argument("--job-delay", type=float, default=1.0, help="seconds a sandbox import job takes")
    args = parser.parse_args()
    started = time.monotonic()

    DEMO.mkdir(exist_ok=True)
    shutil.rmtree(DEMO / "rejects", ignore_errors=True)
    warehouse, report_path, log_path = DEMO / "warehouse.db", DEMO / "report.json", DEMO / "airflow-dags-test.log"
    report_path.unlink(missing_ok=True)
    env = {**os.environ, **airflow_env(warehouse)}
    os.environ.update(env)  # before anything imports airflow

    step(f"Migrating the Airflow metadata DB in {os.path.relpath(env['AIRFLOW_HOME'], ROOT)}", started)
    migrate = subprocess.run([str(AIRFLOW), "db", "migrate"], env=env, capture_output=True, text=True, check=False)
    if migrate.returncode != 0:
        print(migrate.stdout[-3000:], migrate.stderr[-3000:], sep="\n")
        return 1

    step(f"Seeding {os.path.relpath(warehouse, ROOT)} with {args.rows:,} contacts (every {args.bad_every}th bad)",
         started)
    seed_warehouse(warehouse, args.rows, args.bad_every)

    from airflow_contacts_provider.sandbox import Sandbox

    with Sandbox(job_delay=args.job_delay) as sandbox:
        env.update(sandbox.connection_env())
        env["AIRFLOW_VAR_SENDGRID_CUSTOMERS_LIST_ID"] = create_sendgrid_list(sandbox)
        step(f"Sandbox of the four providers on {sandbox.url}; running `airflow dags test contacts_demo` "
             f"(log: {os.path.relpath(log_path, ROOT)})", started)
        succeeded = run_dag(env, report_path, log_path, started)
        stored = {provider: len(sandbox.contacts(provider)) for provider in PROVIDERS}

    if not succeeded or not report_path.exists():
        print("".join(log_path.read_text().splitlines(keepends=True)[-40:]))
        print(f"The demo DAG failed; the whole Airflow log is in {os.path.relpath(log_path, ROOT)}.")
        return 1
    step(f"Done. Report: {os.path.relpath(report_path, ROOT)}", started)
    agree = print_report(json.loads(report_path.read_text()), stored)
    print(f"\nEvery row accounted for, and the sandbox agrees: {'yes' if agree else 'NO'}"
          f"  (total {time.monotonic() - started:.0f} s)")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
