"""Review sets: people judge a candidate against a baseline, blind, on stored prompts and answers (docs/review.md).

Creating one asks both models once (greedy, in batches) and stores prompts and answers; reviewers then get the
items in their own A/B order (blind.py) and vote A better, B better, tie or both bad, mapped back to candidate and
baseline here. Results (review_results.py), the review gate's evidence and reviewers' corrected answers (as
training rows) come from the stored votes. Every write is audited; a principal that registered a judged version
may not review it: the refusal is audited as `review.denied`.

One idea, the review set's lifecycle (create, serve items blind, vote, read results, export corrections), kept in
one module because every step shares the same row lookups and access rules; the pure parts live beside it
(blind.py, review_answers.py, review_items.py, review_results.py)."""

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from adaptlab import atomic
from adaptlab.data.options import DataOptions
from adaptlab.data.prompt_files import read_prompts
from adaptlab.errors import AdaptlabError, ConfigError
from adaptlab.registry.access import ALLOWED_ACTIONS, Action, Principal, local_admin, require
from adaptlab.registry.artifacts import Artifacts
from adaptlab.registry.blind import candidate_shown_first, new_salt, unblind
from adaptlab.registry.entities import (
    BLIND_VERDICTS,
    REVIEW_BATCH_SIZE,
    REVIEW_MAX_NEW_TOKENS,
    BlindVerdict,
    Correction,
    ReviewItemView,
    ReviewProgress,
    ReviewQueue,
    ReviewSetRecord,
    VersionRecord,
    VoteReceipt,
)
from adaptlab.registry.errors import AuditedDenialError, NotFoundError, RegistryError
from adaptlab.registry.refs import parse_version_ref
from adaptlab.registry.review_answers import AnsweredPrompt, OnBatch, version_answers
from adaptlab.registry.review_items import correction_rows, item_view, items_sha256, prompt_json, prompt_messages
from adaptlab.registry.review_results import CastVote, review_results
from adaptlab.registry.store import acting, explicit, now, tenant_row, version_row
from adaptlab.registry.tables import ModelVersion, ReviewItem, ReviewSet, ReviewVote
from adaptlab.schemas.review import ReviewResults

log = logging.getLogger(__name__)

MAX_COMMENT_CHARS = 4_000
MAX_CORRECTION_CHARS = 32_000
REVIEW_LOADING = (selectinload(ReviewSet.tenant), selectinload(ReviewSet.candidate_version), selectinload(ReviewSet.baseline_version))


@dataclass(frozen=True)
class NewReviewSet:
    tenant: str
    candidate: str
    baseline: str
    candidate_version: VersionRecord | None
    baseline_version: VersionRecord | None
    comparison_dir: str | None
    source: str
    source_sha256: str
    max_new_tokens: int
    items: list[AnsweredPrompt]


class Reviews(Artifacts):
    def create_review(
        self,
        principal: Principal,
        candidate: str,
        baseline: str,
        prompts: Path,
        *,
        n: int | None = None,
        data_options: DataOptions = DataOptions(),
        max_new_tokens: int = REVIEW_MAX_NEW_TOKENS,
        batch_size: int = REVIEW_BATCH_SIZE,
        tenant: str | None = None,
        on_batch: OnBatch | None = None,
    ) -> ReviewSetRecord:
        """A review set of the first `n` prompts of a prompt file (any format adaptlab reads, answers optional),
        answered by the candidate and the baseline version (refs or aliases, resolved now)."""
        candidate_ref = explicit(parse_version_ref(candidate, tenant or principal.tenant), "review")
        require(principal, Action.request_review, candidate_ref.model.tenant)
        prompt_file = read_prompts(prompts, data_options, limit=n)
        judged = [self.checkout(principal, ref, tenant=candidate_ref.model.tenant) for ref in (candidate, baseline)]
        if judged[0].ref == judged[1].ref:
            raise ConfigError(f"{candidate} and {baseline} are the same version ({judged[0].ref}); review two different versions")
        prompts_of_rows = [row.prompt for row in prompt_file.rows]
        answered = version_answers(*judged, prompts_of_rows, max_new_tokens, batch_size, on_batch)
        labels = [_label(record, text) for record, text in zip(judged, (candidate, baseline))]
        return self._store_review(
            principal,
            NewReviewSet(
                tenant=candidate_ref.model.tenant,
                candidate=labels[0],
                baseline=labels[1],
                candidate_version=judged[0],
                baseline_version=judged[1],
                comparison_dir=None,
                source=f"{len(answered)} rows of {prompt_file.path}",
                source_sha256=prompt_file.sha256,
                max_new_tokens=max_new_tokens,
                items=answered,
            ),
        )

    def create_comparison_review(
        self,
        principal: Principal,
        comparison_dir: Path,
        pair: Sequence[str],
        *,
        n: int | None = None,
        max_new_tokens: int = REVIEW_MAX_NEW_TOKENS,
        batch_size: int = REVIEW_BATCH_SIZE,
        tenant: str | None = None,
        on_batch: OnBatch | None = None,
    ) -> ReviewSetRecord:
        """A review set of a comparison's held-out rows, answered by two of its methods (`pair`: candidate, baseline);
        its results go into the comparison's reports as votes arrive."""
        from adaptlab.compare.review_source import comparison_answers

        owner = tenant or principal.tenant
        if owner is None:
            raise ConfigError("say which tenant the review set belongs to (--tenant)")
        require(principal, Action.request_review, owner)
        with self._reading() as session:
            tenant_row(session, owner)
        source = comparison_answers(Path(comparison_dir), tuple(pair), n, max_new_tokens, batch_size, on_batch)
        return self._store_review(
            principal,
            NewReviewSet(
                tenant=owner,
                candidate=pair[0],
                baseline=pair[1],
                candidate_version=None,
                baseline_version=None,
                comparison_dir=str(Path(comparison_dir).resolve()),
                source=source.source,
                source_sha256=source.source_sha256,
                max_new_tokens=max_new_tokens,
                items=source.items,
            ),
        )

    def list_reviews(self, principal: Principal, *, ref: str | None = None, tenant: str | None = None) -> list[ReviewProgress]:
        """The review sets of a tenant, or those judging the version `ref` names (as candidate or baseline), newest
        first, with everyone's and this principal's progress."""
        with self._reading() as session:
            query = select(ReviewSet).options(*REVIEW_LOADING).order_by(ReviewSet.id.desc())
            if ref is not None:
                version_ref = parse_version_ref(ref, tenant or principal.tenant)
                require(principal, Action.read, version_ref.model.tenant)
                version = version_row(session, version_ref)
                query = query.where((ReviewSet.candidate_version_id == version.id) | (ReviewSet.baseline_version_id == version.id))
            else:
                owner = tenant or principal.tenant
                require(principal, Action.read, owner)
                if owner is not None:
                    query = query.where(ReviewSet.tenant_id == tenant_row(session, owner).id)
            reviews = session.scalars(query).all()
            everyone = _vote_counts(session, [review.id for review in reviews])
            mine = _vote_counts(session, [review.id for review in reviews], reviewer=principal.name)
            return [
                ReviewProgress(
                    review=review.to_entity(),
                    votes=everyone.get(review.id, 0),
                    my_votes=mine.get(review.id, 0),
                    may_review=_may_review(principal, principal.name, review),
                )
                for review in reviews
            ]

    def review_queue(self, principal: Principal, *, tenant: str | None = None) -> list[ReviewProgress]:
        """The review sets with items waiting for this principal (oldest first)."""
        return [progress for progress in reversed(self.list_reviews(principal, tenant=tenant)) if progress.my_remaining]

    def get_review(self, principal: Principal, review_id: int) -> ReviewSetRecord:
        with self._reading() as session:
            review = _review_row(session, review_id)
            require(principal, Action.read, review.tenant.name)
            return review.to_entity()

    def next_review_items(self, principal: Principal, review_id: int, *, limit: int = 1, by: str | None = None) -> ReviewQueue:
        """The next `limit` items this reviewer has not voted on, blind, in item order, with their progress."""
        reviewer = acting(principal, by)
        with self._reading() as session:
            review = self._reviewable(session, principal, reviewer, review_id)
            voted = select(ReviewVote.item_id).where(ReviewVote.reviewer == reviewer)
            waiting = session.scalars(
                select(ReviewItem)
                .where(ReviewItem.review_set_id == review.id, ReviewItem.id.not_in(voted))
                .order_by(ReviewItem.position)
                .limit(max(1, limit))
            ).all()
            done = _vote_counts(session, [review.id], reviewer=reviewer).get(review.id, 0)
            return ReviewQueue(
                review_id=review.id, done=done, total=review.item_count, items=[item_view(review, item, reviewer, None) for item in waiting]
            )

    def review_item(self, principal: Principal, review_id: int, item: int, *, by: str | None = None) -> ReviewItemView:
        """One item as this reviewer sees it (the same A/B order every time), with their vote if they cast one."""
        reviewer = acting(principal, by)
        with self._reading() as session:
            review = self._reviewable(session, principal, reviewer, review_id)
            row = _item_row(session, review, item)
            vote = session.scalar(select(ReviewVote).where(ReviewVote.item_id == row.id, ReviewVote.reviewer == reviewer))
            return item_view(review, row, reviewer, vote)

    def vote(
        self,
        principal: Principal,
        review_id: int,
        item: int,
        verdict: BlindVerdict,
        *,
        comment: str | None = None,
        corrected_answer: str | None = None,
        by: str | None = None,
    ) -> VoteReceipt:
        """Record a reviewer's verdict on an item in their A/B terms; stored (and audited) as candidate/baseline/tie/both_bad.
        A second vote on the same item is refused."""
        reviewer = acting(principal, by)
        comment, corrected_answer = _checked_texts(verdict, comment, corrected_answer)
        refusal = None
        try:
            with self._writing() as tx:
                review = _review_row(tx.session, review_id)
                require(principal, Action.review, review.tenant.name)
                target = f"review:{review.id}"
                if reviewer in _authors(review):
                    refusal = _author_refusal(reviewer, review)
                    tx.audit(reviewer, review.tenant.name, "review.denied", target, after={"reason": str(refusal)})
                else:
                    row = _item_row(tx.session, review, item)
                    if tx.session.scalar(select(ReviewVote.id).where(ReviewVote.item_id == row.id, ReviewVote.reviewer == reviewer)):
                        raise _double_vote(reviewer, review.id, item)
                    meant = unblind(verdict, candidate_shown_first(review.blind_salt, row.id, reviewer))
                    at = now()
                    tx.session.add(
                        ReviewVote(item=row, reviewer=reviewer, verdict=meant, comment=comment, corrected_answer=corrected_answer, created_at=at)
                    )
                    tx.session.flush()
                    tx.audit(
                        reviewer,
                        review.tenant.name,
                        "review.vote",
                        target,
                        after={"item": item, "verdict": meant, "comment": comment, "corrected_answer": corrected_answer},
                    )
                    done = _vote_counts(tx.session, [review.id], reviewer=reviewer)[review.id]
        except IntegrityError as exc:  # a concurrent vote by the same reviewer won the race
            raise _double_vote(reviewer, review_id, item) from exc
        if refusal:
            raise refusal
        if review.comparison_dir:
            self._publish_to_comparison(review_id)
        return VoteReceipt(review_id=review_id, item=item, reviewer=reviewer, verdict=verdict, at=at, done=done, total=review.item_count)

    def review_results(self, principal: Principal, review_id: int) -> ReviewResults:
        with self._reading() as session:
            review = _review_row(session, review_id)
            require(principal, Action.read, review.tenant.name)
            return stored_results(session, review)

    def candidate_review(self, principal: Principal, ref: str, *, tenant: str | None = None) -> ReviewResults | None:
        """What the review gate reads for a version: the results of its newest review set as candidate (None: none)."""
        version_ref = parse_version_ref(ref, tenant or principal.tenant)
        require(principal, Action.read, version_ref.model.tenant)
        with self._reading() as session:
            return candidate_review_results(session, version_row(session, version_ref))

    def publish_review(self, principal: Principal, review_id: int) -> Path | None:
        """Write a comparison review's results into that comparison's reports now (votes do it as they arrive);
        the comparison folder, or None for a review of versions."""
        review = self.get_review(principal, review_id)
        if review.comparison_dir is None:
            return None
        from adaptlab.compare.report import attach_review_results

        attach_review_results(Path(review.comparison_dir), self.review_results(principal, review_id))
        return Path(review.comparison_dir)

    def review_corrections(self, principal: Principal, review_id: int) -> list[Correction]:
        """Reviewers' corrected answers, in item order."""
        with self._reading() as session:
            review = _review_row(session, review_id)
            require(principal, Action.read, review.tenant.name)
            rows = session.execute(
                select(ReviewItem, ReviewVote)
                .join(ReviewVote, ReviewVote.item_id == ReviewItem.id)
                .where(ReviewItem.review_set_id == review.id, ReviewVote.corrected_answer.is_not(None))
                .order_by(ReviewItem.position, ReviewVote.id)
            ).all()
            return [
                Correction(
                    item=item.position,
                    prompt=prompt_messages(item.prompt_json),
                    corrected_answer=vote.corrected_answer,
                    reviewer=vote.reviewer,
                    comment=vote.comment,
                )
                for item, vote in rows
            ]

    def export_corrections(self, principal: Principal, review_id: int, path: Path) -> int:
        """Write the corrected answers as training rows (JSONL, written atomically); the number of rows."""
        review = self.get_review(principal, review_id)
        rows = correction_rows(self.review_corrections(principal, review_id))
        atomic.write_text(Path(path), "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
        with self._writing() as tx:
            tx.audit(principal.name, review.tenant, "review.export", f"review:{review_id}", after={"corrections": len(rows), "file": str(path)})
        return len(rows)

    # --- internals --------------------------------------------------------------------------

    def _store_review(self, principal: Principal, new: NewReviewSet) -> ReviewSetRecord:
        with self._writing() as tx:
            session = tx.session
            review = ReviewSet(
                tenant=tenant_row(session, new.tenant),
                candidate_version=_version_row_of(session, new.candidate_version),
                baseline_version=_version_row_of(session, new.baseline_version),
                candidate=new.candidate,
                baseline=new.baseline,
                comparison_dir=new.comparison_dir,
                source=new.source,
                source_sha256=new.source_sha256,
                max_new_tokens=new.max_new_tokens,
                item_count=len(new.items),
                blind_salt=new_salt(),
                created_at=now(),
                created_by=principal.name,
            )
            session.add(review)
            session.flush()
            items = [
                ReviewItem(
                    review_set_id=review.id,
                    position=position,
                    prompt_json=prompt_json(answered.prompt),
                    reference=answered.prompt.reference,
                    candidate_answer=answered.candidate_answer,
                    baseline_answer=answered.baseline_answer,
                )
                for position, answered in enumerate(new.items, start=1)
            ]
            session.add_all(items)
            tx.audit(
                principal.name,
                new.tenant,
                "review.create",
                f"review:{review.id}",
                after={
                    "candidate": new.candidate,
                    "baseline": new.baseline,
                    "items": len(items),
                    "source": new.source,
                    "source_sha256": new.source_sha256,
                    "items_sha256": items_sha256(items),
                },
            )
            session.flush()
            return review.to_entity()

    def _reviewable(self, session: Session, principal: Principal, reviewer: str, review_id: int) -> ReviewSet:
        """The review set, if `reviewer` may vote on it; an author is refused, and the refusal audited."""
        review = _review_row(session, review_id)
        require(principal, Action.review, review.tenant.name)
        if reviewer in _authors(review):
            refusal = _author_refusal(reviewer, review)
            with self._writing() as tx:
                tx.audit(reviewer, review.tenant.name, "review.denied", f"review:{review.id}", after={"reason": str(refusal)})
            raise refusal
        return review

    def _publish_to_comparison(self, review_id: int) -> None:
        """Best effort: the vote stands when the comparison folder cannot be written (e.g. on another machine)."""
        try:
            self.publish_review(local_admin("review-publisher"), review_id)
        except (AdaptlabError, OSError) as exc:
            log.warning("review %s: could not update the comparison's reports: %s", review_id, exc)


def stored_results(session: Session, review: ReviewSet) -> ReviewResults:
    votes = session.execute(
        select(ReviewItem.position, ReviewVote.reviewer, ReviewVote.verdict)
        .join(ReviewVote, ReviewVote.item_id == ReviewItem.id)
        .where(ReviewItem.review_set_id == review.id)
    ).all()
    return review_results(review.id, review.candidate, review.baseline, review.item_count, [CastVote(*vote) for vote in votes])


def candidate_review_results(session: Session, version: ModelVersion) -> ReviewResults | None:
    """The results of the newest review set with `version` as candidate: the review gate's evidence."""
    review = session.scalar(
        select(ReviewSet).where(ReviewSet.candidate_version_id == version.id).order_by(ReviewSet.id.desc()).limit(1)
    )
    return stored_results(session, review) if review is not None else None


def _label(record: VersionRecord, asked: str) -> str:
    """The version's ref, with the alias it was named by: acme/bot@v3 (production)."""
    alias = parse_version_ref(asked, record.tenant).alias
    return f"{record.ref} ({alias})" if alias else record.ref


def _version_row_of(session: Session, record: VersionRecord | None) -> ModelVersion | None:
    return None if record is None else version_row(session, parse_version_ref(record.ref, record.tenant))


def _review_row(session: Session, review_id: int) -> ReviewSet:
    review = session.scalar(select(ReviewSet).where(ReviewSet.id == review_id).options(*REVIEW_LOADING))
    if review is None:
        raise NotFoundError(f"no review set {review_id}; list them with `adaptlab review status NAME@vN`")
    return review


def _item_row(session: Session, review: ReviewSet, position: int) -> ReviewItem:
    row = session.scalar(select(ReviewItem).where(ReviewItem.review_set_id == review.id, ReviewItem.position == position))
    if row is None:
        raise NotFoundError(f"review {review.id} has items 1 to {review.item_count}, not {position}")
    return row


def _authors(review: ReviewSet) -> set[str]:
    """Who registered a judged version; a comparison's methods have no registered author."""
    return {version.created_by for version in (review.candidate_version, review.baseline_version) if version is not None}


def _may_review(principal: Principal, reviewer: str, review: ReviewSet) -> bool:
    return Action.review in ALLOWED_ACTIONS[principal.role] and reviewer not in _authors(review)


def _author_refusal(reviewer: str, review: ReviewSet) -> AuditedDenialError:
    return AuditedDenialError(f"{reviewer} registered a version judged in review {review.id} ({review.candidate} vs {review.baseline}) and may not review it")


def _double_vote(reviewer: str, review_id: int, item: int) -> RegistryError:
    return RegistryError(f"{reviewer} has already voted on item {item} of review {review_id}; a vote cannot be changed")


def _checked_texts(verdict: str, comment: str | None, corrected_answer: str | None) -> tuple[str | None, str | None]:
    if verdict not in BLIND_VERDICTS:
        raise ConfigError(f"verdict {verdict!r}: choose one of {', '.join(BLIND_VERDICTS)} (A better, B better, tie, both bad)")
    comment = (comment or "").strip() or None
    corrected_answer = (corrected_answer or "").strip() or None
    if comment and len(comment) > MAX_COMMENT_CHARS:
        raise ConfigError(f"comment: {len(comment)} characters, at most {MAX_COMMENT_CHARS}")
    if corrected_answer and len(corrected_answer) > MAX_CORRECTION_CHARS:
        raise ConfigError(f"corrected answer: {len(corrected_answer)} characters, at most {MAX_CORRECTION_CHARS}")
    return comment, corrected_answer


def _vote_counts(session: Session, review_ids: list[int], reviewer: str | None = None) -> dict[int, int]:
    """review id -> votes (by `reviewer`, or by everyone)."""
    if not review_ids:
        return {}
    query = (
        select(ReviewItem.review_set_id, func.count(ReviewVote.id))
        .join(ReviewVote, ReviewVote.item_id == ReviewItem.id)
        .where(ReviewItem.review_set_id.in_(review_ids))
        .group_by(ReviewItem.review_set_id)
    )
    if reviewer is not None:
        query = query.where(ReviewVote.reviewer == reviewer)
    return dict(session.execute(query).all())
