"""`python -m tools.sandbox up|down|status|kubeconfig`: the sandbox cluster's command line."""

from __future__ import annotations

import argparse
import sys

from . import chart_repo
from .cluster import Sandbox, SandboxError


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.sandbox", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "status", "kubeconfig", "charts"])
    parser.add_argument(
        "--wipe-data",
        action="store_true",
        help="with down: also delete the cluster's etcd data (the CA, keys and ports stay)",
    )
    args = parser.parse_args(argv)
    sandbox = Sandbox()
    try:
        if args.command == "up":
            sandbox.up()
            print(f"export KUBECONFIG={sandbox.kubeconfig}")
        elif args.command == "down":
            sandbox.down()
            if args.wipe_data:
                sandbox.wipe_data()
                print(f"sandbox stopped; cluster data deleted ({sandbox.root / 'data'})")
            else:
                print("sandbox stopped")
        elif args.command == "charts":
            source = chart_repo.charts_source()
            print(f"chart repository content: {source}")
            for chart in chart_repo.pinned_charts():
                print(f"  {chart['name']} {chart['version']} (publisher: {chart['publisher']})")
        elif args.command == "kubeconfig":
            print(sandbox.kubeconfig)
        else:
            statuses = sandbox.status()
            width = max(len(s.name) for s in statuses)
            for s in statuses:
                state = "running" if s.running else "DOWN"
                pid = f"pid {s.pid}" if s.pid else ""
                print(f"{s.name:<{width}}  {state:<7} {pid:<11} {s.detail}")
            return 0 if all(s.running for s in statuses) else 3
    except (SandboxError, chart_repo.ChartSourceError) as err:
        print(f"sandbox: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
