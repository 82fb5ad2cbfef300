//! Meta webhook bodies → normalized events (schema v1, see `crate::event`).
//!
//! A pure function: no database, no network, no clock (the receipt time is passed in), so a
//! stored receipt normalized again later yields the same events and the same dedup keys.
//! Nothing is dropped: whatever is not understood becomes an `unsupported` event carrying its
//! raw object, and no input, however malformed, makes it panic.

mod instagram;
mod messenger;
mod whatsapp;

use phonenumber::Mode;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::event::{Channel, Direction, Event, EventType, Reaction};

/// One event plus the key that makes it unique per tenant: the database has a unique index
/// on (tenant_id, dedup_key), so Meta's retries and in-body duplicates are stored once.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalized {
    pub event: Event,
    pub dedup_key: String,
}

/// What one webhook body yields. `problem` is set when the body is not JSON or not a Meta
/// envelope (no or unknown `object`, `entry` not an array): `events` is then empty and the
/// receipt is stored flagged, to be normalized again once the cause is fixed.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub channel: Option<Channel>,
    pub events: Vec<Normalized>,
    pub problem: Option<String>,
}

impl Batch {
    fn rejected(channel: Option<Channel>, problem: String) -> Batch {
        Batch {
            channel,
            events: Vec::new(),
            problem: Some(problem),
        }
    }
}

/// Turns a raw Meta webhook body into one event per message, status, change or other item.
/// `received_at_ms` is the receipt time, used only for items Meta sent without any time.
pub fn normalize(body: &[u8], received_at_ms: i64) -> Batch {
    let root: Value = match serde_json::from_slice(body) {
        Ok(root) => root,
        Err(e) => return Batch::rejected(None, format!("body is not JSON: {e}")),
    };
    let Some(object) = root.get("object").and_then(Value::as_str) else {
        return Batch::rejected(None, "no `object` string: not a Meta webhook".to_owned());
    };
    let Some(channel) = Channel::from_meta_object(object) else {
        return Batch::rejected(None, format!("unknown webhook object {object:?}"));
    };
    let Some(entries) = root.get("entry").and_then(Value::as_array) else {
        return Batch::rejected(Some(channel), "`entry` is not an array".to_owned());
    };
    let mut events = Vec::new();
    for entry in entries {
        let ctx = Context::for_entry(channel, entry, received_at_ms);
        let before = events.len();
        match channel {
            Channel::Whatsapp => whatsapp::entry(&ctx, entry, &mut events),
            Channel::Messenger => messenger::entry(&ctx, entry, messenger::change, &mut events),
            Channel::Instagram => messenger::entry(&ctx, entry, instagram::change, &mut events),
        }
        if events.len() == before {
            events.push(ctx.unsupported(entry));
        }
    }
    Batch {
        channel: Some(channel),
        events,
        problem: None,
    }
}

/// What every event of one entry (or, on WhatsApp, one change) shares: the channel, the
/// business account, the entry's time as fallback clock, and the receipt time as last resort.
#[derive(Debug, Clone)]
struct Context {
    channel: Channel,
    account_id: Option<String>,
    entry_time_ms: Option<i64>,
    received_at_ms: i64,
}

impl Context {
    fn for_entry(channel: Channel, entry: &Value, received_at_ms: i64) -> Context {
        Context {
            channel,
            account_id: id_of(entry.get("id")),
            entry_time_ms: entry.get("time").and_then(timestamp_ms),
            received_at_ms,
        }
    }

    /// The same context for a more precise business account (WhatsApp's phone number id
    /// rather than the WABA id), when the payload names one.
    fn with_account(&self, account_id: Option<String>) -> Context {
        Context {
            account_id: account_id.or_else(|| self.account_id.clone()),
            ..self.clone()
        }
    }

    /// An inbound event with only the shared fields set; the channel code fills the rest.
    /// Its time is `own_time` if that parses, else the entry's, else the receipt's.
    fn event(&self, event_type: EventType, raw: &Value, own_time: Option<&Value>) -> Event {
        let ms = own_time
            .and_then(timestamp_ms)
            .or(self.entry_time_ms)
            .unwrap_or(self.received_at_ms);
        Event {
            account_id: self.account_id.clone(),
            ..Event::bare(
                event_type,
                self.channel,
                Direction::Inbound,
                ms,
                raw.clone(),
            )
        }
    }

    /// Completes an event: derives `conversation_id` and the dedup key. `meta_id` is the id
    /// Meta gave this very occurrence (a message id, a comment id, `wamid:status`…); without
    /// one the key is a fingerprint of the raw object.
    fn finish(&self, mut event: Event, meta_id: Option<String>) -> Normalized {
        event.conversation_id = match (&event.account_id, &event.contact) {
            (Some(account), Some(contact)) => Some(format!("{}:{account}:{contact}", self.channel)),
            _ => None,
        };
        let discriminator = meta_id.unwrap_or_else(|| self.fingerprint(&event));
        let dedup_key = format!(
            "{}:{}:{discriminator}",
            self.channel,
            event.event_type.as_str()
        );
        Normalized { event, dedup_key }
    }

    /// SHA-256 of what identifies an id-less event: its type, account, the entry's time and
    /// the raw object. The receipt time is left out on purpose, so a retried POST yields the
    /// same key. serde_json maps are sorted, so `to_string` is canonical.
    fn fingerprint(&self, event: &Event) -> String {
        let identity = json!([
            event.event_type.as_str(),
            event.account_id,
            self.entry_time_ms,
            event.raw
        ]);
        format!(
            "sha256:{}",
            hex::encode(Sha256::digest(identity.to_string()))
        )
    }

    /// Input we do not understand, kept whole so it can be handled later.
    fn unsupported(&self, raw: &Value) -> Normalized {
        self.finish(self.event(EventType::Unsupported, raw, None), None)
    }

    /// A change about the business account itself (templates, quality, settings…).
    fn account_update(&self, raw: &Value) -> Normalized {
        self.finish(self.event(EventType::AccountUpdate, raw, None), None)
    }
}

/// Meta writes ids as strings or, in older payloads, as numbers; both become strings.
fn id_of(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A non-empty string; an empty one means "absent" in every Meta payload we read.
fn text_of(value: Option<&Value>) -> Option<String> {
    value?.as_str().filter(|s| !s.is_empty()).map(str::to_owned)
}

/// The items of an array field, or none when the field is missing or not an array.
fn items<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    value
        .get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// Meta's error objects of a message, status or value, when it sent an `errors` array.
fn errors_of(value: &Value) -> Option<Vec<Value>> {
    value.get("errors").and_then(Value::as_array).cloned()
}

/// A coordinate, from a JSON number or a numeric string.
fn number_of(value: Option<&Value>) -> Option<f64> {
    match value? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|f: &f64| f.is_finite())
}

/// WhatsApp signals a removed reaction with an empty or missing emoji, Messenger and
/// Instagram with `action: "unreact"`; both end up as the same `{emoji, action}`.
fn reaction(emoji: Option<String>, action: Option<String>) -> Reaction {
    let action =
        action.unwrap_or_else(|| if emoji.is_some() { "react" } else { "unreact" }.to_owned());
    Reaction { emoji, action }
}

/// Who wrote a comment or mention. The account commenting on its own post is the business
/// acting (outbound, no customer); anyone else is the customer talking to the account.
fn set_author(event: &mut Event, author: Option<String>, name: Option<String>) {
    if author.is_some() && author == event.account_id {
        event.direction = Direction::Outbound;
    } else {
        event.to = event.account_id.clone();
        event.contact = author.clone();
        event.contact_name = name;
    }
    event.from = author;
}

/// The latest time we accept (9999-12-31T23:59:59.999Z): anything later is garbage, and
/// refusing it keeps every timestamp representable in Postgres and chrono.
const MAX_TIMESTAMP_MS: i64 = 253_402_300_799_999;

/// Values from 10^12 on are milliseconds, smaller ones seconds (10^12 s is year 33658,
/// 10^12 ms is 2001), which is how Meta's mix of units is told apart.
const MILLIS_THRESHOLD: i64 = 1_000_000_000_000;

/// Parses Meta's timestamps into Unix milliseconds: strings or numbers, integers or
/// floats, seconds or milliseconds. `None` for anything else, zero, negative or beyond
/// year 9999, so the caller falls back to a better clock.
fn timestamp_ms(value: &Value) -> Option<i64> {
    let ms = match value {
        Value::Number(n) => n
            .as_i64()
            .map_or_else(|| n.as_f64().and_then(float_ms), int_ms),
        Value::String(s) => {
            let s = s.trim();
            s.parse::<i64>()
                .ok()
                .map_or_else(|| s.parse::<f64>().ok().and_then(float_ms), int_ms)
        }
        _ => None,
    }?;
    (1..=MAX_TIMESTAMP_MS).contains(&ms).then_some(ms)
}

fn int_ms(n: i64) -> Option<i64> {
    if n >= MILLIS_THRESHOLD {
        Some(n)
    } else {
        n.checked_mul(1000)
    }
}

fn float_ms(f: f64) -> Option<i64> {
    if !f.is_finite() {
        return None;
    }
    // `as` saturates, and the range check in `timestamp_ms` rejects saturated values.
    let ms = if f >= MILLIS_THRESHOLD as f64 {
        f
    } else {
        f * 1000.0
    };
    Some(ms.trunc() as i64)
}

/// E.164 has at most 15 digits; longer digit strings cannot be phone numbers.
const MAX_E164_DIGITS: usize = 15;

/// A WhatsApp party as tenants should see it: a phone number (`wa_id`, optionally written
/// with `+`, spaces, dashes or parentheses) becomes E.164 with `+`, validated and formatted
/// by `phonenumber` when it can, else kept as `+digits` (Brazilian ids missing the ninth
/// digit are not valid numbers yet are real ids). Anything else, such as a BSUID
/// (`US.1349…`) or a placeholder, is kept as given: nothing is invented.
fn phone_or_id(raw: &str) -> String {
    let digits: String = raw
        .strip_prefix('+')
        .unwrap_or(raw)
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')'))
        .collect();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return raw.to_owned();
    }
    let plus_digits = format!("+{digits}");
    if digits.len() > MAX_E164_DIGITS {
        return plus_digits;
    }
    match phonenumber::parse(None, &plus_digits) {
        Ok(number) if phonenumber::is_valid(&number) => {
            number.format().mode(Mode::E164).to_string()
        }
        _ => plus_digits,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_with_one_two_and_three_digit_country_codes_become_e164() {
        assert_eq!(phone_or_id("16505551234"), "+16505551234");
        assert_eq!(phone_or_id("447911123456"), "+447911123456");
        assert_eq!(phone_or_id("5511987654321"), "+5511987654321");
        assert_eq!(phone_or_id("353871234567"), "+353871234567");
        assert_eq!(phone_or_id("8801712345678"), "+8801712345678");
        assert_eq!(phone_or_id("972987654321"), "+972987654321");
    }

    #[test]
    fn brazilian_ids_without_the_ninth_digit_keep_their_digits() {
        assert_eq!(phone_or_id("551187654321"), "+551187654321");
    }

    #[test]
    fn formatted_business_numbers_become_e164() {
        assert_eq!(phone_or_id("+250 788 123 200"), "+250788123200");
        assert_eq!(phone_or_id("1-555-123-4567"), "+15551234567");
        assert_eq!(phone_or_id("+1 (650) 555-1234"), "+16505551234");
    }

    #[test]
    fn invalid_digit_strings_keep_plus_digits() {
        assert_eq!(phone_or_id("5678"), "+5678");
        assert_eq!(phone_or_id("1111111111111"), "+1111111111111");
        assert_eq!(phone_or_id("0"), "+0");
        assert_eq!(
            phone_or_id("1234567890123456789012"),
            "+1234567890123456789012"
        );
    }

    #[test]
    fn bsuids_and_other_ids_are_kept_as_given() {
        assert_eq!(
            phone_or_id("US.13491208655302741918"),
            "US.13491208655302741918"
        );
        assert_eq!(
            phone_or_id("US.ENT.11815799212886844830"),
            "US.ENT.11815799212886844830"
        );
        assert_eq!(
            phone_or_id("<WHATSAPP_USER_PHONE_NUMBER>"),
            "<WHATSAPP_USER_PHONE_NUMBER>"
        );
        assert_eq!(
            phone_or_id("120363418770915618@g.us"),
            "120363418770915618@g.us"
        );
        assert_eq!(phone_or_id(""), "");
        assert_eq!(phone_or_id("+"), "+");
        assert_eq!(phone_or_id("12.5"), "12.5");
    }

    #[test]
    fn every_digit_string_up_to_e164_length_is_handled() {
        for len in 1..=MAX_E164_DIGITS {
            for lead in 0..10u8 {
                let digits: String = std::iter::once(char::from(b'0' + lead))
                    .chain(std::iter::repeat('9'))
                    .take(len)
                    .collect();
                assert!(phone_or_id(&digits).starts_with('+'));
            }
        }
    }

    fn ts(value: Value) -> Option<i64> {
        timestamp_ms(&value)
    }

    #[test]
    fn timestamps_in_every_form_meta_sends_become_milliseconds() {
        assert_eq!(ts(json!("1673020317")), Some(1_673_020_317_000));
        assert_eq!(ts(json!(" 1673020317 ")), Some(1_673_020_317_000));
        assert_eq!(ts(json!(1_673_020_317)), Some(1_673_020_317_000));
        assert_eq!(ts(json!(1_458_692_752_478_i64)), Some(1_458_692_752_478));
        assert_eq!(ts(json!("1458692752478")), Some(1_458_692_752_478));
        assert_eq!(ts(json!(1_673_020_317.25)), Some(1_673_020_317_250));
        assert_eq!(ts(json!("1673020317.5")), Some(1_673_020_317_500));
        assert_eq!(ts(json!(1_458_692_752_478.9)), Some(1_458_692_752_478));
    }

    #[test]
    fn the_millisecond_threshold_is_ten_to_the_twelfth() {
        assert_eq!(ts(json!(99_999_999_999_i64)), Some(99_999_999_999_000));
        // Read as seconds, this is beyond year 9999.
        assert_eq!(ts(json!(999_999_999_999_i64)), None);
        assert_eq!(ts(json!(1_000_000_000_000_i64)), Some(1_000_000_000_000));
    }

    #[test]
    fn garbage_timestamps_are_none() {
        for garbage in [
            json!("<TIMESTAMP>"),
            json!(""),
            json!("NaN"),
            json!("inf"),
            json!(null),
            json!(true),
            json!([1_673_020_317]),
            json!({"t": 1}),
            json!(0),
            json!(-1_673_020_317),
            json!("-5"),
            json!(-1.5),
        ] {
            assert_eq!(ts(garbage.clone()), None, "{garbage}");
        }
    }

    #[test]
    fn huge_timestamps_neither_overflow_nor_pass() {
        for huge in [
            json!(i64::MAX),
            json!(u64::MAX),
            json!(i64::MIN),
            json!(1e300),
            json!(-1e300),
            json!("99999999999999999999999"),
            json!(9_223_372_036_854_775_i64),
            json!(MAX_TIMESTAMP_MS + 1),
        ] {
            assert_eq!(ts(huge.clone()), None, "{huge}");
        }
        assert_eq!(ts(json!(MAX_TIMESTAMP_MS)), Some(MAX_TIMESTAMP_MS));
    }

    #[test]
    fn events_fall_back_to_the_entry_time_then_the_receipt_time() {
        let entry = json!({"id": "1", "time": 1_604_703_141});
        let ctx = Context::for_entry(Channel::Whatsapp, &entry, 1_700_000_000_123);
        let own = ctx.event(EventType::AccountUpdate, &entry, Some(&json!("1673020317")));
        assert_eq!(
            (own.timestamp, own.timestamp_ms),
            (1_673_020_317, 1_673_020_317_000)
        );
        let from_entry = ctx.event(EventType::AccountUpdate, &entry, Some(&json!("garbage")));
        assert_eq!(from_entry.timestamp_ms, 1_604_703_141_000);
        let bare = Context::for_entry(Channel::Whatsapp, &json!({}), 1_700_000_000_123);
        let received = bare.event(EventType::AccountUpdate, &entry, None);
        assert_eq!(
            (received.timestamp, received.timestamp_ms),
            (1_700_000_000, 1_700_000_000_123)
        );
    }

    #[test]
    fn bodies_that_are_not_meta_envelopes_are_flagged() {
        assert!(normalize(b"not json", 0).problem.is_some());
        assert!(normalize(b"[]", 0).problem.is_some());
        assert!(normalize(br#"{"object":"user","entry":[]}"#, 0)
            .problem
            .is_some());
        let no_entries = normalize(br#"{"object":"page","entry":{}}"#, 0);
        assert_eq!(no_entries.channel, Some(Channel::Messenger));
        assert!(no_entries.problem.is_some() && no_entries.events.is_empty());
        let empty = normalize(br#"{"object":"instagram","entry":[]}"#, 0);
        assert_eq!((empty.problem, empty.events.len()), (None, 0));
    }

    #[test]
    fn entries_nobody_understands_become_unsupported_events() {
        let batch = normalize(br#"{"object":"page","entry":[42,{"id":"1"}]}"#, 0);
        let types: Vec<_> = batch.events.iter().map(|n| n.event.event_type).collect();
        assert_eq!(types, [EventType::Unsupported, EventType::Unsupported]);
        assert_ne!(batch.events[0].dedup_key, batch.events[1].dedup_key);
    }
}
