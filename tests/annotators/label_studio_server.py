"""A real Label Studio server for the tests, in its own virtual environment, bound to 127.0.0.1.

Label Studio's pins (numpy below 2.3 among them) would clash with
energizer's, so it lives in ``.venv-label-studio/`` at the repository root,
created on first use. A fresh data folder costs a first start of about a
minute (database migrations), so the first session keeps a migrated copy
in that folder, and later sessions start from a copy of it in seconds.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]
VENV = REPOSITORY / ".venv-label-studio"
REQUIREMENT = "label-studio>=1.23,<1.24"
SKIP_VARIABLE = "ENERGIZER_SKIP_LABEL_STUDIO"

USERNAME = "tester@example.com"
PASSWORD = "energizer-test-password"
# A legacy token: Label Studio accepts it only with --enable-legacy-api-token.
TOKEN = "0123456789abcdef0123456789abcdef01234567"

# Switch off Label Studio's calls home: error reports, the version check and analytics.
QUIET_ENVIRONMENT = {
    "SENTRY_DSN": "",
    "FRONTEND_SENTRY_DSN": "",
    "LATEST_VERSION_CHECK": "false",
    "COLLECT_ANALYTICS": "false",
}

# Seconds: a first start on a fresh data folder took about 55 s on 2 shared
# CPU cores, a start from a migrated copy about 6 s.
FIRST_START_TIMEOUT = 300
INSTALL_TIMEOUT = 900


def skip_requested() -> bool:
    """Return whether ENERGIZER_SKIP_LABEL_STUDIO switches the Label Studio tests off."""
    return os.environ.get(SKIP_VARIABLE, "").strip().lower() in ("1", "true", "yes")


def ensure_label_studio() -> Path:
    """Return the ``label-studio`` executable, installing it into :data:`VENV` first when missing.

    Raises:
        RuntimeError: The installation failed; the message ends with pip's output.
    """
    executable = VENV / "bin" / "label-studio"
    marker = VENV / ".installed"
    if marker.exists():
        return executable
    VENV.mkdir(exist_ok=True)
    with _locked(VENV / ".lock"):
        if marker.exists():
            return executable
        started = time.monotonic()
        _run([sys.executable, "-m", "venv", str(VENV)], "creating the virtual environment")
        _run(
            [
                str(VENV / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                REQUIREMENT,
            ],
            f"pip install {REQUIREMENT!r}",
        )
        marker.write_text(f"{REQUIREMENT} installed in {time.monotonic() - started:.0f} s\n")
    return executable


def prepare_data_folder(executable: Path, folder: Path) -> None:
    """Fill ``folder`` with a copy of a migrated data folder, making that copy on first use."""
    key = hashlib.sha256(f"{USERNAME}:{PASSWORD}:{TOKEN}".encode()).hexdigest()[:12]
    template = VENV / f"test-data-{key}"
    if not template.exists():
        with _locked(VENV / ".lock"):
            if not template.exists():
                fresh = VENV / f"test-data-{key}.{os.getpid()}.partial"
                shutil.rmtree(fresh, ignore_errors=True)
                server = LabelStudioServer(executable, fresh, fresh.with_suffix(".log"))
                server.start(timeout=FIRST_START_TIMEOUT)
                server.stop()
                fresh.rename(template)
    shutil.copytree(template, folder, dirs_exist_ok=True)


class LabelStudioServer:
    """One Label Studio process on 127.0.0.1, stopped and started again on the same port and data.

    Args:
        executable: The ``label-studio`` program.
        data_folder: Its data folder (``--data-dir``).
        log_path: Where its output goes.
    """

    def __init__(self, executable: Path, data_folder: Path, log_path: Path) -> None:
        self.executable = executable
        self.data_folder = data_folder
        self.log_path = log_path
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = TOKEN
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 120) -> float:
        """Start the server and wait until ``/health`` responds; return the seconds it took.

        Raises:
            RuntimeError: It exited or did not respond within ``timeout``
                seconds; the message ends with its output.
        """
        environment = {
            **os.environ,
            **QUIET_ENVIRONMENT,
            "LABEL_STUDIO_USERNAME": USERNAME,
            "LABEL_STUDIO_PASSWORD": PASSWORD,
            "LABEL_STUDIO_USER_TOKEN": TOKEN,
            # Without it, Label Studio also creates its default folders in the home folder.
            "LABEL_STUDIO_BASE_DATA_DIR": str(self.data_folder),
        }
        command = [
            str(self.executable),
            "start",
            "--no-browser",
            "--internal-host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_folder),
            "--enable-legacy-api-token",
        ]
        started = time.monotonic()
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=environment,
                start_new_session=True,
            )
        while time.monotonic() - started < timeout:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"Label Studio exited with code {self.process.returncode}:\n{self.log_tail()}"
                )
            if self.healthy():
                return time.monotonic() - started
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(
            f"Label Studio did not respond to /health within {timeout} s:\n{self.log_tail()}"
        )

    def stop(self) -> None:
        """Stop the server's process group: SIGTERM, then SIGKILL after 30 s."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def healthy(self) -> bool:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(self.url + "/health", timeout=5) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def log_tail(self, size: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-size:]
        except OSError:
            return "(no output)"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _run(command: list[str], step: str) -> None:
    try:
        finished = subprocess.run(command, capture_output=True, text=True, timeout=INSTALL_TIMEOUT)
    except subprocess.TimeoutExpired as error:
        raise RuntimeError(f"{step} did not finish in {INSTALL_TIMEOUT} s.") from error
    if finished.returncode != 0:
        output = (finished.stdout + finished.stderr)[-4000:]
        raise RuntimeError(f"{step} failed with code {finished.returncode}:\n{output}")


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    # Test sessions of several developers may share the repository.
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
