"""``python -m airflow_contacts_provider.sandbox``: serve the emulators and print the connections."""

from __future__ import annotations

import argparse
import contextlib
import signal
import threading

from airflow_contacts_provider.sandbox.server import Sandbox


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--job-delay", type=float, default=1.0, help="seconds an async import job takes")
    parser.add_argument("--sink", action="store_true", help="accept and count contacts, store nothing")
    args = parser.parse_args()

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with Sandbox(args.host, args.port, job_delay=args.job_delay, sink=args.sink) as sandbox:
        print(f"Contacts sandbox serving on {sandbox.url} (admin API: {sandbox.url}/_sandbox/docs)")
        print("Airflow connections (export these to point your DAGs at the sandbox):")
        for name, value in sandbox.connection_env().items():
            print(f"export {name}='{value}'")
        print("Sandbox tokens are not secrets; they exist only here.", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()


if __name__ == "__main__":
    main()
