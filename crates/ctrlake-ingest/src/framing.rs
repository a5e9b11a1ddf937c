//! Finding records in a byte stream: NDJSON, Firehose concatenation, or a mix.
//!
//! Kinesis Data Firehose writes records to S3 back to back with no delimiter (`}{`); exports
//! and hand-made files use one record per line. Both are read the same way: a record is one JSON
//! value, read by the decoder, which reports where it ends. Whitespace between records is
//! ignored, so newline-delimited files, pretty-printed files and concatenations all work.
//!
//! When the bytes at some point are not a JSON value (cut off, garbage, invalid UTF-8), the bad
//! region runs up to the next *record start*: the first `{` from which a complete JSON object
//! parses and is followed by a newline, another `{` or the end of the buffer. A nested object
//! inside the bad record is followed by `,`, `}` or `]`, so it is not taken for a record; the
//! next real record is, even when the truncated one was cut inside a string. So one truncated
//! record loses only itself, and every byte of it is dead-lettered. A bad region spanning several
//! lines is dead-lettered line by line (each NDJSON line is its own record).
//!
//! [`find_cut`] uses the same notion of a record start to split a stream into chunks that can be
//! decoded independently, in parallel, without ever cutting a valid record in two.

use ctrlake_model::{
    DeadLetterReason, DecodeError, Decoded, RawJsonMode, Record, decode_next, decode_next_str,
};
use serde::de::IgnoredAny;

/// One record found in the buffer: a valid CTR or agent event, or bytes rejected with a reason.
pub struct Framed<'a> {
    /// Offset of the record's first byte within the framed buffer.
    pub offset: usize,
    pub bytes: &'a [u8],
    pub result: Result<Record<'a>, DecodeError>,
}

/// Splits `buf` into records and decodes each, calling `emit` in input order with the offset of
/// the record's first byte within `buf`.
pub fn frame_records<'a>(buf: &'a [u8], mode: RawJsonMode, mut emit: impl FnMut(Framed<'a>)) {
    // Validating the whole buffer once is faster than validating string by string, and a SIMD
    // validator faster still (std's took 3.4% of the ingest's CPU). When it fails, records are
    // validated one by one, which names the bad one.
    let text = simdutf8::basic::from_utf8(buf).ok();
    let mut pos = 0;
    loop {
        pos = skip_whitespace(buf, pos);
        if pos >= buf.len() {
            return;
        }
        let decoded = match text.and_then(|t| t.get(pos..)) {
            Some(rest) => decode_next_str(rest, mode),
            None => decode_next(&buf[pos..], mode),
        };
        match decoded {
            Decoded::End => return,
            Decoded::Value { end, result } => {
                emit(Framed {
                    offset: pos,
                    bytes: &buf[pos..pos + end],
                    result,
                });
                pos += end;
            }
            Decoded::Syntax(error) => {
                let next = next_record_start(buf, pos + 1).unwrap_or(buf.len());
                dead_letter_region(buf, pos, next, &error, &mut emit);
                pos = next;
            }
        }
    }
}

/// Emits the bad bytes `buf[start..end]`, one dead letter per non-blank line.
fn dead_letter_region<'a>(
    buf: &'a [u8],
    start: usize,
    end: usize,
    error: &serde_json::Error,
    emit: &mut impl FnMut(Framed<'a>),
) {
    let mut line_start = start;
    let mut first = true;
    while line_start < end {
        let line_end = memchr::memchr(b'\n', &buf[line_start..end]).map_or(end, |i| line_start + i);
        let line = trim_end(&buf[line_start..line_end]);
        let lead = line.len() - trim_start(line).len();
        let bytes = &line[lead..];
        if !bytes.is_empty() {
            // The parser's message describes the first line only; later lines get their own.
            let parser_message = first.then(|| error.to_string());
            emit(Framed {
                offset: line_start + lead,
                bytes,
                result: Err(classify(bytes, parser_message)),
            });
            first = false;
        }
        line_start = line_end + 1;
    }
}

/// Why `bytes` (which do not parse as a JSON value) are bad.
fn classify(bytes: &[u8], parser_message: Option<String>) -> DecodeError {
    if let Err(error) = std::str::from_utf8(bytes) {
        // A record cut inside a multi-byte character is cut off, not badly encoded: its only
        // invalid bytes are an incomplete sequence at the very end.
        let cut_mid_character = error.error_len().is_none() && bytes.first() == Some(&b'{');
        if !cut_mid_character {
            return DecodeError::new(
                DeadLetterReason::InvalidUtf8,
                format!(
                    "byte {} of the record is not valid UTF-8 ({error})",
                    error.valid_up_to()
                ),
            );
        }
    }
    if bytes.first() == Some(&b'{') && !closes(bytes) {
        return DecodeError::new(
            DeadLetterReason::Truncated,
            format!(
                "the record ends after {} bytes, before its JSON object closes",
                bytes.len()
            ),
        );
    }
    let message = parser_message.unwrap_or_else(|| {
        serde_json::from_slice::<IgnoredAny>(bytes)
            .err()
            .map_or_else(|| "not a JSON value".to_owned(), |e| e.to_string())
    });
    DecodeError::new(
        DeadLetterReason::InvalidJson,
        format!("not valid JSON: {message} (line and column within the record)"),
    )
}

/// Whether the braces of `bytes` balance outside strings, ending outside a string.
fn closes(bytes: &[u8]) -> bool {
    let mut depth = 0i64;
    let mut in_string = false;
    let mut escaped = false;
    for &b in bytes {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
        } else {
            match b {
                b'"' => in_string = true,
                b'{' | b'[' => depth += 1,
                b'}' | b']' => depth -= 1,
                _ => {}
            }
        }
    }
    !in_string && depth <= 0
}

fn skip_whitespace(buf: &[u8], mut pos: usize) -> usize {
    while pos < buf.len() && buf[pos].is_ascii_whitespace() {
        pos += 1;
    }
    pos
}

fn trim_start(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    &bytes[start..]
}

fn trim_end(bytes: &[u8]) -> &[u8] {
    let end = bytes
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(0, |i| i + 1);
    &bytes[..end]
}

/// Whether a record starts at `buf[pos]`: a complete JSON object parses from there and is
/// followed by a newline, another `{`, or the end of `buf`.
pub fn is_record_start(buf: &[u8], pos: usize) -> bool {
    if buf.get(pos) != Some(&b'{') {
        return false;
    }
    let mut values = serde_json::Deserializer::from_slice(&buf[pos..]).into_iter::<IgnoredAny>();
    if !matches!(values.next(), Some(Ok(_))) {
        return false;
    }
    let mut after = pos + values.byte_offset();
    while after < buf.len() && matches!(buf[after], b' ' | b'\t' | b'\r') {
        after += 1;
    }
    after == buf.len() || matches!(buf[after], b'\n' | b'{')
}

/// The first record start at or after `from`.
fn next_record_start(buf: &[u8], from: usize) -> Option<usize> {
    memchr::memchr_iter(b'{', buf.get(from..)?)
        .map(|i| from + i)
        .find(|&p| is_record_start(buf, p))
}

/// How many candidate cut points [`find_cut`] tries before giving up on a buffer.
const CUT_ATTEMPTS: usize = 64;

/// A position in `buf` (> 0) where a chunk can end: the start of the last record that lies
/// completely inside `buf`, preceded by a newline or the end of another object. `None` when no
/// such point exists (the caller reads more, or a record is bigger than the buffer).
pub fn find_cut(buf: &[u8]) -> Option<usize> {
    memchr::memrchr_iter(b'{', buf)
        .filter(|&p| p > 0 && matches!(last_non_blank(&buf[..p]), Some(b'\n' | b'}')))
        .take(CUT_ATTEMPTS)
        .find(|&p| is_record_start(buf, p))
}

/// The first position at or after `from` (> 0) where a chunk can end, by the rule of
/// [`find_cut`]: where the bytes after a record too large for any chunk start again.
pub fn first_cut(buf: &[u8], from: usize) -> Option<usize> {
    memchr::memchr_iter(b'{', buf.get(from..)?)
        .map(|i| from + i)
        .filter(|&p| p > 0 && matches!(last_non_blank(&buf[..p]), Some(b'\n' | b'}')))
        .find(|&p| is_record_start(buf, p))
}

/// Where the complete JSON values at the front of `buf` end (and the blanks after them): the
/// start of the first value that does not parse within `buf`, 0 when the first one does not.
/// A window with no cut point (see [`find_cut`]) is cut here, so that the records before a
/// record too large for any chunk are decoded as usual.
pub fn complete_prefix(buf: &[u8]) -> usize {
    let mut values = serde_json::Deserializer::from_slice(buf).into_iter::<IgnoredAny>();
    let mut end = 0;
    while let Some(Ok(_)) = values.next() {
        end = values.byte_offset();
    }
    end + buf[end..]
        .iter()
        .take_while(|b| b.is_ascii_whitespace())
        .count()
}

/// The last byte before `p` that is not a space, tab or carriage return.
fn last_non_blank(bytes: &[u8]) -> Option<u8> {
    bytes
        .iter()
        .rev()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\r'))
        .copied()
}

#[cfg(test)]
mod properties;

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str) -> String {
        format!(
            r#"{{"ContactId":"{id}","InitiationTimestamp":"2026-03-02T01:00:00Z","LastUpdateTimestamp":"2026-03-02T01:05:00Z","Agent":{{"Username":"a","RoutingProfile":{{"Name":"p"}}}},"Attributes":{{"k":"v}}{{"}}}}"#
        )
    }

    /// (offset, contact id or reason code) for everything framed in `buf`.
    fn frame(buf: &[u8]) -> Vec<(usize, String)> {
        let mut out = Vec::new();
        frame_records(buf, RawJsonMode::Unmapped, |framed| {
            let Framed {
                offset,
                bytes,
                result,
            } = framed;
            assert_eq!(&buf[offset..offset + bytes.len()], bytes);
            out.push((
                offset,
                match result {
                    Ok(Record::Contact(r)) => r.contact_id.into_owned(),
                    Ok(Record::AgentEvent(e)) => e.event_id,
                    Err(e) => e.reason.code().to_owned(),
                },
            ));
        });
        out
    }

    fn ids(framed: &[(usize, String)]) -> Vec<&str> {
        framed.iter().map(|(_, s)| s.as_str()).collect()
    }

    #[test]
    fn newline_delimited_records() {
        let buf = format!("{}\n{}\r\n\n{}", record("a"), record("b"), record("c"));
        assert_eq!(ids(&frame(buf.as_bytes())), ["a", "b", "c"]);
    }

    #[test]
    fn concatenated_records_without_delimiter() {
        let buf = format!("{}{}{}", record("a"), record("b"), record("c"));
        let framed = frame(buf.as_bytes());
        assert_eq!(ids(&framed), ["a", "b", "c"]);
        assert_eq!(framed[1].0, record("a").len());
    }

    #[test]
    fn truncated_inside_a_string_loses_only_itself() {
        let b = record("b");
        let cut = &b[..b.find("\"p\"").expect("has p") + 2];
        let buf = format!("{}{}{}", record("a"), cut, record("c"));
        let framed = frame(buf.as_bytes());
        assert_eq!(ids(&framed), ["a", "truncated", "c"]);
        assert_eq!(framed[1].0, record("a").len());
        assert_eq!(framed[2].0, record("a").len() + cut.len());
    }

    #[test]
    fn truncated_after_a_colon_does_not_swallow_the_next_record() {
        let buf = format!(
            "{}{{\"ContactId\":\"b\",\"Agent\":{}",
            record("a"),
            record("c")
        );
        assert_eq!(ids(&frame(buf.as_bytes())), ["a", "truncated", "c"]);
    }

    #[test]
    fn truncated_at_end_of_input() {
        let c = record("c");
        let buf = format!("{}\n{}", record("a"), &c[..40]);
        assert_eq!(ids(&frame(buf.as_bytes())), ["a", "truncated"]);
    }

    #[test]
    fn garbage_lines_are_dead_lettered_one_by_one() {
        let buf = format!(
            "{}\nnot json at all\n{{\"ContactId\": \"x\", bad}}\n{}\n",
            record("a"),
            record("b")
        );
        let framed = frame(buf.as_bytes());
        assert_eq!(ids(&framed), ["a", "invalid_json", "invalid_json", "b"]);
        assert_eq!(framed[1].0, record("a").len() + 1);
    }

    #[test]
    fn invalid_utf8_is_named() {
        let mut buf = record("a").into_bytes();
        buf.push(b'\n');
        let bad_at = buf.len();
        buf.extend_from_slice(br#"{"ContactId":"x","Queue":{"Name":"ab"#);
        buf.extend_from_slice(&[0xff, 0xfe]);
        buf.extend_from_slice(b"\"}}\n");
        buf.extend_from_slice(record("b").as_bytes());
        let framed = frame(&buf);
        assert_eq!(ids(&framed), ["a", "invalid_utf8", "b"]);
        assert_eq!(framed[1].0, bad_at);
    }

    #[test]
    fn a_record_cut_inside_a_character_is_truncated_not_bad_utf8() {
        let text = format!("{}\n{{\"ContactId\":\"サポート", record("a"));
        let cut = &text.as_bytes()[..text.len() - 2];
        assert_eq!(ids(&frame(cut)), ["a", "truncated"]);
    }

    #[test]
    fn non_objects_are_framed_as_values() {
        let buf = format!("[1,2,3]\n\"a string\"\n42\n{}", record("a"));
        assert_eq!(
            ids(&frame(buf.as_bytes())),
            ["not_an_object", "not_an_object", "not_an_object", "a"]
        );
    }

    #[test]
    fn pretty_printed_records_are_read_whole() {
        let pretty = serde_json::to_string_pretty(
            &serde_json::from_str::<serde_json::Value>(&record("a")).expect("json"),
        )
        .expect("json");
        let buf = format!("{pretty}\n{pretty}");
        assert_eq!(ids(&frame(buf.as_bytes())), ["a", "a"]);
    }

    #[test]
    fn cut_never_splits_a_record() {
        let records: Vec<String> = (0..50).map(|i| record(&format!("id{i}"))).collect();
        for joiner in ["\n", ""] {
            let all = records.join(joiner);
            // Cut the stream at every few hundred bytes, like a reader with a small buffer.
            let mut chunks = Vec::new();
            let mut rest = all.as_bytes();
            while !rest.is_empty() {
                let window = &rest[..rest.len().min(700)];
                let cut = if window.len() == rest.len() {
                    rest.len()
                } else {
                    find_cut(window).expect("700 bytes hold a record start")
                };
                chunks.push(&rest[..cut]);
                rest = &rest[cut..];
            }
            let framed: Vec<String> = chunks
                .iter()
                .flat_map(|chunk| frame(chunk).into_iter().map(|(_, id)| id))
                .collect();
            let expected: Vec<String> = (0..50).map(|i| format!("id{i}")).collect();
            assert_eq!(framed, expected, "joiner {joiner:?}");
        }
    }

    #[test]
    fn no_cut_inside_a_string_that_looks_like_a_boundary() {
        // `}{` inside an attribute value is not a record start.
        let buf = record("a");
        assert_eq!(find_cut(buf.as_bytes()), None);
    }
}
