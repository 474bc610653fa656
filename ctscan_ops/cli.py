"""``ctscan-ops``: the operator's command line.

The sandbox adds its commands from ``ctscan_ops/sandbox/cli.py`` (imported lazily, the one
import of the sandbox outside it); each domain adds its own command group from
``ctscan_ops/<domain>/cli.py`` (``register(subparsers)``), imported only if the domain exists.
Every handler returns an exit code: 0 success, 1 failure, 2 bad input; it prints its one JSON
document with :func:`cli_contract.emit_json` and human text on stderr. ``main`` runs it under
:func:`cli_contract.run`, which turns known errors into exit 2 with one sentence.
"""

from __future__ import annotations

import argparse
import os
import sys

from ctscan_ops import cli_contract as cc
from ctscan_ops.domains import domain_module

DOMAIN_CLIS: tuple[str, ...] = ("alerting", "infra", "registry", "feedback", "drift")


def build_parser() -> argparse.ArgumentParser:
    parser = cc.ContractParser(prog="ctscan-ops", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    # the entry point is the one module outside the sandbox that may import it (.importlinter)
    from ctscan_ops.sandbox.cli import register as register_sandbox

    register_sandbox(sub)

    for domain in DOMAIN_CLIS:
        module = domain_module(domain, "cli")
        if module is not None:
            module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command under the bad-input contract (see :mod:`ctscan_ops.cli_contract`)."""
    os.environ.setdefault("TF_CLI_CONFIG_FILE", "/dev/null")
    return cc.run(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
