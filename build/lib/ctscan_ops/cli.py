"""``ctscan-ops``: the operator's command line.

The sandbox commands live here; each domain adds its own command group from
``ctscan_ops/<domain>/cli.py`` (``register(subparsers)``), imported only if the domain exists.
Every handler returns an exit code: 0 success, 1 failure, 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime

from ctscan_ops.domains import domain_module

DOMAIN_CLIS: tuple[str, ...] = ("alerting", "infra", "registry", "feedback", "drift")


def _cmd_up(args: argparse.Namespace) -> int:
    from ctscan_ops.sandbox import services
    from ctscan_ops.sandbox.processes import ServiceStartError

    names = args.services.split(",") if args.services else list(services.SERVICE_ORDER)
    try:
        state = services.up(services=names)
    except ServiceStartError as exc:
        print(f"sandbox up failed: {exc}", file=sys.stderr)
        return 1
    print("\n# point your shell at the sandbox:")
    for key, value in services.sandbox_env(state).items():
        print(f"export {key}={value}")
    return 0


def _cmd_down(args: argparse.Namespace) -> int:
    from ctscan_ops.sandbox import services

    leftovers = services.down()
    if leftovers:
        print(f"still running after down: {', '.join(leftovers)}", file=sys.stderr)
        return 1
    print("sandbox is down")
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    from ctscan_ops.sandbox import services

    report = services.status()
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for name, info in report.items():
            state = "healthy" if info["healthy"] else ("running" if info["running"] else "down")
            print(f"{name:<11} {state:<8} {info.get('endpoint', '')}")
    return 0 if all(i["healthy"] for i in report.values()) else 1


def _cmd_env(args: argparse.Namespace) -> int:
    from ctscan_ops.config import get_settings
    from ctscan_ops.sandbox import services

    state = services.read_state(get_settings().sandbox_dir)
    for key, value in services.sandbox_env(state).items():
        print(f"export {key}={value}")
    return 0


def _cmd_world(args: argparse.Namespace) -> int:
    from ctscan_ops.config import get_settings
    from ctscan_ops.sandbox.world import generate_world

    end = datetime.fromisoformat(args.end) if args.end else None
    manifest = generate_world(get_settings(), seed=args.seed, end=end, days=args.days)
    print(json.dumps({k: v for k, v in manifest.items() if k != "parts"}, indent=2))
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from ctscan_ops.sandbox.demo import run_demo

    return run_demo(seed=args.seed, days=args.days, keep_running=not args.down_after)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ctscan-ops", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    sandbox = sub.add_parser("sandbox", help="local emulators and the generated world")
    sandbox_sub = sandbox.add_subparsers(dest="sandbox_command", required=True)
    p = sandbox_sub.add_parser("up", help="start GCS, Firestore and Monitoring stand-ins")
    p.add_argument("--services", help="comma-separated subset (gcs,monitoring,firestore)")
    p.set_defaults(func=_cmd_up)
    sandbox_sub.add_parser("down", help="stop every sandbox server").set_defaults(func=_cmd_down)
    p = sandbox_sub.add_parser("status", help="which servers run and answer")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_status)
    sandbox_sub.add_parser("env", help="print export lines").set_defaults(func=_cmd_env)
    p = sandbox_sub.add_parser("world", help="(re)generate the sandbox world")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--days", type=int, default=35)
    p.add_argument("--end", help="world end (ISO date, UTC); default today 00:00")
    p.set_defaults(func=_cmd_world)

    p = sub.add_parser("demo", help="sandbox up + world + materialize every asset")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--days", type=int, default=35)
    p.add_argument("--down-after", action="store_true", help="stop the sandbox at the end")
    p.set_defaults(func=_cmd_demo)

    for domain in DOMAIN_CLIS:
        module = domain_module(domain, "cli")
        if module is not None:
            module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CLI_CONFIG_FILE", "/dev/null")
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
