//! Makes each simulated body a new occurrence, so `--count N` stores N events instead of
//! one event and N-1 duplicates: the gateway deduplicates on Meta's ids, or on a
//! fingerprint of the raw item and the entry time where Meta gives no id.
//!
//! Message, status, comment and media ids get fresh values of the same shape (`wamid.…`,
//! `m_…`, digits), times become "now" in the unit and JSON type the fixture used, and every entry
//! gets a `time` in milliseconds (unique per send), which also separates id-less account
//! changes. Everything else — accounts, senders, texts — stays as in the fixture.

use serde_json::Value;
use uuid::Uuid;

/// Fields holding a time; their values become `now`.
const TIME_KEYS: [&str; 4] = ["timestamp", "time", "created_time", "watermark"];

/// Fields holding the id of a message, comment, post or media; their values become fresh.
const ID_KEYS: [&str; 4] = ["mid", "comment_id", "media_id", "post_id"];

/// Where an `id` is the occurrence's own id: a WhatsApp message, status or echo, or the
/// `value` of a change (an Instagram comment). Ids elsewhere name accounts and people.
const OWN_ID_PARENTS: [&str; 4] = ["messages", "statuses", "message_echoes", "value"];

/// Values from 10^12 on are milliseconds, below are seconds: the normalizer's own rule.
const MS_THRESHOLD: i64 = 1_000_000_000_000;

/// `template` (a JSON webhook body) as a new occurrence at `now_ms`, serialized: these
/// are the exact bytes to sign and send.
pub fn fresh_body(template: &str, now_ms: i64) -> serde_json::Result<Vec<u8>> {
    let mut root: Value = serde_json::from_str(template)?;
    if let Some(entries) = root.get_mut("entry").and_then(Value::as_array_mut) {
        for entry in entries.iter_mut().filter_map(Value::as_object_mut) {
            entry.insert("time".to_owned(), Value::from(now_ms));
        }
    }
    refresh(&mut root, None, now_ms);
    serde_json::to_vec(&root)
}

/// Walks the tree; `parent` is the key under which `value` sits (arrays pass it through),
/// because whether an `id` is the occurrence's own depends on where it sits.
fn refresh(value: &mut Value, parent: Option<&str>, now_ms: i64) {
    match value {
        Value::Object(fields) => {
            for (key, child) in fields.iter_mut() {
                let key = key.as_str();
                if TIME_KEYS.contains(&key) {
                    fresh_time(child, now_ms);
                } else if ID_KEYS.contains(&key)
                    || (key == "id" && parent.is_some_and(|p| OWN_ID_PARENTS.contains(&p)))
                {
                    fresh_id(child);
                } else if key == "mids" {
                    child
                        .as_array_mut()
                        .into_iter()
                        .flatten()
                        .for_each(fresh_id);
                } else {
                    refresh(child, Some(key), now_ms);
                }
            }
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|item| refresh(item, parent, now_ms)),
        _ => {}
    }
}

/// Sets a number or numeric string to now, in the unit it had; leaves anything else.
fn fresh_time(value: &mut Value, now_ms: i64) {
    let in_unit = |old: i64| {
        if old >= MS_THRESHOLD {
            now_ms
        } else {
            now_ms / 1000
        }
    };
    match value {
        Value::Number(n) => {
            if let Some(old) = n.as_i64() {
                *value = Value::from(in_unit(old));
            }
        }
        Value::String(s) => {
            if let Ok(old) = s.parse::<i64>() {
                *s = in_unit(old).to_string();
            }
        }
        _ => {}
    }
}

/// Replaces an id by a fresh one of the same shape: digits stay digits (string or number),
/// a short prefix such as `wamid.`, `mid.` or `m_` is kept, and the rest is random.
fn fresh_id(value: &mut Value) {
    let unique = Uuid::now_v7();
    // The low 62 bits of a UUIDv7 are random: 15 digits of them are unique enough here.
    let random = u64::try_from(unique.as_u128() % 10u128.pow(15)).unwrap_or_default();
    let digits = 10u64.pow(15) + random;
    match value {
        Value::Number(_) => *value = Value::from(digits),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            *s = digits.to_string();
        }
        Value::String(s) => {
            let prefix = s
                .char_indices()
                .take(6)
                .find(|(_, c)| matches!(c, '.' | '_'))
                .map_or("", |(at, _)| &s[..=at]);
            *s = format!("{prefix}{}", unique.simple());
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::channels;
    use crate::simulate::samples::SAMPLES;

    #[test]
    fn every_sample_sent_twice_yields_distinct_events_like_the_fixture() {
        let now = 1_760_000_000_000;
        for sample in SAMPLES {
            let name = format!("{} {}", sample.channel, sample.kind);
            let original = channels::normalize(sample.body.as_bytes(), now);
            let first = fresh_body(sample.body, now).expect("fixtures are JSON");
            let second = fresh_body(sample.body, now + 1).expect("fixtures are JSON");
            let [first, second] = [first, second].map(|body| channels::normalize(&body, now));
            assert!(!original.events.is_empty(), "{name}: yields nothing");
            for fresh in [&first, &second] {
                assert_eq!(fresh.problem, None, "{name}");
                let shape = |b: &channels::Batch| -> Vec<_> {
                    b.events
                        .iter()
                        .map(|n| (n.event.event_type, n.event.kind, n.event.channel))
                        .collect()
                };
                assert_eq!(shape(fresh), shape(&original), "{name}: changed meaning");
            }
            let keys: HashSet<&str> = first
                .events
                .iter()
                .chain(&second.events)
                .map(|n| n.dedup_key.as_str())
                .collect();
            assert_eq!(keys.len(), first.events.len() * 2, "{name}: duplicate keys");
        }
    }

    #[test]
    fn times_keep_their_unit_and_type_and_ids_their_shape() {
        let body = r#"{"entry":[{"id":"42","changes":[{"value":{"id":"1789","messages":[
            {"id":"wamid.ABC=","timestamp":"1672947578","context":{"from":"1"}}]}}]}],
            "t":{"watermark":1458668856253,"created_time":1519399307,"mid":"m_abc","mids":[7]}}"#;

        let fresh: Value =
            serde_json::from_slice(&fresh_body(body, 1_760_000_000_123).expect("json"))
                .expect("json");

        assert_eq!(fresh["entry"][0]["time"], 1_760_000_000_123_i64);
        assert_eq!(fresh["entry"][0]["id"], "42", "accounts stay");
        let value = &fresh["entry"][0]["changes"][0]["value"];
        assert_ne!(value["id"], "1789");
        assert!(value["id"].as_str().is_some_and(|id| id.len() == 16));
        let message = &value["messages"][0];
        assert_eq!(message["timestamp"], "1760000000");
        assert!(message["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("wamid.") && id.len() > 10));
        assert_eq!(message["context"]["from"], "1");
        assert_eq!(fresh["t"]["watermark"], 1_760_000_000_123_i64);
        assert_eq!(fresh["t"]["created_time"], 1_760_000_000_i64);
        assert!(fresh["t"]["mid"]
            .as_str()
            .is_some_and(|m| m.starts_with("m_") && m != "m_abc"));
        assert!(fresh["t"]["mids"][0].is_u64());
    }
}
