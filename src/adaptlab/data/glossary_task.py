"""The built-in demo task: rewrite a sentence in Acme's house style.

A prompt is "Rewrite in Acme house style: <sentence>"; the completion is the same sentence with every term of a
fixed 20-entry glossary replaced by Acme's word (customer -> member, ticket -> case, ...). The rule is consistent
and the answers are short, so exact match measures whether a fine-tune learned company knowledge the base model
cannot know. Held-out rows are sentences (template and filler combinations) never seen in training, built only
from glossary terms that training shows. Same arguments, same records, same bytes.
"""

import json
import random
import re
from pathlib import Path

from adaptlab import atomic

PROMPT_PREFIX = "Rewrite in Acme house style: "

PEOPLE_GLOSSARY = {
    "customer": "member",
    "manager": "team lead",
    "employee": "associate",
    "supplier": "partner",
}
THINGS_GLOSSARY = {
    "ticket": "case",
    "bug": "defect",
    "meeting": "sync",
    "email": "note",
    "refund": "credit",
    "price": "rate",
    "problem": "issue",
    "product": "offering",
    "order": "request",
    "delivery": "handover",
    "feature": "capability",
    "deadline": "target date",
    "report": "summary",
    "warehouse": "depot",
    "invoice": "statement",
    "complaint": "concern",
}
GLOSSARY = {**PEOPLE_GLOSSARY, **THINGS_GLOSSARY}

# Nouns Acme does not rename: the model must learn to copy them unchanged.
NEUTRAL_PEOPLE = ("intern", "auditor", "director", "designer")
NEUTRAL_THINGS = (
    "printer", "laptop", "contract", "budget", "website",
    "schedule", "policy", "password", "survey", "calendar",
)  # fmt: skip

# (sentence with {} slots, the kind of each slot: P a person, T a thing)
TEMPLATES = (
    ("The {} asked about the {}.", "PT"),
    ("Please forward the {} to the {} today.", "TP"),
    ("We updated the {} after the {} mentioned the {}.", "TPT"),
    ("The {} is still waiting for the {}.", "PT"),
    ("Can the {} review the {} before Friday?", "PT"),
    ("Nobody has checked the {} since Tuesday.", "T"),
    ("The {} and the {} need attention from the {}.", "TTP"),
    ("Send the {} about the {} to every {}.", "TTP"),
    ("I spoke with the {} about the {} and the {}.", "PTT"),
    ("The {} for the {} was moved to next week.", "TT"),
    ("Before the {}, double-check the {} with the {}.", "TTP"),
    ("Thanks for sharing the {}; the {} will follow up.", "TP"),
    ("Log the {} in the {} so the {} can see it.", "TTP"),
    ("Remind the {} that the {} changed.", "PT"),
    ("Why did the {} ignore the {}?", "PT"),
    ("The {} wants the {} fixed by Monday.", "PT"),
)

_GLOSSARY_TERM = re.compile(r"\b(" + "|".join(map(re.escape, GLOSSARY)) + r")\b")
_MAX_DRAWS_PER_ROW = 1000

Combination = tuple[int, tuple[str, ...]]  # (template index, the nouns filling its slots)


def to_house_style(sentence: str) -> str:
    """The sentence with every glossary term replaced by Acme's word: the task's rule, and its answer key."""
    return _GLOSSARY_TERM.sub(lambda match: GLOSSARY[match.group(1)], sentence)


def glossary_task(n_train: int, n_eval: int, seed: int) -> tuple[list[dict], list[dict]]:
    """`n_train` and `n_eval` prompt/completion records; eval sentences never occur in training."""
    if n_train < 1 or n_eval < 0:
        raise ValueError(f"glossary_task: need n_train >= 1 and n_eval >= 0, got {n_train} and {n_eval}")
    rng = random.Random(seed)
    terms = list(GLOSSARY)
    used: set[Combination] = set()
    # The first rows each feature one glossary term, so a large enough training set shows the whole glossary.
    train = [_draw(rng, terms, used, terms[index] if index < len(terms) else None) for index in range(n_train)]
    rng.shuffle(train)
    seen_terms = sorted({noun for _, nouns in train for noun in nouns if noun in GLOSSARY})
    held_out = [_draw(rng, seen_terms, used, None) for _ in range(n_eval)]
    return [_record(combination) for combination in train], [_record(combination) for combination in held_out]


def write_jsonl(records: list[dict], path: Path) -> None:
    """One JSON object per line, written atomically."""
    atomic.write_text(Path(path), "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records))


def _draw(rng: random.Random, terms: list[str], used: set[Combination], required_term: str | None) -> Combination:
    """A new combination using glossary terms from `terms` only, at least one of them (`required_term` if given)."""
    pools = {
        "P": [noun for noun in (*PEOPLE_GLOSSARY, *NEUTRAL_PEOPLE) if noun in terms or noun not in GLOSSARY],
        "T": [noun for noun in (*THINGS_GLOSSARY, *NEUTRAL_THINGS) if noun in terms or noun not in GLOSSARY],
    }
    for _ in range(_MAX_DRAWS_PER_ROW):
        template_index = rng.randrange(len(TEMPLATES))
        kinds = TEMPLATES[template_index][1]
        nouns = _fill(rng, kinds, pools)
        if required_term is not None and required_term not in nouns:
            kind = "P" if required_term in PEOPLE_GLOSSARY else "T"
            slots = [slot for slot, slot_kind in enumerate(kinds) if slot_kind == kind]
            if not slots:
                continue
            nouns[rng.choice(slots)] = required_term
        combination = (template_index, tuple(nouns))
        if combination not in used and any(noun in GLOSSARY for noun in nouns):
            used.add(combination)
            return combination
    raise ValueError("glossary_task: ran out of new sentences; ask for fewer rows")


def _fill(rng: random.Random, kinds: str, pools: dict[str, list[str]]) -> list[str]:
    """Distinct nouns for the slots, each from the pool of its kind."""
    picked = {kind: iter(rng.sample(pools[kind], kinds.count(kind))) for kind in set(kinds)}
    return [next(picked[kind]) for kind in kinds]


def _record(combination: Combination) -> dict:
    template_index, nouns = combination
    sentence = TEMPLATES[template_index][0].format(*nouns)
    return {"prompt": PROMPT_PREFIX + sentence, "completion": to_house_style(sentence)}
