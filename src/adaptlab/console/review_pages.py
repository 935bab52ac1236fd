"""The review queue: the review sets waiting for the signed-in reviewer, then one blind item per screen
(answers A and B in the order the registry chose for this reviewer; keys 1 / 2 / T / B choose, Enter
sends, in console.js), each vote cast through the registry, which refuses double votes and authors."""

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, FastAPI, Form, Request
from fastapi.responses import RedirectResponse, Response

from adaptlab.console.guard import Caller
from adaptlab.errors import ConfigError
from adaptlab.registry import Registry

VERDICTS = {"a": ("A is better", "1"), "b": ("B is better", "2"), "tie": ("Tie", "T"), "both_bad": ("Both bad", "B")}
"""verdict -> (its label, its key)"""


def add_review_routes(app: FastAPI, registry: Registry, caller: Callable, poster: Callable, page: Callable) -> None:
    @app.get("/reviews")
    def review_queue(request: Request, who: Annotated[Caller, Depends(caller)]) -> Response:
        return page(request, who, "reviews.html.jinja", waiting=registry.review_queue(who.principal))

    @app.get("/reviews/{review_id}")
    def next_item(request: Request, review_id: int, who: Annotated[Caller, Depends(caller)]) -> Response:
        queue = registry.next_review_items(who.principal, review_id)
        return page(request, who, "review_item.html.jinja", queue=queue, item=next(iter(queue.items), None), verdicts=VERDICTS)

    @app.post("/reviews/{review_id}/items/{item}")
    def vote(
        review_id: int,
        item: int,
        who: Annotated[Caller, Depends(poster)],
        verdict: Annotated[str, Form()] = "",
        comment: Annotated[str, Form()] = "",
        corrected_answer: Annotated[str, Form()] = "",
    ) -> Response:
        if verdict not in VERDICTS:
            raise ConfigError(f"verdict {verdict[:20]!r}: choose one of " + ", ".join(label for label, _key in VERDICTS.values()))
        registry.vote(
            who.principal, review_id, item, verdict, comment=comment.strip() or None, corrected_answer=corrected_answer.strip() or None
        )
        return RedirectResponse(f"/reviews/{review_id}", status_code=303)
