"""The console's rules over HTTP (FastAPI's TestClient on the real app and a real registry): sessions,
CSRF, roles decided by the registry, refusals audited, gate refusals explained, reports sandboxed."""

import re
import sqlite3

import pytest
from fastapi.testclient import TestClient

from adaptlab.console.app import create_console_app
from adaptlab.console.guard import SESSION_COOKIE
from adaptlab.registry import local_admin

from .conftest import MODEL, REPORT_SCRIPT_MARK, REVIEW_ITEMS

VERSION_PAGE = f"/models/{MODEL}/versions/1"
APPROVE = f"{VERSION_PAGE}/approve"
PROMOTE = f"{VERSION_PAGE}/promote"
ADMIN = local_admin("test")


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def entries(registry, action: str) -> list:
    return [entry for entry in registry.audit_entries(ADMIN) if entry.action == action]


@pytest.fixture
def registry(console_world):
    with console_world.open() as opened:
        yield opened


@pytest.fixture
def client_for(console_world, registry):
    """`client_for(role)`: a TestClient signed in with that role's token (None: not signed in)."""
    app = create_console_app(registry, console_world.config())

    def make(role: str | None, base_url: str = "http://testserver") -> TestClient:
        client = TestClient(app, base_url=base_url, follow_redirects=False)
        if role:
            form = client.get("/signin")
            answer = client.post("/signin", data={"token": console_world.tokens[role], "csrf_token": csrf_of(form.text)})
            assert answer.status_code == 303 and answer.headers["location"] == "/models"
        return client

    return make


def test_sign_in_sets_a_strict_http_only_session_cookie_and_replaces_the_form_session(client_for):
    client = client_for(None)
    form = client.get("/signin")
    form_cookie = form.cookies[SESSION_COOKIE]
    header = form.headers["set-cookie"].lower()
    assert "httponly" in header and "samesite=strict" in header and "secure" not in header and "max-age=" in header
    assert client.get("/models").headers["location"] == "/signin"  # the form's session is not a sign-in

    signed = client_for("reader")
    assert signed.cookies[SESSION_COOKIE] != form_cookie and len(signed.cookies[SESSION_COOKIE]) >= 40
    models = signed.get("/models")
    assert models.status_code == 200 and f'href="/models/{MODEL}"' in models.text
    assert "acme/rita" in models.text and models.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in models.headers["content-security-policy"]


def test_cookie_is_secure_over_https(client_for):
    client = client_for(None, base_url="https://console.example")
    assert "secure" in client.get("/signin").headers["set-cookie"].lower()


def test_a_wrong_token_is_refused_and_audited_without_the_token(client_for, registry):
    client = client_for(None)
    answer = client.post("/signin", data={"token": "adl_not-a-token", "csrf_token": csrf_of(client.get("/signin").text)})
    assert answer.status_code == 401 and "unknown or revoked" in answer.text
    refused = entries(registry, "console.auth.denied")[-1]
    assert refused.actor == "console" and refused.after["token_sha256"] and "adl_not-a-token" not in str(refused.after)


def test_sign_in_without_the_forms_csrf_token_is_refused(client_for, console_world):
    client = client_for(None)
    client.get("/signin")
    answer = client.post("/signin", data={"token": console_world.tokens["admin"]})
    assert answer.status_code == 403 and "CSRF" in answer.text
    assert client.get("/models").status_code == 303


def test_a_post_without_the_csrf_token_is_refused_audited_and_changes_nothing(client_for, registry):
    client = client_for("approver")
    answer = client.post(APPROVE, data={"note": "looks fine"})
    assert answer.status_code == 403 and "CSRF token is missing or wrong" in answer.text
    assert client.post(APPROVE, data={"note": "looks fine", "csrf_token": "guessed"}).status_code == 403
    assert registry.get_version(ADMIN, f"acme/{MODEL}@v1").approvals == []
    refused = entries(registry, "console.denied")[-1]
    assert refused.actor == "acme/ann" and refused.target == APPROVE and refused.occurrences == 2  # the repeat counts on one row


def test_a_post_without_a_session_is_refused_and_audited(client_for, registry):
    answer = client_for(None).post(APPROVE, data={"note": "x", "csrf_token": "x"})
    assert answer.status_code == 403
    assert entries(registry, "console.auth.denied")[-1].target == APPROVE


def test_a_reader_sees_no_decisions_and_the_registry_refuses_its_forged_post(client_for, registry):
    reader = client_for("reader")
    page = reader.get(VERSION_PAGE)
    assert page.status_code == 200 and 'id="approve"' not in page.text and 'id="promote"' not in page.text
    answer = reader.post(APPROVE, data={"note": "sneaky", "csrf_token": csrf_of(page.text)})
    assert answer.status_code == 403 and "has role reader; approve needs one of" in answer.text
    assert registry.get_version(ADMIN, f"acme/{MODEL}@v1").approvals == []
    assert entries(registry, "console.denied")[-1].actor == "acme/rita"


def test_approver_approves_and_promotes_and_the_gates_explain_a_refusal(client_for, registry):
    approver = client_for("approver")
    page = approver.get(VERSION_PAGE)
    assert 'id="approve"' in page.text and "[94.1, 100.9]" in page.text  # evaluation.json figure with its interval
    token = csrf_of(page.text)
    refused = approver.post(PROMOTE, data={"alias": "production", "note": "ship it", "csrf_token": token})
    assert refused.status_code == 409 and "approvals: 0 of 1 required" in refused.text  # the failed gate, named
    assert approver.post(APPROVE, data={"note": "", "csrf_token": token}).status_code == 400  # a note is required
    approved = approver.post(APPROVE, data={"note": "read 50 samples", "csrf_token": token})
    assert approved.status_code == 303 and approved.headers["location"] == f"{VERSION_PAGE}?done=approve"
    promoted = approver.post(PROMOTE, data={"alias": "production", "note": "ship it", "csrf_token": token})
    assert promoted.status_code == 303
    assert registry.get_version(ADMIN, f"acme/{MODEL}@production").version == 1
    assert entries(registry, "alias.promote")[-1].after == {"version": 1, "note": "ship it"}
    assert "Alias moved." in approver.get(promoted.headers["location"]).text


def test_sign_out_ends_the_session_and_a_revoked_token_ends_it_too(client_for, registry):
    reader = client_for("reader")
    cookie = reader.cookies[SESSION_COOKIE]
    assert reader.post("/signout", data={"csrf_token": csrf_of(reader.get("/models").text)}).headers["location"] == "/signin"
    reader.cookies.set(SESSION_COOKIE, cookie)
    assert reader.get("/models").headers["location"] == "/signin"

    admin = client_for("admin")
    token_id = next(t.id for t in registry.list_tokens(ADMIN, "acme") if t.name == "ada")
    registry.revoke_token(ADMIN, token_id)
    assert admin.get("/models").headers["location"] == "/signin"


def test_attached_report_is_served_sandboxed_and_byte_for_byte(client_for, console_world):
    reader = client_for("reader")
    page = reader.get(VERSION_PAGE)
    source = re.search(r'<iframe class="report" sandbox title="comparison report" src="([^"]+)"', page.text).group(1)
    report = reader.get(source)
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/html")
    assert report.headers["content-security-policy"].startswith("sandbox;") and "script-src" not in report.headers["content-security-policy"]
    assert REPORT_SCRIPT_MARK in report.text  # unchanged bytes; the sandbox, not rewriting, keeps the script from running
    assert reader.get(source.replace("report.html", "nothing.html")).status_code == 404


def test_audit_log_filters_pages_and_shows_the_chain_verification(client_for, console_world):
    admin = client_for("admin")
    page = admin.get("/audit")
    assert 'class="verify ok"' in page.text and "version.attach_report" in page.text
    filtered = admin.get("/audit", params={"action": "version.register"})
    assert filtered.text.count('data-action="version.register"') == 2 and 'data-action="token.create"' not in filtered.text
    assert 'data-action="gates.set"' in admin.get("/audit", params={"model": MODEL}).text
    assert 'class="verify unknown"' in client_for("reader").get("/audit").text  # verification needs the manage role

    with sqlite3.connect(console_world.root / "registry.db") as db:
        db.execute("UPDATE audit_log SET actor = 'mallory' WHERE action = 'version.register'")
    broken = admin.get("/audit")
    assert 'class="verify broken"' in broken.text and "was edited" in broken.text
    assert re.search(r'<tr data-action="version.register" class="[^"]*broken', broken.text)


def test_audit_log_paginates(console_world, registry):
    app = create_console_app(registry, console_world.config(audit_page_size=3))
    client = TestClient(app, follow_redirects=False)
    client.post("/signin", data={"token": console_world.tokens["reader"], "csrf_token": csrf_of(client.get("/signin").text)})
    total = len(registry.audit_entries(ADMIN, tenant="acme"))
    first, last = client.get("/audit"), client.get("/audit", params={"page": -(-total // 3)})
    assert f"page 1 of {-(-total // 3)}" in first.text and 'rel="next"' in first.text and 'rel="next"' not in last.text
    assert first.text.count("<tr data-action=") == 3


def test_reviewer_votes_blind_one_item_per_screen_and_the_version_page_shows_the_results(client_for, registry):
    reviewer = client_for("reviewer")
    queue = reviewer.get("/reviews")
    assert 'href="/reviews/1"' in queue.text and f"0 of {REVIEW_ITEMS}" in queue.text
    item = reviewer.get("/reviews/1")
    assert item.text.count('name="verdict"') == 4 and "item 1" in item.text
    assert f"acme/{MODEL}@v" not in item.text  # blind: which version wrote A or B is nowhere on the screen
    assert reviewer.post("/reviews/1/items/1", data={"verdict": "a"}).status_code == 403  # no CSRF token
    token = csrf_of(item.text)
    assert reviewer.post("/reviews/1/items/1", data={"verdict": "maybe", "csrf_token": token}).status_code == 400
    voted = reviewer.post("/reviews/1/items/1", data={"verdict": "a", "comment": "clearer", "csrf_token": token})
    assert voted.status_code == 303 and voted.headers["location"] == "/reviews/1"
    assert f"1 of {REVIEW_ITEMS} done" in reviewer.get("/reviews/1").text and "item 2" in reviewer.get("/reviews/1").text
    again = reviewer.post("/reviews/1/items/1", data={"verdict": "b", "csrf_token": token})
    assert again.status_code == 409 and "already" in again.text  # one vote per reviewer and item

    reader = client_for("reader")
    assert 'href="/reviews"' not in reader.get("/models").text
    refused = reader.post("/reviews/1/items/2", data={"verdict": "a", "csrf_token": csrf_of(reader.get("/models").text)})
    assert refused.status_code == 403 and entries(registry, "console.denied")[-1].actor == "acme/rita"

    page = reader.get(f"/models/{MODEL}/versions/2")
    assert 'data-review="1"' in page.text and "1 votes on 4 prompts" in page.text
    assert registry.review_results(ADMIN, 1).votes == 1
