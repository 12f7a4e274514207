"""How fast and how lean a sync is, next to a hand-written script and the database's own floor.

One run on this machine: fills PostgreSQL tables of N synthetic contacts (11 columns), starts
the sandbox in sink mode in its own process (it accepts and counts, so the client is what is
measured), then for each N measures, each in a fresh Python process (``--repeat`` times at N up
to 1,000,000, round by round, the median time reported: this machine's speed drifts by a fifth
within minutes):

- ``project`` / <provider>: ``BulkContactImportOperator.execute`` from a ``SqlSource`` into each
  of the four providers;
- ``hand-written``: what a data engineer writes by hand: ``pd.read_sql`` of the whole table,
  ``to_dict("records")``, JSON batches of 50,000 posted with requests to the Mailtrap endpoint;
- ``floor``: ``psql -c "COPY (SELECT ...) TO STDOUT WITH CSV" | gzip -1 > /dev/null``.

Wall time is the work alone (interpreter start, imports and, for the project, Airflow's start-up
on its first connection lookup excluded: a worker has done those before a task runs);
peak RSS is the measuring process's own (for the floor, the largest of psql and gzip). Prints
each measurement as it is taken and, at the end, the table with the ratios to the hand-written
path and to the floor; writes that table to ``benchmarks/results/throughput.md``, with
``throughput.png``.

    .venv/bin/python benchmarks/throughput.py              # N = 100,000 and 1,000,000
    .venv/bin/python benchmarks/throughput.py --large      # and 5,000,000
    .venv/bin/python benchmarks/throughput.py --rows 20000 --providers mailtrap   # a quick look
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

RESULTS = Path(__file__).resolve().parent / "results"
WAREHOUSE_ID = "benchmark_warehouse"
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "test"}
WAREHOUSE = json.dumps({"conn_type": "postgres", "host": PG["host"], "port": PG["port"], "login": PG["user"],
                        "schema": PG["dbname"]})
COLUMNS = (
    "email text, first_name text, last_name text, phone text, country text, language text, "
    "company text, plan text, signup_date date, score double precision, is_active boolean"
)
FILL = """
INSERT INTO {table}
SELECT
    'user' || i || '@example.com',
    (ARRAY['Ana', 'Bruno', 'Chloé', 'Dmitri', 'Emeka'])[1 + i % 5],
    'Lastname' || (i % 10000),
    '+3361' || lpad((i % 10000000)::text, 7, '0'),
    (ARRAY['FR', 'DE', 'US', 'BR', 'JP', 'NG'])[1 + i % 6],
    (ARRAY['fr', 'de', 'en', 'pt', 'ja'])[1 + i % 5],
    'Company ' || (i % 5000),
    (ARRAY['free', 'pro', 'team'])[1 + i % 3],
    DATE '2020-01-01' + (i % 1500),
    (i % 1000) / 10.0,
    i % 4 <> 0
FROM generate_series(1, {rows}) AS i
"""

PROVIDERS = {
    # provider: (connection id, mapping of the 11 source columns onto the sandbox account's fields)
    "mailtrap": ("mailtrap_default", {
        "email": "email", "first_name": "first_name", "last_name": "last_name", "phone": "phone",
        "country": "country", "language": "language", "company": "company", "plan": "plan",
        "signup_date": "signup_date", "score": "score", "is_active": "vip"}),
    "notifuse": ("notifuse_default", {
        "email": "email", "first_name": "first_name", "last_name": "last_name", "phone": "phone",
        "country": "country", "language": "language", "company": "custom_string_1", "plan": "custom_string_2",
        "signup_date": "custom_datetime_1", "score": "custom_number_1", "is_active": "custom_string_3"}),
    "sendgrid": ("sendgrid_marketing_default", {
        "email": "email", "first_name": "first_name", "last_name": "last_name", "phone": "phone_number",
        "country": "country", "language": "language", "company": "company", "plan": "plan",
        "signup_date": "signup_date", "score": "score", "is_active": "is_active"}),
    "migma": ("migma_default", {
        "email": "email", "first_name": "firstName", "last_name": "lastName", "phone": "phone",
        "country": "country", "language": "language", "company": "customFields.company",
        "plan": "customFields.plan", "signup_date": "customFields.signup_date", "score": "customFields.score",
        "is_active": "customFields.is_active"}),
}
SENDGRID_CUSTOM_FIELDS = {"language": "Text", "company": "Text", "plan": "Text", "signup_date": "Date",
                          "score": "Number", "is_active": "Text"}
"""Custom fields the benchmark creates in the sandbox's SendGrid account so all 11 columns go up."""

JSON_PROVIDERS = ("mailtrap", "notifuse", "migma")
HAND_BATCH = 50_000
SINK_MAPPED_BLOCKS_FROM = 128 << 20
"""Blocks the sink's allocator maps on their own: larger than any request body it is sent."""
REPEATED_UP_TO = 1_000_000
"""Sizes up to this are measured ``--repeat`` times (the targets are set at 1,000,000); larger ones once."""


def peak_rss_mib() -> float:
    """This process's peak resident memory (Linux reports ``ru_maxrss`` in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds(who: int = resource.RUSAGE_SELF) -> float:
    """CPU time used so far (user + system): less disturbed than wall time by a busy machine."""
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


# -- the measured paths, each run in a fresh child process -------------------------------------


def run_project(provider: str, table: str) -> dict[str, Any]:
    """The operator's ``execute``: SqlSource -> validation -> batches -> the provider's hook."""
    from airflow.sdk import BaseHook

    from airflow_contacts_provider.operators.bulk_import import BulkContactImportOperator

    conn_id, mapping = PROVIDERS[provider]
    operator = BulkContactImportOperator(
        task_id=f"benchmark_{provider}", destination_conn_id=conn_id, source_conn_id=WAREHOUSE_ID,
        sql=f"SELECT * FROM {table}", mapping=mapping, poll_interval=0.05,
    )
    # Airflow's own start-up (settings, secrets backends: about 1 s here) happens on the first
    # connection lookup; a worker has done it before a task's execute runs.
    BaseHook.get_connection(WAREHOUSE_ID)
    baseline, cpu = peak_rss_mib(), cpu_seconds()
    started = time.perf_counter()
    result = operator.execute({})  # type: ignore[arg-type]
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "cpu": cpu_seconds() - cpu, "baseline_mib": baseline, "peak_mib": peak_rss_mib(),
            "sent": result["created"] + result["updated"], "read": result["rows_read"]}


def run_hand_written(table: str) -> dict[str, Any]:
    """Read the whole table with pandas, ``to_dict``, post JSON batches with requests."""
    import pandas as pd
    import sqlalchemy

    connection = json.loads(os.environ["AIRFLOW_CONN_MAILTRAP_DEFAULT"])
    url = f"{connection['host']}/api/accounts/{connection['extra']['account_id']}/contacts/imports"
    headers = {"Authorization": f"Bearer {connection['password']}", "Content-Type": "application/json"}
    engine = sqlalchemy.create_engine(f"postgresql+psycopg2://{PG['user']}@{PG['host']}:{PG['port']}/{PG['dbname']}")
    baseline, cpu = peak_rss_mib(), cpu_seconds()
    started = time.perf_counter()
    frame = pd.read_sql(f"SELECT * FROM {table}", engine)
    records = frame.to_dict(orient="records")
    sent = 0
    with requests.Session() as session:
        for start in range(0, len(records), HAND_BATCH):
            contacts = [{"email": record.pop("email"), "fields": record}
                        for record in records[start:start + HAND_BATCH]]
            response = session.post(url, data=json.dumps({"contacts": contacts}, default=str), headers=headers)
            response.raise_for_status()
            sent += len(contacts)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "cpu": cpu_seconds() - cpu, "baseline_mib": baseline, "peak_mib": peak_rss_mib(),
            "sent": sent,
            "read": len(frame)}


def run_floor(table: str) -> dict[str, Any]:
    """PostgreSQL's own CSV export through ``gzip -1``: the least any sync could cost."""
    psql = " ".join(["psql", "-X", "-q", *(f"--{key}={value}" for key, value in PG.items())])
    copy = f"COPY (SELECT * FROM {table}) TO STDOUT WITH CSV"
    started = time.perf_counter()
    subprocess.run(f"{psql} -c {shlex.quote(copy)} | gzip -1 > /dev/null", shell=True, check=True)
    seconds = time.perf_counter() - started
    # The largest of psql and gzip: both are this process's (waited-for) descendants.
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    rows = subprocess.run(f"{psql} -At -c {shlex.quote(f'SELECT count(*) FROM {table}')}", shell=True,
                          check=True, capture_output=True, text=True).stdout.strip()
    return {"seconds": seconds, "cpu": cpu_seconds(resource.RUSAGE_CHILDREN), "baseline_mib": 0.0, "peak_mib": peak,
            "sent": int(rows), "read": int(rows)}


def child_main(path: str, provider: str, table: str) -> None:
    if path == "project":
        figures = run_project(provider, table)
    elif path == "hand":
        figures = run_hand_written(table)
    else:
        figures = run_floor(table)
    print("FIGURES " + json.dumps(figures), flush=True)


# -- the parent: tables, sandbox, children, report --------------------------------------------


def psql(sql: str) -> str:
    command = ["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", *(f"--{k}={v}" for k, v in PG.items()),
               "-c", sql]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def sink_sandbox(job_delay: float) -> Iterator[tuple[str, dict[str, str], subprocess.Popen[str]]]:
    """The sandbox in sink mode in its own process (its CPU and memory are not the client's).

    Its allocator keeps what it frees for the next request (glibc's tunables, read at start):
    otherwise each body of megabytes lands in freshly mapped pages, and the page faults cost the
    sink a fifth of its CPU (Notifuse, 1M contacts: 0.62 s -> 0.51 s), taken from the client on
    a machine of two cores.
    """
    port = free_port()
    allocator = {"MALLOC_MMAP_THRESHOLD_": str(SINK_MAPPED_BLOCKS_FROM), "MALLOC_TRIM_THRESHOLD_": str(1 << 30)}
    process = subprocess.Popen(
        [sys.executable, "-m", "airflow_contacts_provider.sandbox", "--sink", "--port", str(port),
         "--job-delay", str(job_delay)],
        stdout=subprocess.PIPE, text=True, env={**os.environ, **allocator},
    )
    try:
        env: dict[str, str] = {}
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("export "):
                name, _, value = line[len("export "):].strip().partition("=")
                env[name] = value.strip("'")
            if line.startswith("Sandbox tokens"):
                break
        url = f"http://127.0.0.1:{port}"
        requests.get(f"{url}/_sandbox/health", timeout=10).raise_for_status()
        yield url, env, process
    finally:
        process.terminate()
        process.wait(timeout=10)


def add_sendgrid_fields(url: str, env: dict[str, str]) -> None:
    token = json.loads(env["AIRFLOW_CONN_SENDGRID_MARKETING_DEFAULT"])["password"]
    for name, field_type in SENDGRID_CUSTOM_FIELDS.items():
        response = requests.post(f"{url}/sendgrid/v3/marketing/field_definitions", timeout=10,
                                 json={"name": name, "field_type": field_type},
                                 headers={"Authorization": f"Bearer {token}"})
        response.raise_for_status()


def measure(path: str, provider: str, table: str, env: dict[str, str], url: str) -> dict[str, Any]:
    """One measurement in a fresh interpreter against a freshly reset sandbox; counts what the sink got."""
    requests.post(f"{url}/_sandbox/reset", timeout=10).raise_for_status()
    if provider == "sendgrid":
        add_sendgrid_fields(url, env)
    child = subprocess.run([sys.executable, __file__, "--child", path, provider, table], env=env,
                           capture_output=True, text=True)
    lines = [line for line in child.stdout.splitlines() if line.startswith("FIGURES ")]
    if child.returncode != 0 or not lines:
        raise RuntimeError(f"{path}/{provider} failed:\n{child.stdout[-3000:]}\n{child.stderr[-3000:]}")
    figures: dict[str, Any] = json.loads(lines[-1][len("FIGURES "):])
    if path != "floor":
        counted = requests.get(f"{url}/_sandbox/{'mailtrap' if path == 'hand' else provider}/sink",
                               timeout=10).json()
        figures["sink_contacts"] = counted["contacts"]
        figures["requests"] = counted["requests"]
    return figures


def summarised(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One path's repeated measurements as one row: median times, the highest peak, every run's counts."""
    figures = dict(runs[len(runs) // 2])
    figures["seconds"] = statistics.median(run["seconds"] for run in runs)
    figures["cpu"] = statistics.median(run["cpu"] for run in runs)
    figures["peak_mib"] = max(run["peak_mib"] for run in runs)
    figures["runs"] = len(runs)
    figures["seconds_each"] = [round(run["seconds"], 2) for run in runs]
    for count in ("sent", "read", "sink_contacts"):
        if count in figures:
            figures[count] = min(run[count] for run in runs)  # the check below fails if any run fell short
    return figures


def label(path: str, provider: str) -> str:
    return {"project": f"project: {provider}", "hand": "hand-written (Mailtrap JSON)",
            "floor": "floor: COPY | gzip -1"}[path]


def _ratio_to_hand(project: dict[str, Any], hand: dict[str, Any]) -> str:
    """Median time over the hand-written median, and each round's own ratio: the target is 0.10,
    and rounds differ by more than two decimals show."""
    ratio = f"{project['seconds'] / hand['seconds']:.3f}"
    rounds = list(zip(project.get("seconds_each", []), hand.get("seconds_each", []), strict=False))
    if len(rounds) < 2:
        return ratio
    return f"{ratio} ({', '.join(f'{ours / theirs:.3f}' for ours, theirs in rounds)})"


def results_table(results: list[dict[str, Any]]) -> list[str]:
    """The Markdown table of every path's figures, with ratios taken within this run."""
    by_key = {(r["rows"], r["path"], r["provider"]): r for r in results}
    lines = [
        "| N | path | runs | wall s | CPU s | contacts/s | peak RSS MiB | x hand-written | x floor | requests "
        "| check |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in results:
        hand = by_key.get((r["rows"], "hand", ""))
        floor = by_key.get((r["rows"], "floor", ""))
        ratio_hand = _ratio_to_hand(r, hand) if hand and r["path"] == "project" else ""
        ratio_floor = f"{r['seconds'] / floor['seconds']:.2f}" if floor and r["path"] != "floor" else ""
        expected = r["rows"]
        received = r.get("sink_contacts", expected)
        check = "ok" if received == expected == r["sent"] == r["read"] else f"sink got {received:,} of {expected:,}"
        name = label(r["path"], r["provider"]).replace("|", "\\|")  # a pipe would end the cell
        lines.append(
            f"| {r['rows']:,} | {name} | {r['runs']} | {r['seconds']:.2f} | {r['cpu']:.2f} | "
            f"{r['rows'] / r['seconds']:,.0f} | {r['peak_mib']:.0f} | {ratio_hand} | {ratio_floor} | "
            f"{r.get('requests', '')} | {check} |"
        )
    return lines


def write_report(results: list[dict[str, Any]], started: dt.datetime, seconds: float) -> None:
    """The Markdown table and the chart."""
    RESULTS.mkdir(exist_ok=True)
    lines = [
        "# Throughput: source to provider, 11-column contacts from PostgreSQL",
        "",
        f"Run {started:%Y-%m-%d %H:%M} UTC on {platform.node()} ({os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}), {seconds / 60:.1f} min; sandbox in sink mode in its own process, "
        "loopback. Generated by `.venv/bin/python benchmarks/throughput.py`.",
        "",
        *results_table(results),
        "",
        "runs: measurements of the path, taken round by round with the others; wall s and CPU s are their "
        "medians, peak RSS the highest, and the check needs every run to deliver every contact. "
        "CPU s: the measured process's own CPU time (user + system, all its threads; for the floor, psql's "
        "and gzip's), steadier than wall time on a busy machine; the sandbox's and PostgreSQL's are not "
        "counted. x hand-written and x floor: wall time divided by that path's, same N, same run (lower is "
        "better); in brackets, each round's own ratio. Targets at 1,000,000: JSON providers (Mailtrap, "
        "Notifuse, Migma) x hand-written <= 0.10; "
        "SendGrid x floor <= 3; peak RSS <= 300 MiB for every provider, and within 20% from 100,000 to "
        "5,000,000. Peak RSS includes the interpreter and its imports (Airflow, pandas, pyarrow: about "
        f"{min(r['baseline_mib'] for r in results if r['path'] == 'project'):.0f} MiB before reading); "
        "the floor's is the larger of psql and gzip.",
        "",
        "![throughput chart](throughput.png)",
        "",
    ]
    (RESULTS / "throughput.md").write_text("\n".join(lines))
    (RESULTS / "throughput.json").write_text(json.dumps(results, indent=1) + "\n")
    chart(results)


def chart(results: list[dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted({r["rows"] for r in results})
    labels = list(dict.fromkeys(label(r["path"], r["provider"]) for r in results))
    figure, (speed, memory) = plt.subplots(1, 2, figsize=(13, 5))
    width = 0.8 / len(labels)
    for i, name in enumerate(labels):
        rows = {r["rows"]: r for r in results if label(r["path"], r["provider"]) == name}
        xs = [j + i * width for j, size in enumerate(sizes) if size in rows]
        speed.bar(xs, [rows[s]["rows"] / rows[s]["seconds"] for s in sizes if s in rows], width, label=name)
        memory.bar(xs, [rows[s]["peak_mib"] for s in sizes if s in rows], width, label=name)
    for axis, title in ((speed, "contacts per second (log)"), (memory, "peak RSS, MiB (log)")):
        axis.set_xticks([j + 0.4 - width / 2 for j in range(len(sizes))], [f"{s:,}" for s in sizes])
        axis.set_xlabel("contacts")
        axis.set_title(title)
    speed.set_yscale("log")
    memory.set_yscale("log")
    memory.axhline(300, color="red", linestyle="--", linewidth=1, label="300 MiB target")
    memory.legend(fontsize=8, loc="upper left")
    figure.tight_layout()
    figure.savefig(RESULTS / "throughput.png", dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--large", action="store_true", help="also measure 5,000,000 contacts")
    parser.add_argument("--providers", nargs="+", choices=list(PROVIDERS), default=list(PROVIDERS))
    parser.add_argument("--repeat", type=int, default=5,
                        help="measurements of each path at N <= 1,000,000; the median time is reported")
    parser.add_argument("--job-delay", type=float, default=0.01, help="the sandbox's async job delay, s")
    parser.add_argument("--no-report", action="store_true", help="print only; keep benchmarks/results as is")
    parser.add_argument("--child", nargs=3, metavar=("PATH", "PROVIDER", "TABLE"), help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        child_main(*arguments.child)
        return

    started, clock = dt.datetime.now(dt.timezone.utc), time.perf_counter()
    sizes = sorted(set(arguments.rows) | ({5_000_000} if arguments.large else set()))
    home = tempfile.mkdtemp(prefix="airflow-home-")
    base_env = {**os.environ, "AIRFLOW_HOME": home, f"AIRFLOW_CONN_{WAREHOUSE_ID.upper()}": WAREHOUSE,
                "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1"}
    tables = {rows: f"contacts_benchmark_{rows}" for rows in sizes}
    results: list[dict[str, Any]] = []
    try:
        for rows, table in tables.items():
            print(f"filling {table} ...", flush=True)
            psql(f"DROP TABLE IF EXISTS {table}; CREATE TABLE {table} ({COLUMNS}); "
                 f"{FILL.format(table=table, rows=rows)}; ANALYZE {table}")
        with sink_sandbox(arguments.job_delay) as (url, sandbox_env, _):
            env = {**base_env, **sandbox_env}
            plan = [("floor", ""), ("hand", ""), *(("project", p) for p in arguments.providers)]
            print(f"{'N':>10}  {'path':<30} {'wall s':>8} {'CPU s':>7} {'contacts/s':>11} {'peak MiB':>9}",
                  flush=True)
            for rows, table in tables.items():
                rounds = arguments.repeat if rows <= REPEATED_UP_TO else 1
                runs: dict[tuple[str, str], list[dict[str, Any]]] = {step: [] for step in plan}
                for _ in range(rounds):  # round by round, so the machine's drift touches every path alike
                    for path, provider in plan:
                        figures = measure(path, provider, table, env, url)
                        runs[(path, provider)].append(figures)
                        print(f"{rows:>10,}  {label(path, provider):<30} {figures['seconds']:>8.2f} "
                              f"{figures['cpu']:>7.2f} {rows / figures['seconds']:>11,.0f} "
                              f"{figures['peak_mib']:>9.0f}", flush=True)
                results += [{"path": path, "provider": provider, **summarised(measured), "rows": rows}
                            for (path, provider), measured in runs.items()]
    finally:
        psql("; ".join(f"DROP TABLE IF EXISTS {table}" for table in tables.values()))
    print("\n" + "\n".join(results_table(results)), flush=True)
    if not arguments.no_report:
        write_report(results, started, time.perf_counter() - clock)
        print(f"wrote {RESULTS / 'throughput.md'} and {RESULTS / 'throughput.png'}")


if __name__ == "__main__":
    main()
