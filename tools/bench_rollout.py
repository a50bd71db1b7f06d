"""What site.yml costs on a converged cluster: first converge, no-op re-run and check mode, per role.

Run with `make bench-rollout` (not part of `make test`). It starts sandboxes of its own in a temporary
directory (never the one `make cluster-up` started), then, from one run:

- one cluster (inventories/local, as `make demo` runs it): the first converge, then no-op re-runs and
  check-mode runs (`--check --diff`) of site.yml, alternating (three of each by default, `--repeat`),
  each kept as its median run, so a slow spell of the shared machine does not decide a ratio;
- a fleet of two sandbox clusters in one inventory (the shape of inventories/prod): the first converge
  and no-op re-runs (their median), both clusters in the same site.yml run.

Each run's wall-clock time and the time per role (from the JSON callback's task durations) are
printed, then the ratios: the no-op and check-mode runs against the first converge, and the fleet's
no-op against one cluster's. Timing here is a measurement, never a pass/fail test; the goals it
prints against, and the last measurement, are in docs/development.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from support.playbook_runs import ansible_env, sandbox_fleet_inventory  # noqa: E402

from tools.sandbox import Sandbox  # noqa: E402

TARGETS = {"no-op / first": 0.4, "check / no-op": 1.0, "fleet no-op / one no-op": 2.0}


def _seconds(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def per_role(report: dict) -> dict:
    """Seconds per role (or per playbook for tasks outside roles), from the JSON callback's report."""
    totals: dict = defaultdict(float)
    for play in report.get("plays", []):
        for task in play.get("tasks", []):
            info = task.get("task", {})
            duration = info.get("duration") or {}
            if not duration.get("start") or not duration.get("end"):
                continue
            path = info.get("path", "")
            if "/roles/" in path:
                owner = path.split("/roles/", 1)[1].split("/", 1)[0]
            else:
                owner = "(playbook) " + Path(path.split(":", 1)[0]).name
            totals[owner] += _seconds(duration["end"]) - _seconds(duration["start"])
    return dict(totals)


def run_site(inventory: Path, env: dict, *args: str) -> dict:
    started = time.monotonic()
    result = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory), "site.yml", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        sys.stderr.write(result.stdout[-4000:] + result.stderr[-2000:])
        raise SystemExit(f"bench-rollout: site.yml {' '.join(args)} failed (exit {result.returncode})")
    report = json.loads(result.stdout)
    changed = {host: stats.get("changed", 0) for host, stats in report.get("stats", {}).items()}
    return {"seconds": elapsed, "roles": per_role(report), "changed": changed}


def median(runs: list) -> dict:
    """The run with the median wall-clock time (the lower middle one of an even count)."""
    return sorted(runs, key=lambda run: run["seconds"])[(len(runs) - 1) // 2]


def spread(title: str, repeats: dict) -> None:
    for name, runs in repeats.items():
        times = ", ".join(f"{run['seconds']:.1f}s" for run in runs)
        print(f"  {title} {name} runs, in order: {times}")


def show(title: str, runs: dict) -> None:
    print(f"\n{title}")
    roles = sorted({role for run in runs.values() for role in run["roles"]})
    names = list(runs)
    print(f"  {'':32}" + "".join(f"{name:>14}" for name in names))
    for role in roles:
        print(f"  {role:32}" + "".join(f"{runs[name]['roles'].get(role, 0.0):>13.1f}s" for name in names))
    print(f"  {'wall clock':32}" + "".join(f"{runs[name]['seconds']:>13.1f}s" for name in names))
    print(f"  {'changed':32}" + "".join(f"{sum(runs[name]['changed'].values()):>14}" for name in names))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-fleet", action="store_true", help="measure one cluster only")
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="no-op and check-mode runs each (alternating; the median counts)",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="oneport-bench-rollout-") as tmp:
        work = Path(tmp)
        boxes = [Sandbox(work / "a")] + ([] if args.no_fleet else [Sandbox(work / "b")])
        try:
            for box in boxes:
                box.up(log=lambda msg: None)
            one = boxes[0]
            env = ansible_env(
                work,
                json_report=True,
                ONEPORT_SANDBOX_DIR=str(one.root),
                KUBECONFIG=str(one.kubeconfig),
                K8S_AUTH_KUBECONFIG=str(one.kubeconfig),
                PACH_CONFIG=str(work / "pachctl-one.json"),
            )
            local = ROOT / "inventories" / "local"
            single = {"first": run_site(local, env)}
            # The no-op and the check-mode runs alternate, so a slow spell of the machine falls on both;
            # each keeps its median run.
            repeats = {"no-op": [], "check": []}
            for _round in range(args.repeat):
                repeats["no-op"].append(run_site(local, env))
                repeats["check"].append(run_site(local, env, "--check", "--diff"))
            single.update({name: median(runs) for name, runs in repeats.items()})
            show("one cluster (inventories/local)", single)
            spread("one cluster", repeats)
            ratios = {
                "no-op / first": single["no-op"]["seconds"] / single["first"]["seconds"],
                "check / no-op": single["check"]["seconds"] / single["no-op"]["seconds"],
            }
            if not args.no_fleet:
                # The fleet: the first sandbox again under another release, and the second sandbox.
                inventory = sandbox_fleet_inventory(
                    work / "fleet",
                    {
                        "sandbox-a": (boxes[0], {"oneport_proxy_host": "pachyderm-a.localhost"}),
                        "sandbox-b": (boxes[1], {"oneport_proxy_host": "pachyderm-b.localhost"}),
                    },
                    {
                        "oneport_namespace": "pachyderm-fleet",
                        "pachyderm_release_name": "pachyderm-fleet",
                        "metallb_address_pools": [
                            {"name": "sandbox-pool", "addresses": ["127.0.0.240-127.0.0.250"]}
                        ],
                    },
                )
                fleet_env = dict(env, PACH_CONFIG=str(work / "pachctl-fleet.json"))
                fleet = {"first": run_site(inventory, fleet_env)}
                fleet_repeats = {"no-op": [run_site(inventory, fleet_env) for _round in range(args.repeat)]}
                fleet["no-op"] = median(fleet_repeats["no-op"])
                show("a fleet of two clusters, one site.yml run", fleet)
                spread("the fleet", fleet_repeats)
                ratios["fleet no-op / one no-op"] = fleet["no-op"]["seconds"] / single["no-op"]["seconds"]
            print("\nratios (one run; target in brackets)")
            for name, value in ratios.items():
                print(f"  {name:28} {value:5.2f}  (at most {TARGETS[name]:.1f})")
        finally:
            for box in boxes:
                box.down(log=lambda msg: None)
                box.wipe_data()
    return 0


if __name__ == "__main__":
    os.environ.setdefault("ANSIBLE_NOCOLOR", "1")
    raise SystemExit(main())
