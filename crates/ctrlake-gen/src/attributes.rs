//! Contact attributes and customer identities: the part of a CTR that flows and Lambdas write.
//!
//! Real attribute maps are where decoders get hurt, so the generator reproduces what real
//! records carry: Japanese values, empty strings, the string "None", and in about 2% of
//! contacts a production-sized map (100+ keys) with keys that differ only in case, JSON text
//! and multi-line values. Customers come from a fixed pool so the same caller shows up
//! again, with Japanese E.164 numbers and a few that lost their `+` to URL decoding.

use std::borrow::Cow;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::directory::queue;

/// One contact attribute. Keys are unique per record (byte-exact; case matters).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Attr {
    pub key: Cow<'static, str>,
    pub value: Cow<'static, str>,
}

impl Attr {
    pub(crate) fn fixed(key: &'static str, value: &'static str) -> Self {
        Self {
            key: Cow::Borrowed(key),
            value: Cow::Borrowed(value),
        }
    }
    fn owned(key: &'static str, value: String) -> Self {
        Self {
            key: Cow::Borrowed(key),
            value: Cow::Owned(value),
        }
    }
}

/// Size of the customer pool: repeat callers are common in a real contact center.
const CUSTOMERS: u64 = 300_000;
/// Share of contacts, per mille, carrying a production-sized attribute map.
const LARGE_MAP_PER_MILLE: u32 = 20;

/// Who is calling: a pooled identity plus this contact's rendering of their number.
#[derive(Clone, Debug)]
pub(crate) struct Customer {
    pub index: u64,
    pub address: String,
    hash: u64,
}

impl Customer {
    pub(crate) fn draw(rng: &mut ChaCha8Rng) -> Self {
        let index = rng.random_range(0..CUSTOMERS);
        let hash = splitmix64(index ^ 0x5eed_c0de);
        let subscriber = (hash >> 16) % 100_000_000;
        let prefix = match hash % 20 {
            0..5 => "+8190",
            5..8 => "+8180",
            8..9 => "+8170",
            9..16 => "+813",
            _ => "+816",
        };
        let mut address = format!("{prefix}{subscriber:08}");
        if rng.random_range(0..1000) < 4 {
            // A '+' that went through URL decoding comes back as a space.
            address.replace_range(0..1, " ");
        }
        Self {
            index,
            address,
            hash,
        }
    }

    fn member_id(&self) -> String {
        format!("M{:08}", self.index * 37 % 100_000_000)
    }

    fn name(&self) -> String {
        let family = KANJI_FAMILY[(self.hash % KANJI_FAMILY.len() as u64) as usize];
        let given = KANJI_GIVEN[((self.hash >> 8) % KANJI_GIVEN.len() as u64) as usize];
        format!("{family} {given}")
    }

    fn rank(&self) -> &'static str {
        ["ゴールド", "シルバー", "一般", "一般", "None"][((self.hash >> 24) % 5) as usize]
    }
}

/// SplitMix64 finaliser: spreads a pool index into well-mixed bits.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

const KANJI_FAMILY: [&str; 12] = [
    "佐藤", "鈴木", "高橋", "田中", "渡辺", "伊藤", "山本", "中村", "小林", "加藤", "吉田", "山田",
];
const KANJI_GIVEN: [&str; 12] = [
    "太郎", "花子", "翔太", "陽菜", "大輔", "美咲", "健一", "由美", "蓮", "結衣", "直樹", "恵子",
];
const CALL_REASONS: [&str; 8] = [
    "料金について",
    "契約内容の確認",
    "解約したい",
    "住所変更",
    "故障・不具合",
    "支払い方法の変更",
    "新規申込",
    "その他",
];
const PLANS: [&str; 5] = [
    "光ネクスト ファミリー",
    "モバイル 20GB",
    "ビジネス プレミアム",
    "Basic",
    "None",
];

fn pick<T: Copy>(rng: &mut ChaCha8Rng, items: &[T]) -> T {
    items[rng.random_range(0..items.len())]
}

fn yes_no(rng: &mut ChaCha8Rng, yes_per_mille: u32) -> &'static str {
    if rng.random_range(0..1000) < yes_per_mille {
        "Y"
    } else {
        "N"
    }
}

/// Attributes set by the inbound voice flow and the member lookup Lambda.
pub(crate) fn inbound(rng: &mut ChaCha8Rng, customer: &Customer, q: usize) -> Vec<Attr> {
    let english = matches!(q, queue::SUPPORT_EN | queue::BILLING_EN);
    let path_a = rng.random_range(1..5);
    let path_b = rng.random_range(1..4);
    let ivr_path = if rng.random_bool(0.3) {
        format!("{path_a}-{path_b}-{}", rng.random_range(1..4))
    } else {
        format!("{path_a}-{path_b}")
    };
    let mut attrs = vec![
        Attr::fixed("Acct_Code", ""),
        Attr::fixed("AuthResult", pick(rng, &["OK", "OK", "OK", "NG", "SKIP"])),
        Attr::fixed("CallReason", pick(rng, &CALL_REASONS)),
        Attr::fixed("ContractPlan", pick(rng, &PLANS)),
        Attr::owned("CustomerName", customer.name()),
        Attr::owned("EWT", rng.random_range(0..900).to_string()),
        Attr::owned("IVRPath", ivr_path),
        Attr::fixed("Language", if english { "en-US" } else { "ja-JP" }),
        Attr::owned("MemberId", customer.member_id()),
        Attr::fixed("MemberRank", customer.rank()),
        Attr::owned(
            "PathCode",
            format!(
                "{:07}_{:03}_{:05}",
                rng.random_range(0..10_000_000),
                rng.random_range(0..100),
                rng.random_range(0..100_000)
            ),
        ),
        Attr::fixed("SurveyFlag", yes_no(rng, 400)),
        Attr::fixed("TodayContact", yes_no(rng, 150)),
        Attr::fixed("ewtcheck", "Y"),
    ];
    maybe_large(rng, &mut attrs);
    attrs
}

/// Attributes of an agent-dialled outbound call.
pub(crate) fn outbound(rng: &mut ChaCha8Rng, customer: &Customer) -> Vec<Attr> {
    let mut attrs = vec![
        Attr::fixed(
            "CampaignName",
            pick(
                rng,
                &["春の乗り換えキャンペーン", "契約更新のご案内", "Follow-up"],
            ),
        ),
        Attr::owned("CustomerName", customer.name()),
        Attr::owned("MemberId", customer.member_id()),
        Attr::fixed("MemberRank", customer.rank()),
        Attr::fixed("OutboundType", "Manual"),
    ];
    maybe_large(rng, &mut attrs);
    attrs
}

/// Attributes from the chat widget's pre-chat form and the bot.
pub(crate) fn chat(rng: &mut ChaCha8Rng, customer: &Customer) -> Vec<Attr> {
    let mut attrs = vec![
        Attr::fixed(
            "BotIntent",
            pick(rng, &["CheckBill", "ChangeAddress", "Fallback", "None"]),
        ),
        Attr::owned("CustomerName", customer.name()),
        Attr::fixed("InquiryCategory", pick(rng, &CALL_REASONS)),
        Attr::owned("MemberId", customer.member_id()),
        Attr::fixed("PageUrl", "https://www.example.co.jp/support/faq"),
        Attr::fixed("customerDisplayName", "お客様"),
    ];
    maybe_large(rng, &mut attrs);
    attrs
}

/// Attributes of a task created by the back-office system.
pub(crate) fn task(rng: &mut ChaCha8Rng, customer: &Customer) -> Vec<Attr> {
    let mut attrs = vec![
        Attr::owned("MemberId", customer.member_id()),
        Attr::fixed("Priority", pick(rng, &["High", "Normal", "Normal", "Low"])),
        Attr::fixed(
            "TaskType",
            pick(
                rng,
                &["書類確認", "返金処理", "住所変更処理", "折り返し連絡"],
            ),
        ),
    ];
    maybe_large(rng, &mut attrs);
    attrs
}

/// The attribute changes a later version of a CTR carries (`kind` 1..=4).
pub(crate) fn update(rng: &mut ChaCha8Rng, kind: u8) -> Vec<Attr> {
    match kind {
        1 => vec![Attr::fixed("greetingPlayed", "false")],
        2 => vec![
            Attr::owned("SurveyScore", rng.random_range(1..=5).to_string()),
            Attr::fixed(
                "SurveyComment",
                pick(rng, &["丁寧な対応でした", "待ち時間が長い", "", "None"]),
            ),
        ],
        3 => vec![
            Attr::fixed(
                "WrapUpCode",
                pick(rng, &["解決済み", "折り返し要", "エスカレーション"]),
            ),
            Attr::owned(
                "CaseId",
                format!("CASE-{:07}", rng.random_range(0..10_000_000)),
            ),
        ],
        _ => vec![
            Attr::fixed("GreetingPlayed", "false"),
            Attr::fixed("greetingPlayed", "false"),
        ],
    }
}

/// A number outside the instance that an agent cold-transfers to.
pub(crate) fn external_number(rng: &mut ChaCha8Rng) -> String {
    // Toll-free 0120-XXX-XXX, Tokyo 03-XXXX-XXXX, IP phone 050-XXXX-XXXX.
    match rng.random_range(0..3) {
        0 => format!("+81120{:06}", rng.random_range(0..1_000_000)),
        1 => format!("+813{:08}", rng.random_range(0..100_000_000)),
        _ => format!("+8150{:08}", rng.random_range(0..100_000_000)),
    }
}

/// Production-sized map: ~120 keys, case-twins, empty strings, JSON text, newlines.
fn maybe_large(rng: &mut ChaCha8Rng, attrs: &mut Vec<Attr>) {
    if rng.random_range(0..1000) >= LARGE_MAP_PER_MILLE {
        return;
    }
    attrs.extend([
        Attr::fixed("greetingPlayed", "true"),
        Attr::fixed("GreetingPlayed", "true"),
        Attr::fixed("customerType", "個人"),
        Attr::fixed("CustomerType", "法人"),
        Attr::fixed("segment", "a"),
        Attr::fixed("Segment", "A"),
        Attr::fixed("lastMenu", ""),
        Attr::fixed("LastMenu", "None"),
        Attr::fixed(
            "LexSessionState",
            r#"{"dialogAction":{"type":"Close"},"intent":{"name":"CheckBill","slots":{"Month":"3月","AccountType":"普通"},"state":"Fulfilled"}}"#,
        ),
        Attr::fixed(
            "CrmLookupResponse",
            "{\"status\":200,\"body\":{\"plan\":\"ビジネス プレミアム\",\"options\":[\"家族割\",\"光回線\"],\"since\":\"2019-04-01\"}}",
        ),
        Attr::fixed("ContactNotes", "前回の問い合わせ:\n請求額について\n対応者: 佐藤"),
        Attr::fixed("BillingAddress", "東京都千代田区丸の内1-1-1\r\nサンプルビル 10F"),
        Attr::fixed("EscapedText", "tab\tquote\"backslash\\end"),
    ]);
    let fields = rng.random_range(100..140);
    for i in 0..fields {
        let value: Cow<'static, str> = match rng.random_range(0..10) {
            0 => Cow::Borrowed(""),
            1 => Cow::Borrowed("None"),
            2 => Cow::Owned(rng.random_range(0..1_000_000u32).to_string()),
            3 => Cow::Borrowed(pick(rng, &CALL_REASONS)),
            4 => Cow::Owned(format!(
                "2026-{:02}-{:02}",
                rng.random_range(1..13),
                rng.random_range(1..29)
            )),
            5 => Cow::Owned(format!(
                "{{\"score\":{},\"flags\":[\"vip\",\"repeat\"]}}",
                rng.random_range(0..100)
            )),
            6 => Cow::Borrowed("1行目\n2行目"),
            7 => Cow::Borrowed("true"),
            _ => Cow::Borrowed(pick(rng, &PLANS)),
        };
        attrs.push(Attr {
            key: Cow::Owned(format!("crm_field_{i:03}")),
            value,
        });
    }
}
