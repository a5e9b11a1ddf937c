//! Lenient, single-pass decoding of one CTR into typed fields.
//!
//! Design decisions, each measured or required:
//! - **One pass, borrowed.** `serde_json` drives hand-written visitors that write straight into a
//!   flat [`ContactFields`]; strings borrow from the input unless they contain escapes. There is
//!   no intermediate `serde_json::Value` tree (it costs ~2× in decode time).
//! - **Type errors never abort the parse.** A wrong-typed known field records the first
//!   [`DecodeError`] and parsing continues, so the caller always learns where the JSON value
//!   ends (`Decoded::Value::end`) — that is what lets a stream of concatenated records resume
//!   after a bad one. Only JSON syntax errors surface as [`Decoded::Syntax`].
//! - **Nothing unknown is lost.** Every key the typed columns do not hold — top level or inside
//!   `Agent`, `Queue`, an endpoint, ... — is kept verbatim (as `RawValue`) and written back as
//!   one JSON object in the `raw_json` column, nested where it was found. With
//!   [`RawJsonMode::FullRecord`] the whole original record is kept instead.
//! - **Format drift is normal.** Missing and null are the same; numbers and booleans in string
//!   fields are kept as their JSON text.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::value::RawValue;

use crate::agent_event::{AgentEvent, decode_agent_event};
use crate::reason::DeadLetterReason;
use crate::timestamp::parse_millis;

/// The Kinesis record size limit; a larger CTR is dead-lettered as [`DeadLetterReason::TooLarge`].
pub const MAX_RECORD_BYTES: usize = 1 << 20;

/// The earliest timestamp a CTR can hold: 2017-01-01T00:00:00Z (Amazon Connect launched in
/// March 2017). Earlier values are dead-lettered as [`DeadLetterReason::BadTimestamp`]: a
/// `1970` or `0000` record once made the interval report enumerate every quarter hour since.
pub const MIN_TIMESTAMP_MS: i64 = 1_483_228_800_000;
/// The first instant no CTR timestamp may reach: 2100-01-01T00:00:00Z. Later values (a
/// `9999-12-31` placeholder) are dead-lettered: they made a report window end in year 10000.
pub const END_TIMESTAMP_MS: i64 = 4_102_444_800_000;
/// The largest duration in seconds a CTR may carry: 366 days. Connect ends chats and tasks
/// after at most 7 days (a callback's queue time can include days of waiting); anything near
/// `i64::MAX` would overflow the reports' sums, so it is dead-lettered as
/// [`DeadLetterReason::BadInteger`].
pub const MAX_DURATION_S: i64 = 366 * 24 * 3600;
/// The largest count (holds, connection attempts) a CTR may carry.
pub const MAX_COUNT: i64 = 100_000;

/// A string borrowed from the input when it has no escapes, owned otherwise.
pub type Text<'a> = Cow<'a, str>;

/// What the `raw_json` column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RawJsonMode {
    /// Only what no typed column holds (unknown and untyped fields), or null when nothing is left.
    #[default]
    Unmapped,
    /// The whole original record, byte for byte.
    FullRecord,
}

/// Why one record was rejected: a reason code plus a sentence a person can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}: {detail}")]
pub struct DecodeError {
    pub reason: DeadLetterReason,
    pub detail: String,
}

impl DecodeError {
    pub fn new(reason: DeadLetterReason, detail: impl Into<String>) -> Self {
        Self {
            reason,
            detail: detail.into(),
        }
    }
}

/// Where a record came from; written into the `source_*` and `arrival_timestamp` columns so a
/// row can be traced to its bytes and the de-duplicated view can break ties by arrival.
#[derive(Debug, Clone, Copy, Default)]
pub struct RecordOrigin<'a> {
    /// `file:///abs/path`, `s3://bucket/key`, `stdin`, or `kinesis://stream/shardId-...`.
    pub source_uri: &'a str,
    /// Byte offset of the record in the (decompressed) source file.
    pub source_offset: Option<i64>,
    /// Kinesis sequence number of the record.
    pub source_sequence_number: Option<&'a str>,
    /// When the record arrived: the source file's modification time or Kinesis' approximate
    /// arrival time, in epoch milliseconds.
    pub arrival_timestamp: Option<i64>,
}

/// `{Address, Type}` of `CustomerEndpoint`, `SystemEndpoint` and `TransferredToEndpoint`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Endpoint<'a> {
    pub address: Option<Text<'a>>,
    pub kind: Option<Text<'a>>,
}

/// Every typed field of a CTR except the three that every valid record has.
/// Times are epoch milliseconds (UTC); durations and counts are seconds / integers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContactFields<'a> {
    pub aws_account_id: Option<Text<'a>>,
    pub format_version: Option<Text<'a>>,
    pub instance_arn: Option<Text<'a>>,
    pub initial_contact_id: Option<Text<'a>>,
    pub previous_contact_id: Option<Text<'a>>,
    pub next_contact_id: Option<Text<'a>>,
    pub related_contact_id: Option<Text<'a>>,
    pub channel: Option<Text<'a>>,
    pub initiation_method: Option<Text<'a>>,
    pub disconnect_reason: Option<Text<'a>>,
    pub connected_to_system_timestamp: Option<i64>,
    pub disconnect_timestamp: Option<i64>,
    pub transfer_completed_timestamp: Option<i64>,
    pub scheduled_timestamp: Option<i64>,
    pub customer_endpoint: Endpoint<'a>,
    pub system_endpoint: Endpoint<'a>,
    pub transferred_to_endpoint: Endpoint<'a>,
    pub queue_name: Option<Text<'a>>,
    pub queue_arn: Option<Text<'a>>,
    pub queue_enqueue_timestamp: Option<i64>,
    pub queue_dequeue_timestamp: Option<i64>,
    pub queue_duration: Option<i64>,
    pub agent_username: Option<Text<'a>>,
    pub agent_arn: Option<Text<'a>>,
    pub agent_routing_profile_name: Option<Text<'a>>,
    pub agent_routing_profile_arn: Option<Text<'a>>,
    pub agent_hierarchy_group_names: [Option<Text<'a>>; 5],
    pub agent_hierarchy_group_arns: [Option<Text<'a>>; 5],
    pub agent_connected_to_agent_timestamp: Option<i64>,
    pub agent_interaction_duration: Option<i64>,
    pub agent_customer_hold_duration: Option<i64>,
    pub agent_after_contact_work_duration: Option<i64>,
    pub agent_after_contact_work_start_timestamp: Option<i64>,
    pub agent_after_contact_work_end_timestamp: Option<i64>,
    pub agent_pause_duration: Option<i64>,
    pub agent_number_of_holds: Option<i64>,
    pub agent_longest_hold_duration: Option<i64>,
    pub agent_initiated_hold_duration: Option<i64>,
    pub agent_connection_attempts: Option<i64>,
    pub recording_location: Option<Text<'a>>,
    pub recording_status: Option<Text<'a>>,
    pub recording_type: Option<Text<'a>>,
    pub recording_deletion_reason: Option<Text<'a>>,
    /// `Attributes`: None when absent or null, an empty list for `{}`. Order as in the record.
    pub attributes: Option<Vec<(Text<'a>, Text<'a>)>>,
    /// `Tags`, like `attributes`.
    pub tags: Option<Vec<(Text<'a>, Text<'a>)>>,
}

/// One valid CTR: its key, the two timestamps every version has, and the typed fields.
#[derive(Debug, Clone, PartialEq)]
pub struct ContactRecord<'a> {
    pub contact_id: Text<'a>,
    pub initiation_timestamp: i64,
    pub last_update_timestamp: i64,
    pub fields: ContactFields<'a>,
    /// The `raw_json` column (see [`RawJsonMode`]).
    pub raw_json: Option<Text<'a>>,
}

/// One valid record: a contact trace record, or an agent event (routed by its shape, see
/// [`crate::agent_event`]).
// A CTR stays unboxed: it is the hot path (one per record, moved straight into a builder), as
// in `Decoded`; the far rarer agent event is boxed.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Record<'a> {
    Contact(ContactRecord<'a>),
    AgentEvent(Box<AgentEvent>),
}

/// The result of reading one JSON value from the front of a byte slice.
// `Value` is large, but it is returned once per record and moved straight into a builder;
// boxing it would add an allocation per record on the hottest path.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Decoded<'a> {
    /// A complete JSON value occupies `input[..end]` (leading whitespace included); `result`
    /// says whether it is a valid CTR or agent event.
    Value {
        end: usize,
        result: Result<Record<'a>, DecodeError>,
    },
    /// No complete JSON value starts here: the bytes are malformed or cut off.
    Syntax(serde_json::Error),
    /// Only whitespace is left.
    End,
}

/// Decodes the JSON value at the front of `input` (after optional whitespace).
pub fn decode_next(input: &[u8], mode: RawJsonMode) -> Decoded<'_> {
    decode_stream(
        serde_json::Deserializer::from_slice(input).into_iter(),
        input,
        mode,
    )
}

/// [`decode_next`] for input already known to be UTF-8: strings are then not validated again,
/// which saves ~5% of decode time (validate a whole chunk once, then decode from `&str`).
pub fn decode_next_str(input: &str, mode: RawJsonMode) -> Decoded<'_> {
    decode_stream(
        serde_json::Deserializer::from_str(input).into_iter(),
        input.as_bytes(),
        mode,
    )
}

fn decode_stream<'a, R: serde_json::de::Read<'a>>(
    mut stream: serde_json::StreamDeserializer<'a, R, PartialRecord<'a>>,
    input: &'a [u8],
    mode: RawJsonMode,
) -> Decoded<'a> {
    match stream.next() {
        None => Decoded::End,
        Some(Err(error)) => Decoded::Syntax(error),
        Some(Ok(partial)) => {
            let end = stream.byte_offset();
            let start = input
                .iter()
                .position(|b| !b.is_ascii_whitespace())
                .unwrap_or(end);
            let span = &input[start..end];
            let result = if span.len() > MAX_RECORD_BYTES {
                Err(DecodeError::new(
                    DeadLetterReason::TooLarge,
                    format!(
                        "record is {} bytes, over the 1 MiB ({MAX_RECORD_BYTES} bytes) Kinesis record limit",
                        span.len()
                    ),
                ))
            } else if partial.is_agent_event() {
                decode_agent_event(span, mode).map(|event| Record::AgentEvent(Box::new(event)))
            } else if partial.needs_exact_numbers {
                // Rare: a number in a string column. Read the record again keeping literals.
                match serde_json::from_slice::<ExactRecord<'_>>(span) {
                    Ok(ExactRecord(exact)) => exact.finish(span, mode).map(Record::Contact),
                    Err(error) => Err(DecodeError::new(
                        DeadLetterReason::InvalidJson,
                        error.to_string(),
                    )),
                }
            } else {
                partial.finish(span, mode).map(Record::Contact)
            };
            Decoded::Value { end, result }
        }
    }
}

/// Fields left over for `raw_json`, nested as in the record.
#[derive(Debug)]
enum Unmapped<'a> {
    Raw(&'a RawValue),
    Object(Vec<(Text<'a>, Unmapped<'a>)>),
}

struct UnmappedObject<'r, 'a>(&'r [(Text<'a>, Unmapped<'a>)]);

impl UnmappedObject<'_, '_> {
    /// The serialized length (one byte over, or more when keys need escaping): sizes the
    /// `raw_json` buffer once instead of growing it several times per record.
    fn serialized_len(&self) -> usize {
        2 + self
            .0
            .iter()
            .map(|(key, value)| {
                key.len()
                    + 4
                    + match value {
                        Unmapped::Raw(raw) => raw.get().len(),
                        Unmapped::Object(inner) => UnmappedObject(inner).serialized_len(),
                    }
            })
            .sum::<usize>()
    }
}

impl Serialize for UnmappedObject<'_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in self.0 {
            match value {
                Unmapped::Raw(raw) => map.serialize_entry(key, raw)?,
                Unmapped::Object(inner) => map.serialize_entry(key, &UnmappedObject(inner))?,
            }
        }
        map.end()
    }
}

/// Parse state: everything optional, the first type error remembered.
#[derive(Default)]
struct PartialRecord<'a> {
    contact_id: Option<Scalar<'a>>,
    initiation_timestamp: Option<i64>,
    last_update_timestamp: Option<i64>,
    fields: ContactFields<'a>,
    unmapped: Vec<(Text<'a>, Unmapped<'a>)>,
    not_an_object: Option<&'static str>,
    error: Option<DecodeError>,
    /// Read string columns as raw JSON text, so a number keeps its exact literal (`1.50`,
    /// a 29-digit integer) instead of its floating-point value. Slower; used only on retry.
    exact_numbers: bool,
    /// A string column held a non-integer number: decode again with `exact_numbers`.
    needs_exact_numbers: bool,
}

impl<'a> PartialRecord<'a> {
    /// A record with no `ContactId` whose top level has `EventType` and `AgentARN` is an agent
    /// event (a CTR always has `ContactId`; an agent event never has one at its top level).
    fn is_agent_event(&self) -> bool {
        let has = |name: &str| self.unmapped.iter().any(|(key, _)| key == name);
        self.contact_id.is_none() && has("EventType") && has("AgentARN")
    }

    fn finish(self, span: &'a [u8], mode: RawJsonMode) -> Result<ContactRecord<'a>, DecodeError> {
        if let Some(kind) = self.not_an_object {
            return Err(DecodeError::new(
                DeadLetterReason::NotAnObject,
                format!("the record is {kind}, expected a JSON object"),
            ));
        }
        if let Some(error) = self.error {
            return Err(error);
        }
        let contact_id = match self.contact_id {
            Some(Scalar::Str(id)) if !id.trim().is_empty() => id,
            Some(Scalar::Str(_)) => {
                return Err(DecodeError::new(
                    DeadLetterReason::MissingContactId,
                    "`ContactId` is an empty string",
                ));
            }
            Some(Scalar::Null) | None => {
                return Err(DecodeError::new(
                    DeadLetterReason::MissingContactId,
                    "`ContactId` is absent or null",
                ));
            }
            Some(other) => {
                return Err(DecodeError::new(
                    DeadLetterReason::MissingContactId,
                    format!("`ContactId` is {}, expected a string", other.describe()),
                ));
            }
        };
        let missing = |field: &str| {
            DecodeError::new(
                DeadLetterReason::MissingTimestamp,
                format!("`{field}` is absent or null; every CTR version carries it"),
            )
        };
        let initiation_timestamp = self
            .initiation_timestamp
            .ok_or_else(|| missing("InitiationTimestamp"))?;
        let last_update_timestamp = self
            .last_update_timestamp
            .ok_or_else(|| missing("LastUpdateTimestamp"))?;
        let raw_json = match mode {
            RawJsonMode::Unmapped if self.unmapped.is_empty() => None,
            RawJsonMode::Unmapped => {
                let object = UnmappedObject(&self.unmapped);
                let mut json = Vec::with_capacity(object.serialized_len());
                serde_json::to_writer(&mut json, &object)
                    .map_err(|e| DecodeError::new(DeadLetterReason::InvalidJson, e.to_string()))?;
                // serde_json writes UTF-8 only; the check is a formality that cannot fail.
                let json = String::from_utf8(json)
                    .map_err(|e| DecodeError::new(DeadLetterReason::InvalidUtf8, e.to_string()))?;
                Some(Cow::Owned(json))
            }
            RawJsonMode::FullRecord => {
                Some(Cow::Borrowed(std::str::from_utf8(span).map_err(|e| {
                    DecodeError::new(DeadLetterReason::InvalidUtf8, e.to_string())
                })?))
            }
        };
        Ok(ContactRecord {
            contact_id,
            initiation_timestamp,
            last_update_timestamp,
            fields: self.fields,
            raw_json,
        })
    }

    fn fail(&mut self, reason: DeadLetterReason, detail: String) {
        if self.error.is_none() {
            self.error = Some(DecodeError::new(reason, detail));
        }
    }

    fn text(&mut self, path: &str, value: Scalar<'a>) -> Option<Text<'a>> {
        match value {
            Scalar::Null => None,
            Scalar::Str(text) => Some(text),
            Scalar::Unsigned(n) => Some(Cow::Owned(n.to_string())),
            Scalar::Signed(n) => Some(Cow::Owned(n.to_string())),
            Scalar::Float(_) => {
                // The float lost the literal's exact digits: ask for the exact re-read.
                self.needs_exact_numbers = true;
                None
            }
            Scalar::Bool(b) => Some(Cow::Borrowed(if b { "true" } else { "false" })),
            Scalar::Object | Scalar::Array => {
                self.fail(
                    DeadLetterReason::BadNesting,
                    format!("`{path}` is {}, expected a string", value.describe()),
                );
                None
            }
        }
    }

    /// Reads the next value of `map` as a string column: loosely on the fast path, as raw JSON
    /// text on the exact re-read (see `exact_numbers`).
    fn read_text<A: MapAccess<'a>>(
        &mut self,
        path: &str,
        map: &mut A,
    ) -> Result<Option<Text<'a>>, A::Error> {
        Ok(if self.exact_numbers {
            let raw: &'a RawValue = map.next_value()?;
            self.exact_text(path, raw)
        } else {
            let value = map.next_value()?;
            self.text(path, value)
        })
    }

    /// A string column read as raw JSON text (see `exact_numbers`).
    fn exact_text(&mut self, path: &str, raw: &'a RawValue) -> Option<Text<'a>> {
        let text = raw.get();
        match text.as_bytes().first() {
            // Already validated by the first pass; only escapes need decoding.
            Some(b'"') => serde_json::from_str::<String>(text).ok().map(Cow::Owned),
            Some(b'n') => None,
            Some(b'{' | b'[') => {
                self.fail(
                    DeadLetterReason::BadNesting,
                    format!("`{path}` is {}, expected a string", clip(text)),
                );
                None
            }
            _ => Some(Cow::Borrowed(text)),
        }
    }

    fn timestamp(&mut self, path: &str, value: Scalar<'a>) -> Option<i64> {
        match value {
            Scalar::Null => None,
            Scalar::Str(text) => match parse_millis(&text) {
                Some(millis) if (MIN_TIMESTAMP_MS..END_TIMESTAMP_MS).contains(&millis) => {
                    Some(millis)
                }
                Some(_) => {
                    self.fail(
                        DeadLetterReason::BadTimestamp,
                        format!(
                            "`{path}` is {:?}, outside the years 2017 to 2099 that a contact \
                             trace record can hold (Amazon Connect began in 2017)",
                            clip(&text)
                        ),
                    );
                    None
                }
                None => {
                    self.fail(
                        DeadLetterReason::BadTimestamp,
                        format!(
                            "`{path}` is {:?}, not an ISO-8601 date-time like 2022-01-05T17:12:59Z",
                            clip(&text)
                        ),
                    );
                    None
                }
            },
            other => {
                self.fail(
                    DeadLetterReason::BadTimestamp,
                    format!(
                        "`{path}` is {}, expected an ISO-8601 date-time string",
                        other.describe()
                    ),
                );
                None
            }
        }
    }

    /// A duration (`…Duration`, seconds, at most [`MAX_DURATION_S`]) or a count (at most
    /// [`MAX_COUNT`]).
    fn integer(&mut self, path: &str, value: Scalar<'a>) -> Option<i64> {
        let (limit, unit) = if path.ends_with("Duration") {
            (MAX_DURATION_S, "seconds (366 days)")
        } else {
            (MAX_COUNT, "")
        };
        match value {
            Scalar::Null => None,
            Scalar::Unsigned(n) => match i64::try_from(n) {
                Ok(n) if n <= limit => Some(n),
                _ => {
                    self.fail(
                        DeadLetterReason::BadInteger,
                        format!("`{path}` is {n}, over the plausible maximum of {limit} {unit}")
                            .trim_end()
                            .to_owned(),
                    );
                    None
                }
            },
            other => {
                self.fail(
                    DeadLetterReason::BadInteger,
                    format!(
                        "`{path}` is {}, expected a non-negative integer",
                        other.describe()
                    ),
                );
                None
            }
        }
    }

    /// Records a nested object's outcome: unknown keys go to `unmapped`, a wrong type fails.
    fn nested(
        &mut self,
        key: Text<'a>,
        path: &str,
        outcome: ObjectOutcome<'a>,
        unmapped: &mut Vec<(Text<'a>, Unmapped<'a>)>,
    ) {
        match outcome {
            ObjectOutcome::Object(inner) if inner.is_empty() => set_unmapped(unmapped, key, None),
            ObjectOutcome::Object(inner) => {
                set_unmapped(unmapped, key, Some(Unmapped::Object(inner)));
            }
            ObjectOutcome::Null => set_unmapped(unmapped, key, None),
            ObjectOutcome::Wrong(kind) => self.fail(
                DeadLetterReason::BadNesting,
                format!("`{path}` is {kind}, expected an object or null"),
            ),
        }
    }

    /// Handles one key of object `object`; the value is read from `map`.
    fn field<A: MapAccess<'a>>(
        &mut self,
        object: Object,
        key: Text<'a>,
        map: &mut A,
        unmapped: &mut Vec<(Text<'a>, Unmapped<'a>)>,
    ) -> Result<(), A::Error> {
        macro_rules! text {
            ($path:literal, $($slot:tt)+) => {{
                $($slot)+ = self.read_text($path, map)?;
            }};
        }
        macro_rules! timestamp {
            ($path:literal, $($slot:tt)+) => {{
                let value = map.next_value()?;
                $($slot)+ = self.timestamp($path, value);
            }};
        }
        macro_rules! integer {
            ($path:literal, $($slot:tt)+) => {{
                let value = map.next_value()?;
                $($slot)+ = self.integer($path, value);
            }};
        }
        macro_rules! object {
            ($path:literal, $object:expr) => {{
                // A key given twice: the last value wins whole, as in JSON parsers.
                self.clear($object);
                let outcome = map.next_value_seed(ObjectSeed {
                    record: &mut *self,
                    object: $object,
                })?;
                self.nested(key, $path, outcome, unmapped);
            }};
        }
        match (object, &*key) {
            (Object::Top, "ContactId") => self.contact_id = Some(map.next_value()?),
            (Object::Top, "InitiationTimestamp") => {
                timestamp!("InitiationTimestamp", self.initiation_timestamp)
            }
            (Object::Top, "LastUpdateTimestamp") => {
                timestamp!("LastUpdateTimestamp", self.last_update_timestamp)
            }
            (Object::Top, "AWSAccountId") => text!("AWSAccountId", self.fields.aws_account_id),
            (Object::Top, "AWSContactTraceRecordFormatVersion") => text!(
                "AWSContactTraceRecordFormatVersion",
                self.fields.format_version
            ),
            (Object::Top, "InstanceARN") => text!("InstanceARN", self.fields.instance_arn),
            (Object::Top, "InitialContactId") => {
                text!("InitialContactId", self.fields.initial_contact_id)
            }
            (Object::Top, "PreviousContactId") => {
                text!("PreviousContactId", self.fields.previous_contact_id)
            }
            (Object::Top, "NextContactId") => text!("NextContactId", self.fields.next_contact_id),
            (Object::Top, "RelatedContactId") => {
                text!("RelatedContactId", self.fields.related_contact_id)
            }
            (Object::Top, "Channel") => text!("Channel", self.fields.channel),
            (Object::Top, "InitiationMethod") => {
                text!("InitiationMethod", self.fields.initiation_method)
            }
            (Object::Top, "DisconnectReason") => {
                text!("DisconnectReason", self.fields.disconnect_reason)
            }
            (Object::Top, "ConnectedToSystemTimestamp") => timestamp!(
                "ConnectedToSystemTimestamp",
                self.fields.connected_to_system_timestamp
            ),
            (Object::Top, "DisconnectTimestamp") => {
                timestamp!("DisconnectTimestamp", self.fields.disconnect_timestamp)
            }
            (Object::Top, "TransferCompletedTimestamp") => timestamp!(
                "TransferCompletedTimestamp",
                self.fields.transfer_completed_timestamp
            ),
            (Object::Top, "ScheduledTimestamp") => {
                timestamp!("ScheduledTimestamp", self.fields.scheduled_timestamp)
            }
            (Object::Top, "AgentConnectionAttempts") => integer!(
                "AgentConnectionAttempts",
                self.fields.agent_connection_attempts
            ),
            (Object::Top, "CustomerEndpoint") => {
                object!("CustomerEndpoint", Object::Endpoint(EndpointSlot::Customer))
            }
            (Object::Top, "SystemEndpoint") => {
                object!("SystemEndpoint", Object::Endpoint(EndpointSlot::System))
            }
            (Object::Top, "TransferredToEndpoint") => object!(
                "TransferredToEndpoint",
                Object::Endpoint(EndpointSlot::TransferredTo)
            ),
            (Object::Top, "Queue") => object!("Queue", Object::Queue),
            (Object::Top, "Agent") => object!("Agent", Object::Agent),
            (Object::Top, "Recording") => object!("Recording", Object::Recording),
            (Object::Top, "Attributes") => {
                let map_value = map.next_value_seed(StringMapSeed)?;
                self.fields.attributes = self.string_map("Attributes", map_value);
            }
            (Object::Top, "Tags") => {
                let map_value = map.next_value_seed(StringMapSeed)?;
                self.fields.tags = self.string_map("Tags", map_value);
            }
            (Object::Endpoint(slot), field @ ("Address" | "Type")) => {
                let path = slot.path(field);
                let value = self.read_text(path, map)?;
                let endpoint = self.endpoint(slot);
                if field == "Address" {
                    endpoint.address = value;
                } else {
                    endpoint.kind = value;
                }
            }
            (Object::Queue, "Name") => text!("Queue.Name", self.fields.queue_name),
            (Object::Queue, "ARN") => text!("Queue.ARN", self.fields.queue_arn),
            (Object::Queue, "EnqueueTimestamp") => timestamp!(
                "Queue.EnqueueTimestamp",
                self.fields.queue_enqueue_timestamp
            ),
            (Object::Queue, "DequeueTimestamp") => timestamp!(
                "Queue.DequeueTimestamp",
                self.fields.queue_dequeue_timestamp
            ),
            (Object::Queue, "Duration") => integer!("Queue.Duration", self.fields.queue_duration),
            (Object::Agent, "Username") => text!("Agent.Username", self.fields.agent_username),
            (Object::Agent, "ARN") => text!("Agent.ARN", self.fields.agent_arn),
            (Object::Agent, "RoutingProfile") => {
                object!("Agent.RoutingProfile", Object::RoutingProfile)
            }
            (Object::Agent, "HierarchyGroups") => {
                object!("Agent.HierarchyGroups", Object::HierarchyGroups)
            }
            (Object::Agent, "ConnectedToAgentTimestamp") => timestamp!(
                "Agent.ConnectedToAgentTimestamp",
                self.fields.agent_connected_to_agent_timestamp
            ),
            (Object::Agent, "AgentInteractionDuration") => integer!(
                "Agent.AgentInteractionDuration",
                self.fields.agent_interaction_duration
            ),
            (Object::Agent, "CustomerHoldDuration") => integer!(
                "Agent.CustomerHoldDuration",
                self.fields.agent_customer_hold_duration
            ),
            (Object::Agent, "AfterContactWorkDuration") => integer!(
                "Agent.AfterContactWorkDuration",
                self.fields.agent_after_contact_work_duration
            ),
            (Object::Agent, "AfterContactWorkStartTimestamp") => timestamp!(
                "Agent.AfterContactWorkStartTimestamp",
                self.fields.agent_after_contact_work_start_timestamp
            ),
            (Object::Agent, "AfterContactWorkEndTimestamp") => timestamp!(
                "Agent.AfterContactWorkEndTimestamp",
                self.fields.agent_after_contact_work_end_timestamp
            ),
            (Object::Agent, "AgentPauseDuration") => {
                integer!("Agent.AgentPauseDuration", self.fields.agent_pause_duration)
            }
            (Object::Agent, "NumberOfHolds") => {
                integer!("Agent.NumberOfHolds", self.fields.agent_number_of_holds)
            }
            (Object::Agent, "LongestHoldDuration") => integer!(
                "Agent.LongestHoldDuration",
                self.fields.agent_longest_hold_duration
            ),
            (Object::Agent, "AgentInitiatedHoldDuration") => integer!(
                "Agent.AgentInitiatedHoldDuration",
                self.fields.agent_initiated_hold_duration
            ),
            (Object::RoutingProfile, "Name") => text!(
                "Agent.RoutingProfile.Name",
                self.fields.agent_routing_profile_name
            ),
            (Object::RoutingProfile, "ARN") => text!(
                "Agent.RoutingProfile.ARN",
                self.fields.agent_routing_profile_arn
            ),
            (
                Object::HierarchyGroups,
                level @ ("Level1" | "Level2" | "Level3" | "Level4" | "Level5"),
            ) => {
                let index = usize::from(level.as_bytes()[5] - b'1');
                object!(
                    "Agent.HierarchyGroups.LevelN",
                    Object::HierarchyLevel(index)
                )
            }
            (Object::HierarchyLevel(index), "GroupName") => text!(
                "Agent.HierarchyGroups.LevelN.GroupName",
                self.fields.agent_hierarchy_group_names[index]
            ),
            (Object::HierarchyLevel(index), "ARN") => text!(
                "Agent.HierarchyGroups.LevelN.ARN",
                self.fields.agent_hierarchy_group_arns[index]
            ),
            (Object::Recording, "Location") => {
                text!("Recording.Location", self.fields.recording_location)
            }
            (Object::Recording, "Status") => {
                text!("Recording.Status", self.fields.recording_status)
            }
            (Object::Recording, "Type") => text!("Recording.Type", self.fields.recording_type),
            (Object::Recording, "DeletionReason") => text!(
                "Recording.DeletionReason",
                self.fields.recording_deletion_reason
            ),
            _ => {
                let raw: &'a RawValue = map.next_value()?;
                set_unmapped(unmapped, key, Some(Unmapped::Raw(raw)));
            }
        }
        Ok(())
    }

    /// Forgets what an earlier occurrence of `object`'s key set, so that when a record gives
    /// a key twice the last value wins whole (fields only the first one had do not survive).
    fn clear(&mut self, object: Object) {
        let f = &mut self.fields;
        match object {
            Object::Top => {}
            Object::Endpoint(slot) => *self.endpoint(slot) = Endpoint::default(),
            Object::Queue => {
                f.queue_name = None;
                f.queue_arn = None;
                f.queue_enqueue_timestamp = None;
                f.queue_dequeue_timestamp = None;
                f.queue_duration = None;
            }
            Object::Agent => {
                f.agent_username = None;
                f.agent_arn = None;
                f.agent_connected_to_agent_timestamp = None;
                f.agent_interaction_duration = None;
                f.agent_customer_hold_duration = None;
                f.agent_after_contact_work_duration = None;
                f.agent_after_contact_work_start_timestamp = None;
                f.agent_after_contact_work_end_timestamp = None;
                f.agent_pause_duration = None;
                f.agent_number_of_holds = None;
                f.agent_longest_hold_duration = None;
                f.agent_initiated_hold_duration = None;
                self.clear(Object::RoutingProfile);
                self.clear(Object::HierarchyGroups);
            }
            Object::RoutingProfile => {
                f.agent_routing_profile_name = None;
                f.agent_routing_profile_arn = None;
            }
            Object::HierarchyGroups => {
                f.agent_hierarchy_group_names = Default::default();
                f.agent_hierarchy_group_arns = Default::default();
            }
            Object::HierarchyLevel(index) => {
                f.agent_hierarchy_group_names[index] = None;
                f.agent_hierarchy_group_arns[index] = None;
            }
            Object::Recording => {
                f.recording_location = None;
                f.recording_status = None;
                f.recording_type = None;
                f.recording_deletion_reason = None;
            }
        }
    }

    fn endpoint(&mut self, slot: EndpointSlot) -> &mut Endpoint<'a> {
        match slot {
            EndpointSlot::Customer => &mut self.fields.customer_endpoint,
            EndpointSlot::System => &mut self.fields.system_endpoint,
            EndpointSlot::TransferredTo => &mut self.fields.transferred_to_endpoint,
        }
    }

    fn string_map(
        &mut self,
        path: &str,
        value: StringMap<'a>,
    ) -> Option<Vec<(Text<'a>, Text<'a>)>> {
        match value {
            StringMap::Null => None,
            StringMap::Entries(entries) => Some(entries),
            StringMap::BadValue { key, kind } => {
                self.fail(
                    DeadLetterReason::BadMapValue,
                    format!("`{path}.{}` is {kind}, expected a string value", clip(&key)),
                );
                None
            }
            StringMap::Wrong(kind) => {
                self.fail(
                    DeadLetterReason::BadMapValue,
                    format!("`{path}` is {kind}, expected an object of strings or null"),
                );
                None
            }
        }
    }
}

/// Sets `key` of the unmapped fields to `value` (or removes it): a key given twice keeps only
/// its last value, so `raw_json` never holds an object with a duplicate key.
fn set_unmapped<'a>(
    unmapped: &mut Vec<(Text<'a>, Unmapped<'a>)>,
    key: Text<'a>,
    value: Option<Unmapped<'a>>,
) {
    let earlier = unmapped.iter().position(|(k, _)| *k == key);
    match (earlier, value) {
        (Some(index), Some(value)) => unmapped[index].1 = value,
        (Some(index), None) => {
            unmapped.remove(index);
        }
        (None, Some(value)) => unmapped.push((key, value)),
        (None, None) => {}
    }
}

/// Keeps one entry per key, the last value at the first key's place (as a JSON parser's map
/// would): Parquet readers such as DuckDB refuse a map with a key twice.
fn dedup_last_wins<'a>(entries: &mut Vec<(Text<'a>, Text<'a>)>) {
    if entries.len() < 2 {
        return;
    }
    let mut duplicate = false;
    if entries.len() <= 32 {
        // A CTR's maps hold a dozen attributes: comparing pairs is cheaper than hashing.
        for i in 1..entries.len() {
            if entries[..i].iter().any(|(k, _)| *k == entries[i].0) {
                duplicate = true;
                break;
            }
        }
    } else {
        let mut seen = std::collections::HashSet::with_capacity(entries.len());
        duplicate = !entries.iter().all(|(k, _)| seen.insert(k.clone()));
    }
    if !duplicate {
        return;
    }
    let mut first_index: std::collections::HashMap<Text<'a>, usize> =
        std::collections::HashMap::with_capacity(entries.len());
    let mut kept: Vec<(Text<'a>, Text<'a>)> = Vec::with_capacity(entries.len());
    for (key, value) in entries.drain(..) {
        match first_index.get(&key) {
            Some(&index) => kept[index].1 = value,
            None => {
                first_index.insert(key.clone(), kept.len());
                kept.push((key, value));
            }
        }
    }
    *entries = kept;
}

fn clip(text: &str) -> String {
    const LIMIT: usize = 80;
    if text.len() <= LIMIT {
        return text.to_owned();
    }
    let mut end = LIMIT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// Which object the keys being read belong to.
#[derive(Debug, Clone, Copy)]
enum Object {
    Top,
    Endpoint(EndpointSlot),
    Queue,
    Agent,
    RoutingProfile,
    HierarchyGroups,
    HierarchyLevel(usize),
    Recording,
}

#[derive(Debug, Clone, Copy)]
enum EndpointSlot {
    Customer,
    System,
    TransferredTo,
}

impl EndpointSlot {
    fn path(self, field: &str) -> &'static str {
        match (self, field) {
            (Self::Customer, "Address") => "CustomerEndpoint.Address",
            (Self::Customer, _) => "CustomerEndpoint.Type",
            (Self::System, "Address") => "SystemEndpoint.Address",
            (Self::System, _) => "SystemEndpoint.Type",
            (Self::TransferredTo, "Address") => "TransferredToEndpoint.Address",
            (Self::TransferredTo, _) => "TransferredToEndpoint.Type",
        }
    }
}

/// A JSON value read loosely: scalars kept, containers skipped (only their kind matters).
#[derive(Debug)]
enum Scalar<'a> {
    Null,
    Str(Text<'a>),
    Unsigned(u64),
    Signed(i64),
    Float(f64),
    Bool(bool),
    Object,
    Array,
}

impl Scalar<'_> {
    fn describe(&self) -> String {
        match self {
            Scalar::Null => "null".to_owned(),
            Scalar::Str(s) => format!("the string {:?}", clip(s)),
            Scalar::Unsigned(n) => n.to_string(),
            Scalar::Signed(n) => n.to_string(),
            Scalar::Float(n) => n.to_string(),
            Scalar::Bool(b) => b.to_string(),
            Scalar::Object => "an object".to_owned(),
            Scalar::Array => "an array".to_owned(),
        }
    }
}

impl<'de> de::Deserialize<'de> for Scalar<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ScalarVisitor)
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Null)
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Null)
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Owned(v)))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Scalar::Unsigned(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(if v >= 0 {
            Scalar::Unsigned(v.unsigned_abs())
        } else {
            Scalar::Signed(v)
        })
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Scalar::Float(v))
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Scalar::Bool(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Scalar::Object)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar::Array)
    }
}

/// An object key, borrowed when it has no escapes.
struct Key<'a>(Text<'a>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Scalar::deserialize(deserializer)? {
            Scalar::Str(text) => Ok(Key(text)),
            other => Err(de::Error::custom(format!(
                "object key is {}",
                other.describe()
            ))),
        }
    }
}

/// What a known object turned out to be.
enum ObjectOutcome<'a> {
    /// An object; the keys no typed column holds.
    Object(Vec<(Text<'a>, Unmapped<'a>)>),
    Null,
    /// Not an object: "a string", "an array", ...
    Wrong(&'static str),
}

struct ObjectSeed<'r, 'a> {
    record: &'r mut PartialRecord<'a>,
    object: Object,
}

impl<'de> DeserializeSeed<'de> for ObjectSeed<'_, 'de> {
    type Value = ObjectOutcome<'de>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ObjectSeed<'_, 'de> {
    type Value = ObjectOutcome<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        // A CTR's top level has a dozen fields no column holds; nested objects rarely any.
        let mut unmapped = Vec::with_capacity(match self.object {
            Object::Top => 16,
            _ => 0,
        });
        while let Some(Key(key)) = map.next_key()? {
            self.record
                .field(self.object, key, &mut map, &mut unmapped)?;
        }
        Ok(ObjectOutcome::Object(unmapped))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(ObjectOutcome::Null)
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(ObjectOutcome::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(ObjectOutcome::Wrong("an array"))
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(ObjectOutcome::Wrong("a string"))
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(ObjectOutcome::Wrong("a number"))
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(ObjectOutcome::Wrong("a number"))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(ObjectOutcome::Wrong("a number"))
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(ObjectOutcome::Wrong("a boolean"))
    }
}

impl<'de> de::Deserialize<'de> for PartialRecord<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        PartialRecord::read(deserializer, false)
    }
}

/// A record read with `exact_numbers` (see [`PartialRecord`]).
struct ExactRecord<'a>(PartialRecord<'a>);

impl<'de> de::Deserialize<'de> for ExactRecord<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        PartialRecord::read(deserializer, true).map(ExactRecord)
    }
}

impl<'de> PartialRecord<'de> {
    fn read<D: Deserializer<'de>>(deserializer: D, exact_numbers: bool) -> Result<Self, D::Error> {
        let mut record = PartialRecord {
            exact_numbers,
            ..PartialRecord::default()
        };
        let outcome = ObjectSeed {
            record: &mut record,
            object: Object::Top,
        }
        .deserialize(deserializer)?;
        match outcome {
            ObjectOutcome::Object(unmapped) => record.unmapped = unmapped,
            ObjectOutcome::Null => record.not_an_object = Some("null"),
            ObjectOutcome::Wrong(kind) => record.not_an_object = Some(kind),
        }
        Ok(record)
    }
}

/// `Attributes` / `Tags` read loosely: all entries, or the first non-string value.
enum StringMap<'a> {
    Null,
    Entries(Vec<(Text<'a>, Text<'a>)>),
    BadValue { key: Text<'a>, kind: String },
    Wrong(&'static str),
}

struct StringMapSeed;

impl<'de> DeserializeSeed<'de> for StringMapSeed {
    type Value = StringMap<'de>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StringMapSeed {
    type Value = StringMap<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of strings")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(16));
        let mut bad = None;
        while let Some(Key(key)) = map.next_key()? {
            match map.next_value()? {
                Scalar::Str(value) => entries.push((key, value)),
                other if bad.is_none() => bad = Some((key, other.describe())),
                _ => {}
            }
        }
        Ok(match bad {
            Some((key, kind)) => StringMap::BadValue { key, kind },
            None => {
                dedup_last_wins(&mut entries);
                StringMap::Entries(entries)
            }
        })
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(StringMap::Null)
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(StringMap::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(StringMap::Wrong("an array"))
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(StringMap::Wrong("a string"))
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(StringMap::Wrong("a number"))
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(StringMap::Wrong("a number"))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(StringMap::Wrong("a number"))
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(StringMap::Wrong("a boolean"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timestamp::parse_millis;

    /// The first delivery of a real CTR (see ../shared/samples), trimmed of nothing.
    const REAL: &str = include_str!("real-ctr-sample.ndjson");

    fn decode(text: &str) -> Result<ContactRecord<'_>, DecodeError> {
        match decode_next(text.as_bytes(), RawJsonMode::Unmapped) {
            Decoded::Value { result, .. } => result.map(|record| match record {
                Record::Contact(contact) => contact,
                Record::AgentEvent(event) => panic!("expected a CTR, got {event:?}"),
            }),
            other => panic!("expected a JSON value, got {other:?}"),
        }
    }

    fn reason(text: &str) -> DeadLetterReason {
        match decode(text) {
            Ok(record) => panic!("expected a dead letter, decoded {record:?}"),
            Err(error) => error.reason,
        }
    }

    fn ms(text: &str) -> i64 {
        parse_millis(text).expect("test timestamp")
    }

    const MINIMAL: &str = r#"{"ContactId":"c-1","InitiationTimestamp":"2026-03-02T01:00:00Z","LastUpdateTimestamp":"2026-03-02T01:05:00.250Z"}"#;

    fn with(extra: &str) -> String {
        format!("{},{extra}}}", &MINIMAL[..MINIMAL.len() - 1])
    }

    #[test]
    fn real_record_fills_typed_columns() {
        let first = REAL.lines().next().expect("sample has lines");
        let r = decode(first).expect("real record is valid");
        assert_eq!(r.contact_id, "6fe40d2a-1a89-4d73-bfcf-5d9c33894f47");
        assert_eq!(r.initiation_timestamp, ms("2022-01-05T17:12:59Z"));
        assert_eq!(r.last_update_timestamp, ms("2022-01-05T17:48:35Z"));
        let f = &r.fields;
        assert_eq!(f.queue_name.as_deref(), Some("TCC Refrig AC LLA"));
        assert_eq!(f.queue_duration, Some(346));
        assert_eq!(f.queue_enqueue_timestamp, Some(ms("2022-01-05T17:14:46Z")));
        assert_eq!(f.agent_username.as_deref(), Some("Steve.Lusk"));
        assert_eq!(f.agent_customer_hold_duration, Some(221));
        assert_eq!(f.agent_number_of_holds, Some(2));
        assert_eq!(f.agent_longest_hold_duration, Some(204));
        assert_eq!(f.agent_hierarchy_group_names[1].as_deref(), Some("TCC ALL"));
        assert_eq!(f.agent_hierarchy_group_names[2], None);
        assert_eq!(f.agent_routing_profile_name.as_deref(), Some("TCC ALL"));
        assert_eq!(
            f.customer_endpoint.address.as_deref(),
            Some("+190011112222")
        );
        assert_eq!(f.recording_status.as_deref(), Some("AVAILABLE"));
        assert_eq!(f.agent_connection_attempts, Some(1));
        let attributes = f.attributes.as_ref().expect("attributes present");
        assert!(
            attributes
                .iter()
                .any(|(k, v)| k == "PathCode" && v == "8477597_002_00002")
        );
        let raw: serde_json::Value =
            serde_json::from_str(r.raw_json.as_deref().expect("unmapped fields exist"))
                .expect("raw_json is JSON");
        assert_eq!(raw["MediaStreams"][0]["Type"], "AUDIO");
        assert_eq!(raw["Campaign"]["CampaignId"], serde_json::Value::Null);
        assert!(raw.get("Recordings").is_some());
        assert!(raw.get("Queue").is_none(), "Queue is fully typed: {raw}");
        assert!(raw.get("ContactId").is_none());
    }

    #[test]
    fn unknown_keys_are_kept_where_they_were_found() {
        let text = with(
            r#""Agent":{"Username":"a","DeviceInfo":{"OperatingSystem":"Windows"},"HierarchyGroups":{"Level1":{"GroupName":"g","Extra":1}}},"NewField":[1,2],"_id":{"$oid":"x"}"#,
        );
        let r = decode(&text).expect("valid");
        assert_eq!(r.fields.agent_username.as_deref(), Some("a"));
        assert_eq!(
            r.fields.agent_hierarchy_group_names[0].as_deref(),
            Some("g")
        );
        let raw: serde_json::Value =
            serde_json::from_str(r.raw_json.as_deref().expect("unmapped")).expect("json");
        assert_eq!(
            raw,
            serde_json::json!({
                "Agent": {"DeviceInfo": {"OperatingSystem": "Windows"},
                          "HierarchyGroups": {"Level1": {"Extra": 1}}},
                "NewField": [1, 2],
                "_id": {"$oid": "x"}
            })
        );
    }

    #[test]
    fn nothing_unmapped_means_null_raw_json() {
        assert_eq!(decode(MINIMAL).expect("valid").raw_json, None);
    }

    #[test]
    fn full_record_mode_keeps_the_original_bytes() {
        let text = format!("  {MINIMAL}\n");
        match decode_next(text.as_bytes(), RawJsonMode::FullRecord) {
            Decoded::Value { end, result } => {
                assert_eq!(end, 2 + MINIMAL.len());
                let Ok(Record::Contact(record)) = result else {
                    panic!("not a CTR: {result:?}");
                };
                assert_eq!(record.raw_json.as_deref(), Some(MINIMAL));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn milliseconds_are_kept() {
        let r = decode(MINIMAL).expect("valid");
        assert_eq!(r.last_update_timestamp % 1000, 250);
    }

    #[test]
    fn escaped_strings_and_non_ascii_decode() {
        let text = with(
            r#""Queue":{"Name":"サポート\u7a93口 \"A\""},"Attributes":{"note":"line1\nline2","None":"None","":""}"#,
        );
        let r = decode(&text).expect("valid");
        assert_eq!(r.fields.queue_name.as_deref(), Some("サポート窓口 \"A\""));
        let attributes = r.fields.attributes.expect("attributes");
        assert_eq!(attributes[0].1, "line1\nline2");
        assert_eq!(attributes.len(), 3);
    }

    #[test]
    fn keys_differing_in_case_are_two_attributes() {
        let text = with(r#""Attributes":{"greetingPlayed":"a","GreetingPlayed":"b"}"#);
        let r = decode(&text).expect("valid");
        assert_eq!(r.fields.attributes.expect("attributes").len(), 2);
    }

    #[test]
    fn numbers_in_string_fields_are_kept_as_text() {
        let text = with(r#""Channel":5,"DisconnectReason":true"#);
        let r = decode(&text).expect("valid");
        assert_eq!(r.fields.channel.as_deref(), Some("5"));
        assert_eq!(r.fields.disconnect_reason.as_deref(), Some("true"));
    }

    #[test]
    fn numbers_in_string_fields_keep_their_exact_literal() {
        let text = with(
            r#""DisconnectReason":1.50,"Channel":12345678901234567890123456789,"CustomerEndpoint":{"Address":-0.0}"#,
        );
        let r = decode(&text).expect("valid");
        assert_eq!(r.fields.disconnect_reason.as_deref(), Some("1.50"));
        assert_eq!(
            r.fields.channel.as_deref(),
            Some("12345678901234567890123456789")
        );
        assert_eq!(r.fields.customer_endpoint.address.as_deref(), Some("-0.0"));
        assert_eq!(
            r.last_update_timestamp % 1000,
            250,
            "the exact re-read keeps everything else"
        );
    }

    #[test]
    fn empty_and_null_objects_are_valid() {
        let text = with(
            r#""Agent":null,"Queue":null,"ContactDetails":{},"Attributes":{},"Recording":null"#,
        );
        let r = decode(&text).expect("valid");
        assert_eq!(r.fields.attributes.as_deref(), Some(&[][..]));
        assert_eq!(r.fields.agent_username, None);
    }

    #[test]
    fn each_bad_field_has_its_reason() {
        use DeadLetterReason::*;
        let cases = [
            (r#"[1,2,3]"#.to_owned(), NotAnObject),
            (r#""a string""#.to_owned(), NotAnObject),
            (r#"{"InitiationTimestamp":"2026-03-02T01:00:00Z","LastUpdateTimestamp":"2026-03-02T01:00:00Z"}"#.to_owned(), MissingContactId),
            (r#"{"ContactId":null,"InitiationTimestamp":"2026-03-02T01:00:00Z","LastUpdateTimestamp":"2026-03-02T01:00:00Z"}"#.to_owned(), MissingContactId),
            (r#"{"ContactId":"","InitiationTimestamp":"2026-03-02T01:00:00Z","LastUpdateTimestamp":"2026-03-02T01:00:00Z"}"#.to_owned(), MissingContactId),
            (r#"{"ContactId":"c","LastUpdateTimestamp":"2026-03-02T01:00:00Z"}"#.to_owned(), MissingTimestamp),
            (r#"{"ContactId":"c","InitiationTimestamp":"2026-03-02T01:00:00Z","LastUpdateTimestamp":null}"#.to_owned(), MissingTimestamp),
            (with(r#""DisconnectTimestamp":"yesterday""#), BadTimestamp),
            (with(r#""Queue":{"EnqueueTimestamp":1700000000}"#), BadTimestamp),
            (with(r#""Queue":{"Duration":-5}"#), BadInteger),
            (with(r#""Agent":{"AgentInteractionDuration":12.5}"#), BadInteger),
            (with(r#""AgentConnectionAttempts":"3""#), BadInteger),
            (with(r#""Agent":"bob""#), BadNesting),
            (with(r#""Queue":[1]"#), BadNesting),
            (with(r#""CustomerEndpoint":5"#), BadNesting),
            (with(r#""Agent":{"RoutingProfile":"x"}"#), BadNesting),
            (with(r#""Queue":{"Name":{"x":1}}"#), BadNesting),
            (with(r#""Attributes":{"a":1}"#), BadMapValue),
            (with(r#""Attributes":{"a":{"b":"c"}}"#), BadMapValue),
            (with(r#""Attributes":["a"]"#), BadMapValue),
            (with(r#""Tags":{"a":null}"#), BadMapValue),
            (with(r#""DisconnectTimestamp":"9999-12-31T23:59:59Z""#), BadTimestamp),
            (with(r#""Queue":{"EnqueueTimestamp":"1970-01-01T00:00:00Z"}"#), BadTimestamp),
            (with(r#""ScheduledTimestamp":"0000-01-01T00:00:00Z""#), BadTimestamp),
            (with(r#""Queue":{"Duration":9223372036854775807}"#), BadInteger),
            (with(r#""Agent":{"CustomerHoldDuration":18446744073709551615}"#), BadInteger),
            (with(r#""Agent":{"AgentPauseDuration":31622401}"#), BadInteger),
            (with(r#""AgentConnectionAttempts":100001"#), BadInteger),
        ];
        for (text, expected) in cases {
            assert_eq!(reason(&text), expected, "{text}");
        }
    }

    #[test]
    fn timestamps_and_integers_at_the_plausible_bounds_are_kept() {
        let at_bounds = with(
            r#""DisconnectTimestamp":"2099-12-31T23:59:59.999Z","Queue":{"EnqueueTimestamp":"2017-01-01T00:00:00Z","Duration":31622400},"AgentConnectionAttempts":100000"#,
        );
        let record = decode(&at_bounds).expect("bounds are plausible");
        assert_eq!(record.fields.disconnect_timestamp, Some(4_102_444_799_999));
        assert_eq!(
            record.fields.queue_enqueue_timestamp,
            Some(1_483_228_800_000)
        );
        assert_eq!(record.fields.queue_duration, Some(31_622_400));
        assert_eq!(record.fields.agent_connection_attempts, Some(100_000));
        let too_early = r#"{"ContactId":"c","InitiationTimestamp":"2016-12-31T23:59:59Z","LastUpdateTimestamp":"2026-03-02T01:00:00Z"}"#;
        let error = decode(too_early).expect_err("before 2017");
        assert_eq!(
            error.to_string(),
            "bad_timestamp: `InitiationTimestamp` is \"2016-12-31T23:59:59Z\", outside the years \
             2017 to 2099 that a contact trace record can hold (Amazon Connect began in 2017)"
        );
        let error = decode(&with(r#""Queue":{"Duration":9223372036854775807}"#)).expect_err("huge");
        assert_eq!(
            error.to_string(),
            "bad_integer: `Queue.Duration` is 9223372036854775807, over the plausible maximum of \
             31622400 seconds (366 days)"
        );
    }

    #[test]
    fn a_map_key_given_twice_keeps_its_last_value_at_its_first_place() {
        let text = with(r#""Attributes":{"a":"1","b":"2","a":"3"}"#);
        let record = decode(&text).expect("valid");
        let attributes: Vec<(&str, &str)> = record
            .fields
            .attributes
            .iter()
            .flatten()
            .map(|(k, v)| (k.as_ref(), v.as_ref()))
            .collect();
        assert_eq!(attributes, [("a", "3"), ("b", "2")]);
        // Over 32 entries the duplicates are found by hashing: the same rule.
        let many: String = (0..40)
            .map(|i| format!(r#""k{}":"{i}""#, i % 35))
            .collect::<Vec<_>>()
            .join(",");
        let text = with(&format!(r#""Tags":{{{many}}}"#));
        let record = decode(&text).expect("valid");
        let tags = record.fields.tags.expect("tags");
        assert_eq!(tags.len(), 35);
        assert_eq!((tags[0].0.as_ref(), tags[0].1.as_ref()), ("k0", "35"));
        assert_eq!((tags[34].0.as_ref(), tags[34].1.as_ref()), ("k34", "34"));
    }

    #[test]
    fn an_object_or_unknown_key_given_twice_keeps_only_the_last() {
        let text = with(
            r#""Queue":{"Name":"First","Duration":5,"Extra":1},"X":1,"Queue":{"Name":"Second"},"X":2,"Y":{"a":1},"Y":null"#,
        );
        let record = decode(&text).expect("valid");
        assert_eq!(record.fields.queue_name.as_deref(), Some("Second"));
        assert_eq!(
            record.fields.queue_duration, None,
            "the last Queue has no Duration"
        );
        assert_eq!(record.raw_json.as_deref(), Some(r#"{"X":2,"Y":null}"#));
    }

    #[test]
    fn errors_name_the_field_and_value() {
        let error = decode(&with(r#""Queue":{"Duration":-5}"#)).expect_err("bad");
        assert_eq!(
            error.to_string(),
            "bad_integer: `Queue.Duration` is -5, expected a non-negative integer"
        );
        let error = decode(&with(r#""Attributes":{"vip":true}"#)).expect_err("bad");
        assert!(error.detail.contains("`Attributes.vip` is true"), "{error}");
    }

    #[test]
    fn oversized_records_are_rejected() {
        let big = with(&format!(
            r#""Attributes":{{"blob":"{}"}}"#,
            "x".repeat(MAX_RECORD_BYTES)
        ));
        assert_eq!(reason(&big), DeadLetterReason::TooLarge);
    }

    #[test]
    fn syntax_errors_are_reported_with_their_end() {
        assert!(matches!(
            decode_next(br#"{"ContactId": "x", bad}"#, RawJsonMode::Unmapped),
            Decoded::Syntax(_)
        ));
        match decode_next(br#"{"ContactId": "x"#, RawJsonMode::Unmapped) {
            Decoded::Syntax(error) => assert!(error.is_eof()),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            decode_next(b" \n ", RawJsonMode::Unmapped),
            Decoded::End
        ));
    }

    #[test]
    fn concatenated_records_decode_one_at_a_time() {
        let two = format!("{MINIMAL}{MINIMAL}");
        match decode_next(two.as_bytes(), RawJsonMode::Unmapped) {
            Decoded::Value { end, result } => {
                assert_eq!(end, MINIMAL.len());
                assert!(result.is_ok());
            }
            other => panic!("{other:?}"),
        }
    }
}
