"""Bad records go to _dead_letter with their reason, offset, length and exact bytes; the good
records around them are all written."""

from __future__ import annotations

import json

import pytest

from conftest import (
    FIREHOSE_EXPECTED,
    FIXTURES,
    MALFORMED_EXPECTED,
    dead_letter_bytes,
    dead_letter_files,
    file_uri,
    ingest,
    read_dead_letters,
    read_lake,
    source_bytes,
)

CASES = [("malformed", e) for e in MALFORMED_EXPECTED] + [("firehose", e) for e in FIREHOSE_EXPECTED]
DEAD_LETTER_KEYS = {"source_uri", "source_offset", "reason", "detail", "length"}


def test_every_reason_is_covered():
    reasons = {d["reason"] for e in MALFORMED_EXPECTED for d in e["dead_letters"]}
    assert reasons == {
        "invalid_json", "invalid_utf8", "not_an_object", "missing_contact_id",
        "missing_timestamp", "bad_timestamp", "bad_integer", "bad_nesting",
        "bad_map_value", "too_large", "truncated",
    }


@pytest.mark.parametrize("folder,case", CASES, ids=[f"{d}/{e['file']}" for d, e in CASES])
def test_dead_letters(folder, case, bin_path, tmp_path):
    path = FIXTURES / folder / case["file"]
    data = source_bytes(path)
    lake = tmp_path / "lake"
    summary = ingest([path], lake)
    assert summary["_returncode"] == 0

    expected = case["dead_letters"]
    good = case["good_contact_ids"]
    assert summary["records dead-lettered"] == len(expected)
    assert summary["records written"] == len(good)
    assert summary["records read"] == len(good) + len(expected)
    reasons: dict = {}
    for d in expected:
        reasons[d["reason"]] = reasons.get(d["reason"], 0) + 1
    assert summary["dead_letter_reasons"] == reasons

    letters = read_dead_letters(lake)
    if not expected:
        assert letters == []
        assert dead_letter_files(lake) == []
    got = [(d["reason"], d["source_offset"], d["length"]) for d in letters]
    assert got == [(d["reason"], d["offset"], d["length"]) for d in expected]
    for letter, exp in zip(letters, expected):
        assert DEAD_LETTER_KEYS <= letter.keys(), letter.keys()
        assert letter["source_uri"] == file_uri(path)
        assert isinstance(letter["detail"], str) and letter["detail"]
        has_text = letter.get("record") is not None
        has_b64 = letter.get("record_base64") is not None
        assert has_text != has_b64, "exactly one of record / record_base64"
        start, length = exp["offset"], exp["length"]
        assert dead_letter_bytes(letter) == data[start:start + length]
        if exp["reason"] == "invalid_utf8":
            assert has_b64
            assert b"\xff\xfe" in dead_letter_bytes(letter)
        else:
            # valid UTF-8 is kept as text
            assert has_text

    # The good records around the bad ones are all there, nothing else.
    table = read_lake(lake)
    contact_ids = sorted(table.column("contact_id").to_pylist()) if table is not None else []
    assert contact_ids == sorted(good)
    # and each good row points at its own bytes: a parseable object with that ContactId
    if table is not None:
        for row in table.select(["contact_id", "source_offset", "source_uri"]).to_pylist():
            assert row["source_uri"] == file_uri(path)
            head = data[row["source_offset"]:row["source_offset"] + 1]
            assert head == b"{", (row, head)
            dec = json.JSONDecoder()
            obj, _ = dec.raw_decode(data[row["source_offset"]:].decode("utf-8", "replace"))
            assert obj["ContactId"] == row["contact_id"]
