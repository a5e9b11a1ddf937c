//! The simulated Amazon Connect instance: account, queues, agents, routing profiles and
//! hierarchy groups, with their ARNs.
//!
//! The directory is built from a fixed seed, independent of `GenConfig::seed`, so every
//! generated data set describes the same contact center: queue and agent ARNs stay stable
//! across runs and seeds, which is what a lake fed for months by one instance looks like.
//! Only the contacts vary with the seed.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::journey::Channel;

pub(crate) const ACCOUNT_ID: &str = "210987654321";
const REGION: &str = "ap-northeast-1";
/// Seed of the directory's own random stream; changing it renames every ARN.
const DIRECTORY_SEED: u64 = 0x00c7_71a4_e000_0001;
/// S3 prefix of call recordings, as Connect lays them out.
pub(crate) const RECORDING_PREFIX: &str =
    "amazon-connect-5f2c1a9e04b7/connect/ctrlake-demo/CallRecordings";

/// A lowercase hyphenated UUID held as text, the form CTRs use for every id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Uuid([u8; 36]);

impl Uuid {
    /// A random (version 4) UUID.
    pub(crate) fn random(rng: &mut ChaCha8Rng) -> Self {
        let mut bytes: [u8; 16] = rng.random();
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut text = [b'-'; 36];
        let mut pos = 0;
        for (i, byte) in bytes.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                pos += 1;
            }
            text[pos] = HEX[usize::from(byte >> 4)];
            text[pos + 1] = HEX[usize::from(byte & 0x0f)];
            pos += 2;
        }
        Self(text)
    }

    pub(crate) fn as_str(&self) -> &str {
        // Invariant: `random` is the only constructor and writes ASCII hex digits and '-'.
        std::str::from_utf8(&self.0).expect("uuid text is ASCII by construction")
    }
}

/// A named resource with its ARN (queue, routing profile, hierarchy group).
#[derive(Debug)]
pub(crate) struct Named {
    pub arn: String,
    pub name: String,
}

#[derive(Debug)]
pub(crate) struct Queue {
    pub arn: String,
    pub name: &'static str,
    pub channel: Channel,
    /// The number customers dial for this queue (voice), also the callback caller id.
    pub did: &'static str,
    /// Index of the team whose agents answer this queue.
    pub team: usize,
}

#[derive(Debug)]
pub(crate) struct Agent {
    pub arn: String,
    pub username: String,
    pub routing_profile: usize,
    /// Hierarchy group indices for Level1..Level5; `None` for agents outside the hierarchy.
    pub hierarchy: Option<[Option<usize>; 5]>,
    /// Softphone platform (`Agent.DeviceInfo`); only newer clients report it, so most
    /// records lack the key altogether (format drift a decoder must keep raw).
    pub device: Option<usize>,
}

#[derive(Debug)]
struct Team {
    first_agent: usize,
    agents: usize,
}

/// Everything a record refers to by ARN.
#[derive(Debug)]
pub(crate) struct Directory {
    pub instance_id: String,
    pub instance_arn: String,
    pub queues: Vec<Queue>,
    pub agents: Vec<Agent>,
    pub routing_profiles: Vec<Named>,
    pub groups: Vec<Named>,
    teams: Vec<Team>,
}

/// Queue indices with a meaning in the scenarios.
pub(crate) mod queue {
    pub const SUPPORT_JA: usize = 0;
    pub const BILLING_JA: usize = 1;
    pub const SALES: usize = 2;
    pub const SUPPORT_EN: usize = 3;
    pub const BILLING_EN: usize = 4;
    pub const CANCELLATION: usize = 5;
    pub const CALLBACK: usize = 6;
    pub const CHAT: usize = 7;
    pub const TASKS: usize = 8;
    pub const OUTBOUND: usize = 9;
    pub const CORPORATE: usize = 10;
    /// Inbound voice queues with their share of traffic (per mille).
    pub const INBOUND_VOICE: [(usize, u32); 7] = [
        (SUPPORT_JA, 330),
        (BILLING_JA, 200),
        (SALES, 100),
        (SUPPORT_EN, 110),
        (BILLING_EN, 60),
        (CANCELLATION, 140),
        (CORPORATE, 60),
    ];
}

/// (queue name, channel it serves, dialled number, team)
const QUEUES: [(&str, Channel, &str, usize); 11] = [
    ("サポート窓口", Channel::Voice, "+81120555010", 0),
    ("請求・お支払い", Channel::Voice, "+81120555020", 1),
    ("Sales", Channel::Voice, "+81120555030", 2),
    ("Support", Channel::Voice, "+81355500100", 3),
    ("Billing", Channel::Voice, "+81355500200", 3),
    ("解約受付", Channel::Voice, "+81120555040", 4),
    ("コールバック予約", Channel::Voice, "+81120555010", 0),
    ("チャットサポート", Channel::Chat, "", 5),
    ("事務処理タスク", Channel::Task, "", 6),
    ("発信専用", Channel::Voice, "+81355500999", 7),
    ("法人窓口", Channel::Voice, "+81120555050", 1),
];

/// (routing profile, team name at hierarchy Level3, agents)
const TEAMS: [(&str, &str, usize); 8] = [
    ("RP_サポート_一般", "サポート1課", 90),
    ("RP_請求", "請求チーム", 50),
    ("Sales_Inbound", "Sales Team", 30),
    ("English_Desk", "English Desk", 24),
    ("RP_解約", "リテンション課", 30),
    ("Chat_Agents", "チャット課", 40),
    ("BackOffice_Tasks", "事務センター", 30),
    ("Outbound_Sales", "アウトバウンド課", 30),
];

const SITES: [&str; 3] = ["東京センター", "大阪センター", "Sapporo Site"];

const FAMILY: [&str; 40] = [
    "sato",
    "suzuki",
    "takahashi",
    "tanaka",
    "watanabe",
    "ito",
    "yamamoto",
    "nakamura",
    "kobayashi",
    "kato",
    "yoshida",
    "yamada",
    "sasaki",
    "yamaguchi",
    "matsumoto",
    "inoue",
    "kimura",
    "hayashi",
    "shimizu",
    "yamazaki",
    "mori",
    "abe",
    "ikeda",
    "hashimoto",
    "yamashita",
    "ishikawa",
    "nakajima",
    "maeda",
    "fujita",
    "ogawa",
    "goto",
    "okada",
    "hasegawa",
    "murakami",
    "kondo",
    "ishii",
    "saito",
    "sakamoto",
    "endo",
    "aoki",
];
const GIVEN: [&str; 40] = [
    "hiroshi", "takashi", "yuki", "akira", "kenji", "yoko", "keiko", "naoko", "daisuke", "makoto",
    "haruto", "sota", "yui", "aoi", "hina", "ren", "yuto", "mei", "riko", "kaito", "emi", "shota",
    "ayumi", "tomoko", "kazuki", "misaki", "ryo", "nana", "takumi", "sakura", "kenta", "mai",
    "yusuke", "asuka", "koji", "mayumi", "shun", "rina", "tatsuya", "chika",
];

impl Directory {
    /// The directory with [`crate::DEFAULT_AGENTS`] agents.
    #[cfg(test)]
    pub(crate) fn build() -> Self {
        Self::with_agents(crate::DEFAULT_AGENTS)
    }

    /// The directory with about `agents` agents: each team's size scaled from [`TEAMS`] (at
    /// least one agent a team), so the routing and the load per team stay as they are. With
    /// the default count the directory is the one the fixtures were made with.
    pub(crate) fn with_agents(agent_count: u32) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(DIRECTORY_SEED);
        let instance_id = Uuid::random(&mut rng).as_str().to_owned();
        let instance_arn = format!("arn:aws:connect:{REGION}:{ACCOUNT_ID}:instance/{instance_id}");
        let child = |rng: &mut ChaCha8Rng, kind: &str| {
            format!("{instance_arn}/{kind}/{}", Uuid::random(rng).as_str())
        };
        let queues = QUEUES
            .iter()
            .map(|&(name, channel, did, team)| Queue {
                arn: child(&mut rng, "queue"),
                name,
                channel,
                did,
                team,
            })
            .collect();
        let routing_profiles = TEAMS
            .iter()
            .map(|&(name, _, _)| Named {
                arn: child(&mut rng, "routing-profile"),
                name: name.to_owned(),
            })
            .collect();
        // Groups: 0 = Level1 "Japan", 1..=3 = sites (Level2), then one Level3 team per TEAMS row.
        let mut groups = vec![Named {
            arn: child(&mut rng, "agent-group"),
            name: "Japan".to_owned(),
        }];
        for site in SITES {
            groups.push(Named {
                arn: child(&mut rng, "agent-group"),
                name: site.to_owned(),
            });
        }
        for &(_, team, _) in &TEAMS {
            groups.push(Named {
                arn: child(&mut rng, "agent-group"),
                name: team.to_owned(),
            });
        }
        let mut agents = Vec::new();
        let mut teams = Vec::new();
        let default_total: usize = TEAMS.iter().map(|t| t.2).sum();
        for (team, &(_, _, size)) in TEAMS.iter().enumerate() {
            let size = (size * agent_count as usize + default_total / 2) / default_total;
            let size = size.max(1);
            teams.push(Team {
                first_agent: agents.len(),
                agents: size,
            });
            for _ in 0..size {
                let i = agents.len();
                // For a fixed family name (i mod 40) the given name index (i/40*3 + i) mod 40
                // differs for every i < 400 (and within every later block of 400, shifted),
                // so usernames are unique with the block's number after the 400th.
                let family = FAMILY[i % FAMILY.len()];
                let given = GIVEN[(i / FAMILY.len() * 3 + i) % GIVEN.len()];
                let block = match i / 400 {
                    0 => String::new(),
                    n => (n + 1).to_string(),
                };
                let site = 1 + rng.random_range(0..SITES.len());
                let hierarchy = if rng.random_bool(0.05) {
                    None
                } else if rng.random_bool(0.6) {
                    Some([Some(0), Some(site), None, None, None])
                } else {
                    Some([
                        Some(0),
                        Some(site),
                        Some(1 + SITES.len() + team),
                        None,
                        None,
                    ])
                };
                agents.push(Agent {
                    arn: child(&mut rng, "agent"),
                    username: format!("{given}.{family}{block}"),
                    routing_profile: team,
                    hierarchy,
                    device: rng
                        .random_bool(0.3)
                        .then(|| rng.random_range(0..DEVICES.len())),
                });
            }
        }
        Self {
            instance_id,
            instance_arn,
            queues,
            agents,
            routing_profiles,
            groups,
            teams,
        }
    }

    /// Another agent of `agent`'s team (the next one round the team), if it has two.
    pub(crate) fn teammate(&self, agent: usize) -> Option<usize> {
        let team = self
            .teams
            .iter()
            .find(|t| (t.first_agent..t.first_agent + t.agents).contains(&agent))?;
        (team.agents > 1).then(|| team.first_agent + (agent - team.first_agent + 1) % team.agents)
    }

    /// An agent of the team that answers `queue`.
    pub(crate) fn pick_agent(&self, rng: &mut ChaCha8Rng, queue: usize) -> usize {
        let team = &self.teams[self.queues[queue].team];
        team.first_agent + rng.random_range(0..team.agents)
    }
}

/// Agent softphone platforms (Agent.DeviceInfo): (PlatformName, PlatformVersion, OperatingSystem).
pub(crate) const DEVICES: [(&str, &str, &str); 4] = [
    ("Chrome", "138.0.7204.101", "Windows 10"),
    ("Chrome", "139.0.7258.67", "Windows 11"),
    ("Edge", "138.0.3351.95", "Windows 11"),
    ("Firefox", "140.0", "macOS 14.6"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_is_stable_and_usernames_unique() {
        let a = Directory::build();
        let b = Directory::build();
        assert_eq!(a.instance_arn, b.instance_arn);
        assert_eq!(a.agents[17].arn, b.agents[17].arn);
        let mut names: Vec<&str> = a.agents.iter().map(|x| x.username.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), a.agents.len());
        assert!(a.queues[queue::SUPPORT_JA].arn.starts_with(&a.instance_arn));
    }

    #[test]
    fn scaled_directories_keep_every_team_and_unique_usernames() {
        let large = Directory::with_agents(1_000);
        assert!(
            (995..=1_005).contains(&large.agents.len()),
            "{}",
            large.agents.len()
        );
        let mut names: Vec<&str> = large.agents.iter().map(|x| x.username.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), large.agents.len());
        let small = Directory::with_agents(3);
        assert_eq!(small.teams.len(), TEAMS.len());
        assert!(small.teams.iter().all(|t| t.agents >= 1));
        let default = Directory::with_agents(crate::DEFAULT_AGENTS);
        let sizes: Vec<usize> = default.teams.iter().map(|t| t.agents).collect();
        assert_eq!(sizes, TEAMS.map(|t| t.2));
    }

    #[test]
    fn uuid_is_version_4_text() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let id = Uuid::random(&mut rng);
        let text = id.as_str();
        assert_eq!(text.len(), 36);
        assert_eq!(&text[14..15], "4");
        assert_eq!(text.matches('-').count(), 4);
        assert!(text.bytes().all(|b| b == b'-' || b.is_ascii_hexdigit()));
    }
}
