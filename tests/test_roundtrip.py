"""Every JSON leaf of every scenario line survives: in its typed column, its map, or raw_json."""

from __future__ import annotations

import json

import pytest

from conftest import (
    CTR_FILES,
    file_uri,
    ingest,
    iso_to_ms,
    lines_with_offsets,
    read_lake,
    ts_ms,
)

MAP_SOURCES = {"Attributes": "attributes", "Tags": "tags"}
MISSING = object()


def leaves(value, path=()):
    """(path, value) of every leaf; empty objects/arrays and nulls are leaves too."""
    if isinstance(value, dict) and value:
        for key, child in value.items():
            yield from leaves(child, path + (key,))
    elif isinstance(value, list) and value:
        for index, child in enumerate(value):
            yield from leaves(child, path + (index,))
    else:
        yield path, value


def get_path(record, path):
    node = record
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return MISSING
        node = node[key]
    return node


def same(a, b) -> bool:
    """JSON equality that does not let 1 == 1.0 == True pass."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def no_duplicate_keys(pairs):
    keys = [k for k, _ in pairs]
    assert len(keys) == len(set(keys)), f"duplicate keys in {keys}"
    return dict(pairs)


@pytest.fixture(scope="module")
def typed(schema_columns):
    """JSON path tuple -> schema column, for every column fed from one CTR field."""
    out = {}
    for c in schema_columns:
        src = c["source"]
        if src.startswith("(") or src in MAP_SOURCES:
            continue
        out[tuple(src.split("."))] = c
    return out


@pytest.fixture(scope="module")
def ctr_lake(bin_path, tmp_path_factory):
    lake = tmp_path_factory.mktemp("roundtrip")
    summary = ingest(CTR_FILES, lake)
    assert summary["records dead-lettered"] == 0
    table = read_lake(lake)
    rows = {}
    for row in table.to_pylist():
        key = (row["source_uri"], row["source_offset"])
        assert key not in rows, f"two rows for {key}"
        rows[key] = row
    return rows


def all_lines():
    for path in CTR_FILES:
        for offset, raw in lines_with_offsets(path):
            yield path, offset, raw


def test_schema_sources_cover_model(typed, schema_columns):
    names = {c["name"] for c in schema_columns}
    assert {"attributes", "tags", "raw_json", "source_uri", "source_offset"} <= names
    assert ("Queue", "Duration") in typed
    assert ("Agent", "HierarchyGroups", "Level1", "GroupName") in typed
    assert ("CustomerEndpoint", "Address") in typed
    by_name = {c["name"]: c for c in schema_columns}
    assert by_name["attributes"]["source"] == "Attributes"
    assert by_name["tags"]["source"] == "Tags"
    for name in ("raw_json", "source_uri", "source_offset", "source_sequence_number",
                 "arrival_timestamp"):
        assert by_name[name]["source"].startswith("("), name


def test_every_line_has_exactly_one_row(ctr_lake):
    expected = {(file_uri(p), off) for p, off, _ in all_lines()}
    assert len(expected) == 38
    assert set(ctr_lake) == expected


def check_typed(column, row_value, value, where):
    arrow = column["arrow_type"]
    name = column["name"]
    if value is None:
        assert row_value is None, (where, name, row_value)
    elif arrow.startswith("Timestamp"):
        assert isinstance(value, str), (where, name, value)
        assert ts_ms(row_value) == iso_to_ms(value), (where, name, row_value, value)
    elif arrow == "Int64":
        assert type(value) is int, (where, name, value)
        assert row_value == value, (where, name, row_value, value)
    elif arrow == "Utf8":
        if isinstance(value, str):
            assert row_value == value, (where, name, row_value, value)
        else:
            # numbers/bools in string fields are kept as their JSON text
            assert isinstance(row_value, str), (where, name, row_value)
            assert same(json.loads(row_value), value), (where, name, row_value, value)
    elif arrow == "Boolean":
        assert row_value is value, (where, name, row_value, value)
    elif arrow.startswith("Float"):
        assert isinstance(value, (int, float)) and not isinstance(value, bool), (where, name)
        assert row_value == float(value), (where, name, row_value, value)
    else:
        pytest.fail(f"no round-trip rule for arrow type {arrow} of {name}")


@pytest.mark.parametrize("path", CTR_FILES, ids=lambda p: p.name)
def test_round_trip(path, ctr_lake, typed):
    typed_prefixes = {src[:i] for src in typed for i in range(1, len(src))}
    uri = file_uri(path)
    for offset, raw in lines_with_offsets(path):
        where = f"{path.name}@{offset}"
        record = json.loads(raw, object_pairs_hook=no_duplicate_keys)
        row = ctr_lake[(uri, offset)]
        assert row["contact_id"] == record["ContactId"], where
        assert ts_ms(row["last_update_timestamp"]) == iso_to_ms(record["LastUpdateTimestamp"]), where

        # Typed columns: the value where the source has one, null where it is null or absent.
        for src, column in typed.items():
            value = get_path(record, src)
            check_typed(column, row[column["name"]], None if value is MISSING else value, where)

        # Maps.
        for key, name in MAP_SOURCES.items():
            value = record.get(key)
            if value is None:
                assert row[name] is None, (where, name, row[name])
            else:
                assert isinstance(row[name], list), (where, name)
                assert len(row[name]) == len(value), (where, name)
                assert dict(row[name]) == value, (where, name)
                for k, v in row[name]:
                    assert isinstance(v, str), (where, name, k, v)

        # Everything else goes to raw_json at the same path with the same value.
        expected_raw = {}
        typed_parents = {}
        for leaf_path, value in leaves(record):
            if leaf_path[0] in MAP_SOURCES or leaf_path in typed:
                continue
            if leaf_path in typed_prefixes:
                # e.g. "Agent": null, "HierarchyGroups": {"Level3": null}: its typed
                # columns are null (checked above); null vs missing may differ.
                assert value is None or value == {}, (where, leaf_path, value)
                typed_parents[leaf_path] = value
                continue
            expected_raw[leaf_path] = value

        if not expected_raw:
            assert row["raw_json"] is None, (where, row["raw_json"])
            continue
        assert row["raw_json"] is not None, where
        raw_obj = json.loads(row["raw_json"], object_pairs_hook=no_duplicate_keys)
        assert isinstance(raw_obj, dict), where
        got = dict(leaves(raw_obj))
        for leaf_path, value in expected_raw.items():
            assert leaf_path in got, (where, "missing from raw_json", leaf_path)
            assert same(got[leaf_path], value), (where, leaf_path, got[leaf_path], value)
        for leaf_path, value in got.items():
            if leaf_path in expected_raw:
                continue
            assert leaf_path[0] not in MAP_SOURCES, (where, "map in raw_json", leaf_path)
            assert leaf_path not in typed, (where, "typed field in raw_json", leaf_path)
            # Only a null/empty parent of typed fields may be repeated, unchanged.
            assert leaf_path in typed_parents, (where, "unexpected raw_json leaf", leaf_path)
            assert same(value, typed_parents[leaf_path]), (where, leaf_path)


def test_known_values(ctr_lake):
    """Spot checks on tricky fixtures, independent of the generic walk above."""
    by_id = {}
    for row in ctr_lake.values():
        by_id.setdefault(row["contact_id"], []).append(row)
    (r2001,) = by_id["00000000-0000-4000-8000-000000002001"]
    assert r2001["customer_endpoint_address"] == " 819000002001"
    assert dict(r2001["tags"])["CostCenter"] == "CC-1234"
    raw = json.loads(r2001["raw_json"])
    assert raw["Recordings"][1]["FragmentStartNumber"] == "91343852333181432392682062607743920146264440498"
    assert raw["_id"] == {"$oid": "65e7b3c0a1b2c3d4e5f60001"}
    assert type(raw["createdAt"]) is int
    assert "DeviceInfo" in raw["Agent"] and "Username" not in raw["Agent"]
    (r1801,) = by_id["00000000-0000-4000-8000-000000001801"]
    assert len(r1801["attributes"]) == 120
    r1601 = by_id["00000000-0000-4000-8000-000000001601"][0]
    r1602 = by_id["00000000-0000-4000-8000-000000001602"][0]
    assert r1601["queue_name"] == "サポート窓口"
    assert r1602["queue_name"] == "請求・お支払い"
    attrs = dict(r1601["attributes"])
    assert "greetingPlayed" in attrs and "GreetingPlayed" in attrs
    assert any("\n" in v for v in attrs.values())
    assert len(by_id["00000000-0000-4000-8000-000000001401"]) == 2  # no de-dup
    real = [cid for cid in by_id if cid.startswith("6fe40d2a-")]
    assert len(real) == 1 and len(by_id[real[0]]) == 3


def test_raw_json_full_keeps_original_text(bin_path, tmp_path):
    lake = tmp_path / "lake"
    summary = ingest(CTR_FILES, lake, "--raw-json", "full")
    assert summary["records written"] == 38
    table = read_lake(lake)
    rows = {(r["source_uri"], r["source_offset"]): r for r in table.to_pylist()}
    for path, offset, raw in all_lines():
        row = rows[(file_uri(path), offset)]
        assert row["raw_json"] == raw.decode("utf-8"), f"{path.name}@{offset}"
        # typed columns are still filled
        assert row["contact_id"] == json.loads(raw)["ContactId"]
