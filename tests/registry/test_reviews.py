"""Review sets on SQLite and PostgreSQL: answers generated once by the real versions and stored, blind A/B order
per item and reviewer, votes mapped back and audited, double votes and authors refused, results, the review gate,
and corrections exported as training rows."""

import json

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from adaptlab.data.prompt_files import read_prompts
from adaptlab.registry import GatePolicy, Role
from adaptlab.registry.blind import candidate_shown_first, shown_answers
from adaptlab.registry.entities import Correction, PromptMessage
from adaptlab.registry.errors import AccessDeniedError, AuditedDenialError, GateRefusedError, RegistryError
from adaptlab.registry.review_answers import answers_of
from adaptlab.registry.review_items import correction_rows
from adaptlab.registry.review_results import CastVote, review_results
from adaptlab.registry.tables import ReviewItem, ReviewSet, ReviewVote

PROMPTS = [{"prompt": f"Rewrite in house style: item {i}", "completion": f"Item {i}."} for i in range(7)] + [{"prompt": "Say hello"}]
MAX_NEW_TOKENS = 4
BATCH_SIZE = 4


@pytest.fixture
def prompts_file(tmp_path):
    path = tmp_path / "prompts.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in PROMPTS))
    return path


@pytest.fixture
def acme(registry, admin, new_run):
    """acme/bot v1 (baseline, promoted to production) and v2 (candidate), both registered by the tenant admin
    `acme/boss`; reviewers rita and rick; approver ann."""
    registry.create_tenant(admin, "acme")
    principals = {
        name: registry.authenticate(registry.create_token(admin, "acme", role, name))
        for name, role in (("boss", Role.admin), ("rita", Role.reviewer), ("rick", Role.reviewer), ("ann", Role.approver))
    }
    registry.set_gates(admin, "acme/bot", GatePolicy(required_approvals=0))
    registry.register(principals["boss"], new_run(adapter_seed=0), "acme/bot")
    registry.register(principals["boss"], new_run(adapter_seed=1), "acme/bot")
    registry.promote(admin, "acme/bot@v1", "production")
    return registry, principals


def create(registry, principal, prompts_file, n=8):
    return registry.create_review(
        principal, "acme/bot@v2", "acme/bot@production", prompts_file, n=n, max_new_tokens=MAX_NEW_TOKENS, batch_size=BATCH_SIZE
    )


def test_answers_are_generated_once_by_the_versions_and_shown_blind(acme, prompts_file, admin):
    registry, who = acme
    record = create(registry, who["ann"], prompts_file)
    assert (record.candidate, record.baseline, record.items) == ("acme/bot@v2", "acme/bot@v1 (production)", 8)
    with Session(registry.engine) as session:
        stored = session.scalars(select(ReviewItem).order_by(ReviewItem.position)).all()
        salt = session.scalar(select(ReviewSet.blind_salt))
    prompts = [row.prompt for row in read_prompts(prompts_file).rows]
    expected = answers_of(registry.checkout(admin, "acme/bot@v2"), prompts, MAX_NEW_TOKENS, BATCH_SIZE, None)
    assert [row.candidate_answer for row in stored] == expected
    assert stored[0].reference == "Item 0." and stored[-1].reference is None
    assert any(row.candidate_answer != row.baseline_answer for row in stored)

    orders = {}
    for reviewer in ("rita", "rick"):
        views = [registry.review_item(who[reviewer], record.review_id, row.position) for row in stored]
        for view, row in zip(views, stored):
            first = candidate_shown_first(salt, row.id, f"acme/{reviewer}")
            assert (view.answer_a, view.answer_b) == shown_answers(row.candidate_answer, row.baseline_answer, first)
            assert [message.model_dump() for message in view.prompt] == [{"role": "user", "content": PROMPTS[row.position - 1]["prompt"]}]
        orders[reviewer] = [candidate_shown_first(salt, row.id, f"acme/{reviewer}") for row in stored]
        again = registry.next_review_items(who[reviewer], record.review_id, limit=8)
        assert [(v.answer_a, v.answer_b) for v in again.items] == [(v.answer_a, v.answer_b) for v in views]  # a reload shows the same
        assert (again.done, again.total) == (0, 8)
    assert not all(orders["rita"] + orders["rick"]), "the stored order (candidate first) must not be every display order"
    created = [entry for entry in registry.audit_entries(admin) if entry.action == "review.create"]
    assert created[0].actor == "acme/ann" and created[0].after["items"] == 8


def test_votes_are_mapped_back_audited_and_cast_once(acme, prompts_file, admin):
    registry, who = acme
    review_id = create(registry, who["ann"], prompts_file, n=3).review_id
    view = registry.next_review_items(who["rita"], review_id).items[0]
    receipt = registry.vote(who["rita"], review_id, view.item, "a", comment="clearer", corrected_answer="Item 0.")
    assert (receipt.verdict, receipt.done, receipt.total) == ("a", 1, 3)
    with Session(registry.engine) as session:
        vote = session.scalar(select(ReviewVote))
        row = session.get(ReviewItem, vote.item_id)
    first = candidate_shown_first(registry_salt(registry), row.id, "acme/rita")
    assert vote.verdict == ("candidate" if first else "baseline")
    assert registry.review_item(who["rita"], review_id, view.item).my_verdict == "a"
    assert registry.next_review_items(who["rita"], review_id).items[0].item == 2

    with pytest.raises(RegistryError, match="already voted on item 1 of review"):
        registry.vote(who["rita"], review_id, view.item, "b")
    with pytest.raises(AccessDeniedError, match="review needs one of"):
        registry.vote(registry.authenticate(registry.create_token(admin, "acme", Role.trainer, "tom")), review_id, 1, "a")
    entry = [e for e in registry.audit_entries(admin) if e.action == "review.vote"][-1]
    assert (entry.actor, entry.target) == ("acme/rita", f"review:{review_id}")
    assert entry.after == {"item": 1, "verdict": vote.verdict, "comment": "clearer", "corrected_answer": "Item 0."}
    assert registry.verify_audit(admin).ok

    with Session(registry.engine) as session, session.begin():  # a vote behind the log's back
        session.add(ReviewVote(item_id=row.id, reviewer="acme/rick", verdict="candidate", created_at="2026-12-02T00:00:00"))
    assert [problem.split(" (", 1)[1] for problem in registry.verify_audit(admin).unaccounted] == [
        f"vote of acme/rick on item 1 of review {review_id}) is not accounted for by the audit log"
    ]


def registry_salt(registry) -> str:
    with Session(registry.engine) as session:
        return session.scalar(select(ReviewSet.blind_salt))


def test_the_author_of_a_judged_version_cannot_review_it(acme, prompts_file, admin):
    registry, who = acme
    review_id = create(registry, who["ann"], prompts_file, n=2).review_id
    for attempt in (lambda: registry.vote(who["boss"], review_id, 1, "tie"), lambda: registry.next_review_items(who["boss"], review_id)):
        with pytest.raises(AuditedDenialError, match="acme/boss registered a version judged in review"):
            attempt()
    denied = [entry for entry in registry.audit_entries(admin) if entry.action == "review.denied"]
    assert denied and denied[0].actor == "acme/boss" and denied[0].target == f"review:{review_id}"
    assert not registry.list_reviews(who["boss"])[0].may_review
    assert [p.review.review_id for p in registry.review_queue(who["rita"])] == [review_id]
    assert registry.review_queue(who["boss"]) == []


def test_results_from_votes_match_hand_computed_figures():
    votes = [
        CastVote(1, "rita", "candidate"), CastVote(2, "rita", "baseline"), CastVote(3, "rita", "tie"), CastVote(4, "rita", "both_bad"),
        CastVote(1, "rick", "candidate"), CastVote(2, "rick", "candidate"), CastVote(3, "rick", "tie"), CastVote(4, "rick", "both_bad"),
    ]
    results = review_results(7, "acme/bot@v2", "acme/bot@v1", 5, votes)
    assert results.verdicts == {"candidate": 3, "baseline": 1, "tie": 2, "both_bad": 2}
    # both bad left out: (1 + 1 + 0 + 1 + ½ + ½) / 6
    assert (results.votes, results.judged_votes, results.win_rate) == (8, 6, pytest.approx(4 / 6))
    assert results.win_rate_interval.low <= 4 / 6 <= results.win_rate_interval.high
    # observed 3/4; chance (1·2 + 1·0 + 1·1 + 1·1) / 16 = 1/4; kappa = (3/4 − 1/4) / (3/4) = 2/3
    assert (results.kappa, results.kappa_items) == (pytest.approx(2 / 3), 4)
    assert results.reviewers == {"rick": 4, "rita": 4}


def test_the_review_gate_blocks_promotion_until_the_votes_carry_it(acme, prompts_file, admin):
    registry, who = acme
    registry.set_gates(admin, "acme/bot", GatePolicy(required_approvals=0, min_review_win_rate=0.5, min_reviews=2))
    with pytest.raises(GateRefusedError) as none_yet:
        registry.promote(admin, "acme/bot@v2", "production")
    assert none_yet.value.failures == [
        "review: no review set judges this version; create one with `adaptlab review create VERSION --against BASELINE`"
    ]
    review_id = create(registry, who["ann"], prompts_file, n=2).review_id
    loses = {True: "b", False: "a"}  # the verdict that makes the baseline better, given whether A is the candidate
    salt = registry_salt(registry)
    with Session(registry.engine) as session:
        item_ids = dict(session.execute(select(ReviewItem.position, ReviewItem.id)).all())
    registry.vote(who["rita"], review_id, 1, loses[candidate_shown_first(salt, item_ids[1], "acme/rita")])
    with pytest.raises(GateRefusedError) as refused:
        registry.promote(admin, "acme/bot@v2", "production")
    assert refused.value.failures[0] == f"review #{review_id}: 1 of 2 votes required"
    assert refused.value.failures[1].startswith(f"review #{review_id}: win rate 0.00 against acme/bot@v1 (production)")
    registry.vote(who["rick"], review_id, 1, "tie")
    registry.vote(who["rick"], review_id, 2, loses[not candidate_shown_first(salt, item_ids[2], "acme/rick")])
    assert registry.review_results(who["ann"], review_id).win_rate == pytest.approx(0.5)  # (0 + ½ + 1) / 3
    assert registry.promote(admin, "acme/bot@v2", "production").to_version == 2


def test_corrections_export_as_training_rows(acme, prompts_file, tmp_path):
    registry, who = acme
    review_id = create(registry, who["ann"], prompts_file, n=3).review_id
    registry.vote(who["rita"], review_id, 2, "both_bad", comment="wrong style", corrected_answer="Item 1.")
    registry.vote(who["rick"], review_id, 1, "tie")
    out = tmp_path / "corrections.jsonl"
    assert registry.export_corrections(who["ann"], review_id, out) == 1
    assert [json.loads(line) for line in out.read_text().splitlines()] == [
        {"prompt": "Rewrite in house style: item 1", "completion": "Item 1."}
    ]
    assert read_prompts(out).rows[0].prompt.reference == "Item 1."  # a file adaptlab reads back


def test_corrections_of_multi_turn_prompts_become_chat_rows():
    single = Correction(item=1, prompt=[PromptMessage(role="text", content="Once")], corrected_answer="upon", reviewer="r", comment=None)
    turns = [PromptMessage(role="system", content="Be brief."), PromptMessage(role="user", content="Hi")]
    multi = Correction(item=2, prompt=turns, corrected_answer="Hello.", reviewer="r", comment=None)
    assert correction_rows([single]) == [{"prompt": "Once", "completion": "upon"}]
    assert correction_rows([single, multi]) == [
        {"messages": [{"role": "user", "content": "Once"}, {"role": "assistant", "content": "upon"}]},
        {"messages": [*(message.model_dump() for message in turns), {"role": "assistant", "content": "Hello."}]},
    ]
