//! The CTR JSON document: field names, nesting, nulls and key order as Kinesis delivers it.
//!
//! Connect writes keys in byte order (`AWSAccountId`, `AWSContactTraceRecordFormatVersion`,
//! `Agent`, ...; attributes too: `GreetingPlayed` before `ewtcheck`), with absent values as
//! explicit `null` and some always-empty objects (`ContactDetails: {}`, `References: []`).
//! The structs below declare fields in that order; serde_json writes struct fields in
//! declaration order, so output is stable without `preserve_order` or map iteration.

use std::fmt::Write as _;

use serde::{Serialize, Serializer};

use crate::attributes::Attr;
use crate::directory::{DEVICES, Directory, RECORDING_PREFIX};
use crate::journey::{AgentVisit, Channel, Journey, Leg};
use crate::time::{DAY_S, Ts, civil_from_days};

const FORMAT_VERSION: &str = "2017-03-10";

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct CtrRecord<'a> {
    #[serde(rename = "AWSAccountId")]
    aws_account_id: &'static str,
    #[serde(rename = "AWSContactTraceRecordFormatVersion")]
    format_version: &'static str,
    agent: Option<AgentRecord<'a>>,
    agent_connection_attempts: u32,
    answering_machine_detection_status: Option<&'static str>,
    attributes: Attributes<'a>,
    campaign: Campaign,
    channel: &'static str,
    connected_to_system_timestamp: Option<Ts>,
    contact_details: Empty,
    contact_id: &'a str,
    customer_endpoint: Option<Endpoint<'a>>,
    customer_voice_activity: Option<Empty>,
    disconnect_details: Option<Empty>,
    disconnect_reason: &'static str,
    disconnect_timestamp: Ts,
    initial_contact_id: Option<&'a str>,
    initiation_method: &'static str,
    initiation_timestamp: Ts,
    #[serde(rename = "InstanceARN")]
    instance_arn: &'a str,
    last_update_timestamp: Ts,
    media_streams: &'static [MediaStream],
    next_contact_id: Option<&'a str>,
    previous_contact_id: Option<&'a str>,
    quality_metrics: Option<QualityMetrics>,
    queue: Option<QueueRecord<'a>>,
    recording: Option<Recording<'a>>,
    recordings: Option<[RecordingItem<'a>; 1]>,
    references: Vec<Reference>,
    related_contact_id: Option<&'a str>,
    scheduled_timestamp: Option<Ts>,
    segment_attributes: SegmentAttributes,
    system_endpoint: Option<Endpoint<'a>>,
    tags: Tags<'a>,
    transfer_completed_timestamp: Option<Ts>,
    transferred_to_endpoint: Option<Endpoint<'a>>,
    voice_id_result: Option<Empty>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct AgentRecord<'a> {
    #[serde(rename = "ARN")]
    arn: &'a str,
    after_contact_work_duration: i64,
    after_contact_work_end_timestamp: Ts,
    after_contact_work_start_timestamp: Ts,
    agent_initiated_hold_duration: i64,
    agent_interaction_duration: i64,
    agent_pause_duration: Option<i64>,
    connected_to_agent_timestamp: Ts,
    customer_hold_duration: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    device_info: Option<DeviceInfo>,
    hierarchy_groups: Option<HierarchyGroups<'a>>,
    longest_hold_duration: i64,
    number_of_holds: u32,
    routing_profile: NamedRecord<'a>,
    username: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DeviceInfo {
    operating_system: &'static str,
    platform_name: &'static str,
    platform_version: &'static str,
}

#[derive(Serialize)]
struct HierarchyGroups<'a> {
    #[serde(rename = "Level1")]
    level1: Option<GroupRecord<'a>>,
    #[serde(rename = "Level2")]
    level2: Option<GroupRecord<'a>>,
    #[serde(rename = "Level3")]
    level3: Option<GroupRecord<'a>>,
    #[serde(rename = "Level4")]
    level4: Option<GroupRecord<'a>>,
    #[serde(rename = "Level5")]
    level5: Option<GroupRecord<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GroupRecord<'a> {
    #[serde(rename = "ARN")]
    arn: &'a str,
    group_name: &'a str,
}

/// `{"ARN": .., "Name": ..}`: a routing profile, queue or group as CTRs and agent events name it.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct NamedRecord<'a> {
    #[serde(rename = "ARN")]
    pub(crate) arn: &'a str,
    pub(crate) name: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct QueueRecord<'a> {
    #[serde(rename = "ARN")]
    arn: &'a str,
    dequeue_timestamp: Option<Ts>,
    duration: i64,
    enqueue_timestamp: Option<Ts>,
    name: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Endpoint<'a> {
    address: &'a str,
    #[serde(rename = "Type")]
    kind: &'static str,
}

impl<'a> Endpoint<'a> {
    fn phone(address: &'a str) -> Self {
        Self {
            address,
            kind: "TELEPHONE_NUMBER",
        }
    }
}

#[derive(Serialize)]
struct Empty {}

#[derive(Serialize)]
struct Campaign {
    #[serde(rename = "CampaignId")]
    campaign_id: Option<&'static str>,
}

#[derive(Serialize)]
struct MediaStream {
    #[serde(rename = "Type")]
    kind: &'static str,
}

const AUDIO: &[MediaStream] = &[MediaStream { kind: "AUDIO" }];
const CHAT: &[MediaStream] = &[MediaStream { kind: "CHAT" }];

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct QualityMetrics {
    agent: AudioQuality,
    customer: AudioQuality,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct AudioQuality {
    audio: AudioScore,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct AudioScore {
    potential_quality_issues: &'static [&'static str],
    quality_score: f64,
}

impl AudioQuality {
    fn new(score: f64) -> Self {
        let issues: &'static [&'static str] = if score < 3.0 {
            &["HighPacketLoss", "HighRoundTripTime"]
        } else {
            &[]
        };
        Self {
            audio: AudioScore {
                potential_quality_issues: issues,
                quality_score: score,
            },
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Recording<'a> {
    deletion_reason: Option<&'static str>,
    location: &'a str,
    status: &'static str,
    #[serde(rename = "Type")]
    kind: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct RecordingItem<'a> {
    deletion_reason: Option<&'static str>,
    fragment_start_number: Option<&'static str>,
    fragment_stop_number: Option<&'static str>,
    location: &'a str,
    media_stream_type: &'static str,
    participant_type: Option<&'static str>,
    start_timestamp: Option<Ts>,
    status: &'static str,
    stop_timestamp: Option<Ts>,
    storage_type: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Reference {
    name: &'static str,
    #[serde(rename = "Type")]
    kind: &'static str,
    value: String,
}

#[derive(Serialize)]
struct SegmentAttributes {
    #[serde(rename = "connect:Subtype")]
    subtype: SegmentValue,
}

#[derive(Serialize)]
struct SegmentValue {
    #[serde(rename = "ValueString")]
    value_string: &'static str,
}

#[derive(Serialize)]
struct Tags<'a> {
    #[serde(rename = "aws:connect:instanceId")]
    instance_id: &'a str,
}

/// Attributes in byte order of their keys, each key once.
struct Attributes<'a>(Vec<&'a Attr>);

impl Serialize for Attributes<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|a| (&*a.key, &*a.value)))
    }
}

/// The attributes of `leg` as of `version`: the original map plus every later change, a
/// later value replacing an earlier one under the same (byte-exact) key.
fn attributes_as_of(leg: &Leg, version: usize) -> Attributes<'_> {
    let changes = leg
        .versions
        .iter()
        .take(version + 1)
        .flat_map(|v| v.changes.iter());
    let mut attrs: Vec<&Attr> = leg.attributes.iter().chain(changes).collect();
    // Stable sort keeps equal keys in insertion order, so the last of a run is the newest.
    attrs.sort_by(|a, b| a.key.as_bytes().cmp(b.key.as_bytes()));
    attrs.dedup_by(|later, earlier| {
        if later.key == earlier.key {
            *earlier = *later;
            true
        } else {
            false
        }
    });
    Attributes(attrs)
}

/// `<prefix>/2026/03/02/<contact id>_20260302T01:15_UTC.wav`
fn recording_location(contact_id: &str, connected_s: i64) -> String {
    let (y, m, d) = civil_from_days(connected_s.div_euclid(DAY_S));
    let sod = connected_s.rem_euclid(DAY_S);
    let (hh, mm) = (sod / 3600, sod / 60 % 60);
    let mut out = String::with_capacity(RECORDING_PREFIX.len() + 80);
    // Writing into a String cannot fail.
    let _ = write!(
        out,
        "{RECORDING_PREFIX}/{y:04}/{m:02}/{d:02}/{contact_id}_{y:04}{m:02}{d:02}T{hh:02}:{mm:02}_UTC.wav"
    );
    out
}

/// Appends the JSON of version `version` of leg `leg` of `journey` to `buf`.
pub(crate) fn render(
    dir: &Directory,
    journey: &Journey,
    leg: usize,
    version: usize,
    buf: &mut Vec<u8>,
) -> Result<(), serde_json::Error> {
    let l = &journey.legs[leg];
    let ts = |s: i64| Ts {
        ms: s * 1000 + journey.frac_ms,
        with_ms: journey.millis,
    };
    let id_of = |i: Option<usize>| i.map(|i| journey.legs[i].id.as_str());
    let contact_id = l.id.as_str();
    let v = &l.versions[version];
    let recorded = l.channel == Channel::Voice && l.agent.is_some();
    let location = match &l.agent {
        Some(a) if recorded => recording_location(contact_id, a.connected),
        _ => String::new(),
    };
    let record = CtrRecord {
        aws_account_id: crate::directory::ACCOUNT_ID,
        format_version: FORMAT_VERSION,
        agent: l.agent.as_ref().map(|a| agent_record(dir, a, ts)),
        agent_connection_attempts: l.attempts,
        answering_machine_detection_status: None,
        attributes: attributes_as_of(l, version),
        campaign: Campaign { campaign_id: None },
        channel: l.channel.as_str(),
        connected_to_system_timestamp: l.connected_to_system.map(ts),
        contact_details: Empty {},
        contact_id,
        customer_endpoint: l.customer.as_deref().map(Endpoint::phone),
        customer_voice_activity: None,
        disconnect_details: None,
        disconnect_reason: l.reason,
        disconnect_timestamp: ts(l.disconnect),
        initial_contact_id: id_of(l.initial),
        initiation_method: l.method,
        initiation_timestamp: ts(l.init),
        instance_arn: &dir.instance_arn,
        last_update_timestamp: Ts {
            ms: v.lut_ms,
            with_ms: journey.millis || v.lut_with_ms,
        },
        media_streams: match l.channel {
            Channel::Voice => AUDIO,
            Channel::Chat => CHAT,
            Channel::Task => &[],
        },
        next_contact_id: id_of(l.next),
        previous_contact_id: id_of(l.previous),
        quality_metrics: l.quality.map(|(agent, customer)| QualityMetrics {
            agent: AudioQuality::new(agent),
            customer: AudioQuality::new(customer),
        }),
        queue: l.queue.as_ref().map(|q| {
            let queue = &dir.queues[q.queue];
            QueueRecord {
                arn: &queue.arn,
                dequeue_timestamp: q.dequeue.map(ts),
                duration: q.duration,
                enqueue_timestamp: q.enqueue.map(ts),
                name: queue.name,
            }
        }),
        recording: recorded.then(|| Recording {
            deletion_reason: None,
            location: &location,
            status: "AVAILABLE",
            kind: "AUDIO",
        }),
        recordings: recorded.then(|| {
            [RecordingItem {
                deletion_reason: None,
                fragment_start_number: None,
                fragment_stop_number: None,
                location: &location,
                media_stream_type: "AUDIO",
                participant_type: None,
                start_timestamp: None,
                status: "AVAILABLE",
                stop_timestamp: None,
                storage_type: "S3",
            }]
        }),
        references: l
            .ticket
            .map(|t| Reference {
                name: "チケットURL",
                kind: "URL",
                value: format!("https://support.example.co.jp/tickets/{t}"),
            })
            .into_iter()
            .collect(),
        related_contact_id: None,
        scheduled_timestamp: l.scheduled.map(ts),
        segment_attributes: SegmentAttributes {
            subtype: SegmentValue {
                value_string: match l.channel {
                    Channel::Voice => "connect:Telephony",
                    Channel::Chat => "connect:Chat",
                    Channel::Task => "connect:Task",
                },
            },
        },
        system_endpoint: l.system.map(Endpoint::phone),
        tags: Tags {
            instance_id: &dir.instance_id,
        },
        transfer_completed_timestamp: l.transfer_completed.map(ts),
        transferred_to_endpoint: l.transferred_to.as_deref().map(Endpoint::phone),
        voice_id_result: None,
    };
    serde_json::to_writer(buf, &record)
}

fn agent_record<'a>(dir: &'a Directory, a: &AgentVisit, ts: impl Fn(i64) -> Ts) -> AgentRecord<'a> {
    let agent = &dir.agents[a.agent];
    let group = |level: Option<usize>| {
        level.map(|g| GroupRecord {
            arn: &dir.groups[g].arn,
            group_name: &dir.groups[g].name,
        })
    };
    let profile = &dir.routing_profiles[agent.routing_profile];
    AgentRecord {
        arn: &agent.arn,
        after_contact_work_duration: a.acw,
        after_contact_work_end_timestamp: ts(a.acw_end()),
        after_contact_work_start_timestamp: ts(a.acw_start()),
        agent_initiated_hold_duration: a.hold,
        agent_interaction_duration: a.interaction,
        agent_pause_duration: a.pause,
        connected_to_agent_timestamp: ts(a.connected),
        customer_hold_duration: a.hold,
        device_info: agent.device.map(|d| {
            let (platform_name, platform_version, operating_system) = DEVICES[d];
            DeviceInfo {
                operating_system,
                platform_name,
                platform_version,
            }
        }),
        hierarchy_groups: agent.hierarchy.map(|levels| HierarchyGroups {
            level1: group(levels[0]),
            level2: group(levels[1]),
            level3: group(levels[2]),
            level4: group(levels[3]),
            level5: group(levels[4]),
        }),
        longest_hold_duration: a.longest_hold,
        number_of_holds: a.holds,
        routing_profile: NamedRecord {
            arn: &profile.arn,
            name: &profile.name,
        },
        username: &agent.username,
    }
}
