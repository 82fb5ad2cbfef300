//! Property tests: the normalizer sees whatever Meta (or an attacker with a valid signature
//! on a bug-ridden body) sends, so no input may make it panic, and every event it does make
//! keeps the schema's invariants.

use std::fs;
use std::path::Path;

use proptest::prelude::*;
use proptest::sample::{select, Index};
use serde_json::{json, Map, Value};
use switchboard::channels::{normalize, Batch};

const RECEIVED_AT_MS: i64 = 1_700_000_000_000;

/// Keys Meta uses, so random objects reach deep into the channel code.
const KEYS: [&str; 40] = [
    "object",
    "entry",
    "id",
    "time",
    "changes",
    "field",
    "value",
    "metadata",
    "phone_number_id",
    "display_phone_number",
    "contacts",
    "wa_id",
    "user_id",
    "profile",
    "name",
    "messages",
    "statuses",
    "message_echoes",
    "errors",
    "from",
    "from_user_id",
    "to",
    "timestamp",
    "type",
    "text",
    "body",
    "image",
    "reaction",
    "emoji",
    "edit",
    "message",
    "messaging",
    "standby",
    "sender",
    "recipient",
    "mid",
    "attachments",
    "payload",
    "delivery",
    "mids",
];

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        "[0-9]{0,16}".prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
        select(&KEYS[..]).prop_map(Value::from),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((select(&KEYS[..]), inner), 0..6).prop_map(|pairs| {
                Value::Object(
                    pairs
                        .into_iter()
                        .map(|(k, v)| (k.to_owned(), v))
                        .collect::<Map<_, _>>(),
                )
            }),
        ]
    })
}

/// The invariants every event keeps, whatever the input.
fn check(batch: &Batch) -> Result<(), TestCaseError> {
    for n in &batch.events {
        let e = &n.event;
        prop_assert!(
            (e.timestamp.saturating_mul(1000)
                ..=e.timestamp.saturating_mul(1000).saturating_add(999))
                .contains(&e.timestamp_ms),
            "timestamp {} vs timestamp_ms {}",
            e.timestamp,
            e.timestamp_ms
        );
        let prefix = format!("{}:", e.channel.as_str());
        prop_assert!(n.dedup_key.starts_with(&prefix), "key {}", n.dedup_key);
        prop_assert_eq!(Some(e.channel), batch.channel);
        prop_assert!(e.id.is_none() && e.tenant_id.is_none());
    }
    prop_assert!(batch.problem.is_none() || batch.events.is_empty());
    Ok(())
}

fn fixtures() -> Vec<Value> {
    let meta = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/meta");
    let mut values = Vec::new();
    for channel in fs::read_dir(&meta).expect("fixtures dir") {
        for file in fs::read_dir(channel.expect("entry").path()).expect("channel dir") {
            let path = file.expect("entry").path();
            if path.extension().is_some_and(|ext| ext == "json") {
                let body = fs::read(&path).expect("fixture");
                values.push(serde_json::from_slice(&body).expect("fixture is JSON"));
            }
        }
    }
    values
}

/// JSON pointers to every node of `value` (the root is `""`), without recursion.
fn pointers(value: &Value) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![(String::new(), value)];
    while let Some((pointer, node)) = stack.pop() {
        match node {
            Value::Array(items) => {
                stack.extend(
                    items
                        .iter()
                        .enumerate()
                        .map(|(i, v)| (format!("{pointer}/{i}"), v)),
                );
            }
            Value::Object(map) => stack.extend(map.iter().map(|(k, v)| {
                (
                    format!("{pointer}/{}", k.replace('~', "~0").replace('/', "~1")),
                    v,
                )
            })),
            _ => {}
        }
        found.push(pointer);
    }
    found
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        check(&normalize(&bytes, RECEIVED_AT_MS))?;
    }

    #[test]
    fn random_envelopes_never_panic(
        object in select(&["whatsapp_business_account", "page", "instagram", "user"][..]),
        entries in prop::collection::vec(json_value(), 0..4),
        received_at_ms in any::<i64>(),
    ) {
        let body = json!({"object": object, "entry": entries}).to_string();
        check(&normalize(body.as_bytes(), received_at_ms))?;
    }

    #[test]
    fn whatsapp_senders_of_any_digits_never_panic(from in "\\+?[0-9 -]{0,24}") {
        let body = json!({"object": "whatsapp_business_account", "entry": [{"changes": [{
            "field": "messages",
            "value": {"messages": [{"from": from, "id": "wamid.X", "type": "text"}]}
        }]}]});
        let batch = normalize(body.to_string().as_bytes(), RECEIVED_AT_MS);
        prop_assert_eq!(batch.events.len(), 1);
        check(&batch)?;
    }
}

#[test]
fn mutated_fixtures_never_panic() {
    let fixtures = fixtures();
    proptest!(ProptestConfig::with_cases(1024), |(
        fixture in select(fixtures),
        at in any::<Index>(),
        replacement in json_value(),
    )| {
        let mut mutated = fixture;
        let targets = pointers(&mutated);
        let target = at.get(&targets).clone();
        if let Some(slot) = mutated.pointer_mut(&target) {
            *slot = replacement;
        }
        check(&normalize(mutated.to_string().as_bytes(), RECEIVED_AT_MS))?;
    });
}
