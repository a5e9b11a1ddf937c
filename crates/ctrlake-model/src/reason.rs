//! Why a record was dead-lettered: a closed set of machine-readable codes.
//!
//! The codes are part of the product's contract — they appear in dead-letter files, in the
//! ingest summary and in tests — so they are spelled once, here, and never renamed.

use std::fmt;

/// The reason a record could not be written to the lake and went to `_dead_letter/` instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeadLetterReason {
    /// The bytes are not JSON (a syntax error that is not a cut-off record).
    InvalidJson,
    /// The bytes are not valid UTF-8, which JSON requires.
    InvalidUtf8,
    /// Valid JSON, but the top-level value is not an object (an array, string, number...).
    NotAnObject,
    /// `ContactId` is absent, null, empty or not a string: the record has no key.
    MissingContactId,
    /// `InitiationTimestamp` or `LastUpdateTimestamp` is absent or null: the record can be
    /// neither partitioned nor ordered against its updates.
    MissingTimestamp,
    /// A known timestamp field is not an ISO-8601 date-time string.
    BadTimestamp,
    /// A known duration or count is not a non-negative JSON integer.
    BadInteger,
    /// A known object (`Agent`, `Queue`, an endpoint, ...) is neither an object nor null.
    BadNesting,
    /// `Attributes` or `Tags` is not an object of string values.
    BadMapValue,
    /// The record is larger than 1 MiB, the Kinesis record limit.
    TooLarge,
    /// The record ends before its JSON object closes (a cut-off write or archive).
    Truncated,
    /// An agent event's `EventId`, `EventType` or `AgentARN` is absent, null or empty: the
    /// event can be neither de-duplicated nor attributed.
    MissingEventKey,
    /// A source could not be opened or read (permissions, a vanished file, a failed download):
    /// the dead letter names the source and the error, and the run goes on with the others.
    UnreadableSource,
}

impl DeadLetterReason {
    /// Every reason, in a stable order (used by summaries and tests).
    pub const ALL: [DeadLetterReason; 13] = [
        Self::InvalidJson,
        Self::InvalidUtf8,
        Self::NotAnObject,
        Self::MissingContactId,
        Self::MissingTimestamp,
        Self::BadTimestamp,
        Self::BadInteger,
        Self::BadNesting,
        Self::BadMapValue,
        Self::TooLarge,
        Self::Truncated,
        Self::MissingEventKey,
        Self::UnreadableSource,
    ];

    /// The snake_case code written to dead-letter files.
    pub fn code(self) -> &'static str {
        match self {
            Self::InvalidJson => "invalid_json",
            Self::InvalidUtf8 => "invalid_utf8",
            Self::NotAnObject => "not_an_object",
            Self::MissingContactId => "missing_contact_id",
            Self::MissingTimestamp => "missing_timestamp",
            Self::BadTimestamp => "bad_timestamp",
            Self::BadInteger => "bad_integer",
            Self::BadNesting => "bad_nesting",
            Self::BadMapValue => "bad_map_value",
            Self::TooLarge => "too_large",
            Self::Truncated => "truncated",
            Self::MissingEventKey => "missing_event_key",
            Self::UnreadableSource => "unreadable_source",
        }
    }
}

impl fmt::Display for DeadLetterReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_snake_case() {
        let mut codes: Vec<&str> = DeadLetterReason::ALL.iter().map(|r| r.code()).collect();
        assert!(codes.iter().all(|c| {
            c.chars()
                .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_')
        }));
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), DeadLetterReason::ALL.len());
    }
}
