//! The agent event stream that goes with a generated CTR stream.
//!
//! Every leg an agent handled becomes what the agent event stream shows of it: the offer
//! ringing (CONNECTING) a few seconds before `ConnectedToAgentTimestamp`, CONNECTED then,
//! a hold (CONNECTED_ONHOLD) or a task's pause (PAUSED) inside the interaction for the
//! record's hold and pause durations, ENDED at `AfterContactWork.StartTimestamp` and the
//! contact leaving at its end, so `report agent-activity` and the CTR reports agree (each
//! connected contact is a handled one). Around them each agent works shifts: a login a few
//! minutes before their first offer, Available, a break in any gap of over half an hour, a
//! logout after their last contact, heartbeats every 120 s of quiet (and for ten minutes after
//! logout, as Connect sends them). A leg the CTR says took more than one attempt was first
//! offered to a teammate on shift, who missed it (MISSED) and set themselves Available again
//! a little later.
//!
//! Agents pick legs independently of each other's load (as the CTR generator does), so an
//! agent may hold several contacts at once, which the snapshots show as they are.
//!
//! Memory: one small record per handled leg of the whole run (~80 bytes; a shift needs every
//! leg of its agent), and each agent's state while the events are merged into time order.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::Write;

use serde::Serialize;

use crate::directory::{Directory, Uuid};
use crate::journey::{Channel, Journey};
use crate::record::NamedRecord;
use crate::time::Ts;

/// Gap between two contacts of one agent that ends a shift (logout, login later).
const SHIFT_GAP_MS: i64 = 3 * 3_600_000;
/// Gap within a shift long enough for a break.
const BREAK_GAP_MS: i64 = 30 * 60_000;
/// Connect sends a heartbeat after this long without another event.
const HEARTBEAT_MS: i64 = 120_000;
/// Heartbeats go on this long after logout.
const AFTER_LOGOUT_MS: i64 = 10 * 60_000;

/// What the agent event stream needs of one handled leg (times in epoch ms as the CTR prints
/// them).
#[derive(Clone, Debug)]
pub(crate) struct Handled {
    agent: u32,
    contact: Uuid,
    channel: Channel,
    method: &'static str,
    queue: Option<u16>,
    offered: i64,
    connected: i64,
    /// A hold or a pause: (state, start, end).
    interruption: Option<(&'static str, i64, i64)>,
    acw_start: i64,
    acw_end: i64,
    /// The leg was offered before this one answered (`AgentConnectionAttempts` > 1).
    missed_before: bool,
}

/// Takes the handled legs of a journey.
pub(crate) fn handled_legs(journey: &Journey, out: &mut Vec<Handled>) {
    let frac = if journey.millis { journey.frac_ms } else { 0 };
    let ms = |s: i64| s * 1000 + frac;
    for leg in &journey.legs {
        let Some(visit) = &leg.agent else { continue };
        // Ring for 3 to 12 s, drawn from the contact id (no random stream of its own).
        let ring = 3 + i64::from(leg.id.as_str().as_bytes()[0] % 10);
        let talk_half = visit.interaction / 2;
        let interruption = if visit.hold > 0 {
            let start = visit.connected + talk_half;
            Some(("CONNECTED_ONHOLD", ms(start), ms(start + visit.hold)))
        } else {
            visit.pause.filter(|&p| p > 0).map(|pause| {
                let start = visit.connected + visit.interaction + visit.hold;
                ("PAUSED", ms(start), ms(start + pause))
            })
        };
        out.push(Handled {
            agent: visit.agent as u32,
            contact: leg.id,
            channel: leg.channel,
            method: leg.method,
            queue: leg.queue.as_ref().map(|q| q.queue as u16),
            offered: ms(visit.connected) - ring * 1000,
            connected: ms(visit.connected),
            interruption,
            acw_start: ms(visit.acw_start()),
            acw_end: ms(visit.acw_end()),
            missed_before: leg.attempts > 1,
        });
    }
}

/// One change of an agent's state, in time order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Change {
    Login,
    Status(&'static str),
    /// A contact (index into the handled legs) enters a state.
    Contact(u32, &'static str),
    Leave(u32),
    /// A missed offer is cleared: the agent is routable again.
    Cleared(u32),
    Logout,
}

/// One shift of an agent: Available from, logout at, and its breaks (from, to), in ms.
struct Shift {
    from: i64,
    to: i64,
    breaks: Vec<(i64, i64)>,
}

struct AgentTimeline {
    agent: u32,
    changes: Vec<(i64, Change)>,
    next: usize,
    /// Current state.
    status: (&'static str, i64),
    contacts: Vec<(u32, &'static str, i64)>,
    logged_in: bool,
    last_event: i64,
    logout_at: Option<i64>,
    events: u32,
}

fn plan(dir: &Directory, handled: &[Handled]) -> Vec<AgentTimeline> {
    let mut by_agent: Vec<Vec<u32>> = vec![Vec::new(); dir.agents.len()];
    for (i, h) in handled.iter().enumerate() {
        by_agent[h.agent as usize].push(i as u32);
    }
    let mut timelines: Vec<AgentTimeline> = Vec::new();
    let mut shifts: Vec<Vec<Shift>> = (0..dir.agents.len()).map(|_| Vec::new()).collect();
    for (agent, legs) in by_agent.iter_mut().enumerate() {
        legs.sort_by_key(|&i| (handled[i as usize].offered, i));
        let mut changes = Vec::new();
        let mut i = 0;
        while i < legs.len() {
            let first = &handled[legs[i] as usize];
            let salt = i64::from(first.contact.as_str().as_bytes()[1] % 16);
            let login = first.offered - (5 + salt) * 60_000;
            let mut end = first.acw_end;
            let mut breaks = Vec::new();
            let mut j = i;
            while j < legs.len() {
                let leg = &handled[legs[j] as usize];
                if j > i && leg.offered - end > SHIFT_GAP_MS {
                    break;
                }
                if j > i && leg.offered - end > BREAK_GAP_MS {
                    breaks.push((end + 2 * 60_000, leg.offered - 5 * 60_000));
                }
                end = end.max(leg.acw_end);
                j += 1;
            }
            let logout = end + (5 + salt) * 60_000;
            changes.push((login, Change::Login));
            changes.push((login + 30_000, Change::Status("Available")));
            for &(from, to) in &breaks {
                changes.push((from, Change::Status("Break")));
                changes.push((to, Change::Status("Available")));
            }
            for &leg in &legs[i..j] {
                let h = &handled[leg as usize];
                changes.push((h.offered, Change::Contact(leg, "CONNECTING")));
                changes.push((h.connected, Change::Contact(leg, "CONNECTED")));
                if let Some((state, from, to)) = h.interruption {
                    changes.push((from, Change::Contact(leg, state)));
                    changes.push((to, Change::Contact(leg, "CONNECTED")));
                }
                changes.push((h.acw_start, Change::Contact(leg, "ENDED")));
                changes.push((h.acw_end, Change::Leave(leg)));
            }
            changes.push((logout, Change::Logout));
            shifts[agent].push(Shift {
                from: login + 30_000,
                to: logout,
                breaks,
            });
            i = j;
        }
        timelines.push(AgentTimeline {
            agent: agent as u32,
            changes,
            next: 0,
            status: ("Offline", 0),
            contacts: Vec::new(),
            logged_in: false,
            last_event: i64::MIN,
            logout_at: None,
            events: 0,
        });
    }
    // Missed offers: to the next teammate on shift and not on a break at that moment.
    for (i, h) in handled.iter().enumerate() {
        if !h.missed_before {
            continue;
        }
        let at = h.offered - 20_000;
        let Some(mate) = dir.teammate(h.agent as usize) else {
            continue;
        };
        let on_shift = shifts[mate].iter().any(|shift| {
            shift.from < at
                && at + 60_000 < shift.to
                && !shift
                    .breaks
                    .iter()
                    .any(|(b, e)| *b <= at + 60_000 && at < *e)
        });
        if on_shift {
            let changes = &mut timelines[mate].changes;
            changes.push((at, Change::Contact(i as u32, "CONNECTING")));
            changes.push((at + 15_000, Change::Contact(i as u32, "MISSED")));
            changes.push((at + 45_000, Change::Cleared(i as u32)));
        }
    }
    for timeline in &mut timelines {
        timeline.changes.sort();
    }
    timelines.retain(|t| !t.changes.is_empty());
    timelines
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct EventRecord<'a> {
    #[serde(rename = "AWSAccountId")]
    aws_account_id: &'static str,
    #[serde(rename = "AgentARN")]
    agent_arn: &'a str,
    current_agent_snapshot: Snapshot<'a>,
    event_id: String,
    event_timestamp: Ts,
    event_type: &'static str,
    #[serde(rename = "InstanceARN")]
    instance_arn: &'a str,
    previous_agent_snapshot: Option<Snapshot<'a>>,
    version: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Snapshot<'a> {
    agent_status: Status<'a>,
    configuration: Configuration<'a>,
    contacts: Vec<ContactRecord<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Status<'a> {
    #[serde(rename = "ARN")]
    arn: String,
    name: &'a str,
    start_timestamp: Ts,
    #[serde(rename = "Type")]
    kind: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct QueueRecord<'a> {
    #[serde(rename = "ARN")]
    arn: &'a str,
    channels: [&'static str; 1],
    name: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Slots {
    available_slots: u32,
    channel: &'static str,
    maximum_slots: u32,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct RoutingProfile<'a> {
    #[serde(rename = "ARN")]
    arn: &'a str,
    concurrency: Vec<Slots>,
    inbound_queues: Vec<QueueRecord<'a>>,
    name: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Hierarchy<'a> {
    level1: Option<NamedRecord<'a>>,
    level2: Option<NamedRecord<'a>>,
    level3: Option<NamedRecord<'a>>,
    level4: Option<NamedRecord<'a>>,
    level5: Option<NamedRecord<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Configuration<'a> {
    agent_hierarchy_groups: Option<Hierarchy<'a>>,
    first_name: &'a str,
    last_name: &'a str,
    routing_profile: RoutingProfile<'a>,
    username: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ContactRecord<'a> {
    channel: &'static str,
    connected_to_agent_timestamp: Option<Ts>,
    contact_id: &'a str,
    initial_contact_id: Option<&'a str>,
    initiation_method: &'static str,
    queue: Option<NamedRecord<'a>>,
    queue_timestamp: Option<Ts>,
    state: &'static str,
    state_start_timestamp: Ts,
}

const fn ts(ms: i64) -> Ts {
    Ts { ms, with_ms: true }
}

fn status_kind(name: &str) -> &'static str {
    match name {
        "Available" => "ROUTABLE",
        "Offline" => "OFFLINE",
        _ => "CUSTOM",
    }
}

struct Renderer<'a> {
    dir: &'a Directory,
    handled: &'a [Handled],
}

impl<'a> Renderer<'a> {
    fn snapshot(&self, t: &AgentTimeline) -> Snapshot<'a> {
        let dir = self.dir;
        let agent = &dir.agents[t.agent as usize];
        let (given, family) = agent
            .username
            .split_once('.')
            .unwrap_or((&agent.username, ""));
        let profile = &dir.routing_profiles[agent.routing_profile];
        let queues = dir
            .queues
            .iter()
            .filter(|q| q.team == agent.routing_profile)
            .map(|q| QueueRecord {
                arn: &q.arn,
                channels: [q.channel.as_str()],
                name: q.name,
            })
            .collect();
        let group = |level: Option<usize>| {
            level.map(|g| NamedRecord {
                arn: &dir.groups[g].arn,
                name: &dir.groups[g].name,
            })
        };
        let contacts = t
            .contacts
            .iter()
            .map(|&(leg, state, since)| {
                let h = &self.handled[leg as usize];
                let queue = h.queue.map(|q| &dir.queues[usize::from(q)]);
                ContactRecord {
                    channel: h.channel.as_str(),
                    connected_to_agent_timestamp: (h.connected <= since && h.agent == t.agent)
                        .then(|| ts(h.connected)),
                    contact_id: h.contact.as_str(),
                    initial_contact_id: None,
                    initiation_method: h.method,
                    queue: queue.map(|q| NamedRecord {
                        arn: &q.arn,
                        name: q.name,
                    }),
                    queue_timestamp: None,
                    state,
                    state_start_timestamp: ts(since),
                }
            })
            .collect();
        Snapshot {
            agent_status: Status {
                arn: format!(
                    "{}/agent-state/{}",
                    dir.instance_arn,
                    t.status.0.to_ascii_lowercase()
                ),
                name: t.status.0,
                start_timestamp: ts(t.status.1),
                kind: status_kind(t.status.0),
            },
            configuration: Configuration {
                agent_hierarchy_groups: agent.hierarchy.map(|levels| Hierarchy {
                    level1: group(levels[0]),
                    level2: group(levels[1]),
                    level3: group(levels[2]),
                    level4: group(levels[3]),
                    level5: group(levels[4]),
                }),
                first_name: given,
                last_name: family,
                routing_profile: RoutingProfile {
                    arn: &profile.arn,
                    concurrency: vec![
                        Slots {
                            available_slots: 1,
                            channel: "VOICE",
                            maximum_slots: 1,
                        },
                        Slots {
                            available_slots: 3,
                            channel: "CHAT",
                            maximum_slots: 3,
                        },
                        Slots {
                            available_slots: 1,
                            channel: "TASK",
                            maximum_slots: 1,
                        },
                    ],
                    inbound_queues: queues,
                    name: &profile.name,
                },
                username: &agent.username,
            },
            contacts,
        }
    }
}

impl AgentTimeline {
    /// When this agent's next event happens: its next change, or a heartbeat.
    fn next_at(&self) -> Option<i64> {
        let change = self.changes.get(self.next).map(|c| c.0);
        let heartbeat = match (self.logged_in, self.logout_at) {
            (true, _) => Some(self.last_event + HEARTBEAT_MS),
            (false, Some(out)) if self.last_event + HEARTBEAT_MS <= out + AFTER_LOGOUT_MS => {
                Some(self.last_event + HEARTBEAT_MS)
            }
            _ => None,
        };
        match (change, heartbeat) {
            (Some(c), Some(h)) => Some(c.min(h)),
            (c, h) => c.or(h),
        }
    }

    /// Applies what happens at `at` and says which event it is.
    fn step(&mut self, at: i64) -> &'static str {
        let Some(&(when, change)) = self.changes.get(self.next).filter(|c| c.0 <= at) else {
            return "HEART_BEAT";
        };
        self.next += 1;
        match change {
            Change::Login => {
                self.logged_in = true;
                self.logout_at = None;
                self.status = ("Offline", when);
                "LOGIN"
            }
            Change::Status(name) => {
                self.status = (name, when);
                "STATE_CHANGE"
            }
            Change::Contact(leg, state) => {
                match self.contacts.iter_mut().find(|c| c.0 == leg) {
                    Some(contact) => *contact = (leg, state, when),
                    None => self.contacts.push((leg, state, when)),
                }
                "STATE_CHANGE"
            }
            Change::Leave(leg) => {
                self.contacts.retain(|c| c.0 != leg);
                "STATE_CHANGE"
            }
            Change::Cleared(leg) => {
                self.contacts.retain(|c| c.0 != leg);
                if self.status.0 == "Available" {
                    self.status = ("Available", when);
                }
                "STATE_CHANGE"
            }
            Change::Logout => {
                self.logged_in = false;
                self.logout_at = Some(when);
                self.status = ("Offline", when);
                self.contacts.clear();
                "LOGOUT"
            }
        }
    }
}

/// Writes the agent events of `handled` in time order (ties by agent); returns how many.
pub(crate) fn write_events<W: Write>(
    dir: &Directory,
    handled: &[Handled],
    delimiter: Option<u8>,
    out: &mut W,
) -> std::io::Result<u64> {
    let mut timelines = plan(dir, handled);
    let renderer = Renderer { dir, handled };
    let mut heap: BinaryHeap<Reverse<(i64, usize)>> = timelines
        .iter()
        .enumerate()
        .filter_map(|(i, t)| t.next_at().map(|at| Reverse((at, i))))
        .collect();
    let mut written = 0;
    let mut buf = Vec::with_capacity(8 * 1024);
    while let Some(Reverse((at, i))) = heap.pop() {
        let timeline = &mut timelines[i];
        let previous = (timeline.last_event != i64::MIN).then(|| renderer.snapshot(timeline));
        let kind = timeline.step(at);
        let current = renderer.snapshot(timeline);
        timeline.events += 1;
        timeline.last_event = at;
        let agent = &dir.agents[timeline.agent as usize];
        let record = EventRecord {
            aws_account_id: crate::directory::ACCOUNT_ID,
            agent_arn: &agent.arn,
            current_agent_snapshot: current,
            event_id: format!(
                "{}-{:08}",
                &agent.arn[agent.arn.len() - 12..],
                timeline.events
            ),
            event_timestamp: ts(at),
            event_type: kind,
            instance_arn: &dir.instance_arn,
            previous_agent_snapshot: previous,
            version: "2019-05-25",
        };
        buf.clear();
        serde_json::to_writer(&mut buf, &record).map_err(std::io::Error::other)?;
        if let Some(delimiter) = delimiter {
            buf.push(delimiter);
        }
        out.write_all(&buf)?;
        written += 1;
        if let Some(next) = timeline.next_at() {
            heap.push(Reverse((next, i)));
        }
    }
    Ok(written)
}
