"""A tiny Chrome DevTools Protocol client over ``--remote-debugging-pipe`` (no dependency).

Chromium reads CDP commands from fd 3 and writes replies/events to fd 4, each message a JSON
document ending in a NUL byte. Enough of the protocol to act like a person looking at a page:
open a URL, wait until something is visible, read the DOM, take a screenshot.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--remote-debugging-pipe",
]


class CDPError(RuntimeError):
    pass


class Browser:
    """One headless Chromium with one page; ``close()`` ends the process it started."""

    def __init__(self, chromium: str, profile: Path, width: int = 1600, height: int = 1200):
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()

        def wire() -> None:  # in the child: CDP in on fd 3, out on fd 4
            r, w = os.dup(to_child_r), os.dup(from_child_w)  # above 4: no clobbering
            os.dup2(r, 3, inheritable=True)
            os.dup2(w, 4, inheritable=True)

        self.proc = subprocess.Popen(
            [chromium, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            pass_fds=(3, 4),  # kept open past preexec_fn (close_fds runs after it)
            preexec_fn=wire,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        os.close(to_child_r)
        os.close(from_child_w)
        self._buf = b""
        self._id = 0
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)[
            "sessionId"
        ]
        self.call("Page.enable", session=True)
        self.call("Runtime.enable", session=True)
        self.resize(width, height)

    def _read_message(self, timeout_s: float) -> dict[str, Any]:
        import select

        deadline = time.monotonic() + timeout_s
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self._from_child], [], [], max(left, 0))
            if not ready:
                raise CDPError(f"no message from chromium within {timeout_s}s")
            chunk = os.read(self._from_child, 1 << 20)
            if not chunk:
                raise CDPError(f"chromium closed the pipe (exit {self.proc.poll()})")
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def call(
        self, method: str, session: bool = False, timeout_s: float = 60, **params: Any
    ) -> dict[str, Any]:
        self._id += 1
        msg: dict[str, Any] = {"id": self._id, "method": method, "params": params}
        if session:
            msg["sessionId"] = self.session
        os.write(self._to_child, json.dumps(msg).encode() + b"\0")
        while True:
            reply = self._read_message(timeout_s)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise CDPError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def resize(self, width: int, height: int) -> None:
        self.call(
            "Emulation.setDeviceMetricsOverride",
            session=True,
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )

    def open(self, url: str) -> None:
        self.call("Page.navigate", session=True, url=url)

    def js(self, expression: str) -> Any:
        """Evaluate ``expression`` in the page (awaiting promises) and return its JSON value."""
        res = self.call(
            "Runtime.evaluate",
            session=True,
            expression=expression,
            returnByValue=True,
            awaitPromise=True,
        )
        if "exceptionDetails" in res:
            raise CDPError(f"{expression[:80]}...: {res['exceptionDetails']}")
        return res.get("result", {}).get("value")

    def wait_for(self, expression: str, timeout_s: float = 60, what: str = "") -> Any:
        """Poll ``expression`` until truthy; on timeout fail naming ``what`` and the page text."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                value = self.js(expression)
            except CDPError:  # e.g. document.body is null while the page loads
                value = None
            if value:
                return value
            if time.monotonic() > deadline:
                text = self.js("document.body ? document.body.innerText.slice(0, 1500) : ''")
                raise AssertionError(
                    f"not visible after {timeout_s}s: {what or expression}\n{text}"
                )
            time.sleep(0.5)

    def screenshot(self, path: Path) -> None:
        data = self.call("Page.captureScreenshot", session=True, format="png")["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        with contextlib.suppress(CDPError, OSError):
            self.call("Browser.close", timeout_s=10)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, 9)
            self.proc.wait(timeout=10)
        os.close(self._to_child)
        os.close(self._from_child)
