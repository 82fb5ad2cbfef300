//! Golden test of the normalizer: every Meta fixture under `tests/fixtures/meta/<channel>/`
//! must yield exactly the events in `tests/golden/<channel>/<fixture>.jsonl`, one JSON event
//! per line. After an intended change, regenerate with `UPDATE_GOLDEN=1 cargo test --test
//! normalize_golden` and review the diff like code.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use switchboard::channels::{normalize, Batch};
use switchboard::event::{EventType, MessageKind};

/// A fixed receipt time, so events without a Meta time are reproducible.
const RECEIVED_AT_MS: i64 = 1_700_000_000_000;

/// Fixtures allowed to yield `unsupported` events or messages of kind `unsupported`, and why.
/// Everything else is in scope and must be understood.
const MAY_BE_UNSUPPORTED: [&str; 9] = [
    // WhatsApp calls and groups are not modelled yet.
    "whatsapp/calls-connect-user-initiated",
    "whatsapp/group-participants-update",
    // Messages WhatsApp itself could not render (kind unsupported, errors kept).
    "whatsapp/unknown-type-error-legacy",
    "whatsapp/unsupported-deleted-message",
    "whatsapp/unsupported-with-type",
    // An unknown messaging key, and Messenger's own `is_unsupported` message.
    "messenger/unknown-event-type",
    "messenger/message-unsupported",
    // Synthetic standby items carrying no event key at all.
    "messenger/standby-and-messaging-same-entry",
    // Instagram's `unsupported_type` attachment.
    "instagram/attachment-unsupported-type",
];

struct Fixture {
    /// `<channel>/<stem>`, e.g. `whatsapp/text`.
    name: String,
    body: Vec<u8>,
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests")
}

/// Every `*.json` under `tests/fixtures/meta/<channel>/`, sorted for stable output.
fn fixtures() -> Vec<Fixture> {
    let mut found = Vec::new();
    let meta = root().join("fixtures/meta");
    for channel_dir in sorted_dir(&meta) {
        let channel = file_name(&channel_dir);
        for path in sorted_dir(&channel_dir) {
            if path.extension().is_some_and(|ext| ext == "json") {
                let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned());
                found.push(Fixture {
                    name: format!("{channel}/{}", stem.unwrap_or_default()),
                    body: fs::read(&path).expect("readable fixture"),
                });
            }
        }
    }
    assert!(
        found.len() > 100,
        "fixtures not found under {}",
        meta.display()
    );
    found
}

fn sorted_dir(dir: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .collect();
    paths.sort();
    paths
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn normalized(fixture: &Fixture) -> Batch {
    let batch = normalize(&fixture.body, RECEIVED_AT_MS);
    assert_eq!(
        batch.problem, None,
        "{}: flagged as not a Meta webhook",
        fixture.name
    );
    assert!(
        !batch.events.is_empty(),
        "{}: yields no event",
        fixture.name
    );
    batch
}

fn jsonl(batch: &Batch) -> String {
    batch
        .events
        .iter()
        .map(|n| serde_json::to_string(&n.event).expect("event serializes") + "\n")
        .collect()
}

#[test]
fn every_fixture_yields_its_golden_events() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut failures = Vec::new();
    for fixture in fixtures() {
        let actual = jsonl(&normalized(&fixture));
        let golden = root()
            .join("golden")
            .join(format!("{}.jsonl", fixture.name));
        if update {
            fs::create_dir_all(golden.parent().expect("golden dir")).expect("create golden dir");
            fs::write(&golden, &actual).expect("write golden file");
            continue;
        }
        let expected = fs::read_to_string(&golden).unwrap_or_default();
        if let Some(diff) = first_difference(&expected, &actual) {
            failures.push(format!("{}: {diff}", fixture.name));
        }
    }
    assert!(
        failures.is_empty(),
        "{} fixture(s) differ from tests/golden (UPDATE_GOLDEN=1 regenerates):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn first_difference(expected: &str, actual: &str) -> Option<String> {
    if expected == actual {
        return None;
    }
    let (expected, actual): (Vec<_>, Vec<_>) =
        (expected.lines().collect(), actual.lines().collect());
    let line = expected.iter().zip(&actual).position(|(e, a)| e != a);
    Some(match line {
        Some(i) => format!(
            "line {}\n  expected {}\n  actual   {}",
            i + 1,
            expected[i],
            actual[i]
        ),
        None => format!("expected {} events, got {}", expected.len(), actual.len()),
    })
}

#[test]
fn only_allow_listed_fixtures_yield_unsupported() {
    let wrong: Vec<String> = fixtures()
        .iter()
        .filter(|fixture| {
            let unsupported = normalized(fixture).events.iter().any(|n| {
                n.event.event_type == EventType::Unsupported
                    || n.event.kind == Some(MessageKind::Unsupported)
            });
            unsupported != MAY_BE_UNSUPPORTED.contains(&fixture.name.as_str())
        })
        .map(|fixture| fixture.name.clone())
        .collect();
    assert!(
        wrong.is_empty(),
        "unsupported where in scope, or understood where allow-listed: {wrong:?}"
    );
}

#[test]
fn duplicated_items_in_one_body_share_a_dedup_key() {
    for name in [
        "whatsapp/batch-duplicate-message",
        "messenger/batch-duplicate-entries",
        "instagram/batch-duplicate-entries",
    ] {
        let fixture = fixtures().into_iter().find(|f| f.name == name).expect(name);
        let events = normalized(&fixture).events;
        assert_eq!(events.len(), 2, "{name}");
        assert_eq!(events[0].dedup_key, events[1].dedup_key, "{name}");
        assert_eq!(events[0].event, events[1].event, "{name}");
    }
}

#[test]
fn dedup_keys_do_not_depend_on_the_receipt_time() {
    for fixture in fixtures() {
        let keys = |at: i64| -> Vec<String> {
            normalize(&fixture.body, at)
                .events
                .into_iter()
                .map(|n| n.dedup_key)
                .collect()
        };
        assert_eq!(
            keys(RECEIVED_AT_MS),
            keys(RECEIVED_AT_MS + 86_400_000),
            "{}",
            fixture.name
        );
    }
}

/// Within one body, a shared key means the same Meta occurrence: identical events, or the
/// same Meta message id (`batch-two-changes` reuses the placeholder `wamid.ID` for two
/// messages, which real Meta ids never do).
#[test]
fn distinct_events_in_a_body_have_distinct_keys() {
    for fixture in fixtures() {
        let mut seen = HashMap::new();
        for n in normalized(&fixture).events {
            let key = n.dedup_key.clone();
            let channel = n.event.channel.as_str();
            assert!(
                key.starts_with(&format!("{channel}:")),
                "{}: {key}",
                fixture.name
            );
            if let Some(earlier) = seen.insert(key.clone(), n.event.clone()) {
                assert!(
                    earlier == n.event
                        || earlier.message_id.is_some() && earlier.message_id == n.event.message_id,
                    "{}: two different events share {key}",
                    fixture.name
                );
            }
        }
    }
}

#[test]
fn a_react_then_unreact_are_two_events() {
    let react = include_bytes!("fixtures/meta/messenger/reaction-react.json");
    let unreact = include_bytes!("fixtures/meta/messenger/reaction-unreact.json");
    let key = |body: &[u8]| normalize(body, RECEIVED_AT_MS).events[0].dedup_key.clone();
    assert_ne!(key(react), key(unreact));
}
