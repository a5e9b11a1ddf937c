//! One customer journey: the contact legs Connect records for it, their timelines, and the
//! deliveries (versions, re-deliveries) each leg's CTR gets.
//!
//! A journey is a pure function of (key, contact index, initiation second): the stream
//! simulates it once to learn when its records are due, and again when each record is
//! written, so nothing but a few integers per pending record is held in memory, and a
//! record written twice (an exact re-delivery) is byte-identical by construction.
//!
//! Timelines are whole seconds, so every duration is exactly the difference of the floored
//! timestamps it spans (`Queue.Duration = Dequeue − Enqueue`, `AgentInteractionDuration +
//! CustomerHoldDuration + AgentPauseDuration = AfterContactWorkStart − ConnectedToAgent`,
//! `AfterContactWorkDuration = AfterContactWorkEnd − AfterContactWorkStart`). A callback
//! leg's `Queue.Duration` also counts the initial delay: it is `Dequeue − Initiation`, as in
//! the Admin Guide's queued-callback example. Journeys that carry milliseconds shift every
//! timestamp by the same fraction, which keeps those identities exact.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::attributes::{self, Attr};
use crate::directory::{Directory, Uuid, queue};
use crate::time::tokyo_hour;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Channel {
    Voice,
    Chat,
    Task,
}

impl Channel {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Channel::Voice => "VOICE",
            Channel::Chat => "CHAT",
            Channel::Task => "TASK",
        }
    }
}

/// Time spent in one queue by one leg.
#[derive(Clone, Debug)]
pub(crate) struct QueueVisit {
    pub queue: usize,
    pub enqueue: Option<i64>,
    pub dequeue: Option<i64>,
    pub duration: i64,
}

/// The agent who handled one leg and how the handle time splits.
#[derive(Clone, Debug)]
pub(crate) struct AgentVisit {
    pub agent: usize,
    pub connected: i64,
    pub interaction: i64,
    pub hold: i64,
    pub holds: u32,
    pub longest_hold: i64,
    pub pause: Option<i64>,
    pub acw: i64,
}

impl AgentVisit {
    pub(crate) fn acw_start(&self) -> i64 {
        self.connected + self.interaction + self.hold + self.pause.unwrap_or(0)
    }
    pub(crate) fn acw_end(&self) -> i64 {
        self.acw_start() + self.acw
    }
}

/// One delivery of a leg's CTR.
#[derive(Clone, Debug)]
pub(crate) struct Version {
    /// `LastUpdateTimestamp` in ms; also when the record enters the stream.
    pub lut_ms: i64,
    /// The update landed in the same second as the previous version: print milliseconds so
    /// the two stay ordered (`...:45Z` then `...:45.250Z`).
    pub lut_with_ms: bool,
    /// Attribute changes this version adds on top of the previous one (empty for the first).
    pub changes: Vec<Attr>,
    /// Delivered a second time, byte-identical, this many ms after the first delivery.
    pub redelivery_ms: Option<i64>,
}

/// One contact record (leg). Times are whole seconds since the epoch.
#[derive(Clone, Debug)]
pub(crate) struct Leg {
    pub id: Uuid,
    pub channel: Channel,
    pub method: &'static str,
    pub init: i64,
    pub connected_to_system: Option<i64>,
    pub disconnect: i64,
    pub reason: &'static str,
    pub customer: Option<String>,
    pub system: Option<&'static str>,
    pub queue: Option<QueueVisit>,
    pub agent: Option<AgentVisit>,
    pub attempts: u32,
    pub transfer_completed: Option<i64>,
    pub transferred_to: Option<String>,
    pub scheduled: Option<i64>,
    /// Indices into `Journey::legs`.
    pub previous: Option<usize>,
    pub next: Option<usize>,
    pub initial: Option<usize>,
    pub attributes: Vec<Attr>,
    pub ticket: Option<u32>,
    pub quality: Option<(f64, f64)>,
    pub versions: Vec<Version>,
}

impl Leg {
    fn new(id: Uuid, channel: Channel, method: &'static str, init: i64) -> Self {
        Self {
            id,
            channel,
            method,
            init,
            connected_to_system: None,
            disconnect: init,
            reason: "CUSTOMER_DISCONNECT",
            customer: None,
            system: None,
            queue: None,
            agent: None,
            attempts: 0,
            transfer_completed: None,
            transferred_to: None,
            scheduled: None,
            previous: None,
            next: None,
            initial: None,
            attributes: Vec::new(),
            ticket: None,
            quality: None,
            versions: Vec::new(),
        }
    }

    /// When Connect is done with the leg (disconnect or end of after-contact work).
    fn end(&self) -> i64 {
        self.agent
            .as_ref()
            .map_or(self.disconnect, |a| a.acw_end().max(self.disconnect))
    }
}

/// All legs of one customer journey, linked by `InitialContactId`/`PreviousContactId`/`NextContactId`.
#[derive(Clone, Debug)]
pub(crate) struct Journey {
    /// Every timestamp of this journey prints milliseconds, shifted by `frac_ms`.
    pub millis: bool,
    pub frac_ms: i64,
    pub legs: Vec<Leg>,
}

/// Tokyo hourly traffic shape (relative weights), also used as the load that stretches
/// queue waits at peak hours. Peaks in business hours, a lunch dip, never zero at night.
pub(crate) const HOURLY_WEIGHT: [u64; 24] = [
    12, 8, 6, 5, 5, 7, 15, 35, 90, 200, 240, 230, 170, 220, 230, 215, 190, 150, 100, 70, 55, 45,
    32, 20,
];

/// Share of contacts, per mille, whose CTR gets a second version.
const UPDATE_PER_MILLE: u32 = 100;
/// Share of records, per mille, delivered twice.
const REDELIVERY_PER_MILLE: u32 = 10;

/// Simulates the journey initiated at second `t0`. `rng` must be the journey's own
/// stream, positioned at its start.
pub(crate) fn simulate(dir: &Directory, rng: &mut ChaCha8Rng, t0: i64) -> Journey {
    let millis = rng.random_bool(0.10);
    let frac_ms = if millis { rng.random_range(0..1000) } else { 0 };
    let load = HOURLY_WEIGHT[tokyo_hour(t0)] as f64 / 240.0;
    let customer = attributes::Customer::draw(rng);
    let mut sim = Sim {
        dir,
        rng,
        load,
        customer,
        legs: Vec::with_capacity(2),
    };
    let pick = sim.rng.random_range(0..1000);
    match pick {
        0..760 => sim.inbound_voice(t0),
        760..850 => sim.outbound(t0),
        850..950 => sim.chat(t0),
        _ => sim.task(t0),
    }
    let Sim { rng, mut legs, .. } = sim;
    for (i, leg) in legs.iter_mut().enumerate() {
        if i > 0 {
            leg.initial = Some(0);
        }
        let lag = rng.random_range(20..150);
        let lut_frac = if millis { rng.random_range(0..1000) } else { 0 };
        leg.versions.push(Version {
            lut_ms: (leg.end() + lag) * 1000 + lut_frac,
            lut_with_ms: false,
            changes: Vec::new(),
            redelivery_ms: None,
        });
    }
    if rng.random_range(0..1000) < UPDATE_PER_MILLE {
        let updated = rng.random_range(0..legs.len());
        let leg = &mut legs[updated];
        let first = leg.versions[0].lut_ms;
        let kind = rng.random_range(1..=3);
        let changes = attributes::update(rng, kind);
        let (lut_ms, lut_with_ms) = match rng.random_range(0..100) {
            // Same second, later millisecond: only ms precision orders the two versions.
            0..4 => (first + rng.random_range(1..400), true),
            4..45 => (first + rng.random_range(180..1_800) * 1000, false),
            45..72 => (first + rng.random_range(1_800..21_600) * 1000, false),
            _ => (first + rng.random_range(21_600..518_400) * 1000, false),
        };
        leg.versions.push(Version {
            lut_ms,
            lut_with_ms,
            changes,
            redelivery_ms: None,
        });
        if rng.random_bool(0.10) {
            // A third delivery shortly after, adding a key that differs only in case, like the
            // real sample's greetingPlayed / GreetingPlayed.
            leg.versions.push(Version {
                lut_ms: lut_ms + rng.random_range(60..3_600) * 1000,
                lut_with_ms: false,
                changes: attributes::update(rng, 4),
                redelivery_ms: None,
            });
        }
    }
    for leg in &mut legs {
        for version in &mut leg.versions {
            if rng.random_range(0..1000) < REDELIVERY_PER_MILLE {
                version.redelivery_ms = Some(rng.random_range(0..90_000));
            }
        }
    }
    Journey {
        millis,
        frac_ms,
        legs,
    }
}

struct Sim<'a> {
    dir: &'a Directory,
    rng: &'a mut ChaCha8Rng,
    /// Traffic at the journey's hour relative to the peak hour (0..=1).
    load: f64,
    customer: attributes::Customer,
    legs: Vec<Leg>,
}

/// How a queued leg leaves its queue.
enum Outcome {
    Answered,
    Abandoned,
}

impl Sim<'_> {
    fn uniform(&mut self, range: std::ops::Range<i64>) -> i64 {
        self.rng.random_range(range)
    }

    fn chance(&mut self, per_mille: u32) -> bool {
        self.rng.random_range(0..1000) < per_mille
    }

    /// Exponential with the given mean, whole seconds, clamped to `[lo, hi]`.
    fn exp(&mut self, mean: f64, lo: i64, hi: i64) -> i64 {
        let u: f64 = self.rng.random();
        ((-mean * (1.0 - u).ln()) as i64).clamp(lo, hi)
    }

    /// Log-normal with the given median, whole seconds, clamped to `[lo, hi]`.
    fn lognormal(&mut self, median: f64, sigma: f64, lo: i64, hi: i64) -> i64 {
        let u1: f64 = self.rng.random();
        let u2: f64 = self.rng.random();
        let z = (-2.0 * (1.0 - u1).ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        ((median * (sigma * z).exp()) as i64).clamp(lo, hi)
    }

    fn new_leg(&mut self, channel: Channel, method: &'static str, init: i64) -> usize {
        let id = Uuid::random(self.rng);
        let mut leg = Leg::new(id, channel, method, init);
        if let Some(prev) = self.legs.len().checked_sub(1) {
            leg.previous = Some(prev);
            self.legs[prev].next = Some(self.legs.len());
            leg.customer = self.legs[prev].customer.clone();
            leg.system = self.legs[prev].system;
            leg.attributes = self.legs[prev].attributes.clone();
        }
        self.legs.push(leg);
        self.legs.len() - 1
    }

    fn pick_inbound_queue(&mut self) -> usize {
        let mut roll = self.rng.random_range(0..1000);
        for (q, share) in queue::INBOUND_VOICE {
            if roll < share {
                return q;
            }
            roll -= share;
        }
        queue::SUPPORT_JA
    }

    fn other_queue(&mut self, from: usize) -> usize {
        loop {
            let q = self.pick_inbound_queue();
            if q != from {
                return q;
            }
        }
    }

    /// Seconds a contact waits before an agent accepts it, at this hour's load.
    fn answer_wait(&mut self) -> i64 {
        if self.chance(300) {
            self.uniform(0..12)
        } else {
            let mean = 25.0 + 150.0 * self.load;
            self.exp(mean, 1, 2_400)
        }
    }

    /// Queues leg `leg` in `q` at `enqueue` and lets it end per `outcome`. Returns the second
    /// the customer is free of the leg (agent done or abandoned).
    fn queue_leg(&mut self, leg: usize, q: usize, enqueue: i64, outcome: Outcome) -> i64 {
        let channel = self.legs[leg].channel;
        match outcome {
            Outcome::Abandoned => {
                let mean = 45.0 + 60.0 * self.load;
                let mut wait = self.exp(mean, 1, 1_800);
                let mut attempts = 0;
                if self.chance(250) {
                    // Offered once, the agent missed it, then the customer gave up.
                    attempts = 1;
                    wait = wait.max(20) + self.uniform(0..20);
                }
                let l = &mut self.legs[leg];
                l.queue = Some(QueueVisit {
                    queue: q,
                    enqueue: Some(enqueue),
                    dequeue: Some(enqueue + wait),
                    duration: wait,
                });
                l.attempts = attempts;
                l.disconnect = enqueue + wait;
                l.reason = "CUSTOMER_DISCONNECT";
                enqueue + wait
            }
            Outcome::Answered => {
                let mut wait = self.answer_wait();
                let missed = if self.chance(60) {
                    if self.chance(800) { 1 } else { 2 }
                } else {
                    0
                };
                for _ in 0..missed {
                    wait += self.uniform(15..31);
                }
                let dequeue = enqueue + wait;
                let agent = self.agent_visit(channel, q, dequeue);
                let end = agent.acw_start();
                let reason = self.disconnect_reason(channel);
                let l = &mut self.legs[leg];
                l.queue = Some(QueueVisit {
                    queue: q,
                    enqueue: Some(enqueue),
                    dequeue: Some(dequeue),
                    duration: wait,
                });
                l.attempts = 1 + missed;
                l.agent = Some(agent);
                l.disconnect = end;
                l.reason = reason;
                end
            }
        }
    }

    fn disconnect_reason(&mut self, channel: Channel) -> &'static str {
        let roll = self.rng.random_range(0..100);
        match channel {
            Channel::Voice => match roll {
                0..60 => "CUSTOMER_DISCONNECT",
                60..98 => "AGENT_DISCONNECT",
                _ => "TELECOM_PROBLEM",
            },
            Channel::Chat => match roll {
                0..55 => "AGENT_DISCONNECT",
                55..93 => "CUSTOMER_DISCONNECT",
                _ => "EXPIRED",
            },
            Channel::Task => match roll {
                0..95 => "AGENT_COMPLETED",
                _ => "API",
            },
        }
    }

    /// An agent connected at `connected`, with talk, holds, pauses and after-contact work.
    fn agent_visit(&mut self, channel: Channel, q: usize, connected: i64) -> AgentVisit {
        let agent = self.dir.pick_agent(self.rng, q);
        let (median, acw_median) = match channel {
            Channel::Voice => (260.0, 45.0),
            Channel::Chat => (560.0, 30.0),
            Channel::Task => (300.0, 20.0),
        };
        let interaction = self.lognormal(median, 0.75, 8, 7_200);
        let (mut hold, mut holds, mut longest_hold) = (0, 0, 0);
        if channel == Channel::Voice && self.chance(300) {
            holds = match self.rng.random_range(0..10) {
                0..6 => 1,
                6..9 => 2,
                _ => 3,
            };
            for _ in 0..holds {
                let h = self.lognormal(45.0, 0.8, 3, 1_200);
                hold += h;
                longest_hold = longest_hold.max(h);
            }
        }
        let pause = match channel {
            Channel::Task if self.chance(300) => Some(self.uniform(60..1_800)),
            Channel::Voice if self.chance(40) => Some(self.uniform(5..120)),
            _ => None,
        };
        let acw = self.lognormal(acw_median, 0.7, 1, 900);
        AgentVisit {
            agent,
            connected,
            interaction,
            hold,
            holds,
            longest_hold,
            pause,
            acw,
        }
    }

    /// Voice quality scores; instances without the feature write `QualityMetrics: null`.
    fn quality(&mut self, leg: usize) {
        if !self.chance(400) {
            return;
        }
        let agent = (350.0 + self.rng.random_range(0.0..150.0_f64)).round() / 100.0;
        let customer = (250.0 + self.rng.random_range(0.0..250.0_f64)).round() / 100.0;
        self.legs[leg].quality = Some((agent, customer));
    }

    fn inbound_voice(&mut self, t0: i64) {
        let q = self.pick_inbound_queue();
        let leg = self.new_leg(Channel::Voice, "INBOUND", t0);
        let address = self.customer.address.clone();
        let attrs = attributes::inbound(self.rng, &self.customer, q);
        {
            let l = &mut self.legs[leg];
            l.connected_to_system = Some(t0);
            l.customer = Some(address);
            l.system = Some(self.dir.queues[q].did);
            l.attributes = attrs;
        }
        let roll = self.rng.random_range(0..1000);
        if roll < 200 {
            // Hung up in the IVR (or the flow ended the call) before reaching a queue.
            let ivr = self.uniform(5..240);
            let reason = if self.chance(700) {
                "CUSTOMER_DISCONNECT"
            } else {
                "CONTACT_FLOW_DISCONNECT"
            };
            let l = &mut self.legs[leg];
            l.disconnect = t0 + ivr;
            l.reason = reason;
            return;
        }
        let enqueue = t0 + self.uniform(15..90);
        let roll = self.rng.random_range(0..1000);
        match roll {
            0..110 => {
                self.queue_leg(leg, q, enqueue, Outcome::Abandoned);
            }
            110..135 => self.callback(leg, q, enqueue),
            135..150 => {
                // The customer queue flow moves the contact to another queue.
                let wait = self.uniform(20..300);
                let moved = enqueue + wait;
                let l = &mut self.legs[leg];
                l.queue = Some(QueueVisit {
                    queue: q,
                    enqueue: Some(enqueue),
                    dequeue: Some(moved),
                    duration: wait,
                });
                l.disconnect = moved;
                l.reason = "CONTACT_FLOW_DISCONNECT";
                let q2 = self.other_queue(q);
                let next = self.new_leg(Channel::Voice, "QUEUE_TRANSFER", moved);
                self.legs[next].connected_to_system = Some(moved);
                let outcome = if self.chance(880) {
                    Outcome::Answered
                } else {
                    Outcome::Abandoned
                };
                if matches!(outcome, Outcome::Answered) {
                    self.quality(next);
                }
                self.queue_leg(next, q2, moved, outcome);
            }
            _ => {
                let end = self.queue_leg(leg, q, enqueue, Outcome::Answered);
                self.quality(leg);
                let roll = self.rng.random_range(0..1000);
                if roll < 35 {
                    self.agent_transfer(leg, q, end, Channel::Voice);
                } else if roll < 50 {
                    // Cold transfer to an outside number: the customer stays on the line
                    // after the agent leaves, so the leg disconnects after ACW (see samples/).
                    let talk = self.uniform(30..1_800);
                    let number = attributes::external_number(self.rng);
                    let reason = if self.chance(700) {
                        "CUSTOMER_DISCONNECT"
                    } else {
                        "THIRD_PARTY_DISCONNECT"
                    };
                    let l = &mut self.legs[leg];
                    l.transfer_completed = Some(end);
                    l.transferred_to = Some(number);
                    l.disconnect = end + talk;
                    l.reason = reason;
                }
            }
        }
    }

    /// The agent of `leg` transfers it to another queue via a quick connect: a TRANSFER leg.
    fn agent_transfer(&mut self, leg: usize, q: usize, at: i64, channel: Channel) {
        {
            let l = &mut self.legs[leg];
            l.transfer_completed = Some(at);
            l.disconnect = at;
            l.reason = "AGENT_DISCONNECT";
        }
        let q2 = match channel {
            Channel::Voice => self.other_queue(q),
            _ => q,
        };
        let next = self.new_leg(channel, "TRANSFER", at);
        if channel != Channel::Task {
            self.legs[next].connected_to_system = Some(at);
        }
        if channel == Channel::Voice {
            self.legs[next]
                .attributes
                .push(Attr::fixed("TransferReason", "担当部署への転送"));
        }
        let enqueue = at + self.uniform(1..6);
        let outcome = if self.chance(950) {
            Outcome::Answered
        } else {
            Outcome::Abandoned
        };
        let answered = matches!(outcome, Outcome::Answered);
        let end = self.queue_leg(next, q2, enqueue, outcome);
        if answered && channel == Channel::Voice {
            self.quality(next);
            if self.chance(80) && self.legs.len() < 4 {
                self.agent_transfer(next, q2, end, channel);
            }
        }
    }

    /// The customer asks for a callback while waiting: the inbound leg leaves the queue and
    /// ends, a CALLBACK leg waits out the initial delay, is queued, and an agent calls back.
    fn callback(&mut self, leg: usize, q: usize, enqueue: i64) {
        let wait = self.uniform(30..600);
        let requested = enqueue + wait;
        let goodbye = self.uniform(5..20);
        {
            let l = &mut self.legs[leg];
            l.queue = Some(QueueVisit {
                queue: q,
                enqueue: Some(enqueue),
                dequeue: Some(requested),
                duration: wait,
            });
            l.disconnect = requested + goodbye;
            l.reason = "CONTACT_FLOW_DISCONNECT";
            l.attributes.push(Attr::fixed("CallbackRequested", "true"));
        }
        let next = self.new_leg(Channel::Voice, "CALLBACK", requested);
        let delay = match self.rng.random_range(0..3) {
            0 => 99,
            1 => 300,
            _ => self.uniform(60..900),
        };
        let callback_enqueue = requested + delay;
        let cb_queue = queue::CALLBACK;
        self.queue_leg(next, cb_queue, callback_enqueue, Outcome::Answered);
        let ring = self.uniform(12..40);
        self.quality(next);
        let l = &mut self.legs[next];
        if let Some(visit) = l.queue.as_mut() {
            // Connect counts the initial delay as time in queue for callbacks.
            visit.duration += delay;
        }
        if let Some(agent) = l.agent.as_ref() {
            l.connected_to_system = Some(agent.connected + ring.min(agent.interaction));
        }
    }

    fn outbound(&mut self, t0: i64) {
        let leg = self.new_leg(Channel::Voice, "OUTBOUND", t0);
        let q = queue::OUTBOUND;
        let agent_connected = t0 + self.uniform(0..3);
        let mut visit = self.agent_visit(Channel::Voice, q, agent_connected);
        let ring = self.uniform(5..30);
        let answered = self.chance(880);
        if !answered {
            visit.interaction = ring + self.uniform(10..30);
            visit.hold = 0;
            visit.holds = 0;
            visit.longest_hold = 0;
            visit.pause = None;
            visit.acw = self.uniform(1..30);
        } else {
            visit.interaction += ring;
        }
        let with_queue = self.chance(150);
        let attrs = attributes::outbound(self.rng, &self.customer);
        let reason = if answered {
            self.disconnect_reason(Channel::Voice)
        } else {
            "AGENT_DISCONNECT"
        };
        let address = self.customer.address.clone();
        let dir = self.dir;
        let l = &mut self.legs[leg];
        l.customer = Some(address);
        l.system = Some(dir.queues[q].did);
        l.connected_to_system = answered.then_some(agent_connected + ring);
        l.disconnect = visit.acw_start();
        l.reason = reason;
        // The agent's default outbound queue is named, but the contact never waits in it.
        l.queue = with_queue.then_some(QueueVisit {
            queue: q,
            enqueue: None,
            dequeue: None,
            duration: 0,
        });
        l.agent = Some(visit);
        l.attributes = attrs;
        if answered {
            self.quality(leg);
        }
    }

    fn chat(&mut self, t0: i64) {
        let leg = self.new_leg(Channel::Chat, "API", t0);
        let attrs = attributes::chat(self.rng, &self.customer);
        {
            let l = &mut self.legs[leg];
            l.connected_to_system = Some(t0);
            l.attributes = attrs;
        }
        let enqueue = t0 + self.uniform(5..60);
        let roll = self.rng.random_range(0..1000);
        if roll < 80 {
            self.queue_leg(leg, queue::CHAT, enqueue, Outcome::Abandoned);
        } else {
            let end = self.queue_leg(leg, queue::CHAT, enqueue, Outcome::Answered);
            if roll < 100 {
                self.agent_transfer(leg, queue::CHAT, end, Channel::Chat);
            }
        }
    }

    fn task(&mut self, t0: i64) {
        let leg = self.new_leg(Channel::Task, "API", t0);
        let attrs = attributes::task(self.rng, &self.customer);
        let ticket = self.rng.random_range(100_000..999_999);
        let scheduled = if self.chance(250) {
            let at = t0 + self.uniform(600..86_400);
            Some((at + 299) / 300 * 300)
        } else {
            None
        };
        {
            let l = &mut self.legs[leg];
            l.attributes = attrs;
            l.ticket = Some(ticket);
            l.scheduled = scheduled;
        }
        let enqueue = scheduled.unwrap_or(t0) + self.uniform(0..5);
        let roll = self.rng.random_range(0..1000);
        if roll < 30 {
            self.queue_leg(leg, queue::TASKS, enqueue, Outcome::Abandoned);
            self.legs[leg].reason = "EXPIRED";
        } else {
            let end = self.queue_leg(leg, queue::TASKS, enqueue, Outcome::Answered);
            if roll < 60 {
                self.agent_transfer(leg, queue::TASKS, end, Channel::Task);
            }
        }
    }
}
