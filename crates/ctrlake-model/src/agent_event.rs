//! Amazon Connect agent events (the agent event stream): decoding and the `agent_events` table.
//!
//! A contact trace record names only the agent who answered; the agent event stream shows
//! every agent's status and contacts over time (LOGIN, LOGOUT, STATE_CHANGE, HEART_BEAT), each
//! event carrying the agent's current and previous snapshot. ctrlake keeps one row per
//! delivered event in its own table, with the snapshots' statuses and contacts typed (their
//! `StartTimestamp`/`StateStartTimestamp` are what durations are computed from, never the gaps
//! between events), and the rest as JSON in `raw_json`.
//!
//! The same ingest paths take both kinds of record: [`crate::decode`] routes a record that has
//! no `ContactId` but has `EventType` and `AgentARN` here. Agent events are far fewer bytes a
//! day than CTRs are read, so this decoder favours plainness over speed: it parses the record
//! into a `serde_json::Value`, takes the typed fields out of it, and what is left is `raw_json`.
//! The previous snapshot's `Configuration` is dropped from `raw_json` when it equals the current
//! one (it almost always does; the current one's typed parts are in columns).

use std::sync::{Arc, LazyLock};

use arrow_array::builder::{
    ArrayBuilder, Int64Builder, ListBuilder, StringBuilder, StructBuilder,
    TimestampMillisecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{ArrowError, DataType, Field, Fields, Schema, SchemaRef};
use serde_json::{Map, Value};

use crate::decode::{DecodeError, END_TIMESTAMP_MS, MIN_TIMESTAMP_MS, RawJsonMode, RecordOrigin};
use crate::reason::DeadLetterReason;
use crate::schema::{TIMESTAMP_TZ, timestamp_type};
use crate::timestamp::parse_millis;

/// A status of the agent (`AgentStatus` of a snapshot): Available, Offline, a custom one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentStatus {
    pub arn: Option<String>,
    pub name: Option<String>,
    /// `ROUTABLE`, `CUSTOM` or `OFFLINE`.
    pub kind: Option<String>,
    pub start_timestamp: Option<i64>,
}

/// One contact of a snapshot's `Contacts`, in the state it was in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentContact {
    pub contact_id: Option<String>,
    pub initial_contact_id: Option<String>,
    pub channel: Option<String>,
    pub initiation_method: Option<String>,
    /// INCOMING, PENDING, CONNECTING, CONNECTED, CONNECTED_ONHOLD, MISSED, ERROR, REJECTED,
    /// ENDED (after-contact work), PAUSED; unknown states are kept as they are.
    pub state: Option<String>,
    pub state_start_timestamp: Option<i64>,
    pub connected_to_agent_timestamp: Option<i64>,
    pub queue_timestamp: Option<i64>,
    pub queue_arn: Option<String>,
    pub queue_name: Option<String>,
}

/// A channel's slots in the routing profile (`Concurrency`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChannelSlots {
    pub channel: Option<String>,
    pub available_slots: Option<i64>,
    pub maximum_slots: Option<i64>,
}

/// A queue of the routing profile (`InboundQueues`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InboundQueue {
    pub arn: Option<String>,
    pub name: Option<String>,
    pub channels: Vec<String>,
}

/// One valid agent event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentEvent {
    pub event_id: String,
    /// LOGIN, LOGOUT, STATE_CHANGE, HEART_BEAT (others are kept as they are).
    pub event_type: String,
    pub event_timestamp: i64,
    pub agent_arn: String,
    pub version: Option<String>,
    pub aws_account_id: Option<String>,
    pub instance_arn: Option<String>,
    pub agent_username: Option<String>,
    pub routing_profile_arn: Option<String>,
    pub routing_profile_name: Option<String>,
    /// Hierarchy levels 1 to 5: (name, ARN).
    pub hierarchy: [(Option<String>, Option<String>); 5],
    pub status: AgentStatus,
    pub next_status_arn: Option<String>,
    pub next_status_name: Option<String>,
    pub next_status_enqueued_timestamp: Option<i64>,
    /// `None` when the snapshot has no `Contacts`, empty for `[]`.
    pub contacts: Option<Vec<AgentContact>>,
    pub concurrency: Option<Vec<ChannelSlots>>,
    pub inbound_queues: Option<Vec<InboundQueue>>,
    pub previous_status: AgentStatus,
    pub previous_contacts: Option<Vec<AgentContact>>,
    pub raw_json: Option<String>,
}

/// Decodes one agent event from the bytes of one JSON object.
pub fn decode_agent_event(span: &[u8], mode: RawJsonMode) -> Result<AgentEvent, DecodeError> {
    let value: Value = serde_json::from_slice(span)
        .map_err(|e| DecodeError::new(DeadLetterReason::InvalidJson, e.to_string()))?;
    let Value::Object(mut top) = value else {
        return Err(DecodeError::new(
            DeadLetterReason::NotAnObject,
            "the record is not a JSON object",
        ));
    };
    // Each `take_*` gets the path of the object it reads from (`""` for the top level), so
    // that an error names the field as `CurrentAgentSnapshot.Contacts.State`.
    let key = |top: &mut Map<String, Value>, name: &str| -> Result<String, DecodeError> {
        match take_text(top, name, "")? {
            Some(text) if !text.trim().is_empty() => Ok(text),
            _ => Err(DecodeError::new(
                DeadLetterReason::MissingEventKey,
                format!("the agent event's `{name}` is absent, null or empty"),
            )),
        }
    };
    let event_id = key(&mut top, "EventId")?;
    let event_type = key(&mut top, "EventType")?;
    let agent_arn = key(&mut top, "AgentARN")?;
    let event_timestamp = take_timestamp(&mut top, "EventTimestamp", "")?.ok_or_else(|| {
        DecodeError::new(
            DeadLetterReason::MissingTimestamp,
            "the agent event's `EventTimestamp` is absent or null",
        )
    })?;
    let mut event = AgentEvent {
        event_id,
        event_type,
        event_timestamp,
        agent_arn,
        version: take_text(&mut top, "Version", "")?,
        aws_account_id: take_text(&mut top, "AWSAccountId", "")?,
        instance_arn: take_text(&mut top, "InstanceARN", "")?,
        ..AgentEvent::default()
    };

    let mut current = take_object(&mut top, "CurrentAgentSnapshot", "")?;
    let mut previous = take_object(&mut top, "PreviousAgentSnapshot", "")?;
    // The previous configuration repeats the current one except after a configuration change.
    if let (Some(current), Some(previous)) = (&current, &mut previous)
        && current.get("Configuration").is_some()
        && current.get("Configuration") == previous.get("Configuration")
    {
        previous.remove("Configuration");
    }
    if let Some(snapshot) = current.as_mut() {
        let path = "CurrentAgentSnapshot";
        event.status = take_status(snapshot, "AgentStatus", path)?;
        if let Some(mut next) = take_object(snapshot, "NextAgentStatus", path)? {
            let next_path = join(path, "NextAgentStatus");
            event.next_status_arn = take_text(&mut next, "ARN", &next_path)?;
            event.next_status_name = take_text(&mut next, "Name", &next_path)?;
            event.next_status_enqueued_timestamp =
                take_timestamp(&mut next, "EnqueuedTimestamp", &next_path)?;
            put_back(snapshot, "NextAgentStatus", next);
        }
        event.contacts = take_contacts(snapshot, path)?;
        if let Some(mut configuration) = take_object(snapshot, "Configuration", path)? {
            take_configuration(&mut configuration, &mut event, &join(path, "Configuration"))?;
            put_back(snapshot, "Configuration", configuration);
        }
    }
    if let Some(snapshot) = previous.as_mut() {
        let path = "PreviousAgentSnapshot";
        event.previous_status = take_status(snapshot, "AgentStatus", path)?;
        event.previous_contacts = take_contacts(snapshot, path)?;
    }
    for (name, snapshot) in [
        ("CurrentAgentSnapshot", current),
        ("PreviousAgentSnapshot", previous),
    ] {
        if let Some(snapshot) = snapshot {
            put_back(&mut top, name, snapshot);
        }
    }
    event.raw_json = match mode {
        RawJsonMode::FullRecord => Some(String::from_utf8_lossy(span).into_owned()),
        RawJsonMode::Unmapped => {
            prune(&mut top);
            (!top.is_empty()).then(|| Value::Object(top).to_string())
        }
    };
    Ok(event)
}

fn take_configuration(
    configuration: &mut Map<String, Value>,
    event: &mut AgentEvent,
    path: &str,
) -> Result<(), DecodeError> {
    event.agent_username = take_text(configuration, "Username", path)?;
    if let Some(mut groups) = take_object(configuration, "AgentHierarchyGroups", path)? {
        let groups_path = join(path, "AgentHierarchyGroups");
        for (level, slot) in event.hierarchy.iter_mut().enumerate() {
            let name = format!("Level{}", level + 1);
            let level_path = join(&groups_path, &name);
            if let Some(mut group) = take_object(&mut groups, &name, &groups_path)? {
                *slot = (
                    take_text(&mut group, "Name", &level_path)?,
                    take_text(&mut group, "ARN", &level_path)?,
                );
                put_back(&mut groups, &name, group);
            }
        }
        put_back(configuration, "AgentHierarchyGroups", groups);
    }
    if let Some(mut profile) = take_object(configuration, "RoutingProfile", path)? {
        let profile_path = format!("{path}.RoutingProfile");
        event.routing_profile_arn = take_text(&mut profile, "ARN", &profile_path)?;
        event.routing_profile_name = take_text(&mut profile, "Name", &profile_path)?;
        if let Some(queues) = take_array(&mut profile, "InboundQueues", &profile_path)? {
            let queues_path = format!("{profile_path}.InboundQueues");
            let mut typed = Vec::with_capacity(queues.len());
            let mut rest = Vec::with_capacity(queues.len());
            for queue in queues {
                let mut queue = as_object(queue, &queues_path)?;
                let channels = match take_array(&mut queue, "Channels", &queues_path)? {
                    None => Vec::new(),
                    Some(channels) => channels
                        .into_iter()
                        .map(|c| scalar_text(c, &format!("{queues_path}.Channels")))
                        .collect::<Result<Vec<_>, _>>()?
                        .into_iter()
                        .flatten()
                        .collect(),
                };
                typed.push(InboundQueue {
                    arn: take_text(&mut queue, "ARN", &queues_path)?,
                    name: take_text(&mut queue, "Name", &queues_path)?,
                    channels,
                });
                rest.push(Value::Object(queue));
            }
            event.inbound_queues = Some(typed);
            profile.insert("InboundQueues".to_owned(), Value::Array(rest));
        }
        if let Some(slots) = take_array(&mut profile, "Concurrency", &profile_path)? {
            let slots_path = format!("{profile_path}.Concurrency");
            let mut typed = Vec::with_capacity(slots.len());
            let mut rest = Vec::with_capacity(slots.len());
            for slot in slots {
                let mut slot = as_object(slot, &slots_path)?;
                typed.push(ChannelSlots {
                    channel: take_text(&mut slot, "Channel", &slots_path)?,
                    available_slots: take_count(&mut slot, "AvailableSlots", &slots_path)?,
                    maximum_slots: take_count(&mut slot, "MaximumSlots", &slots_path)?,
                });
                rest.push(Value::Object(slot));
            }
            event.concurrency = Some(typed);
            profile.insert("Concurrency".to_owned(), Value::Array(rest));
        }
        put_back(configuration, "RoutingProfile", profile);
    }
    Ok(())
}

fn take_status(
    snapshot: &mut Map<String, Value>,
    key: &str,
    snapshot_path: &str,
) -> Result<AgentStatus, DecodeError> {
    let Some(mut status) = take_object(snapshot, key, snapshot_path)? else {
        return Ok(AgentStatus::default());
    };
    let path = &join(snapshot_path, key);
    let typed = AgentStatus {
        arn: take_text(&mut status, "ARN", path)?,
        name: take_text(&mut status, "Name", path)?,
        kind: take_text(&mut status, "Type", path)?,
        start_timestamp: take_timestamp(&mut status, "StartTimestamp", path)?,
    };
    put_back(snapshot, key, status);
    Ok(typed)
}

fn take_contacts(
    snapshot: &mut Map<String, Value>,
    snapshot_path: &str,
) -> Result<Option<Vec<AgentContact>>, DecodeError> {
    let Some(contacts) = take_array(snapshot, "Contacts", snapshot_path)? else {
        return Ok(None);
    };
    let path = &join(snapshot_path, "Contacts");
    let mut typed = Vec::with_capacity(contacts.len());
    let mut rest = Vec::with_capacity(contacts.len());
    for contact in contacts {
        let mut contact = as_object(contact, path)?;
        let mut row = AgentContact {
            contact_id: take_text(&mut contact, "ContactId", path)?,
            initial_contact_id: take_text(&mut contact, "InitialContactId", path)?,
            channel: take_text(&mut contact, "Channel", path)?,
            initiation_method: take_text(&mut contact, "InitiationMethod", path)?,
            state: take_text(&mut contact, "State", path)?,
            state_start_timestamp: take_timestamp(&mut contact, "StateStartTimestamp", path)?,
            connected_to_agent_timestamp: take_timestamp(
                &mut contact,
                "ConnectedToAgentTimestamp",
                path,
            )?,
            queue_timestamp: take_timestamp(&mut contact, "QueueTimestamp", path)?,
            ..AgentContact::default()
        };
        if let Some(mut queue) = take_object(&mut contact, "Queue", path)? {
            let queue_path = format!("{path}.Queue");
            row.queue_arn = take_text(&mut queue, "ARN", &queue_path)?;
            row.queue_name = take_text(&mut queue, "Name", &queue_path)?;
            put_back(&mut contact, "Queue", queue);
        }
        typed.push(row);
        rest.push(Value::Object(contact));
    }
    snapshot.insert("Contacts".to_owned(), Value::Array(rest));
    Ok(Some(typed))
}

fn put_back(parent: &mut Map<String, Value>, key: &str, child: Map<String, Value>) {
    parent.insert(key.to_owned(), Value::Object(child));
}

/// Removes, bottom up, the objects and arrays that taking the typed fields left empty.
fn prune(object: &mut Map<String, Value>) {
    object.retain(|_, value| !prune_value(value));
}

/// Prunes `value`; returns whether it is now an empty container.
fn prune_value(value: &mut Value) -> bool {
    match value {
        Value::Object(inner) => {
            prune(inner);
            inner.is_empty()
        }
        // An array is left when any element keeps something (the others stay as `{}`, so
        // positions still match the typed list); `[]` itself says no more than the column.
        Value::Array(items) => {
            let mut all_empty = true;
            for item in items.iter_mut() {
                all_empty &= prune_value(item);
            }
            all_empty
        }
        _ => false,
    }
}

fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn scalar_text(value: Value, path: &str) -> Result<Option<String>, DecodeError> {
    match value {
        Value::Null => Ok(None),
        Value::String(text) => Ok(Some(text)),
        Value::Number(n) => Ok(Some(n.to_string())),
        Value::Bool(b) => Ok(Some(b.to_string())),
        other => Err(DecodeError::new(
            DeadLetterReason::BadNesting,
            format!("`{path}` is {}, expected a string", describe(&other)),
        )),
    }
}

fn take_text(
    object: &mut Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<String>, DecodeError> {
    match object.remove(key) {
        None => Ok(None),
        Some(value) => scalar_text(value, &join(path, key)),
    }
}

fn take_timestamp(
    object: &mut Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<i64>, DecodeError> {
    let full = join(path, key);
    let Some(text) = take_text(object, key, path)? else {
        return Ok(None);
    };
    match parse_millis(&text) {
        Some(ms) if (MIN_TIMESTAMP_MS..END_TIMESTAMP_MS).contains(&ms) => Ok(Some(ms)),
        Some(_) => Err(DecodeError::new(
            DeadLetterReason::BadTimestamp,
            format!(
                "`{full}` is {text:?}, outside the years 2017 to 2099 (Amazon Connect began in 2017)"
            ),
        )),
        None => Err(DecodeError::new(
            DeadLetterReason::BadTimestamp,
            format!("`{full}` is {text:?}, not an ISO-8601 date-time"),
        )),
    }
}

/// A slot count: a non-negative integer up to [`crate::decode::MAX_COUNT`].
fn take_count(
    object: &mut Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<i64>, DecodeError> {
    match object.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(count) if (0..=crate::decode::MAX_COUNT).contains(&count) => Ok(Some(count)),
            _ => Err(DecodeError::new(
                DeadLetterReason::BadInteger,
                format!(
                    "`{}` is {n}, expected a count from 0 to 100000",
                    join(path, key)
                ),
            )),
        },
        Some(other) => Err(DecodeError::new(
            DeadLetterReason::BadInteger,
            format!(
                "`{}` is {}, expected an integer",
                join(path, key),
                describe(&other)
            ),
        )),
    }
}

fn take_object(
    object: &mut Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<Map<String, Value>>, DecodeError> {
    match object.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(inner)) => Ok(Some(inner)),
        Some(other) => Err(DecodeError::new(
            DeadLetterReason::BadNesting,
            format!(
                "`{}` is {}, expected an object",
                join(path, key),
                describe(&other)
            ),
        )),
    }
}

fn take_array(
    object: &mut Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<Vec<Value>>, DecodeError> {
    match object.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => Ok(Some(items)),
        Some(other) => Err(DecodeError::new(
            DeadLetterReason::BadNesting,
            format!(
                "`{}` is {}, expected an array",
                join(path, key),
                describe(&other)
            ),
        )),
    }
}

fn as_object(value: Value, path: &str) -> Result<Map<String, Value>, DecodeError> {
    match value {
        Value::Object(inner) => Ok(inner),
        other => Err(DecodeError::new(
            DeadLetterReason::BadNesting,
            format!(
                "an element of `{path}` is {}, expected an object",
                describe(&other)
            ),
        )),
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// One column of the `agent_events` table: name, Arrow type, and where it comes from.
pub struct AgentEventColumn {
    pub name: &'static str,
    pub data_type: DataType,
    pub nullable: bool,
    /// The JSON path in the event, or how the value is derived.
    pub source: &'static str,
}

fn text_field(name: &str) -> Field {
    Field::new(name, DataType::Utf8, true)
}

fn timestamp_field(name: &str) -> Field {
    Field::new(name, timestamp_type(), true)
}

fn contact_fields() -> Fields {
    Fields::from(vec![
        text_field("contact_id"),
        text_field("initial_contact_id"),
        text_field("channel"),
        text_field("initiation_method"),
        text_field("state"),
        timestamp_field("state_start_timestamp"),
        timestamp_field("connected_to_agent_timestamp"),
        timestamp_field("queue_timestamp"),
        text_field("queue_arn"),
        text_field("queue_name"),
    ])
}

fn slot_fields() -> Fields {
    Fields::from(vec![
        text_field("channel"),
        Field::new("available_slots", DataType::Int64, true),
        Field::new("maximum_slots", DataType::Int64, true),
    ])
}

fn queue_fields() -> Fields {
    Fields::from(vec![
        text_field("arn"),
        text_field("name"),
        Field::new("channels", list_of(DataType::Utf8), true),
    ])
}

/// A list with the Parquet spec's item name, as the writer's coerced types write it.
fn list_of(item: DataType) -> DataType {
    DataType::List(Arc::new(Field::new("element", item, true)))
}

macro_rules! column {
    ($name:literal, $type:expr, $source:literal) => {
        AgentEventColumn {
            name: $name,
            data_type: $type,
            nullable: true,
            source: $source,
        }
    };
}

/// Every column of `agent_events`, in file order. The partition column `dt` (the UTC date of
/// `EventTimestamp`) lives in the path only.
pub static AGENT_EVENT_COLUMNS: LazyLock<Vec<AgentEventColumn>> = LazyLock::new(|| {
    let text = || DataType::Utf8;
    let mut columns = vec![
        AgentEventColumn {
            name: "event_id",
            data_type: text(),
            nullable: false,
            source: "EventId: one per event; copies of a delivery share it",
        },
        AgentEventColumn {
            name: "event_type",
            data_type: text(),
            nullable: false,
            source: "EventType: LOGIN, LOGOUT, STATE_CHANGE, HEART_BEAT",
        },
        AgentEventColumn {
            name: "event_timestamp",
            data_type: timestamp_type(),
            nullable: false,
            source: "EventTimestamp (milliseconds, UTC); its UTC date is the dt partition",
        },
        AgentEventColumn {
            name: "agent_arn",
            data_type: text(),
            nullable: false,
            source: "AgentARN",
        },
        column!(
            "agent_username",
            text(),
            "CurrentAgentSnapshot.Configuration.Username"
        ),
        column!(
            "event_version",
            text(),
            "Version (a date string; not a schema switch)"
        ),
        column!("aws_account_id", text(), "AWSAccountId"),
        column!("instance_arn", text(), "InstanceARN"),
        column!(
            "agent_routing_profile_arn",
            text(),
            "CurrentAgentSnapshot.Configuration.RoutingProfile.ARN"
        ),
        column!(
            "agent_routing_profile_name",
            text(),
            "CurrentAgentSnapshot.Configuration.RoutingProfile.Name"
        ),
    ];
    for (name, arn) in [
        ("agent_hierarchy_level1_name", "agent_hierarchy_level1_arn"),
        ("agent_hierarchy_level2_name", "agent_hierarchy_level2_arn"),
        ("agent_hierarchy_level3_name", "agent_hierarchy_level3_arn"),
        ("agent_hierarchy_level4_name", "agent_hierarchy_level4_arn"),
        ("agent_hierarchy_level5_name", "agent_hierarchy_level5_arn"),
    ] {
        columns.push(AgentEventColumn {
            name,
            data_type: text(),
            nullable: true,
            source: "CurrentAgentSnapshot.Configuration.AgentHierarchyGroups.LevelN.Name",
        });
        columns.push(AgentEventColumn {
            name: arn,
            data_type: text(),
            nullable: true,
            source: "CurrentAgentSnapshot.Configuration.AgentHierarchyGroups.LevelN.ARN",
        });
    }
    columns.extend([
        column!("status_arn", text(), "CurrentAgentSnapshot.AgentStatus.ARN"),
        column!(
            "status_name",
            text(),
            "CurrentAgentSnapshot.AgentStatus.Name"
        ),
        column!(
            "status_type",
            text(),
            "CurrentAgentSnapshot.AgentStatus.Type: ROUTABLE, CUSTOM or OFFLINE"
        ),
        column!(
            "status_start_timestamp",
            timestamp_type(),
            "CurrentAgentSnapshot.AgentStatus.StartTimestamp: when the status began"
        ),
        column!(
            "next_status_arn",
            text(),
            "CurrentAgentSnapshot.NextAgentStatus.ARN"
        ),
        column!(
            "next_status_name",
            text(),
            "CurrentAgentSnapshot.NextAgentStatus.Name"
        ),
        column!(
            "next_status_enqueued_timestamp",
            timestamp_type(),
            "CurrentAgentSnapshot.NextAgentStatus.EnqueuedTimestamp: routing paused since"
        ),
        column!(
            "contacts",
            list_of(DataType::Struct(contact_fields())),
            "CurrentAgentSnapshot.Contacts: each contact and its State since StateStartTimestamp"
        ),
        column!(
            "concurrency",
            list_of(DataType::Struct(slot_fields())),
            "CurrentAgentSnapshot.Configuration.RoutingProfile.Concurrency: slots per channel"
        ),
        column!(
            "inbound_queues",
            list_of(DataType::Struct(queue_fields())),
            "CurrentAgentSnapshot.Configuration.RoutingProfile.InboundQueues"
        ),
        column!(
            "previous_status_arn",
            text(),
            "PreviousAgentSnapshot.AgentStatus.ARN"
        ),
        column!(
            "previous_status_name",
            text(),
            "PreviousAgentSnapshot.AgentStatus.Name"
        ),
        column!(
            "previous_status_type",
            text(),
            "PreviousAgentSnapshot.AgentStatus.Type"
        ),
        column!(
            "previous_status_start_timestamp",
            timestamp_type(),
            "PreviousAgentSnapshot.AgentStatus.StartTimestamp"
        ),
        column!(
            "previous_contacts",
            list_of(DataType::Struct(contact_fields())),
            "PreviousAgentSnapshot.Contacts"
        ),
        column!(
            "raw_json",
            text(),
            "what no typed column holds (names, default outbound queue, unknown fields, a \
             changed previous configuration), or the whole event with --raw-json full"
        ),
        column!(
            "source_uri",
            text(),
            "(ingest) file:///..., s3://..., stdin or kinesis://stream/shard"
        ),
        column!(
            "source_offset",
            DataType::Int64,
            "(ingest) byte offset of the record in the decompressed source file"
        ),
        column!(
            "source_sequence_number",
            text(),
            "(ingest) Kinesis sequence number"
        ),
        column!(
            "arrival_timestamp",
            timestamp_type(),
            "(ingest) source file modification time, or Kinesis approximate arrival time"
        ),
    ]);
    columns
});

static AGENT_EVENT_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(
        AGENT_EVENT_COLUMNS
            .iter()
            .map(|c| Field::new(c.name, c.data_type.clone(), c.nullable))
            .collect::<Vec<_>>(),
    ))
});

/// The Arrow schema of every Parquet file under `agent_events/`.
pub fn agent_event_schema() -> SchemaRef {
    AGENT_EVENT_SCHEMA.clone()
}

/// `CREATE EXTERNAL TABLE` for Athena over `location` (`s3://bucket/prefix/agent_events/`),
/// with partition projection on `dt`.
pub fn athena_ddl(table: &str, location: &str) -> String {
    let columns: Vec<(&str, String)> = AGENT_EVENT_COLUMNS
        .iter()
        .map(|c| (c.name, athena_type(&c.data_type)))
        .collect();
    crate::schema::athena_ddl_of(table, location, &columns)
}

/// The Athena (Hive DDL) type of an Arrow type of this table.
pub fn athena_type(data_type: &DataType) -> String {
    match data_type {
        DataType::Utf8 => "string".to_owned(),
        DataType::Int64 => "bigint".to_owned(),
        DataType::Timestamp(..) => "timestamp".to_owned(),
        DataType::List(item) => format!("array<{}>", athena_type(item.data_type())),
        DataType::Struct(fields) => format!(
            "struct<{}>",
            fields
                .iter()
                .map(|f| format!("{}:{}", f.name(), athena_type(f.data_type())))
                .collect::<Vec<_>>()
                .join(",")
        ),
        other => format!("{other}"),
    }
}

/// Accumulates agent events as rows of [`agent_event_schema`].
pub struct AgentEventBatchBuilder {
    text: Vec<StringBuilder>,
    timestamps: Vec<TimestampMillisecondBuilder>,
    contacts: ListBuilder<StructBuilder>,
    previous_contacts: ListBuilder<StructBuilder>,
    concurrency: ListBuilder<StructBuilder>,
    inbound_queues: ListBuilder<StructBuilder>,
    source_offset: Int64Builder,
    rows: usize,
}

impl Default for AgentEventBatchBuilder {
    fn default() -> Self {
        Self::new()
    }
}

fn timestamp_builder() -> TimestampMillisecondBuilder {
    TimestampMillisecondBuilder::new().with_timezone(TIMESTAMP_TZ)
}

/// The text columns, in the order the builder fills them (see [`AgentEventBatchBuilder::push`]).
const TEXT_COLUMNS: usize = 30;
/// The timestamp columns: event, status start, next status enqueued, previous status start,
/// arrival.
const TIMESTAMP_COLUMNS: usize = 5;

impl AgentEventBatchBuilder {
    pub fn new() -> Self {
        Self {
            text: (0..TEXT_COLUMNS).map(|_| StringBuilder::new()).collect(),
            timestamps: (0..TIMESTAMP_COLUMNS)
                .map(|_| timestamp_builder())
                .collect(),
            contacts: contact_list_builder(),
            previous_contacts: contact_list_builder(),
            concurrency: struct_list_of(slot_fields()),
            inbound_queues: struct_list_of(queue_fields()),
            source_offset: Int64Builder::new(),
            rows: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Appends one event with its provenance.
    pub fn push(&mut self, event: &AgentEvent, origin: &RecordOrigin<'_>) {
        let level = |n: usize| &event.hierarchy[n];
        let texts: [Option<&str>; TEXT_COLUMNS] = [
            Some(event.event_id.as_str()),
            Some(event.event_type.as_str()),
            Some(event.agent_arn.as_str()),
            event.agent_username.as_deref(),
            event.version.as_deref(),
            event.aws_account_id.as_deref(),
            event.instance_arn.as_deref(),
            event.routing_profile_arn.as_deref(),
            event.routing_profile_name.as_deref(),
            level(0).0.as_deref(),
            level(0).1.as_deref(),
            level(1).0.as_deref(),
            level(1).1.as_deref(),
            level(2).0.as_deref(),
            level(2).1.as_deref(),
            level(3).0.as_deref(),
            level(3).1.as_deref(),
            level(4).0.as_deref(),
            level(4).1.as_deref(),
            event.status.arn.as_deref(),
            event.status.name.as_deref(),
            event.status.kind.as_deref(),
            event.next_status_arn.as_deref(),
            event.next_status_name.as_deref(),
            event.previous_status.arn.as_deref(),
            event.previous_status.name.as_deref(),
            event.previous_status.kind.as_deref(),
            event.raw_json.as_deref(),
            Some(origin.source_uri),
            origin.source_sequence_number,
        ];
        for (builder, value) in self.text.iter_mut().zip(texts) {
            builder.append_option(value);
        }
        let timestamps = [
            Some(event.event_timestamp),
            event.status.start_timestamp,
            event.next_status_enqueued_timestamp,
            event.previous_status.start_timestamp,
            origin.arrival_timestamp,
        ];
        for (builder, value) in self.timestamps.iter_mut().zip(timestamps) {
            builder.append_option(value);
        }
        append_contacts(&mut self.contacts, event.contacts.as_deref());
        append_contacts(
            &mut self.previous_contacts,
            event.previous_contacts.as_deref(),
        );
        match &event.concurrency {
            None => self.concurrency.append(false),
            Some(slots) => {
                for slot in slots {
                    let item = self.concurrency.values();
                    text_at(item, 0).append_option(slot.channel.as_deref());
                    int_at(item, 1).append_option(slot.available_slots);
                    int_at(item, 2).append_option(slot.maximum_slots);
                    item.append(true);
                }
                self.concurrency.append(true);
            }
        }
        match &event.inbound_queues {
            None => self.inbound_queues.append(false),
            Some(queues) => {
                for queue in queues {
                    let item = self.inbound_queues.values();
                    text_at(item, 0).append_option(queue.arn.as_deref());
                    text_at(item, 1).append_option(queue.name.as_deref());
                    let channels = item
                        .field_builder::<ListBuilder<Box<dyn ArrayBuilder>>>(2)
                        .expect("channels is a list field");
                    for channel in &queue.channels {
                        channels
                            .values()
                            .as_any_mut()
                            .downcast_mut::<StringBuilder>()
                            .expect("channels hold strings")
                            .append_value(channel);
                    }
                    channels.append(true);
                    item.append(true);
                }
                self.inbound_queues.append(true);
            }
        }
        self.source_offset.append_option(origin.source_offset);
        self.rows += 1;
    }

    /// The rows so far as a batch; the builder is empty afterwards.
    pub fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
        let mut text = self
            .text
            .iter_mut()
            .map(|b| Arc::new(b.finish()) as ArrayRef);
        let mut timestamps = self
            .timestamps
            .iter_mut()
            .map(|b| Arc::new(b.finish()) as ArrayRef);
        let mut next_text = || text.next().expect("a text column per name");
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(AGENT_EVENT_COLUMNS.len());
        // File order (AGENT_EVENT_COLUMNS) from the fill order (push).
        let event_id = next_text();
        let event_type = next_text();
        let agent_arn = next_text();
        let agent_username = next_text();
        let version = next_text();
        let account = next_text();
        let instance = next_text();
        let profile_arn = next_text();
        let profile_name = next_text();
        let hierarchy: Vec<ArrayRef> = (0..10).map(|_| next_text()).collect();
        let [
            status_arn,
            status_name,
            status_type,
            next_arn,
            next_name,
            previous_arn,
            previous_name,
            previous_type,
            raw_json,
            source_uri,
            source_sequence,
        ] = std::array::from_fn(|_| next_text());
        let mut next_timestamp = || timestamps.next().expect("a timestamp column per name");
        let [
            event_timestamp,
            status_start,
            next_enqueued,
            previous_start,
            arrival,
        ] = std::array::from_fn(|_| next_timestamp());
        columns.extend([
            event_id,
            event_type,
            event_timestamp,
            agent_arn,
            agent_username,
        ]);
        columns.extend([version, account, instance, profile_arn, profile_name]);
        columns.extend(hierarchy);
        columns.extend([status_arn, status_name, status_type, status_start]);
        columns.extend([next_arn, next_name, next_enqueued]);
        columns.push(Arc::new(self.contacts.finish()));
        columns.push(Arc::new(self.concurrency.finish()));
        columns.push(Arc::new(self.inbound_queues.finish()));
        columns.extend([previous_arn, previous_name, previous_type, previous_start]);
        columns.push(Arc::new(self.previous_contacts.finish()));
        columns.push(raw_json);
        columns.push(source_uri);
        columns.push(Arc::new(self.source_offset.finish()));
        columns.push(source_sequence);
        columns.push(arrival);
        self.rows = 0;
        RecordBatch::try_new(agent_event_schema(), columns)
    }
}

fn contact_list_builder() -> ListBuilder<StructBuilder> {
    struct_list_of(contact_fields())
}

fn struct_list_of(fields: Fields) -> ListBuilder<StructBuilder> {
    let item = Field::new("element", DataType::Struct(fields.clone()), true);
    ListBuilder::new(StructBuilder::from_fields(fields, 0)).with_field(Arc::new(item))
}

fn text_at(item: &mut StructBuilder, index: usize) -> &mut StringBuilder {
    item.field_builder::<StringBuilder>(index)
        .expect("the struct's text field")
}

fn int_at(item: &mut StructBuilder, index: usize) -> &mut Int64Builder {
    item.field_builder::<Int64Builder>(index)
        .expect("the struct's integer field")
}

fn timestamp_at(item: &mut StructBuilder, index: usize) -> &mut TimestampMillisecondBuilder {
    item.field_builder::<TimestampMillisecondBuilder>(index)
        .expect("the struct's timestamp field")
}

fn append_contacts(list: &mut ListBuilder<StructBuilder>, contacts: Option<&[AgentContact]>) {
    let Some(contacts) = contacts else {
        list.append(false);
        return;
    };
    for contact in contacts {
        let item = list.values();
        text_at(item, 0).append_option(contact.contact_id.as_deref());
        text_at(item, 1).append_option(contact.initial_contact_id.as_deref());
        text_at(item, 2).append_option(contact.channel.as_deref());
        text_at(item, 3).append_option(contact.initiation_method.as_deref());
        text_at(item, 4).append_option(contact.state.as_deref());
        timestamp_at(item, 5).append_option(contact.state_start_timestamp);
        timestamp_at(item, 6).append_option(contact.connected_to_agent_timestamp);
        timestamp_at(item, 7).append_option(contact.queue_timestamp);
        text_at(item, 8).append_option(contact.queue_arn.as_deref());
        text_at(item, 9).append_option(contact.queue_name.as_deref());
        item.append(true);
    }
    list.append(true);
}

#[cfg(test)]
mod tests {
    use arrow_array::cast::AsArray;
    use arrow_array::types::TimestampMillisecondType;
    use arrow_array::{Array, ListArray};

    use super::*;
    use crate::decode::{Decoded, Record, decode_next};

    /// fixtures/agent-events/aws-examples.ndjson (see its README).
    const EXAMPLES: &str = include_str!("../../../fixtures/agent-events/aws-examples.ndjson");

    fn example(n: usize) -> &'static str {
        EXAMPLES.lines().nth(n).expect("five examples")
    }

    fn decode(text: &str) -> Result<AgentEvent, DecodeError> {
        match decode_next(text.as_bytes(), RawJsonMode::Unmapped) {
            Decoded::Value { result, .. } => result.map(|record| match record {
                Record::AgentEvent(event) => *event,
                Record::Contact(contact) => panic!("routed as a CTR: {contact:?}"),
            }),
            other => panic!("not a JSON value: {other:?}"),
        }
    }

    fn ms(text: &str) -> i64 {
        parse_millis(text).expect("a timestamp")
    }

    #[test]
    fn the_acw_example_decodes_with_both_snapshots() {
        let event = decode(example(0)).expect("valid");
        assert_eq!(event.event_id, "EventId-1");
        assert_eq!(event.event_type, "STATE_CHANGE");
        assert_eq!(event.event_timestamp, ms("2019-05-25T18:55:27.017Z"));
        assert!(event.agent_arn.ends_with("/agent/agent-ARN"));
        assert_eq!(event.agent_username.as_deref(), Some("(Removed)"));
        assert_eq!(
            event.routing_profile_name.as_deref(),
            Some("Basic Routing Profile")
        );
        assert_eq!(event.status.name.as_deref(), Some("Available"));
        assert_eq!(
            event.status.start_timestamp,
            Some(ms("2019-05-25T18:43:59.049Z"))
        );
        let contacts = event.contacts.as_deref().expect("contacts");
        assert_eq!(contacts.len(), 1);
        assert_eq!(contacts[0].state.as_deref(), Some("ENDED"));
        assert_eq!(
            contacts[0].state_start_timestamp,
            Some(ms("2019-05-25T18:55:27.017Z"))
        );
        assert_eq!(contacts[0].queue_name.as_deref(), Some("BasicQueue"));
        assert_eq!(contacts[0].queue_timestamp, None);
        let previous = event
            .previous_contacts
            .as_deref()
            .expect("previous contacts");
        assert_eq!(previous[0].state.as_deref(), Some("CONNECTED"));
        assert_eq!(event.inbound_queues.as_ref().map(Vec::len), Some(1));
        // What no column holds stays; the previous configuration (equal to the current) goes.
        let raw: Value = serde_json::from_str(event.raw_json.as_deref().expect("raw_json"))
            .expect("raw_json is JSON");
        let configuration = &raw["CurrentAgentSnapshot"]["Configuration"];
        assert_eq!(configuration["FirstName"], "(Removed)");
        assert_eq!(
            configuration["RoutingProfile"]["DefaultOutboundQueue"]["Name"],
            "BasicQueue"
        );
        assert!(raw["PreviousAgentSnapshot"].get("Configuration").is_none());
        assert!(raw.get("EventId").is_none() && raw.get("Version").is_none());
    }

    #[test]
    fn the_heartbeat_sample_keeps_next_status_hierarchy_and_slots() {
        let event = decode(example(2)).expect("valid");
        assert_eq!(event.event_type, "HEART_BEAT");
        assert_eq!(event.status.kind.as_deref(), Some("ROUTABLE"));
        assert_eq!(event.next_status_name.as_deref(), Some("Lunch"));
        assert_eq!(
            event.next_status_enqueued_timestamp,
            Some(ms("2019-08-13T20:58:00.000Z"))
        );
        assert_eq!(event.hierarchy[0].0.as_deref(), Some("East"));
        assert_eq!(event.hierarchy[1], (None, None));
        let slots = event.concurrency.as_deref().expect("concurrency");
        assert_eq!(
            slots
                .iter()
                .map(|s| (s.channel.as_deref(), s.available_slots, s.maximum_slots))
                .collect::<Vec<_>>(),
            [
                (Some("VOICE"), Some(1), Some(1)),
                (Some("CHAT"), Some(3), Some(3))
            ]
        );
        let queues = event.inbound_queues.as_deref().expect("queues");
        assert_eq!(queues[1].name, None, "the agent's own queue has no name");
        assert_eq!(queues[0].channels, ["VOICE", "CHAT"]);
        assert_eq!(event.previous_status.kind.as_deref(), Some("OFFLINE"));
        assert_eq!(event.contacts.as_deref(), Some(&[][..]));
    }

    #[test]
    fn a_login_without_a_previous_snapshot_keeps_unknown_fields() {
        let event = decode(example(4)).expect("valid");
        assert_eq!(event.previous_contacts, None);
        assert_eq!(event.previous_status, AgentStatus::default());
        let raw: Value =
            serde_json::from_str(event.raw_json.as_deref().expect("raw_json")).expect("JSON");
        assert_eq!(
            raw["CurrentAgentSnapshot"]["Proficiency"][0]["Value"],
            "Japanese"
        );
    }

    #[test]
    fn records_are_routed_by_shape() {
        let ctr = r#"{"ContactId":"c-1","InitiationTimestamp":"2026-03-01T00:00:00Z","LastUpdateTimestamp":"2026-03-01T00:05:00Z","EventType":"x","AgentARN":"y"}"#;
        match decode_next(ctr.as_bytes(), RawJsonMode::Unmapped) {
            Decoded::Value {
                result: Ok(Record::Contact(record)),
                ..
            } => assert_eq!(record.contact_id, "c-1"),
            other => panic!("a CTR with those keys is still a CTR: {other:?}"),
        }
        // Neither shape: a CTR without its key.
        let neither = r#"{"EventType":"LOGIN"}"#;
        match decode_next(neither.as_bytes(), RawJsonMode::Unmapped) {
            Decoded::Value { result: Err(e), .. } => {
                assert_eq!(e.reason, DeadLetterReason::MissingContactId)
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_agent_events_name_the_field_and_the_reason() {
        let base: Value = serde_json::from_str(example(0)).expect("JSON");
        let with = |edit: &dyn Fn(&mut Value)| {
            let mut value = base.clone();
            edit(&mut value);
            decode(&value.to_string()).expect_err("a dead letter")
        };
        let missing_id = with(&|v| v["EventId"] = Value::Null);
        assert_eq!(missing_id.reason, DeadLetterReason::MissingEventKey);
        assert!(missing_id.detail.contains("`EventId`"), "{missing_id}");
        let no_time = with(&|v| {
            v.as_object_mut().map(|o| o.remove("EventTimestamp"));
        });
        assert_eq!(no_time.reason, DeadLetterReason::MissingTimestamp);
        let bad_state_time = with(&|v| {
            v["CurrentAgentSnapshot"]["Contacts"][0]["StateStartTimestamp"] = "soon".into()
        });
        assert_eq!(bad_state_time.reason, DeadLetterReason::BadTimestamp);
        assert!(
            bad_state_time
                .detail
                .contains("`CurrentAgentSnapshot.Contacts.StateStartTimestamp` is \"soon\""),
            "{bad_state_time}"
        );
        let year_9999 = with(&|v| v["EventTimestamp"] = "9999-12-31T00:00:00Z".into());
        assert_eq!(year_9999.reason, DeadLetterReason::BadTimestamp);
        let not_a_list = with(&|v| v["CurrentAgentSnapshot"]["Contacts"] = "none".into());
        assert_eq!(not_a_list.reason, DeadLetterReason::BadNesting);
        let bad_slots = with(&|v| {
            v["CurrentAgentSnapshot"]["Configuration"]["RoutingProfile"]["Concurrency"] =
                serde_json::json!([{"Channel": "VOICE", "AvailableSlots": -1}])
        });
        assert_eq!(bad_slots.reason, DeadLetterReason::BadInteger);
    }

    #[test]
    fn full_record_mode_keeps_the_event_as_delivered() {
        let text = example(1);
        match decode_next(text.as_bytes(), RawJsonMode::FullRecord) {
            Decoded::Value {
                result: Ok(Record::AgentEvent(event)),
                ..
            } => assert_eq!(event.raw_json.as_deref(), Some(text)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_batch_matches_the_schema_and_keeps_lists_and_nulls_apart() {
        let mut builder = AgentEventBatchBuilder::new();
        for (i, line) in EXAMPLES.lines().enumerate() {
            let event = decode(line).expect("valid");
            let origin = RecordOrigin {
                source_uri: "file:///events.ndjson",
                source_offset: Some(i as i64 * 100),
                source_sequence_number: None,
                arrival_timestamp: Some(1),
            };
            builder.push(&event, &origin);
        }
        let batch = builder.finish().expect("a batch");
        assert_eq!(batch.schema(), agent_event_schema());
        assert_eq!(batch.num_rows(), 5);
        assert!(builder.is_empty());
        let column = |name: &str| batch.column_by_name(name).expect(name).clone();
        let contacts = column("contacts");
        let contacts: &ListArray = contacts.as_list();
        assert_eq!(
            (0..5).map(|i| contacts.value(i).len()).collect::<Vec<_>>(),
            [1, 0, 0, 0, 0]
        );
        let previous = column("previous_contacts");
        let previous: &ListArray = previous.as_list();
        assert!(previous.is_null(4), "no previous snapshot: null, not empty");
        assert_eq!(previous.value(3).len(), 1);
        let states = previous.value(3);
        let states = states
            .as_struct()
            .column_by_name("state")
            .expect("state")
            .clone();
        assert_eq!(states.as_string::<i32>().value(0), "ERROR");
        let times = column("event_timestamp");
        assert_eq!(
            times.as_primitive::<TimestampMillisecondType>().value(0),
            ms("2019-05-25T18:55:27.017Z")
        );
        let slots = column("concurrency");
        let slots: &ListArray = slots.as_list();
        assert_eq!(slots.value(2).len(), 2);
        assert_eq!(
            column("source_offset")
                .as_primitive::<arrow_array::types::Int64Type>()
                .value(4),
            400
        );
        assert_eq!(
            column("agent_hierarchy_level1_name")
                .as_string::<i32>()
                .value(2),
            "East"
        );
    }

    #[test]
    fn the_column_list_is_the_schema_and_names_athena_types() {
        let schema = agent_event_schema();
        assert_eq!(schema.fields().len(), AGENT_EVENT_COLUMNS.len());
        for (field, column) in schema.fields().iter().zip(AGENT_EVENT_COLUMNS.iter()) {
            assert_eq!(field.name(), column.name);
            assert!(
                column
                    .name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{}",
                column.name
            );
        }
        let contacts = schema.field_with_name("contacts").expect("contacts");
        assert_eq!(
            athena_type(contacts.data_type()),
            "array<struct<contact_id:string,initial_contact_id:string,channel:string,\
             initiation_method:string,state:string,state_start_timestamp:timestamp,\
             connected_to_agent_timestamp:timestamp,queue_timestamp:timestamp,queue_arn:string,\
             queue_name:string>>"
        );
    }
}
