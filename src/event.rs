//! The normalized event (schema v1): the one flat shape every Meta event becomes, whatever
//! the channel. Tenants receive exactly this JSON, so every field is always present
//! (`null` where it does not apply) and field names never change within v1.

use poem_openapi::{Enum, Object};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// The Meta product a webhook came from; also the last segment of per-channel callback URLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Enum)]
#[serde(rename_all = "snake_case")]
#[oai(rename_all = "snake_case")]
pub enum Channel {
    Whatsapp,
    Messenger,
    Instagram,
}

impl Channel {
    /// Every channel, so callers can list callback URLs or validate input without
    /// repeating the set.
    pub const ALL: [Channel; 3] = [Channel::Whatsapp, Channel::Messenger, Channel::Instagram];

    /// The lowercase name used in URLs, the database and the event JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Whatsapp => "whatsapp",
            Channel::Messenger => "messenger",
            Channel::Instagram => "instagram",
        }
    }

    /// Parses the URL / database spelling; `None` for anything else so callers answer 404/400.
    pub fn parse(s: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// Maps Meta's envelope `object` to a channel: the body, not the URL, is the truth.
    pub fn from_meta_object(object: &str) -> Option<Channel> {
        match object {
            "whatsapp_business_account" => Some(Channel::Whatsapp),
            "page" => Some(Channel::Messenger),
            "instagram" => Some(Channel::Instagram),
            _ => None,
        }
    }
}

impl std::fmt::Display for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happened, in channel-independent terms; endpoints filter on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Enum)]
pub enum EventType {
    #[serde(rename = "message.received")]
    #[oai(rename = "message.received")]
    MessageReceived,
    #[serde(rename = "message.echo")]
    #[oai(rename = "message.echo")]
    MessageEcho,
    #[serde(rename = "message.status")]
    #[oai(rename = "message.status")]
    MessageStatus,
    #[serde(rename = "message.reaction")]
    #[oai(rename = "message.reaction")]
    MessageReaction,
    #[serde(rename = "message.edited")]
    #[oai(rename = "message.edited")]
    MessageEdited,
    #[serde(rename = "message.deleted")]
    #[oai(rename = "message.deleted")]
    MessageDeleted,
    #[serde(rename = "postback")]
    #[oai(rename = "postback")]
    Postback,
    #[serde(rename = "referral")]
    #[oai(rename = "referral")]
    Referral,
    #[serde(rename = "optin")]
    #[oai(rename = "optin")]
    Optin,
    #[serde(rename = "handover")]
    #[oai(rename = "handover")]
    Handover,
    #[serde(rename = "comment")]
    #[oai(rename = "comment")]
    Comment,
    #[serde(rename = "mention")]
    #[oai(rename = "mention")]
    Mention,
    #[serde(rename = "account.update")]
    #[oai(rename = "account.update")]
    AccountUpdate,
    #[serde(rename = "unsupported")]
    #[oai(rename = "unsupported")]
    Unsupported,
    /// Only sent by `POST /v1/endpoints/{id}/test`; never produced from a Meta webhook.
    #[serde(rename = "ping")]
    #[oai(rename = "ping")]
    Ping,
}

impl EventType {
    /// Every type, for filter validation and documentation.
    pub const ALL: [EventType; 15] = [
        EventType::MessageReceived,
        EventType::MessageEcho,
        EventType::MessageStatus,
        EventType::MessageReaction,
        EventType::MessageEdited,
        EventType::MessageDeleted,
        EventType::Postback,
        EventType::Referral,
        EventType::Optin,
        EventType::Handover,
        EventType::Comment,
        EventType::Mention,
        EventType::AccountUpdate,
        EventType::Unsupported,
        EventType::Ping,
    ];

    /// The wire spelling (`message.received`…), also stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::MessageReceived => "message.received",
            EventType::MessageEcho => "message.echo",
            EventType::MessageStatus => "message.status",
            EventType::MessageReaction => "message.reaction",
            EventType::MessageEdited => "message.edited",
            EventType::MessageDeleted => "message.deleted",
            EventType::Postback => "postback",
            EventType::Referral => "referral",
            EventType::Optin => "optin",
            EventType::Handover => "handover",
            EventType::Comment => "comment",
            EventType::Mention => "mention",
            EventType::AccountUpdate => "account.update",
            EventType::Unsupported => "unsupported",
            EventType::Ping => "ping",
        }
    }

    /// Parses the wire spelling; `None` lets the API reject unknown filter values with a 4xx.
    pub fn parse(s: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// Whether the customer or the business acted, so bots can ignore their own echoes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Enum)]
#[serde(rename_all = "snake_case")]
#[oai(rename_all = "snake_case")]
pub enum Direction {
    Inbound,
    Outbound,
}

/// The message's content kind, so consumers can switch on one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Enum)]
#[serde(rename_all = "snake_case")]
#[oai(rename_all = "snake_case")]
pub enum MessageKind {
    Text,
    Image,
    Audio,
    Video,
    Document,
    Sticker,
    Location,
    Contacts,
    Interactive,
    Button,
    Order,
    System,
    Share,
    StoryMention,
    Template,
    Fallback,
    Unsupported,
}

/// A media reference as Meta sent it; the id/url expire within minutes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Object)]
pub struct Media {
    pub id: Option<String>,
    pub url: Option<String>,
    pub mime_type: Option<String>,
    pub sha256: Option<String>,
    pub filename: Option<String>,
    pub caption: Option<String>,
    pub voice: Option<bool>,
    pub animated: Option<bool>,
    /// The gateway's copy of the file, when the tenant captures media on this channel
    /// (`null` otherwise); `url` then points at the gateway instead of Meta.
    #[serde(default)]
    pub capture: Option<MediaCapture>,
}

/// Where a media capture stands: consumers check `status` before following `media.url`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Enum)]
#[serde(rename_all = "snake_case")]
#[oai(rename_all = "snake_case")]
pub enum CaptureStatus {
    /// Still running when the event was delivered; `url` is still Meta's.
    Pending,
    /// The file is stored; `url` is the gateway's link.
    Stored,
    /// Gave up; `error` says why and `url` is still Meta's (probably expired).
    Failed,
}

/// The gateway's capture of one media file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Object)]
pub struct MediaCapture {
    /// The file's id under `/v1/media/{id}`.
    pub id: Uuid,
    pub status: CaptureStatus,
    /// Size of the stored file in bytes.
    pub size: Option<i64>,
    /// Hex SHA-256 of the stored bytes.
    pub sha256: Option<String>,
    /// Unix seconds after which the signed `url` stops working (the tenant's API key
    /// keeps working on `/v1/media/{id}`).
    pub url_expires_at: Option<i64>,
    /// Why the capture failed.
    pub error: Option<String>,
}

impl MediaCapture {
    /// A capture that has just been queued.
    pub fn pending(id: Uuid) -> Self {
        MediaCapture {
            id,
            status: CaptureStatus::Pending,
            size: None,
            sha256: None,
            url_expires_at: None,
            error: None,
        }
    }
}

/// A shared location pin.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Object)]
pub struct Location {
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub name: Option<String>,
    pub address: Option<String>,
    pub url: Option<String>,
}

/// A button/list reply, quick reply, postback or Flow reply: what the user picked.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Object)]
pub struct Interactive {
    /// Meta's sub-type, e.g. `button_reply`, `list_reply`, `nfm_reply`, `quick_reply`, `postback`.
    #[oai(rename = "type")]
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub id: Option<String>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub payload: Option<String>,
}

/// A reaction added (`react`) or removed (`unreact`, empty emoji).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Object)]
pub struct Reaction {
    pub emoji: Option<String>,
    pub action: String,
}

/// Delivery status of a message the business sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Object)]
pub struct Status {
    /// `sent`, `delivered`, `read`, `failed`, `deleted`, `played`… as Meta says it.
    pub status: String,
    pub recipient: Option<String>,
    pub errors: Option<Vec<Value>>,
    pub conversation: Option<Value>,
    pub pricing: Option<Value>,
}

/// One normalized event. `id` and `tenant_id` are `None` only before the event is stored
/// (e.g. in `switchboard normalize`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Object)]
pub struct Event {
    pub id: Option<Uuid>,
    #[oai(rename = "type")]
    #[serde(rename = "type")]
    pub event_type: EventType,
    pub channel: Channel,
    pub tenant_id: Option<Uuid>,
    pub account_id: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub contact: Option<String>,
    pub contact_name: Option<String>,
    pub conversation_id: Option<String>,
    pub direction: Direction,
    /// Unix seconds.
    pub timestamp: i64,
    /// Unix milliseconds.
    pub timestamp_ms: i64,
    pub message_id: Option<String>,
    pub kind: Option<MessageKind>,
    pub text: Option<String>,
    pub reply_to: Option<String>,
    pub media: Option<Media>,
    pub location: Option<Location>,
    pub contacts: Option<Vec<Value>>,
    pub interactive: Option<Interactive>,
    pub reaction: Option<Reaction>,
    pub status: Option<Status>,
    pub referral: Option<Value>,
    pub errors: Option<Vec<Value>>,
    /// The Meta object this event was made from, untouched (null in list answers).
    #[serde(default)]
    pub raw: Value,
}

impl Event {
    /// An event with only its shape set (type, channel, direction, time, raw) and every
    /// optional field empty: the one place that lists them all, for the normalizer and for
    /// gateway-made events alike.
    pub fn bare(
        event_type: EventType,
        channel: Channel,
        direction: Direction,
        timestamp_ms: i64,
        raw: Value,
    ) -> Event {
        Event {
            id: None,
            event_type,
            channel,
            tenant_id: None,
            account_id: None,
            from: None,
            to: None,
            contact: None,
            contact_name: None,
            conversation_id: None,
            direction,
            timestamp: timestamp_ms.div_euclid(1000),
            timestamp_ms,
            message_id: None,
            kind: None,
            text: None,
            reply_to: None,
            media: None,
            location: None,
            contacts: None,
            interactive: None,
            reaction: None,
            status: None,
            referral: None,
            errors: None,
            raw,
        }
    }

    /// True while the gateway is still capturing this event's media, so forwarding waits.
    pub fn media_capture_pending(&self) -> bool {
        self.media
            .as_ref()
            .and_then(|m| m.capture.as_ref())
            .is_some_and(|c| c.status == CaptureStatus::Pending)
    }

    /// The test event `POST /v1/endpoints/{id}/test` sends: shaped like every other event so
    /// receivers can parse it with the same code.
    pub fn ping(tenant_id: Uuid) -> Event {
        let mut event = Event::bare(
            EventType::Ping,
            Channel::Whatsapp,
            Direction::Outbound,
            chrono::Utc::now().timestamp_millis(),
            serde_json::json!({}),
        );
        event.id = Some(Uuid::now_v7());
        event.tenant_id = Some(tenant_id);
        event.text = Some("Test event from Switchboard".to_owned());
        event
    }
}
