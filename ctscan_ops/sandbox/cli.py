"""``ctscan-ops sandbox ...`` and ``ctscan-ops demo``: the sandbox's commands.

Registered by the entry point (:mod:`ctscan_ops.cli`), which imports this module lazily: it is
the one place outside the sandbox allowed to import it (see ``.importlinter``). Every handler
returns an exit code (0 success, 1 failure, 2 bad input) and prints one JSON document on stdout
(human text on stderr), under the contract of :mod:`ctscan_ops.cli_contract`.
"""

from __future__ import annotations

import argparse
import shlex

from ctscan_ops import cli_contract as cc
from ctscan_ops.cli_contract import emit_json, info, print_raw

MAX_WORLD_DAYS = 3_660  # ten years of daily partitions is already far beyond a sandbox


def _cmd_up(args: argparse.Namespace) -> int:
    from ctscan_ops.sandbox import services
    from ctscan_ops.sandbox.processes import ServiceStartError

    names = args.services or list(services.SERVICE_ORDER)
    try:
        state = services.up(services=names, log=info)
    except ServiceStartError as exc:
        info(f"ctscan-ops sandbox up: failed: {exc}")
        return 1
    info('# point your shell at the sandbox: eval "$(ctscan-ops sandbox env --format shell)"')
    emit_json({"services": state.get("services", {}), "env": services.sandbox_env(state)})
    return 0


def _cmd_down(args: argparse.Namespace) -> int:
    from ctscan_ops.sandbox import services

    leftovers = services.down(log=info)
    emit_json({"down": not leftovers, "still_running": leftovers})
    if leftovers:
        info(f"still running after down: {', '.join(leftovers)}")
        return 1
    info("sandbox is down")
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    from ctscan_ops.sandbox import services

    report = services.status()
    for name, item in report.items():
        state = "healthy" if item["healthy"] else ("running" if item["running"] else "down")
        info(f"{name:<11} {state:<8} {item.get('endpoint', '')}")
    emit_json(report)
    return 0 if all(i["healthy"] for i in report.values()) else 1


def _cmd_env(args: argparse.Namespace) -> int:
    from ctscan_ops.config import get_settings
    from ctscan_ops.sandbox import services

    env = services.sandbox_env(services.read_state(get_settings().sandbox_dir))
    if args.format == "shell":
        # for eval "$(ctscan-ops sandbox env --format shell)": lines, not JSON (asked for)
        text = "".join(f"export {key}={shlex.quote(value)}\n" for key, value in env.items())
        print_raw(text)
    else:
        emit_json(env)
    return 0


def _cmd_world(args: argparse.Namespace) -> int:
    from ctscan_ops.config import get_settings
    from ctscan_ops.sandbox.world import generate_world

    settings = get_settings()
    # the world's parts upload to GCS: check it answers before the first file is written
    cc.require_service("GCS", settings.endpoints.gcs_url, settings)
    manifest = generate_world(settings, seed=args.seed, end=args.end, days=args.days, progress=info)
    emit_json({k: v for k, v in manifest.items() if k != "parts"})
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from ctscan_ops.sandbox.demo import run_demo

    result = run_demo(seed=args.seed, days=args.days, keep_running=not args.down_after)
    emit_json(result)
    return 0 if result["ok"] else 1


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``sandbox`` command group and ``demo`` to the ``ctscan-ops`` parser."""
    sandbox = sub.add_parser("sandbox", help="local emulators and the generated world")
    sandbox_sub = sandbox.add_subparsers(dest="sandbox_command", required=True)
    p = sandbox_sub.add_parser("up", help="start GCS, Firestore and Monitoring stand-ins")
    p.add_argument(
        "--services",
        type=cc.choice_list(("gcs", "monitoring", "firestore")),
        help="comma-separated subset (gcs,monitoring,firestore)",
    )
    p.set_defaults(func=_cmd_up)
    sandbox_sub.add_parser("down", help="stop every sandbox server").set_defaults(func=_cmd_down)
    p = sandbox_sub.add_parser("status", help="which servers run and answer")
    p.add_argument("--json", action="store_true", help="(default; kept for compatibility)")
    p.set_defaults(func=_cmd_status)
    p = sandbox_sub.add_parser("env", help="the environment that points clients at the sandbox")
    p.add_argument(
        "--format", choices=("json", "shell"), default="json", help="shell: export lines for eval"
    )
    p.set_defaults(func=_cmd_env)
    p = sandbox_sub.add_parser("world", help="(re)generate the sandbox world")
    p.add_argument("--seed", type=cc.bounded_int(0, 2**32 - 1), default=7)
    p.add_argument("--days", type=cc.bounded_int(1, MAX_WORLD_DAYS), default=35)
    p.add_argument("--end", type=cc.iso_date(), help="world end (ISO date, UTC); default today")
    p.set_defaults(func=_cmd_world)

    p = sub.add_parser("demo", help="sandbox up + world + materialize every asset")
    p.add_argument("--seed", type=cc.bounded_int(0, 2**32 - 1), default=7)
    p.add_argument("--days", type=cc.bounded_int(1, MAX_WORLD_DAYS), default=35)
    p.add_argument("--down-after", action="store_true", help="stop the sandbox at the end")
    p.set_defaults(func=_cmd_demo)
