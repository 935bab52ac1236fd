"""PII findings: every type found at its exact `file:line` and column, look-alikes left alone, values never shown;
`redact` removes them before tokenization, `reject` refuses to train."""

import re
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adaptlab.data import DataOptions, prepare_data
from adaptlab.data import pii
from adaptlab.data.pii import PiiScanner, redact
from adaptlab.data.quality import QualityPass
from adaptlab.data.readers import read_source_file
from adaptlab.errors import DataError
from tests.train.cli_runs import quiet_env, train_argv

from .support import write_jsonl

# (text, the type it plants); the values are well-known test numbers, not anyone's data
PLANTED = [
    ("Write to alice.smith@example.com about it.", "EMAIL"),
    ("Call me on +1 212-555-0123 tomorrow.", "PHONE"),
    ("Charge card 4111 1111 1111 1111 please.", "CREDIT_CARD"),
    ("Pay to DE89370400440532013000 by Friday.", "IBAN"),
    ("The server at 192.168.14.20 is down.", "IP_ADDRESS"),
    ("My SSN is 536-22-1234.", "US_SSN"),
    ("Use key AKIAIOSFODNN7EXAMPLE for uploads.", "SECRET"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----", "SECRET"),
    ("Token ghp_abcdefghijklmnopqrstuvwxyz0123456789 works.", "SECRET"),
]
LOOK_ALIKES = [
    "Charge card 4111 1111 1111 1112 please.",  # fails the Luhn check
    "Upgrade to version 1.2.3.4 before Monday.",  # a version number, not an address
    "Pi is about 3.14159 and e is 2.71828.",
    "So C = arccos(-0.3571428571), a decimal, not a phone number.",
    "Order 12 apples and 7 pears.",
]
PLANTED_VALUES = [
    "alice.smith@example.com", "212-555-0123", "4111 1111 1111 1111", "DE89370400440532013000",
    "192.168.14.20", "536-22-1234", "AKIAIOSFODNN7EXAMPLE", "BEGIN RSA PRIVATE KEY",
    "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
]


@pytest.fixture
def planted_file(tmp_path):
    """Line 1 clean, then one planted finding per line (in the completion on even lines), then the look-alikes."""
    rows = [{"prompt": "Say hi.", "completion": "Hi."}]
    for number, (text, _) in enumerate(PLANTED):
        rows.append({"prompt": "Repeat.", "completion": text} if number % 2 else {"prompt": text, "completion": "Done."})
    rows += [{"prompt": text, "completion": "OK."} for text in LOOK_ALIKES]
    return write_jsonl(tmp_path / "train.jsonl", rows)


def expected_reports(path) -> list[str]:
    return [
        f"{path}:{line}: PII: {pii_type} at column {'completion' if number % 2 else 'prompt'}"
        for number, (line, (_, pii_type)) in enumerate(enumerate(PLANTED, start=2))
    ]


def test_scanner_finds_each_planted_type_and_no_look_alike():
    scanner = PiiScanner()
    assert [[finding.pii_type for finding in scanner.scan(text)] for text, _ in PLANTED] == [
        [pii_type] for _, pii_type in PLANTED
    ]
    assert [scanner.scan(text) for text in LOOK_ALIKES] == [[] for _ in LOOK_ALIKES]


def test_the_gates_change_no_finding(planted_file):
    """The cheap gates only skip recognizers that could not match: the same findings with and without them."""
    texts = [text for text, _ in PLANTED] + LOOK_ALIKES + ["Mail bob@example.org or call +44 20 7946 0958.", "v2 of 10.0.0.1"]
    gated, ungated = PiiScanner(), PiiScanner(prefilter=False)
    assert [gated.scan(text) for text in texts] == [ungated.scan(text) for text in texts]
    assert all(ungated.may_find(text) for text in texts)
    rows = [row.record for row in read_source_file(planted_file).rows]
    summaries = []
    for scanner in (gated, ungated):
        quality = QualityPass(DataOptions(pii="report", dedup="off"), check_contamination=False, scanner=scanner)
        screened = [quality.screen(row, "prompt_completion") for row in rows]
        summaries.append((quality.summary(len(rows), {}).pii, [item.text for item in screened]))
    assert summaries[0] == summaries[1] and summaries[0][0].findings_by_type


ALL_GATES = [*pii.EMAIL_GATES, *pii.PHONE_GATES, *pii.CARD_GATES, *pii.IBAN_GATES, *pii.IP_GATES, *pii.SSN_GATES, *pii.SECRET_GATES]


@settings(max_examples=400, deadline=None, derandomize=True)  # the same examples every run: CI passes or fails on the code
@given(st.text(alphabet="0123456789 ().-/:@_abefkzAEFKZ\n", max_size=40) | st.sampled_from(["ghp_x", "xoxb-1", "AIza", "hf_a"]))
def test_a_row_passes_the_prefilters_whenever_a_recognizer_gate_passes(text):
    """The row prefilters are the gates in fewer scans: never stricter than the gates they stand for."""
    assert PiiScanner().may_find(text) or not any(re.search(gate, text) for gate in ALL_GATES)


def test_redact_writes_typed_placeholders():
    text = "Mail bob@example.org or call +44 20 7946 0958."
    assert redact(text, PiiScanner().scan(text)) == "Mail <EMAIL> or call <PHONE>."


def test_reject_reports_each_finding_at_its_line_and_column(planted_file, tiny_tokenizer):
    prepared = prepare_data([planted_file], [], tiny_tokenizer, DataOptions(pii="reject", max_bad_rows=100))
    assert [str(row) for row in prepared.bad_rows] == expected_reports(planted_file)
    assert prepared.info.train_examples == 1 + len(LOOK_ALIKES)


def test_reject_refuses_to_start_and_never_prints_a_value(planted_file, tiny_tokenizer):
    with pytest.raises(DataError) as refused:
        prepare_data([planted_file], [], tiny_tokenizer, DataOptions(pii="reject"))
    message = str(refused.value)
    assert all(report in message for report in expected_reports(planted_file))
    assert not any(value in message for value in PLANTED_VALUES)


def test_report_counts_by_type_and_field_and_keeps_the_rows(planted_file, tiny_tokenizer):
    quality = prepare_data([planted_file], [], tiny_tokenizer, DataOptions()).info.quality
    assert quality.pii.findings_by_type == {
        "CREDIT_CARD": 1, "EMAIL": 1, "IBAN": 1, "IP_ADDRESS": 1, "PHONE": 1, "SECRET": 3, "US_SSN": 1
    }
    assert quality.pii.findings_by_field == {"completion": 4, "prompt": 5}
    assert quality.pii.rows_with_findings == quality.pii.unredacted_findings == len(PLANTED)
    assert not any(value in quality.model_dump_json() for value in PLANTED_VALUES)


def test_redact_leaves_no_planted_value_in_the_tokenized_data(planted_file, tiny_tokenizer):
    prepared = prepare_data([planted_file], [], tiny_tokenizer, DataOptions(pii="redact"))
    decoded = "\n".join(tiny_tokenizer.decode(example.input_ids) for example in prepared.train)
    assert not any(value in decoded for value in PLANTED_VALUES)
    assert all(f"<{pii_type}>" in decoded for _, pii_type in PLANTED)
    assert "4111 1111 1111 1112" in decoded and "1.2.3.4" in decoded
    assert prepared.info.quality.pii.unredacted_findings == 0


def test_chat_messages_are_named_by_position(tmp_path, tiny_tokenizer):
    chat = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "mail x.y@example.com"}]}
    clean = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}
    path = write_jsonl(tmp_path / "chat.jsonl", [chat, clean])
    prepared = prepare_data([path], [], tiny_tokenizer, DataOptions(pii="reject", max_bad_rows=1))
    assert [str(row) for row in prepared.bad_rows] == [f"{path}:1: PII: EMAIL at column messages[2].content"]


def test_train_with_pii_reject_refuses_before_writing(planted_file, tmp_path):
    out = tmp_path / "out"
    argv = [sys.executable, "-m", "adaptlab", *train_argv(planted_file, out)[3:], "--pii", "reject"]
    result = subprocess.run(argv, capture_output=True, text=True, env=quiet_env(), timeout=300)
    assert result.returncode == 2, result.stderr
    assert f"{planted_file}:2: PII: EMAIL at column prompt" in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists() or not any(out.iterdir())
