"""The real app (`python -m tyrehero_app.serve`, prod mode, one port) and Debian's Chromium."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.redis_server import free_port

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
ARTIFACTS = ROOT / "tests" / "e2e" / "artifacts"


class App:
    """The running app, plus direct access to its core for moving a job along."""

    def __init__(self, url: str, data_dir: Path, log: Path) -> None:
        self.url = url
        self.data_dir = data_dir
        self.log = log
        self._core = None

    @property
    def core(self):  # type: ignore[no-untyped-def]
        if self._core is None:
            from core.bootstrap import bootstrap
            from core.config import Settings

            self._core = bootstrap(Settings(data_dir=self.data_dir, database_url=None, redis_url=None))
        return self._core

    def close(self) -> None:
        """Close the direct core, if a test opened it."""
        if self._core is not None:
            self._core.close()

    def job_for(self, token: str) -> tuple[int, int]:
        from sqlmodel import Session, select

        from core.models import ServiceRequest
        from core.tokens import token_hash

        with Session(self.core.engine) as s:
            r = s.exec(select(ServiceRequest).where(ServiceRequest.tracking_token_hash == token_hash(token))).one()
        return r.id, r.technician_id

    def job_action(self, tech_id: int, request_id: int, action: str) -> None:
        """A step of `tech_id`'s job, taken by the test on the technician's behalf (as the system)."""
        from core.principal import Principal
        from core.technicians.jobs import job_action

        job_action(self.core, Principal.system("e2e test"), request_id, action, tech_id=tech_id)

    def make_technician(self, username: str, at: tuple[float, float], status: str = "offline") -> int:
        """A technician placed at `at` with a login `username` / `correct horse battery`."""
        from tests.factories import add_staff, add_technicians

        tid = add_technicians(self.core, 1, around=at, spread=0.0, status=status, name=f"{username.title()} Tester")[0]
        add_staff(self.core, username, "technician", tech_id=tid)
        return tid

    def request_row(self, request_id: int) -> dict:
        import sqlalchemy as sa

        with self.core.engine.connect() as c:
            return dict(
                c.execute(sa.text("SELECT * FROM service_request WHERE id = :i"), {"i": request_id}).mappings().one()
            )

    def technician_row(self, tech_id: int) -> dict:
        import sqlalchemy as sa

        with self.core.engine.connect() as c:
            return dict(c.execute(sa.text("SELECT * FROM technician WHERE id = :i"), {"i": tech_id}).mappings().one())

    def count_requests(self) -> int:
        import sqlalchemy as sa

        with self.core.engine.connect() as c:
            return c.execute(sa.text("SELECT count(*) FROM service_request")).scalar_one()


@pytest.fixture(scope="session")
def app() -> Iterator[App]:
    """Serve the app from an empty embedded data folder, as `make run` does on a fresh machine."""
    data_dir = Path(tempfile.mkdtemp(prefix="tyrehero-e2e-"))
    os.chmod(data_dir, 0o755)
    port = free_port()
    log = data_dir / "app.log"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    # The demo simulator stays off: the tests move the vans themselves.
    env.update(
        DATA_DIR=str(data_dir),
        PORT=str(port),
        DEMO_FLEET_SIZE="60",
        DISPATCH_SWEEP_S="1",
        DEMO_MODE="false",
        OFFER_TIMEOUT_S="15",
        POSITION_MAX_AGE_S="86400",
    )
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [str(ROOT / ".venv" / "bin" / "python"), "-m", "tyrehero_app.serve"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    running = App(url, data_dir, log)
    try:
        deadline = time.time() + 420
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the app exited early:\n{log.read_text()[-3000:]}")
            try:
                if (
                    httpx.get(f"{url}/health", timeout=2).status_code == 200
                    and httpx.get(url, timeout=5).status_code == 200
                ):
                    break
            except httpx.HTTPError:
                pass
            if time.time() > deadline:
                pytest.fail(f"the app did not become ready:\n{log.read_text()[-3000:]}")
            time.sleep(1)
        yield running
    finally:
        running.close()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)  # as Ctrl-C in `make run`
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        from core.infra import embedded

        embedded.stop_embedded(data_dir)  # in case the app could not
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
def phone_page(browser) -> Iterator[object]:
    """A phone-sized page (390 x 844)."""
    ctx = browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True, has_touch=True
    )
    page = ctx.new_page()
    yield page
    ctx.close()


def login(page, base_url: str, username: str, password: str = "correct horse battery") -> None:
    """Send the login form and wait until the server has let the browser in (it left /login).

    Filled before the page's scripts took over, a form can come back empty: it is sent again, once. A refusal
    (wrong password, a wait after failures) fails at once with the page's own words."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for _ in range(2):
        page.locator("#login").wait_for(timeout=20000)
        page.fill("#username", username)
        page.fill("#password", password)
        page.click("#login")
        try:
            page.wait_for_url(lambda url: "/login" not in url, timeout=15000)
            return
        except PlaywrightTimeout:
            error = page.locator("#login-error")
            if error.count() and error.inner_text().strip():
                raise AssertionError(f"the login of {username} was refused: {error.inner_text()}") from None
    raise AssertionError(f"the login of {username} did not leave /login: {page.url}")


def shot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
