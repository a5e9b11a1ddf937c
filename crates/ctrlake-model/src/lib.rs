//! The Amazon Connect contact trace record (CTR) as ctrlake understands it.
//!
//! This crate is the single place where the lake's shape is decided:
//! - [`decode`] turns the bytes of one CTR into a [`ContactRecord`] borrowing from those bytes,
//!   leniently (unknown fields are kept, format drift is normal) but with typed, actionable
//!   errors ([`DecodeError`], carrying a [`DeadLetterReason`]) for records that cannot be trusted;
//! - [`schema`] lists every lake column once — name, type, CTR source path, meaning — and
//!   everything else (the Arrow schema, the Athena DDL, the docs) is derived from that list;
//! - [`batch`] appends decoded records to Arrow builders, one pass, no intermediate JSON tree.
//!
//! No I/O happens here: the lake writer and the Lambda feed bytes in and take batches out.

pub mod agent_event;
pub mod batch;
pub mod decode;
pub mod reason;
pub mod schema;
pub mod timestamp;

pub use agent_event::{AgentEvent, AgentEventBatchBuilder, agent_event_schema, decode_agent_event};
pub use batch::ContactBatchBuilder;
pub use decode::{
    ContactRecord, DecodeError, Decoded, MAX_RECORD_BYTES, RawJsonMode, Record, RecordOrigin,
    decode_next, decode_next_str,
};
pub use reason::DeadLetterReason;
pub use schema::{Column, ColumnKind, athena_ddl, lake_schema};
