"""The dashboard in headless Chromium (Debian's chromium driven by Playwright) against a real
embedded mesh on port 0: load, confirm a proposal, correct a triage, see the metrics move.

Write-back goes to a local Autotask stand-in (tests/teams/shadow/standins.py), not Autotask."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from backends.records import TicketState
from mesh.app import EmbeddedMesh
from sdk.client import OmegaClient
from teams.shadow.component import ShadowComponent
from teams.shadow.executor import RecordingExecutor
from tests.conftest import make_settings
from tests.teams.shadow.conftest import KeywordTriager, ShadowRig, tenants_toml
from tests.teams.shadow.standins import PsaStandIn, serve_standin

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]

playwright_api = pytest.importorskip("playwright.async_api", reason="pip install playwright (the dev extra)")
if not Path(CHROMIUM).exists():
    pytest.skip("Debian's chromium is not installed (apt-get install -y chromium; .ci/services.sh does)",
                allow_module_level=True)


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[ShadowRig]:
    async with serve_standin(PsaStandIn()) as psa:
        settings = make_settings(tmp_path)
        settings.data_dir.mkdir(parents=True)
        settings.tenants_path.write_text(tenants_toml(psa.base_url))
        executor = RecordingExecutor()
        component = ShadowComponent(executor=executor)
        mesh = EmbeddedMesh(settings, triager=KeywordTriager(), components=[component])
        await mesh.start()
        assert component.service is not None
        client = OmegaClient(mesh.grpc_target)
        try:
            yield ShadowRig(mesh, component.service, executor, client, psa)
        finally:
            await client.close()
            await mesh.stop(grace_s=0.5)


@pytest.mark.timeout(120)
async def test_load_confirm_correct_and_see_the_metrics_move(rig: ShadowRig, tmp_path: Path) -> None:
    # OMEGA_UPDATE_SCREENSHOTS=1 refreshes the README's pictures in docs/img/.
    shots = DOCS_IMG if os.environ.get("OMEGA_UPDATE_SCREENSHOTS") == "1" else tmp_path
    SCREENSHOT = shots / "dashboard.png"
    printer = await rig.ingest("B-1", "Reception printer jammed - urgent",
                               "The Brother printer at reception has a paper jam since 9:00. Check-in forms "
                               "cannot be printed.", contact_name="Ann Lee", company="Greenfield Architects",
                               assignee="alice")
    question = await rig.ingest("B-2", "Excel keeps crashing when saving",
                                "Since the update Excel closes when I save to SharePoint.",
                                contact_name="Tom Alder", company="Greenfield Architects", assignee="alice")
    locked = await rig.ingest("B-3", "Locked out after password change",
                              "My laptop says the account is locked.", contact_email="priya@client.example",
                              contact_name="Priya Shah", company="Harbor Dental", assignee="alice")
    for tid in (printer, question, locked):
        await rig.wait_state(tid, TicketState.PROPOSED, TicketState.RESOLVED)
    url = f"http://127.0.0.1:{rig.mesh.http_port}/dashboard?technician=alice"
    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = await browser.new_page(viewport={"width": 1360, "height": 900})
            await page.goto(url)
            await page.wait_for_selector("body[data-ready='1']", timeout=15_000)
            items = page.get_by_test_id("queue-item")
            await page.wait_for_function("document.querySelectorAll('[data-testid=queue-item]').length === 2",
                                         timeout=10_000)  # the unlock was auto-applied and resolved
            assert await items.count() == 2
            # The owner view before any decision.
            await page.get_by_test_id("tab-owner").click()
            await page.wait_for_selector("[data-testid=m-override]")
            override_before = await page.get_by_test_id("m-override").locator("b").inner_text()
            assert override_before == "0%"
            await page.get_by_test_id("tab-queue").click()

            # Confirm the printer runbook (the most urgent ticket is first and selected).
            await page.locator(f"li[data-ticket='{printer}']").click()
            await page.wait_for_selector(f"[data-testid=detail][data-ticket='{printer}'] [data-testid=confirm]")
            assert "restart the print spooler" in await page.get_by_test_id("dry-run").inner_text()
            await page.screenshot(path=str(SCREENSHOT))  # the README's picture
            await page.get_by_test_id("confirm").click()
            # Once resolved it leaves the queue; the list shrinks to the remaining ticket.
            await page.wait_for_function("document.querySelectorAll('[data-testid=queue-item]').length === 1",
                                         timeout=10_000)
            # Correct the Excel ticket's category in two clicks.
            await page.locator(f"li[data-ticket='{question}']").click()
            await page.wait_for_selector(f"[data-testid=detail][data-ticket='{question}'] [data-testid=correct-category]")
            await page.get_by_test_id("correct-category").click()
            await page.get_by_test_id("alts-category").get_by_text("Email", exact=True).click()
            await page.wait_for_function(
                "document.querySelector('[data-testid=label-category]').textContent === 'Email'", timeout=10_000)

            await page.get_by_test_id("tab-owner").click()
            await page.wait_for_function(
                "document.querySelector('[data-testid=m-override] b').textContent !== '0%'", timeout=10_000)
            override_after = await page.get_by_test_id("m-override").locator("b").inner_text()
            auto_rate = await page.get_by_test_id("m-auto").locator("b").inner_text()
            res = await page.get_by_test_id("m-res").locator("b").inner_text()
            await page.screenshot(path=str(SCREENSHOT.with_name("dashboard-owner.png")))
        finally:
            await browser.close()
    assert override_after != override_before
    assert auto_rate == "33%"  # one of three tickets resolved by an auto-applied runbook
    assert res.startswith("2 ·")  # the auto-applied unlock and the confirmed printer fix
    assert rig.executor.runs and rig.executor.runs[-1][1] == "printer_queue_restart"
    # Generic tickets have no PSA configured: the write-back is recorded (the page says so).
    writes = await rig.service.shadow.writebacks("default", printer)
    assert [(w["target"], w["status"]) for w in writes] == [("recording", "done")]
    record = await rig.mesh.store.tickets.get("default", question)  # type: ignore[union-attr]
    assert record is not None and record.triage is not None and record.triage["category"]["label"] == "Email"
