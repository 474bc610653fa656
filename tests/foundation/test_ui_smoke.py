"""UI smoke test: `dagster dev` serves the code location and headless Chromium renders it.

Screenshots go to ``artifacts/ui-smoke/`` (kept by CI). Without Chromium the test skips,
unless ``CTSCAN_REQUIRE_BROWSER=1`` (set by .ci/run), where a missing browser is a failure.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from ctscan_ops.sandbox.processes import free_port, http_ok, stop_group

REPO = Path(__file__).resolve().parents[2]
SHOTS = REPO / "artifacts" / "ui-smoke"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--window-size=1600,1000",
]


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path:
        return path
    if os.environ.get("CTSCAN_REQUIRE_BROWSER") == "1":
        pytest.fail("chromium is required (CTSCAN_REQUIRE_BROWSER=1) but not installed")
    pytest.skip("chromium not installed (apt-get install chromium)")


def _render(chromium: str, url: str, profile: Path, screenshot: Path | None = None) -> str:
    args = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=20000"]
    if screenshot is not None:
        args.append(f"--screenshot={screenshot}")
    else:
        args.append("--dump-dom")
    out = subprocess.run([*args, url], capture_output=True, text=True, timeout=120)
    return out.stdout


@pytest.fixture(scope="module")
def dagster_ui(tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("dagster_home")
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    port = free_port()
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    log = open(home / "dev.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dagster",
            "dev",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-w",
            str(REPO / "workspace.yaml"),
        ],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not http_ok(f"{base}/server_info"):
        assert proc.poll() is None, (home / "dev.log").read_text()[-3000:]
        time.sleep(0.5)
    assert http_ok(f"{base}/server_info"), (home / "dev.log").read_text()[-3000:]
    yield base
    os.killpg(proc.pid, signal.SIGINT)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=20)
    stop_group(proc.pid, timeout_s=5)
    log.close()


def _asset_paths() -> list[str]:
    from ctscan_ops.definitions import defs

    return sorted("/".join(k.path) for k in defs.resolve_asset_graph().get_all_asset_keys())


def test_asset_graph_and_asset_page_render(dagster_ui: str, tmp_path: Path):
    chromium = _chromium()
    paths = _asset_paths()
    names = [p.rsplit("/", 1)[-1] for p in paths]
    if not names:
        pytest.skip("no assets defined yet")
    SHOTS.mkdir(parents=True, exist_ok=True)
    # the webserver answers GraphQL with our assets
    query = b'{"query": "{ assetNodes { assetKey { path } } }"}'
    req = urllib.request.Request(
        f"{dagster_ui}/graphql", data=query, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        body = resp.read().decode()
    for name in names:
        assert name in body
    dom = _render(chromium, f"{dagster_ui}/assets", tmp_path / "p1")
    rendered = [n for n in names if n in dom]
    assert len(rendered) >= min(5, len(names)), f"asset names not rendered: {dom[:500]}"
    _render(chromium, f"{dagster_ui}/assets", tmp_path / "p2", SHOTS / "assets.png")
    graph_url = f"{dagster_ui}/asset-groups"
    _render(chromium, graph_url, tmp_path / "p3", SHOTS / "asset-graph.png")
    first, first_name = paths[0], names[0]
    page = _render(chromium, f"{dagster_ui}/assets/{first}", tmp_path / "p4")
    assert first_name in page
    shot = SHOTS / f"asset-{first_name}.png"
    _render(chromium, f"{dagster_ui}/assets/{first}", tmp_path / "p5", shot)
    for png in (SHOTS / "assets.png", SHOTS / "asset-graph.png", shot):
        assert png.stat().st_size > 10_000
