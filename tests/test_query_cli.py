"""The query commands through the real binary: contacts search and chain, sql with its error
handling and the interactive shell fed on stdin, report output formats and bad arguments."""

import csv
import datetime
import io
import json

import pyarrow as pa
import pyarrow.parquet as pq

from conftest import run_ctrlake


def test_contacts_search_shows_local_seconds_and_milliseconds(bin_path, fixture_lake):
    lake, _ = fixture_lake
    out = run_ctrlake("contacts", "--lake", lake, "--from", "2026-03-01", "--to", "2026-03-07",
                      "--tz", "Asia/Tokyo", "--format", "csv").stdout.decode()
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 32
    ids = [r["contact_id"] for r in rows]
    assert len(ids) == len(set(ids)), "one row per contact"
    ms = next(r for r in rows if r["contact_id"] == "00000000-0000-4000-8000-000000001301")
    assert ms["last_update_timestamp"].endswith(".250+09:00"), ms["last_update_timestamp"]
    assert all(r["initiation_timestamp"].endswith("+09:00") for r in rows)
    # The columns are the contacts table's, by the same names.
    table = run_ctrlake("sql", "--lake", lake, "--format", "csv",
                        "SELECT * FROM contacts LIMIT 0").stdout.decode().split()[0].split(",")
    assert set(rows[0]) <= set(table), set(rows[0]) - set(table)
    chain = run_ctrlake("contacts", "--lake", lake, "--chain",
                        "00000000-0000-4000-8000-000000000702", "--format", "csv").stdout.decode()
    assert set(chain.split()[0].split(",")) <= set(table)
    # A result without rows still has its columns.
    assert run_ctrlake("sql", "--lake", lake, "--format", "json",
                       "SELECT 1 AS a WHERE false").stdout.decode().strip() == "[]"


def test_contacts_filters_combine(bin_path, fixture_lake):
    lake, _ = fixture_lake
    out = run_ctrlake("contacts", "--lake", lake, "--date", "2026-03-02", "--tz", "Asia/Tokyo",
                      "--queue", "Support", "--channel", "VOICE", "--format", "json").stdout.decode()
    rows = json.loads(out)
    assert rows, "Support had voice contacts on 2026-03-02"
    assert {r["queue_name"] for r in rows} == {"Support"}
    assert {r["channel"] for r in rows} == {"VOICE"}


def test_chain_lists_every_leg(bin_path, fixture_lake):
    lake, _ = fixture_lake
    out = run_ctrlake("contacts", "--lake", lake, "--chain",
                      "00000000-0000-4000-8000-000000000702", "--format", "csv").stdout.decode()
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["initiation_method"] for r in rows] == ["INBOUND", "CALLBACK"]


def test_sql_query_and_parquet_output(bin_path, fixture_lake, tmp_path):
    lake, _ = fixture_lake
    out = tmp_path / "q.parquet"
    run_ctrlake("sql", "--lake", lake, "--format", "parquet", "--out", out,
                "SELECT queue_name, count(*) AS n FROM contacts WHERE queue_name IS NOT NULL "
                "GROUP BY queue_name ORDER BY queue_name")
    table = pq.read_table(out)
    assert table.column_names == ["queue_name", "n"]
    assert table.schema.field("queue_name").type == pa.string()
    assert sum(table.column("n").to_pylist()) == 30


def test_bad_sql_is_one_line_and_exit_1(bin_path, fixture_lake):
    lake, _ = fixture_lake
    result = run_ctrlake("sql", "--lake", lake, "SELECT nope FROM contacts", check=False)
    assert result.returncode == 1
    stderr = result.stderr.decode()
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "nope" in lines[0], stderr
    assert "panicked" not in stderr and "backtrace" not in stderr.lower()


def test_sql_runs_a_script_from_stdin_an_argument_or_a_file(bin_path, fixture_lake, tmp_path):
    lake, _ = fixture_lake
    # The last statement needs no ';'; every result is printed, in order.
    script = "SELECT count(*) AS n\n  FROM contacts;\n-- a comment\nSELECT 41 + 1 AS answer"
    for args, stdin in [([], script), ([script], None), (["--file", tmp_path / "q.sql"], None),
                        (["--file", "-"], script)]:
        (tmp_path / "q.sql").write_text(script)
        result = run_ctrlake("sql", "--lake", lake, "--format", "csv", *args,
                             input=stdin.encode() if stdin else b"",
                             env={"HOME": str(tmp_path)})
        assert result.stdout.decode().splitlines() == ["n", "33", "answer", "42"], args
    # Piped input is a script, not a shell session: no history is written.
    assert not (tmp_path / ".ctrlake_history").exists()


def test_a_script_stops_at_its_first_failing_statement(bin_path, fixture_lake, tmp_path):
    lake, _ = fixture_lake
    result = run_ctrlake("sql", "--lake", lake, "--format", "csv", input=(
        b"SELECT 1 AS first;\nSELECT nope FROM contacts;\nSELECT 3 AS third;\n"), check=False)
    assert result.returncode == 1
    assert result.stdout.decode().splitlines() == ["first", "1"]
    assert "statement 2 of 3 (SELECT nope FROM contacts)" in result.stderr.decode()
    # A syntax error anywhere stops the script before anything runs.
    result = run_ctrlake("sql", "--lake", lake, "SELECT 1 AS a; SELECT broken(; SELECT 2",
                         check=False)
    assert result.returncode == 1 and result.stdout == b""
    assert "syntax error: expected an expression" in result.stderr.decode()
    # Read-only applies to every statement of a script.
    result = run_ctrlake("sql", "--lake", lake, f"SELECT 1; COPY (SELECT 1) TO '{tmp_path}/x.csv'",
                         check=False)
    assert result.returncode == 1 and "read-only" in result.stderr.decode()
    assert not (tmp_path / "x.csv").exists()
    empty = run_ctrlake("sql", "--lake", lake, "-- nothing but a comment", check=False)
    assert empty.returncode == 1 and "no SQL statement" in empty.stderr.decode()


def test_a_failed_command_leaves_no_half_written_out_file(bin_path, fixture_lake, tmp_path):
    lake, _ = fixture_lake
    out = tmp_path / "report.csv"
    run_ctrlake("report", "queues", "--lake", lake, "--date", "2026-03-02", "--tz", "Asia/Tokyo",
                "--format", "csv", "--out", out)
    good = out.read_bytes()
    assert good.count(b"\n") == 2, "a header and a row"
    # Parquet has no interval type: the write fails after the query ran. (File::create
    # would have emptied the earlier report by then.)
    failing = "SELECT 1 AS a, INTERVAL '1 day' AS b"
    result = run_ctrlake("sql", "--lake", lake, "--format", "parquet", "--out", out, failing,
                         check=False)
    assert result.returncode == 1, result.stderr
    assert out.read_bytes() == good, "the earlier report is untouched"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.csv"], "no temporary left"
    fresh = tmp_path / "fresh.parquet"
    run_ctrlake("sql", "--lake", lake, "--format", "parquet", "--out", fresh, failing,
                check=False)
    assert not fresh.exists()
    # A file written is readable by others as a plain `>` redirect would make it (umask).
    import os
    import stat
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~mask


def test_an_empty_report_says_what_the_lake_holds_and_exits_3(bin_path, fixture_lake, tmp_path):
    lake, _ = fixture_lake
    out = tmp_path / "nightly.csv"
    for report in ["queues", "agents", "intervals", "agent-activity"]:
        result = run_ctrlake("report", report, "--lake", lake, "--date", "2025-12-31", "--tz",
                             "Asia/Tokyo", "--format", "csv", "--out", out, check=False)
        assert result.returncode == 3, (report, result.stderr)
        stderr = result.stderr.decode()
        assert "the report is empty" in stderr and "2025-12-31" in stderr, stderr
        if report == "agent-activity":
            assert "the lake holds no agent events" in stderr, stderr
        else:
            assert "the lake holds contacts of the UTC days 2022-01-05 to 2026-03-07" in stderr
        assert not out.exists(), "nothing written"
    allowed = run_ctrlake("report", "queues", "--lake", lake, "--date", "2025-12-31",
                          "--format", "csv", "--allow-empty")
    assert allowed.stdout.decode().count("\n") == 1, "the header only"


def test_a_closed_pipe_ends_the_output_quietly(bin_path, fixture_lake):
    import subprocess

    from conftest import ctrlake_bin

    lake, _ = fixture_lake
    # `ctrlake ... | head -1`: the reader goes after one line. Output larger than the pipe's
    # buffer meets the closed pipe (exit 141, as SIGPIPE would end a Unix tool); a small one
    # may be written whole before the reader goes (exit 0).
    for args, codes in (
            (["sql", "--lake", str(lake), "--format", "csv", "SELECT contact_id, channel, value "
              "FROM ctr_raw CROSS JOIN generate_series(1, 3000)"], (141,)),
            (["gen", "--contacts", "20000"], (141,)),
            (["schema", "--format", "json"], (0, 141))):
        proc = subprocess.Popen([str(ctrlake_bin()), *args], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        proc.stdout.readline()
        proc.stdout.close()
        _, stderr = proc.communicate(timeout=120)
        assert stderr == b"", (args, stderr)
        assert proc.returncode in codes, (args, proc.returncode)


def test_report_rejects_bad_arguments(bin_path, fixture_lake):
    lake, _ = fixture_lake
    for args, needle in [
        (["report", "queues", "--date", "2026-03-02", "--tz", "Asia/Tokio"], "Asia/Tokio"),
        (["report", "intervals", "--date", "2026-03-02", "--minutes", "7"], "divisor of 60"),
        (["report", "queues", "--from", "2026-03-05", "--to", "2026-03-01"], "before"),
        (["report", "queues", "--date", "someday"], "someday"),
    ]:
        result = run_ctrlake(*args, "--lake", lake, check=False)
        assert result.returncode != 0, args
        assert needle in result.stderr.decode(), (args, result.stderr.decode())


def test_csv_writes_maps_and_lists_as_json_and_json_keeps_null_keys(bin_path, fixture_lake,
                                                                      tmp_path):
    import duckdb

    lake, _ = fixture_lake
    out = tmp_path / "attributes.csv"
    query = ("SELECT contact_id, attributes, tags, [queue_name, channel] AS pair FROM contacts "
             "WHERE cardinality(attributes) > 0 ORDER BY contact_id")
    run_ctrlake("sql", "--lake", lake, "--format", "csv", "--out", out, query)
    expected = run_ctrlake("sql", "--lake", lake, "--format", "json", query).stdout
    rows = json.loads(expected)
    assert len(rows) > 3
    # DuckDB reads the JSON cells back: the same maps as the JSON output holds.
    back = duckdb.sql(f"SELECT contact_id, attributes FROM read_csv('{out}', all_varchar = true) "
                      "ORDER BY contact_id").fetchall()
    assert [(r[0], json.loads(r[1])) for r in back] == [
        (r["contact_id"], r["attributes"]) for r in rows]
    # Every JSON object has every column, null ones too.
    nulls = json.loads(run_ctrlake("sql", "--lake", lake, "--format", "json",
                                   "SELECT contact_id, agent_username FROM contacts "
                                   "ORDER BY contact_id").stdout)
    assert all(set(r) == {"contact_id", "agent_username"} for r in nulls)
    assert any(r["agent_username"] is None for r in nulls)


def test_completions_complete_subcommands_in_bash(bin_path):
    import subprocess

    from conftest import ctrlake_bin

    # bash completes `ctrlake rep<TAB>` and `ctrlake report agent-<TAB>` with the script.
    probe = f"""
source <("{ctrlake_bin()}" completions bash)
complete_words() {{ COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"
  COMP_POINT=${{#COMP_LINE}}; _ctrlake ctrlake "${{@: -1}}" "${{@: -2:1}}"; echo "${{COMPREPLY[@]}}"; }}
complete_words ctrlake rep
complete_words ctrlake report agent-
"""
    out = subprocess.run(["bash", "-c", probe], capture_output=True, check=True).stdout.decode()
    assert out.splitlines() == ["report", "agent-activity"], out
    for shell, marker in [("zsh", "#compdef ctrlake"), ("fish", "complete -c ctrlake")]:
        assert marker in run_ctrlake("completions", shell).stdout.decode()


def on_terminal(args, columns=80, rows=24, input_bytes=None) -> tuple[int, str]:
    """Runs ctrlake with its standard input and output on a pseudo-terminal of `columns` x
    `rows` (typed input: each line ends with Enter); returns the exit code and what the
    terminal showed. Bounded: a process still running after 60 s is killed."""
    import fcntl
    import os
    import pty
    import select
    import struct
    import subprocess
    import termios
    import time

    from conftest import ctrlake_bin

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    import tempfile

    home = tempfile.TemporaryDirectory(prefix="ctrlake-home-")  # the shell's history goes there
    proc = subprocess.Popen([str(ctrlake_bin()), *map(str, args)], stdin=follower,
                            stdout=follower, stderr=follower,
                            env={**os.environ, "HOME": home.name})
    os.close(follower)
    # Lines are typed one by one, each once the shell prompts for it (a line editor
    # discards what was typed before it took the terminal).
    lines = input_bytes.splitlines() if input_bytes is not None else []
    shown = b""
    since_typed = 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if lines and b"> " in shown[since_typed:]:
            # The editor takes the terminal (discarding what was typed) just after its
            # prompt: type once it has.
            time.sleep(0.3)
            os.write(leader, lines.pop(0) + b"\r")
            since_typed = len(shown)
        ready, _, _ = select.select([leader], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the follower side closed: the process ended
                break
            if not chunk:
                break
            shown += chunk
        elif proc.poll() is not None:
            break
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=10)
    os.close(leader)
    home.cleanup()
    return proc.returncode, shown.decode(errors="replace").replace("\r\n", "\n")


def test_a_table_on_a_terminal_fits_its_width_and_caps_its_rows(bin_path, fixture_lake):
    import re

    lake, _ = fixture_lake
    code, shown = on_terminal(["sql", "--lake", lake, "SELECT * FROM contacts ORDER BY contact_id"],
                              columns=100)
    assert code == 0, shown
    lines = shown.splitlines()
    table = [line for line in lines if line[:1] in "┌│├└"]
    assert table and max(len(line) for line in table) <= 100, max(map(len, table))
    # 33 contacts, 40 rows at most: all of them; the middle columns are left out and named.
    footer = lines[-1]
    assert re.match(r"33 rows, \d+ columns hidden \(.*; --format line shows all\) "
                    r"· \d+\.\d{3} s$", footer), footer
    assert "…" in table[1]
    code, shown = on_terminal(["sql", "--lake", lake, "--max-rows", "6",
                               "SELECT contact_id, queue_name, agent_interaction_duration "
                               "FROM contacts ORDER BY contact_id"], columns=200)
    rows = [line for line in shown.splitlines() if line.startswith("│")][1:]
    assert len(rows) == 7 and "·" in rows[3], shown  # 3 first, a gap, 3 last
    assert "33 rows (6 shown; --max-rows 0 shows all)" in shown
    # NULL is shown as NULL, an empty string as nothing; numbers are right-aligned.
    code, shown = on_terminal(["sql", "--lake", lake,
                               "SELECT CAST(NULL AS VARCHAR) AS a, '' AS b, 7 AS n, 'x' AS s "
                               "UNION ALL SELECT 'y', 'z', 1234, 'long text' ORDER BY n"],
                              columns=80)
    rows = [line for line in shown.splitlines() if line.startswith("│")]
    assert rows[1].split("│")[1:5] == [" NULL ", "   ", "    7 ", " x         "], rows
    # Piped, the same query prints every column and row.
    piped = run_ctrlake("sql", "--lake", lake, "SELECT * FROM contacts").stdout.decode()
    assert "hidden" not in piped and max(len(line) for line in piped.splitlines()) > 1000


def test_line_format_prints_one_column_a_line(bin_path, fixture_lake):
    lake, _ = fixture_lake
    out = run_ctrlake("sql", "--lake", lake, "--format", "line",
                      "SELECT contact_id, queue_name FROM contacts ORDER BY contact_id LIMIT 2"
                      ).stdout.decode()
    blocks = out.strip().split("\n\n")
    assert len(blocks) == 2
    assert blocks[0].splitlines()[0].startswith("contact_id = ")
    assert blocks[0].splitlines()[1].startswith("queue_name = ")


def test_meta_commands_work_in_scripts_and_the_shell(bin_path, fixture_lake, tmp_path):
    lake, _ = fixture_lake
    script = (".tables\n\\d contacts\n.mode csv\nSELECT 1 AS a;\n.mode line\n"
              "SELECT 2 AS b,\n  3 AS c;\n.quit\nSELECT 99 AS never;\n")
    out = run_ctrlake("sql", "--lake", lake, input=script.encode()).stdout.decode()
    tables = out.split("+", 1)[0].split()
    assert {"contacts", "ctr_raw", "agent_events_raw", "queue_daily", "agent_activities",
            "queue_waiting_spans"} <= set(tables), tables
    assert not {"local_days", "sl_thresholds", "columns", "tables"} & set(tables)
    assert "| contact_id " in out and "| queue_name " in out        # \d contacts
    assert "a\n1\n" in out and "b = 2\nc = 3\n" in out and "never" not in out
    bad = run_ctrlake("sql", "--lake", lake, input=b".frobnicate\nSELECT 1;\n", check=False)
    assert bad.returncode == 1 and ".help" in bad.stderr.decode() and bad.stdout == b""
    # On a terminal: the shell, where .quit ends a statement being typed, and errors go on.
    code, shown = on_terminal(["sql", "--lake", lake], columns=100, input_bytes=(
        b".timer off\nSELECT 41 + 1\n.mode line\n;\nSELECT nope FROM contacts;\n"
        b"SELECT * FROM contcts;\n.quit\n"))
    assert code == 0, shown
    assert "Int64(41) + Int64(1) = 42" in shown, shown
    assert "No field named nope" in shown and "did you mean 'contacts'?" in shown, shown


def test_sql_errors_are_plain_words(bin_path, fixture_lake):
    lake, _ = fixture_lake
    for sql, expected in [
        ("SELECT * FROM contacts WHERE", "syntax error: expected an expression, found the end "
                                         "of the SQL"),
        ("SELEC 1", "syntax error: expected an SQL statement, found SELEC at line 1, column 1"),
        ("SELECT * FROM contcts", "table 'contcts' not found; did you mean 'contacts'?"),
        ("SELECT * FROM agent_activites", "did you mean 'agent_activities'?"),
    ]:
        result = run_ctrlake("sql", "--lake", lake, sql, check=False)
        assert result.returncode == 1
        assert result.stderr.decode().strip() == f"ctrlake: {expected}" or \
            expected in result.stderr.decode(), result.stderr.decode()
    # Too far from any table: no suggestion.
    far = run_ctrlake("sql", "--lake", lake, "SELECT * FROM zzzzzz", check=False)
    assert "did you mean" not in far.stderr.decode() and "zzzzzz" in far.stderr.decode()


def test_sql_shows_timestamps_in_its_time_zone(bin_path, fixture_lake):
    lake, _ = fixture_lake
    query = ("SELECT initiation_timestamp FROM contacts "
             "WHERE contact_id = '00000000-0000-4000-8000-000000000702'")
    utc = run_ctrlake("sql", "--lake", lake, "--format", "csv", query).stdout.decode()
    tokyo = run_ctrlake("sql", "--lake", lake, "--format", "csv", "--tz", "Asia/Tokyo",
                        query).stdout.decode()
    instant = datetime.datetime.fromisoformat(utc.splitlines()[1].replace("Z", "+00:00"))
    shown = datetime.datetime.fromisoformat(tokyo.splitlines()[1])
    assert shown == instant and shown.utcoffset() == datetime.timedelta(hours=9), tokyo
    # A timestamp without a zone names no instant: it is left as it is.
    naive = run_ctrlake("sql", "--lake", lake, "--format", "csv", "--tz", "Asia/Tokyo",
                        "SELECT TIMESTAMP '2026-03-02 10:00:00' AS t").stdout.decode()
    assert naive.splitlines()[1] == "2026-03-02T10:00:00"


def test_csv_bom_starts_csv_with_a_byte_order_mark(bin_path, fixture_lake, tmp_path):
    lake, _ = fixture_lake
    args = ["report", "queues", "--lake", lake, "--date", "2026-03-02", "--tz", "Asia/Tokyo"]
    out = tmp_path / "queues.csv"
    run_ctrlake(*args, "--format", "csv", "--csv-bom", "--out", out)
    data = out.read_bytes()
    assert data.startswith(b"\xef\xbb\xbfdate,queue,")
    # Excel's way: utf-8-sig reads the same rows as the plain file.
    plain = run_ctrlake(*args, "--format", "csv").stdout
    assert not plain.startswith(b"\xef\xbb\xbf")
    assert data.decode("utf-8-sig") == plain.decode()
    assert not run_ctrlake(*args, "--format", "json", "--csv-bom").stdout.startswith(b"\xef")


def test_xlsx_holds_the_reports_numbers_as_numbers(bin_path, fixture_lake, tmp_path):
    import openpyxl

    lake, _ = fixture_lake
    args = ["report", "queues", "--lake", lake, "--from", "2026-03-01", "--to", "2026-03-07",
            "--tz", "Asia/Tokyo"]
    out = tmp_path / "queues.xlsx"
    run_ctrlake(*args, "--format", "xlsx", "--out", out)
    rows = list(csv.reader(io.StringIO(run_ctrlake(*args, "--format", "csv").stdout.decode())))
    sheet = openpyxl.load_workbook(out).active
    cells = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert cells[0] == rows[0], "the header"
    assert len(cells) == len(rows) > 2
    for mine, theirs in zip(cells[1:], rows[1:]):
        for value, text in zip(mine, theirs):
            if text == "":
                assert value is None
            elif isinstance(value, (int, float)):
                assert abs(value - float(text)) < 1e-9, (value, text)
            else:
                assert value == text, (value, text)
    # Counts and seconds are numbers Excel can sum; the queue names stay text (Japanese too).
    header = cells[0]
    assert isinstance(cells[1][header.index("contacts_queued")], (int, float))
    assert isinstance(cells[1][header.index("queue")], str)
    assert sheet.freeze_panes == "A2"
    missing = run_ctrlake(*args, "--format", "xlsx", check=False)
    assert missing.returncode == 1 and "--out" in missing.stderr.decode()


def test_durations_hms_writes_the_same_durations_as_hours_minutes_seconds(bin_path, fixture_lake):
    from decimal import Decimal

    lake, _ = fixture_lake
    args = ["report", "agents", "--lake", lake, "--from", "2022-01-01", "--to", "2026-03-07",
            "--tz", "Asia/Tokyo", "--format", "csv"]
    seconds = list(csv.DictReader(io.StringIO(run_ctrlake(*args).stdout.decode())))
    hms = list(csv.DictReader(io.StringIO(
        run_ctrlake(*args, "--durations", "hms").stdout.decode())))
    assert len(seconds) == len(hms) > 3
    durations = [c for c in seconds[0] if c.endswith("_s")]
    assert durations
    for plain, clock in zip(seconds, hms):
        for column, value in plain.items():
            if column not in durations or value == "":
                assert clock[column] == value, column
                continue
            sign = -1 if clock[column].startswith("-") else 1
            h, m, s = clock[column].lstrip("-").split(":")
            assert len(m) == len(s.split(".")[0]) == 2, clock[column]
            assert sign * (int(h) * 3600 + int(m) * 60 + Decimal(s)) == Decimal(value), column
