"""Inputs beyond the fixtures: broken gzip, missing paths, compression sniffing, odd JSON."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import zlib

import pytest

from conftest import (
    CTR_FILES,
    FIREHOSE_FILES,
    FIXTURES,
    dead_letter_bytes,
    file_uri,
    hash_tree,
    ingest,
    iso_to_ms,
    lines_with_offsets,
    parquet_files,
    read_dead_letters,
    read_lake,
    run_ctrlake,
    ts_ms,
)

TEMPLATE = (FIXTURES / "ctr" / "01-inbound-answered.ndjson").read_text().strip()


def variant(contact_id: str, **replace_literals) -> str:
    """Fixture 01's record with a new ContactId and some top-level/nested values replaced by the
    given JSON *text* (so the literal is kept byte for byte)."""
    record = json.loads(TEMPLATE)
    record["ContactId"] = contact_id
    placeholders = {}
    for i, (dotted, literal) in enumerate(replace_literals.items()):
        keys = dotted.split("__")
        node = record
        for key in keys[:-1]:
            node = node[key]
        marker = f"@@{i}@@"
        node[keys[-1]] = marker
        placeholders[json.dumps(marker)] = literal
    text = json.dumps(record, separators=(",", ":"), ensure_ascii=False)
    for marker, literal in placeholders.items():
        text = text.replace(marker, literal)
    return text


def test_truncated_gzip_exits_2_and_keeps_complete_records(bin_path, tmp_path):
    src = tmp_path / "gen.ndjson"
    run_ctrlake("gen", "--contacts", 1000, "--seed", 3, "--days", 1, "--start", "2026-03-02",
                "--out", src)
    data = src.read_bytes()
    compressed = gzip.compress(data, mtime=0)
    cut = tmp_path / "cut.ndjson.gz"
    cut.write_bytes(compressed[: len(compressed) // 2])
    readable = len(zlib.decompressobj(wbits=31).decompress(compressed[: len(compressed) // 2]))
    assert 0 < readable < len(data)

    lake = tmp_path / "lake"
    summary = ingest([cut], lake, check=False)
    assert summary["_returncode"] == 2, summary["_stdout"] + summary["_stderr"]
    assert "cut.ndjson.gz" in summary["_stderr"]

    letters = read_dead_letters(lake)
    assert letters, "the cut must be reported in _dead_letter"
    stop = max(d["source_offset"] + d["length"] for d in letters)
    assert stop <= readable and readable - stop < 1 << 20, (stop, readable)

    table = read_lake(lake)
    complete = [(off, raw) for off, raw in lines_with_offsets(src) if off + len(raw) < stop]
    assert len(complete) > 100
    # every record that ends before the readable end was written (the last may be cut)
    got = sorted(zip(table.column("source_offset").to_pylist(), table.column("contact_id").to_pylist()))
    expected = [(off, json.loads(raw)["ContactId"]) for off, raw in complete]
    assert got[: len(expected)] == expected
    assert len(got) in (len(expected), len(expected) + 1)
    assert summary["records written"] == table.num_rows

    # The read error itself is a `truncated` dead letter; the record cut by it is `truncated`
    # too, or `invalid_utf8` when the cut falls inside a multi-byte character (see
    # test_record_cut_inside_multibyte_character_is_truncated).
    assert letters[-1]["reason"] == "truncated"
    assert {d["reason"] for d in letters} <= {"truncated", "invalid_utf8"}
    for d in letters:
        assert d["source_uri"] == file_uri(cut)
        start = d["source_offset"]
        assert data[start:start + d["length"]] == dead_letter_bytes(d)


def test_missing_input_fails_without_writing(bin_path, tmp_path):
    lake = tmp_path / "lake"
    summary = ingest([tmp_path / "nope.ndjson"], lake, check=False)
    assert summary["_returncode"] != 0
    assert "nope.ndjson" in summary["_stderr"]
    assert not parquet_files(lake)


def test_compression_is_sniffed_not_taken_from_the_name(bin_path, tmp_path):
    gz_as_json = tmp_path / "archive.json"
    shutil.copy(FIXTURES / "firehose" / "concatenated.json.gz", gz_as_json)
    plain_as_gz = tmp_path / "plain.json.gz"
    shutil.copy(FIXTURES / "firehose" / "trailing-newline.json", plain_as_gz)
    lake = tmp_path / "lake"
    summary = ingest([gz_as_json, plain_as_gz], lake)
    assert summary["records written"] == 4 + 3
    assert summary["dead_letter_reasons"] == {"truncated": 1}
    (letter,) = read_dead_letters(lake)
    assert (letter["source_offset"], letter["length"]) == (4489, 1158)


def test_multi_member_gzip_and_crlf(bin_path, tmp_path):
    a, b = CTR_FILES[0], CTR_FILES[1]
    multi = tmp_path / "multi.ndjson.gz"
    multi.write_bytes(gzip.compress(a.read_bytes()) + gzip.compress(b.read_bytes()))
    crlf = tmp_path / "crlf.ndjson"
    crlf.write_bytes(FIXTURES.joinpath("ctr", "05-agent-transfer.ndjson").read_bytes().replace(b"\n", b"\r\n"))
    lake = tmp_path / "lake"
    summary = ingest([multi, crlf], lake)
    assert summary["records dead-lettered"] == 0
    table = read_lake(lake)
    rows = sorted(zip(table.column("source_uri").to_pylist(),
                      table.column("source_offset").to_pylist(),
                      table.column("contact_id").to_pylist()))
    size_a = a.stat().st_size
    first_05 = len(FIXTURES.joinpath("ctr", "05-agent-transfer.ndjson").read_bytes().split(b"\n")[0])
    assert rows == sorted([
        (file_uri(crlf), 0, "00000000-0000-4000-8000-000000000501"),
        (file_uri(crlf), first_05 + 2, "00000000-0000-4000-8000-000000000502"),
        (file_uri(multi), 0, "00000000-0000-4000-8000-000000000101"),
        (file_uri(multi), size_a, "00000000-0000-4000-8000-000000000201"),
    ])


def test_inputs_as_directory_and_glob(bin_path, tmp_path):
    lake_dir, lake_glob = tmp_path / "a", tmp_path / "b"
    summary = ingest([FIXTURES / "ctr"], lake_dir, check=False)
    # the directory is read recursively: README.md in there is read too, line by line, and
    # dead-lettered as invalid_json; nothing ingested from a source is exit code 3, naming it
    assert summary["records written"] == 38
    assert summary["_returncode"] == 3
    assert summary["sources without rows"] == 1
    assert f"nothing was ingested from {file_uri(FIXTURES / 'ctr' / 'README.md')}: its " \
        in summary["_stderr"]
    assert {d["source_uri"] for d in read_dead_letters(lake_dir)} == {
        file_uri(FIXTURES / "ctr" / "README.md")
    }
    ingest([str(FIXTURES / "ctr" / "*.ndjson")], lake_glob)
    a, b = read_lake(lake_dir), read_lake(lake_glob)
    assert a.num_rows == b.num_rows == 38
    assert sorted(a.column("contact_id").to_pylist()) == sorted(b.column("contact_id").to_pylist())
    # the Parquet files are the same files (names depend on source URI + byte range only)
    assert {k: v for k, v in hash_tree(lake_dir).items() if k.startswith("ctr/")} == hash_tree(lake_glob)


def test_arrival_timestamp_is_file_mtime(bin_path, tmp_path):
    src = tmp_path / "one.ndjson"
    shutil.copy(CTR_FILES[0], src)
    mtime_ns = 1_772_000_000_123_456_789
    os.utime(src, ns=(mtime_ns, mtime_ns))
    lake = tmp_path / "lake"
    ingest([src], lake)
    (value,) = read_lake(lake).column("arrival_timestamp").to_pylist()
    assert ts_ms(value) == mtime_ns // 1_000_000
    assert read_lake(lake).column("source_sequence_number").to_pylist() == [None]


def test_timestamp_offsets_and_sub_millisecond_digits(bin_path, tmp_path):
    cases = {
        "ts-offset-plus": ("2026-03-02T10:00:00+09:00", "2026-03-02T01:00:00.000Z"),
        "ts-offset-minus": ("2026-03-01T23:30:00-05:00", "2026-03-02T04:30:00.000Z"),
        "ts-micros": ("2026-03-02T01:00:00.123456Z", "2026-03-02T01:00:00.123Z"),
        "ts-tenths": ("2026-03-02T01:00:00.1Z", "2026-03-02T01:00:00.100Z"),
    }
    src = tmp_path / "ts.ndjson"
    src.write_text("".join(
        variant(cid, InitiationTimestamp=json.dumps(ts)) + "\n" for cid, (ts, _) in cases.items()
    ))
    lake = tmp_path / "lake"
    summary = ingest([src], lake)
    assert summary["records written"] == len(cases)
    table = read_lake(lake)
    got = dict(zip(table.column("contact_id").to_pylist(),
                   (ts_ms(v) for v in table.column("initiation_timestamp").to_pylist())))
    assert got == {cid: iso_to_ms(utc) for cid, (_, utc) in cases.items()}
    assert set(table.column("dt").to_pylist()) == {"2026-03-02"}


def test_bools_and_integers_in_string_fields_keep_json_text(bin_path, tmp_path):
    src = tmp_path / "num.ndjson"
    src.write_text(
        variant("n-int", CustomerEndpoint__Address="819000000101") + "\n"
        + variant("n-bool", CustomerEndpoint__Type="true") + "\n"
        + variant("n-neg", Channel="-7") + "\n"
    )
    lake = tmp_path / "lake"
    ingest([src], lake)
    rows = {r["contact_id"]: r for r in read_lake(lake).to_pylist()}
    assert rows["n-int"]["customer_endpoint_address"] == "819000000101"
    assert rows["n-bool"]["customer_endpoint_type"] == "true"
    assert rows["n-neg"]["channel"] == "-7"


def test_numbers_in_string_fields_keep_exact_json_text(bin_path, tmp_path):
    literals = {
        "n-decimal": "1.50",
        "n-bigint": "12345678901234567890123456789",
        "n-negzero": "-0.0",
        "n-exp": "1e5",
    }
    src = tmp_path / "num.ndjson"
    src.write_text("".join(variant(cid, DisconnectReason=lit) + "\n" for cid, lit in literals.items()))
    lake = tmp_path / "lake"
    summary = ingest([src], lake)
    assert summary["records written"] == len(literals)
    rows = {r["contact_id"]: r["disconnect_reason"] for r in read_lake(lake).to_pylist()}
    assert rows == literals


def test_unmapped_numbers_keep_exact_text_in_raw_json(bin_path, tmp_path):
    record = json.loads(TEMPLATE)
    record["ContactId"] = "raw-numbers"
    text = json.dumps(record, separators=(",", ":"))
    extra = ',"bigNum":12345678901234567890123456789,"dec":1.50,"exp":1e5,"neg":-0.0'
    src = tmp_path / "raw.ndjson"
    src.write_text(text[:-1] + extra + "}\n")
    lake = tmp_path / "lake"
    ingest([src], lake)
    (raw,) = read_lake(lake).column("raw_json").to_pylist()
    for literal in extra.strip(",").split(","):
        assert literal in raw, (literal, raw)


def test_threads_do_not_change_output_with_dead_letters(bin_path, tmp_path):
    inputs = [*CTR_FILES, *FIREHOSE_FILES, *sorted((FIXTURES / "malformed").glob("*.ndjson")),
              FIXTURES / "malformed" / "invalid_utf8.bin"]
    one, two = tmp_path / "one", tmp_path / "two"
    s1 = ingest(inputs, one, "--threads", 1)
    s2 = ingest(inputs, two, "--threads", 2)
    for key in ("records read", "records written", "records dead-lettered", "dead_letter_reasons"):
        assert s1[key] == s2[key], key
    assert hash_tree(one) == hash_tree(two)
    assert len(read_dead_letters(one)) == s1["records dead-lettered"] > 20


def test_record_cut_inside_multibyte_character_is_truncated(bin_path, tmp_path):
    line = (FIXTURES / "ctr" / "16-japanese-text.ndjson").read_bytes().split(b"\n")[0]
    cut_at = line.index("サポート".encode()) + 1  # inside the 3 bytes of サ
    src = tmp_path / "cut.ndjson"
    src.write_bytes(line[:cut_at])
    lake = tmp_path / "lake"
    summary = ingest([src], lake, check=False)
    assert summary["_returncode"] == 3, "its only record was dead-lettered"
    (letter,) = read_dead_letters(lake)
    assert (letter["source_offset"], letter["length"]) == (0, cut_at)
    assert dead_letter_bytes(letter) == line[:cut_at]
    assert letter["reason"] == "truncated"
    assert summary["dead_letter_reasons"] == {"truncated": 1}


def test_summary_adds_up_after_read_error(bin_path, tmp_path):
    src = tmp_path / "gen.ndjson"
    run_ctrlake("gen", "--contacts", 200, "--seed", 3, "--days", 1, "--start", "2026-03-02",
                "--out", src)
    compressed = gzip.compress(src.read_bytes(), mtime=0)
    cut = tmp_path / "cut.ndjson.gz"
    cut.write_bytes(compressed[: len(compressed) // 2])
    lake = tmp_path / "lake"
    summary = ingest([cut], lake, check=False)
    assert summary["_returncode"] == 2
    letters = read_dead_letters(lake)
    table = read_lake(lake)
    assert summary["records written"] == table.num_rows
    assert summary["records dead-lettered"] == len(letters)
    assert summary["records read"] == summary["records written"] + summary["records dead-lettered"]


def test_paths_with_spaces_and_hashes_become_valid_file_uris(tmp_path):
    # A space or `#` in a path is percent-encoded in source_uri (as Path.as_uri() does), and a
    # file:// URL with percent-escapes names the same directory for --lake and for inputs.
    folder = tmp_path / "exports #1"
    folder.mkdir()
    src = folder / "ctr day 1.ndjson"
    records = [
        {"ContactId": f"c{i}", "InitiationTimestamp": "2026-03-02T01:00:00Z",
         "LastUpdateTimestamp": "2026-03-02T01:05:00Z"}
        for i in range(3)
    ]
    src.write_text("".join(json.dumps(r) + "\n" for r in records) + "not json\n")
    lake = tmp_path / "my lake"
    summary = ingest([folder.as_uri()], lake.as_uri())
    assert summary["records written"] == 3
    table = read_lake(lake)
    assert set(table.column("source_uri").to_pylist()) == {src.as_uri()}
    assert "%20" in src.as_uri() and "%23" in src.as_uri()
    [letter] = read_dead_letters(lake)
    assert letter["source_uri"] == src.as_uri()
    for location in (lake.as_uri(), str(lake)):
        out = run_ctrlake("sql", "--lake", location, "--format", "csv",
                          "SELECT count(*) AS n FROM ctr_raw").stdout.decode()
        assert out.split() == ["n", "3"], (location, out)


def test_an_empty_source_is_named_and_exits_3(bin_path, tmp_path):
    empty, good = tmp_path / "empty.ndjson", tmp_path / "good.ndjson"
    empty.write_bytes(b"")
    shutil.copy(CTR_FILES[0], good)
    summary = ingest([empty, good], tmp_path / "lake", check=False)
    assert summary["_returncode"] == 3
    assert summary["records written"] >= 1
    assert f"nothing was ingested from {file_uri(empty)}: it holds no records" in summary["_stderr"]
    assert str(good) not in summary["_stderr"]
    assert ingest([good], tmp_path / "lake2")["_returncode"] == 0
