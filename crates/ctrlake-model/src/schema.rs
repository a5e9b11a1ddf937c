//! The lake's columns, listed once.
//!
//! [`COLUMNS`] is the single source of truth: the Arrow schema ([`lake_schema`]), the Arrow
//! builders ([`crate::ContactBatchBuilder`]), the Athena DDL ([`athena_ddl`]) and the schema docs
//! printed by `ctrlake schema` are all derived from it, so they cannot drift apart.
//!
//! Rules the list follows (see the lake-format notes): lower-case snake_case ASCII names;
//! timestamps as `Timestamp(Millisecond, "UTC")` (Parquet INT64 `TIMESTAMP(MILLIS, UTC)` —
//! never seconds, which arrow-rs writes without a logical type); durations as INT64 seconds;
//! `Attributes` and `Tags` as `map<string,string>`; new columns only ever appended at the end.

use std::sync::{Arc, LazyLock};

use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};

use crate::decode::{ContactRecord, RecordOrigin, Text};

/// The time zone written into Arrow timestamp types; Parquet stores `isAdjustedToUTC=true`.
pub const TIMESTAMP_TZ: &str = "UTC";

/// One row as the column getters see it: the decoded record and where it came from.
pub struct Row<'r> {
    pub record: &'r ContactRecord<'r>,
    pub origin: &'r RecordOrigin<'r>,
}

/// How a column reads its value from a [`Row`]; the variant is the column's type.
#[derive(Clone, Copy)]
pub enum Getter {
    Text(for<'r> fn(&'r Row<'r>) -> Option<&'r str>),
    /// Epoch milliseconds, UTC.
    Timestamp(fn(&Row<'_>) -> Option<i64>),
    Integer(fn(&Row<'_>) -> Option<i64>),
    /// `map<string,string>`; `None` is a null map, `Some(&[])` an empty one.
    #[allow(clippy::type_complexity)]
    StringMap(for<'r> fn(&'r Row<'r>) -> Option<&'r [(Text<'r>, Text<'r>)]>),
}

/// The logical type of a column, for docs and DDL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    Text,
    Timestamp,
    Integer,
    StringMap,
}

/// One lake column.
pub struct Column {
    pub name: &'static str,
    /// Where the value comes from in the CTR (a JSON path), or how it is derived.
    pub source: &'static str,
    pub nullable: bool,
    pub getter: Getter,
}

impl Column {
    pub fn kind(&self) -> ColumnKind {
        match self.getter {
            Getter::Text(_) => ColumnKind::Text,
            Getter::Timestamp(_) => ColumnKind::Timestamp,
            Getter::Integer(_) => ColumnKind::Integer,
            Getter::StringMap(_) => ColumnKind::StringMap,
        }
    }

    pub fn arrow_type(&self) -> DataType {
        match self.kind() {
            ColumnKind::Text => DataType::Utf8,
            ColumnKind::Timestamp => timestamp_type(),
            ColumnKind::Integer => DataType::Int64,
            ColumnKind::StringMap => string_map_type(),
        }
    }

    /// The Athena (Hive DDL) type of the column.
    pub fn athena_type(&self) -> &'static str {
        match self.kind() {
            ColumnKind::Text => "string",
            ColumnKind::Timestamp => "timestamp",
            ColumnKind::Integer => "bigint",
            ColumnKind::StringMap => "map<string,string>",
        }
    }
}

pub fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some(TIMESTAMP_TZ.into()))
}

/// The standard Parquet MAP layout (`key_value` / `key` / `value`) that Athena reads.
pub fn string_map_type() -> DataType {
    DataType::Map(Arc::new(string_map_entries_field()), false)
}

pub(crate) fn string_map_entries_field() -> Field {
    Field::new(
        "key_value",
        DataType::Struct(Fields::from(vec![
            Field::new("key", DataType::Utf8, false),
            Field::new("value", DataType::Utf8, true),
        ])),
        false,
    )
}

macro_rules! text {
    ($name:literal, $source:literal, |$r:ident| $get:expr) => {
        Column {
            name: $name,
            source: $source,
            nullable: true,
            getter: Getter::Text(|$r| $get),
        }
    };
}
macro_rules! timestamp {
    ($name:literal, $source:literal, |$r:ident| $get:expr) => {
        Column {
            name: $name,
            source: $source,
            nullable: true,
            getter: Getter::Timestamp(|$r| $get),
        }
    };
}
macro_rules! integer {
    ($name:literal, $source:literal, |$r:ident| $get:expr) => {
        Column {
            name: $name,
            source: $source,
            nullable: true,
            getter: Getter::Integer(|$r| $get),
        }
    };
}

/// Every column of `ctr/`, in file order.
pub static COLUMNS: &[Column] = &[
    Column {
        name: "contact_id",
        source: "ContactId",
        nullable: false,
        getter: Getter::Text(|r| Some(&r.record.contact_id)),
    },
    text!("initial_contact_id", "InitialContactId", |r| r
        .record
        .fields
        .initial_contact_id
        .as_deref()),
    text!("previous_contact_id", "PreviousContactId", |r| r
        .record
        .fields
        .previous_contact_id
        .as_deref()),
    text!("next_contact_id", "NextContactId", |r| r
        .record
        .fields
        .next_contact_id
        .as_deref()),
    text!("related_contact_id", "RelatedContactId", |r| r
        .record
        .fields
        .related_contact_id
        .as_deref()),
    text!("channel", "Channel", |r| r.record.fields.channel.as_deref()),
    text!("initiation_method", "InitiationMethod", |r| r
        .record
        .fields
        .initiation_method
        .as_deref()),
    Column {
        name: "initiation_timestamp",
        source: "InitiationTimestamp",
        nullable: false,
        getter: Getter::Timestamp(|r| Some(r.record.initiation_timestamp)),
    },
    timestamp!(
        "connected_to_system_timestamp",
        "ConnectedToSystemTimestamp",
        |r| r.record.fields.connected_to_system_timestamp
    ),
    timestamp!("disconnect_timestamp", "DisconnectTimestamp", |r| r
        .record
        .fields
        .disconnect_timestamp),
    Column {
        name: "last_update_timestamp",
        source: "LastUpdateTimestamp",
        nullable: false,
        getter: Getter::Timestamp(|r| Some(r.record.last_update_timestamp)),
    },
    timestamp!(
        "transfer_completed_timestamp",
        "TransferCompletedTimestamp",
        |r| r.record.fields.transfer_completed_timestamp
    ),
    timestamp!("scheduled_timestamp", "ScheduledTimestamp", |r| r
        .record
        .fields
        .scheduled_timestamp),
    text!("disconnect_reason", "DisconnectReason", |r| r
        .record
        .fields
        .disconnect_reason
        .as_deref()),
    text!(
        "customer_endpoint_address",
        "CustomerEndpoint.Address",
        |r| r.record.fields.customer_endpoint.address.as_deref()
    ),
    text!("customer_endpoint_type", "CustomerEndpoint.Type", |r| r
        .record
        .fields
        .customer_endpoint
        .kind
        .as_deref()),
    text!("system_endpoint_address", "SystemEndpoint.Address", |r| r
        .record
        .fields
        .system_endpoint
        .address
        .as_deref()),
    text!("system_endpoint_type", "SystemEndpoint.Type", |r| r
        .record
        .fields
        .system_endpoint
        .kind
        .as_deref()),
    text!(
        "transferred_to_endpoint_address",
        "TransferredToEndpoint.Address",
        |r| r.record.fields.transferred_to_endpoint.address.as_deref()
    ),
    text!(
        "transferred_to_endpoint_type",
        "TransferredToEndpoint.Type",
        |r| r.record.fields.transferred_to_endpoint.kind.as_deref()
    ),
    text!("queue_name", "Queue.Name", |r| r
        .record
        .fields
        .queue_name
        .as_deref()),
    text!("queue_arn", "Queue.ARN", |r| r
        .record
        .fields
        .queue_arn
        .as_deref()),
    timestamp!("queue_enqueue_timestamp", "Queue.EnqueueTimestamp", |r| r
        .record
        .fields
        .queue_enqueue_timestamp),
    timestamp!("queue_dequeue_timestamp", "Queue.DequeueTimestamp", |r| r
        .record
        .fields
        .queue_dequeue_timestamp),
    integer!("queue_duration", "Queue.Duration", |r| r
        .record
        .fields
        .queue_duration),
    text!("agent_username", "Agent.Username", |r| r
        .record
        .fields
        .agent_username
        .as_deref()),
    text!("agent_arn", "Agent.ARN", |r| r
        .record
        .fields
        .agent_arn
        .as_deref()),
    text!(
        "agent_routing_profile_name",
        "Agent.RoutingProfile.Name",
        |r| r.record.fields.agent_routing_profile_name.as_deref()
    ),
    text!(
        "agent_routing_profile_arn",
        "Agent.RoutingProfile.ARN",
        |r| r.record.fields.agent_routing_profile_arn.as_deref()
    ),
    text!(
        "agent_hierarchy_level1_name",
        "Agent.HierarchyGroups.Level1.GroupName",
        |r| r.record.fields.agent_hierarchy_group_names[0].as_deref()
    ),
    text!(
        "agent_hierarchy_level1_arn",
        "Agent.HierarchyGroups.Level1.ARN",
        |r| r.record.fields.agent_hierarchy_group_arns[0].as_deref()
    ),
    text!(
        "agent_hierarchy_level2_name",
        "Agent.HierarchyGroups.Level2.GroupName",
        |r| r.record.fields.agent_hierarchy_group_names[1].as_deref()
    ),
    text!(
        "agent_hierarchy_level2_arn",
        "Agent.HierarchyGroups.Level2.ARN",
        |r| r.record.fields.agent_hierarchy_group_arns[1].as_deref()
    ),
    text!(
        "agent_hierarchy_level3_name",
        "Agent.HierarchyGroups.Level3.GroupName",
        |r| r.record.fields.agent_hierarchy_group_names[2].as_deref()
    ),
    text!(
        "agent_hierarchy_level3_arn",
        "Agent.HierarchyGroups.Level3.ARN",
        |r| r.record.fields.agent_hierarchy_group_arns[2].as_deref()
    ),
    text!(
        "agent_hierarchy_level4_name",
        "Agent.HierarchyGroups.Level4.GroupName",
        |r| r.record.fields.agent_hierarchy_group_names[3].as_deref()
    ),
    text!(
        "agent_hierarchy_level4_arn",
        "Agent.HierarchyGroups.Level4.ARN",
        |r| r.record.fields.agent_hierarchy_group_arns[3].as_deref()
    ),
    text!(
        "agent_hierarchy_level5_name",
        "Agent.HierarchyGroups.Level5.GroupName",
        |r| r.record.fields.agent_hierarchy_group_names[4].as_deref()
    ),
    text!(
        "agent_hierarchy_level5_arn",
        "Agent.HierarchyGroups.Level5.ARN",
        |r| r.record.fields.agent_hierarchy_group_arns[4].as_deref()
    ),
    timestamp!(
        "agent_connected_to_agent_timestamp",
        "Agent.ConnectedToAgentTimestamp",
        |r| r.record.fields.agent_connected_to_agent_timestamp
    ),
    integer!(
        "agent_interaction_duration",
        "Agent.AgentInteractionDuration",
        |r| r.record.fields.agent_interaction_duration
    ),
    integer!(
        "agent_customer_hold_duration",
        "Agent.CustomerHoldDuration",
        |r| r.record.fields.agent_customer_hold_duration
    ),
    integer!(
        "agent_after_contact_work_duration",
        "Agent.AfterContactWorkDuration",
        |r| r.record.fields.agent_after_contact_work_duration
    ),
    timestamp!(
        "agent_after_contact_work_start_timestamp",
        "Agent.AfterContactWorkStartTimestamp",
        |r| r.record.fields.agent_after_contact_work_start_timestamp
    ),
    timestamp!(
        "agent_after_contact_work_end_timestamp",
        "Agent.AfterContactWorkEndTimestamp",
        |r| r.record.fields.agent_after_contact_work_end_timestamp
    ),
    integer!("agent_pause_duration", "Agent.AgentPauseDuration", |r| r
        .record
        .fields
        .agent_pause_duration),
    integer!("agent_number_of_holds", "Agent.NumberOfHolds", |r| r
        .record
        .fields
        .agent_number_of_holds),
    integer!(
        "agent_longest_hold_duration",
        "Agent.LongestHoldDuration",
        |r| r.record.fields.agent_longest_hold_duration
    ),
    integer!(
        "agent_initiated_hold_duration",
        "Agent.AgentInitiatedHoldDuration",
        |r| r.record.fields.agent_initiated_hold_duration
    ),
    integer!(
        "agent_connection_attempts",
        "AgentConnectionAttempts",
        |r| r.record.fields.agent_connection_attempts
    ),
    text!("recording_location", "Recording.Location", |r| r
        .record
        .fields
        .recording_location
        .as_deref()),
    text!("recording_status", "Recording.Status", |r| r
        .record
        .fields
        .recording_status
        .as_deref()),
    text!("recording_type", "Recording.Type", |r| r
        .record
        .fields
        .recording_type
        .as_deref()),
    text!(
        "recording_deletion_reason",
        "Recording.DeletionReason",
        |r| r.record.fields.recording_deletion_reason.as_deref()
    ),
    text!("aws_account_id", "AWSAccountId", |r| r
        .record
        .fields
        .aws_account_id
        .as_deref()),
    text!("instance_arn", "InstanceARN", |r| r
        .record
        .fields
        .instance_arn
        .as_deref()),
    text!(
        "format_version",
        "AWSContactTraceRecordFormatVersion",
        |r| r.record.fields.format_version.as_deref()
    ),
    Column {
        name: "attributes",
        source: "Attributes",
        nullable: true,
        getter: Getter::StringMap(|r| r.record.fields.attributes.as_deref()),
    },
    Column {
        name: "tags",
        source: "Tags",
        nullable: true,
        getter: Getter::StringMap(|r| r.record.fields.tags.as_deref()),
    },
    text!(
        "raw_json",
        "(every field no other column holds, as a JSON object nested as in the record; or the whole record)",
        |r| r.record.raw_json.as_deref()
    ),
    text!(
        "source_uri",
        "(ingest) the file or stream the record was read from",
        |r| Some(r.origin.source_uri)
    ),
    integer!(
        "source_offset",
        "(ingest) byte offset of the record in the decompressed source file",
        |r| r.origin.source_offset
    ),
    text!(
        "source_sequence_number",
        "(ingest) Kinesis sequence number of the record",
        |r| r.origin.source_sequence_number
    ),
    timestamp!(
        "arrival_timestamp",
        "(ingest) source file modification time, or Kinesis approximate arrival time",
        |r| r.origin.arrival_timestamp
    ),
];

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(
        COLUMNS
            .iter()
            .map(|c| Field::new(c.name, c.arrow_type(), c.nullable))
            .collect::<Vec<_>>(),
    ))
});

/// The Arrow schema of every Parquet file under `ctr/` (without the `dt` partition column,
/// which lives only in the path).
pub fn lake_schema() -> SchemaRef {
    SCHEMA.clone()
}

/// `CREATE EXTERNAL TABLE` for Athena over `location` (`s3://bucket/prefix/ctr/`), with
/// partition projection on `dt` so no crawler or `MSCK REPAIR TABLE` is needed.
pub fn athena_ddl(table: &str, location: &str) -> String {
    let columns: Vec<(&str, String)> = COLUMNS
        .iter()
        .map(|c| (c.name, c.athena_type().to_owned()))
        .collect();
    athena_ddl_of(table, location, &columns)
}

/// `CREATE EXTERNAL TABLE` over `location` for `columns` (name, Athena type), partitioned by
/// `dt` with projection: shared by the lake's tables.
pub fn athena_ddl_of(table: &str, location: &str, columns: &[(&str, String)]) -> String {
    let location = location.trim_end_matches('/');
    let columns = columns
        .iter()
        .map(|(name, kind)| format!("  `{name}` {kind}"))
        .collect::<Vec<_>>()
        .join(",\n");
    format!(
        "CREATE EXTERNAL TABLE IF NOT EXISTS `{table}` (\n{columns}\n)\n\
         PARTITIONED BY (`dt` string)\n\
         STORED AS PARQUET\n\
         LOCATION '{location}/'\n\
         TBLPROPERTIES (\n\
         \x20 'parquet.compression'='ZSTD',\n\
         \x20 'projection.enabled'='true',\n\
         \x20 'projection.dt.type'='date',\n\
         \x20 'projection.dt.format'='yyyy-MM-dd',\n\
         \x20 'projection.dt.range'='2017-01-01,NOW',\n\
         \x20 'projection.dt.interval'='1',\n\
         \x20 'projection.dt.interval.unit'='DAYS',\n\
         \x20 'storage.location.template'='{location}/dt=${{dt}}/'\n\
         );\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_lower_snake_case_ascii() {
        let mut names: Vec<&str> = COLUMNS.iter().map(|c| c.name).collect();
        for name in &names {
            assert!(
                name.chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_'),
                "{name}"
            );
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), COLUMNS.len());
    }

    #[test]
    fn no_second_precision_timestamps() {
        for field in lake_schema().fields() {
            if let DataType::Timestamp(unit, tz) = field.data_type() {
                assert_eq!(*unit, TimeUnit::Millisecond, "{}", field.name());
                assert_eq!(tz.as_deref(), Some("UTC"));
            }
        }
    }

    #[test]
    fn athena_ddl_lists_every_column_and_projects_dt() {
        let ddl = athena_ddl("ctr", "s3://bucket/lake/ctr/");
        for c in COLUMNS {
            assert!(ddl.contains(&format!("`{}` {}", c.name, c.athena_type())));
        }
        assert!(ddl.contains("LOCATION 's3://bucket/lake/ctr/'"));
        assert!(ddl.contains("'storage.location.template'='s3://bucket/lake/ctr/dt=${dt}/'"));
        assert!(ddl.contains("`attributes` map<string,string>"));
        assert!(ddl.contains("`initiation_timestamp` timestamp"));
    }
}
