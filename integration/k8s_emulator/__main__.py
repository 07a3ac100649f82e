"""Run the Kubernetes API emulator standalone.

    python -m integration.k8s_emulator --port 0 --kubeconfig /tmp/kubeconfig

Prints the URL (and the kubeconfig path) on stdout, then serves until SIGINT/SIGTERM, when it
removes every container it started.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading

from .server import EMULATOR_LABEL, K8sEmulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m integration.k8s_emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (loopback)")
    parser.add_argument("--port", type=int, default=0, help="TCP port, 0 for a free one")
    parser.add_argument("--kubeconfig", help="write a kubeconfig pointing at the emulator here")
    parser.add_argument(
        "--namespace", default="default", help="namespace of the kubeconfig context"
    )
    parser.add_argument("--poll-interval", type=float, default=0.25)
    parser.add_argument("--max-grace-seconds", type=float, default=3)
    parser.add_argument("--server-id", help=f"value of the {EMULATOR_LABEL} container label")
    parser.add_argument(
        "--fail-job-deletes",
        action="store_true",
        help="fault injection: answer every DELETE of an existing Job with HTTP 500",
    )
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO)

    emulator = K8sEmulator(
        args.host,
        args.port,
        poll_interval=args.poll_interval,
        max_grace_seconds=args.max_grace_seconds,
        server_id=args.server_id,
        fail_job_deletes=args.fail_job_deletes,
    ).start()
    done = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: done.set())
    try:
        print(emulator.url, flush=True)
        if args.kubeconfig:
            path = emulator.write_kubeconfig(args.kubeconfig, namespace=args.namespace)
            print(f"kubeconfig: {path}", flush=True)
        print(f"containers are labelled {EMULATOR_LABEL}={emulator.server_id}", flush=True)
        done.wait()
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
