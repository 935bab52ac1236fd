"""The console in a real headless Chromium (Debian's `chromium`, driven by Playwright; scripts/ci_chromium.sh
installs it) against the real app on uvicorn on a loopback port. Screenshots are kept in pytest's tmp dir
and, when ADAPTLAB_TEST_ARTIFACTS is set, copied there."""

import os
import shutil
from pathlib import Path

import pytest

from adaptlab.console.server import running_console
from adaptlab.registry import local_admin

from .conftest import MODEL, REPORT_SCRIPT_MARK, REVIEW_ITEMS

CHROMIUM = next((shutil.which(name) for name in ("chromium", "chromium-browser") if shutil.which(name)), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH; install it with scripts/ci_chromium.sh")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e .[dev])")
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
LAPTOP, PHONE = {"width": 1280, "height": 900}, {"width": 390, "height": 844}
VERSION_PAGE = f"/models/{MODEL}/versions/1"
TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def console(console_world):
    with running_console(console_world.config()) as url:
        yield url


@pytest.fixture
def screenshot(tmp_path):
    keep = os.environ.get("ADAPTLAB_TEST_ARTIFACTS")

    def take(target, name: str, **options) -> Path:
        """`target`: a page (full_page=True for all of it) or one element's locator."""
        path = tmp_path / f"console-{name}.png"
        target.screenshot(path=path, **options)
        if keep:
            Path(keep).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, Path(keep) / path.name)
        return path

    return take


def signed_in_page(browser, console: str, token: str, viewport=LAPTOP):
    page = browser.new_context(viewport=viewport).new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(f"{console}/models")
    assert page.url == f"{console}/signin"  # not signed in: sent to the sign-in form
    page.fill("#token", token)
    page.click("#sign-in")
    page.wait_for_url(f"{console}/models")
    return page


def test_approver_approves_and_promotes_then_sees_the_audit_entry_and_signs_out(browser, console, console_world, screenshot):
    page = signed_in_page(browser, console, console_world.tokens["approver"])
    page.click(f'a[href="/models/{MODEL}"]')
    page.click(f'a[href="{VERSION_PAGE}"]')
    page.wait_for_url(f"{console}{VERSION_PAGE}")
    assert page.locator('[data-gate="approvals"]').get_attribute("class") == "fail"
    assert page.locator('tr[data-metric="relative_score"]').inner_text().split("\t")[2] == "[94.1, 100.9]"
    report = page.frame_locator("iframe.report")
    assert report.locator("#verdict").inner_text() == "LoRA reaches 97 % of full FT."
    assert REPORT_SCRIPT_MARK not in page.title() and report.locator("h1").count() == 1  # the report's script never ran
    screenshot(page, "version-before", full_page=True)
    screenshot(page.locator("iframe.report"), "report-in-place")  # full-page captures leave out the sandboxed frame

    page.fill("#approve-note", "read 50 outputs side by side")
    page.click("#approve")
    assert page.locator("#done").inner_text() == "Approval recorded."
    assert page.locator('[data-gate="approvals"]').get_attribute("class") == "pass"
    page.fill("#promote-alias", "production")
    page.fill("#promote-note", "beats v0 on the review set")
    page.click("#promote")
    assert page.locator("#done").inner_text() == "Alias moved."
    assert "production" in page.locator("main > h1").inner_text()
    screenshot(page, "version-promoted", full_page=True)

    page.click('nav a[href="/audit"]')
    promoted = page.locator('tr[data-action="alias.promote"]')
    assert "acme/ann" in promoted.inner_text() and f"acme/{MODEL}@production" in promoted.inner_text()
    assert page.locator('tr[data-action="version.approve"]').count() == 1
    screenshot(page, "audit", full_page=True)

    page.click("#sign-out")
    page.wait_for_url(f"{console}/signin")
    page.goto(f"{console}{VERSION_PAGE}")
    assert page.url == f"{console}/signin"


def test_reader_sees_no_approve_button_and_forged_posts_are_refused_and_audited(browser, console, console_world, screenshot):
    page = signed_in_page(browser, console, console_world.tokens["reader"], viewport=PHONE)
    page.goto(f"{console}{VERSION_PAGE}")
    assert page.locator("#approve").count() == 0 and page.locator("#promote").count() == 0
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # no sideways scrolling on a phone
    screenshot(page, "reader-phone", full_page=True)

    post = """async ([url, csrf]) => {
        const body = new URLSearchParams({note: "forged"});
        if (csrf) body.set("csrf_token", csrf);
        return (await fetch(url, {method: "POST", body})).status;
    }"""
    own_csrf = page.locator('input[name="csrf_token"]').first.get_attribute("value")
    assert page.evaluate(post, [f"{VERSION_PAGE}/approve", None]) == 403  # no CSRF token
    assert page.evaluate(post, [f"{VERSION_PAGE}/approve", own_csrf]) == 403  # the reader's own form token: the role is refused

    page.evaluate(
        """([url, csrf]) => { const form = document.createElement("form"); form.method = "post"; form.action = url;
        form.innerHTML = `<input name="csrf_token" value="${csrf}"><input name="note" value="forged">`;
        document.body.append(form); form.submit(); }""",
        [f"{VERSION_PAGE}/approve", own_csrf],
    )
    page.wait_for_selector("#refusal")
    assert "has role reader" in page.locator("#refusal").inner_text()
    screenshot(page, "reader-refused", full_page=True)

    with console_world.open() as registry:
        refusals = [e for e in registry.audit_entries(local_admin("test")) if e.action == "console.denied"]
        assert {e.actor for e in refusals} == {"acme/rita"}
        assert {e.after["reason"].split(":")[0] for e in refusals} == {"the form's CSRF token is missing or wrong", "acme/rita has role reader; approve needs one of"}
        assert registry.get_version(local_admin("test"), f"acme/{MODEL}@v1").approvals == []


def test_reviewer_votes_on_three_items_with_the_keyboard_and_sees_progress(browser, console, console_world, screenshot):
    page = signed_in_page(browser, console, console_world.tokens["reviewer"])
    page.click('nav a[href="/reviews"]')
    page.click('a[href="/reviews/1"]')
    page.wait_for_url(f"{console}/reviews/1")
    assert page.locator("#progress-text").inner_text() == f"0 of {REVIEW_ITEMS} done"
    screenshot(page, "review-item", full_page=True)
    for number, key in enumerate(("1", "2", "T"), start=1):
        assert f"item {number}" in page.locator("#prompt h2").inner_text()
        # the item's text shows before console.js has attached its key handler (on DOMContentLoaded): a key pressed in
        # between did nothing, and the test then waited for a verdict that was never chosen (seen on a loaded CI machine)
        page.wait_for_load_state("load")
        page.keyboard.press(key)
        assert page.locator('input[name="verdict"]:checked').get_attribute("data-key") == key
        page.keyboard.press("Enter")
        sync_api.expect(page.locator("#progress-text")).to_have_text(f"{number} of {REVIEW_ITEMS} done")  # no eval: the CSP forbids it
    assert page.locator("progress").first.get_attribute("value") == "3"
    screenshot(page, "review-progress", full_page=True)

    with console_world.open() as registry:
        votes = [e for e in registry.audit_entries(local_admin("test")) if e.action == "review.vote"]
        assert [(e.actor, e.after["item"]) for e in votes] == [("acme/rev", 1), ("acme/rev", 2), ("acme/rev", 3)]
        assert registry.review_results(local_admin("test"), 1).votes == 3
