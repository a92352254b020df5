"""`python -m gestalt.sim.kubesim`: run an emulated cluster until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import time

from gestalt.sim.kubesim.rbac import Rbac
from gestalt.sim.kubesim.resources import STORED
from gestalt.sim.kubesim.runner import KubeSim


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m gestalt.sim.kubesim",
        description="A Kubernetes API server emulator (kubesim) with a simulated cluster.")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    parser.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    parser.add_argument("--scenario", choices=["empty", "static", "lively"], default="lively",
                        help="empty: namespaces only; static: a built cluster; lively: a "
                             "built cluster that keeps changing (default)")
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--namespaces", type=int, default=3)
    parser.add_argument("--pods", type=int, default=60, help="pods in the cluster")
    parser.add_argument("--replicas", type=int, default=3, help="pods per deployment")
    parser.add_argument("--interval", type=float, default=1.0,
                        help="lively: mean seconds between changes")
    parser.add_argument("--churn", type=float, default=0.0,
                        help="also update this many pods per second (stamped, for benchmarks)")
    parser.add_argument("--kubeconfig-out", metavar="PATH",
                        help="write the kubeconfig here (default: a temporary file)")
    parser.add_argument("--token", help="bearer token (default: random)")
    parser.add_argument("--no-tls", action="store_true",
                        help="plain HTTP without authentication")
    parser.add_argument("--rbac", metavar="FILE",
                        help='deny rules, YAML: {deny: [{resource: secrets, verbs: [list]}]}')
    parser.add_argument("--bookmark-interval", type=float, default=5.0)
    parser.add_argument("--history", type=int, default=20_000,
                        help="watch history window (changes kept for resuming watches)")
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    from gestalt.sim.scenarios import ClusterLife, build_cluster, churn

    sim = KubeSim(host=args.host, port=args.port, token=args.token, tls=not args.no_tls,
                  history=args.history, bookmark_interval=args.bookmark_interval,
                  rbac=Rbac.from_file(args.rbac) if args.rbac else None,
                  kubeconfig_path=args.kubeconfig_out)
    tasks: list[asyncio.Task[object]] = []
    started = time.perf_counter()
    cluster = None
    if args.scenario != "empty":
        cluster = build_cluster(sim, nodes=args.nodes, namespaces=args.namespaces,
                                pods=args.pods, replicas=args.replicas)
    built = time.perf_counter() - started
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await sim.start()
    print(f"kubesim listening on {sim.url}", flush=True)
    print(f"kubeconfig: {sim.kubeconfig}", flush=True)
    pods = sim.store.count(STORED[("", "pods")])
    print(f"cluster: {pods} pods, built in {built:.2f}s", flush=True)
    if args.scenario == "lively" and cluster is not None:
        tasks.append(asyncio.create_task(ClusterLife(sim, cluster).run(args.interval)))
    if args.churn > 0:
        tasks.append(asyncio.create_task(churn(sim, args.churn)))
    try:
        await stop.wait()
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await sim.stop()


def main(argv: list[str] | None = None) -> int:
    asyncio.run(serve(parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
