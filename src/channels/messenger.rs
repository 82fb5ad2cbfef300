//! Messenger (`object: "page"`): entries carry `messaging[]` (chat events), `standby[]` (the
//! same events while another app owns the thread) and `changes[]` (Page fields such as `feed`
//! and `mention`). Instagram messaging has the same shape, so `instagram.rs` reuses
//! [`entry`] and only brings its own `changes[]` fields.

use serde_json::Value;

use super::{id_of, items, number_of, reaction, set_author, text_of, Context, Normalized};
use crate::event::{
    Direction, Event, EventType, Interactive, Location, Media, MessageKind, Status,
};

/// How a channel turns one item of `changes[]` into an event.
pub(super) type ChangeFn = fn(&Context, &Value) -> Normalized;

/// Messaging keys whose event needs nothing beyond the parties: the type says what happened
/// and `raw` keeps the details (ref, tokens, app ids, the policy text…). Account linking and
/// policy enforcement concern the Page's standing, hence `account.update`.
const PLAIN_EVENTS: [(&str, EventType); 8] = [
    ("referral", EventType::Referral),
    ("optin", EventType::Optin),
    ("account_linking", EventType::AccountUpdate),
    ("policy-enforcement", EventType::AccountUpdate),
    ("pass_thread_control", EventType::Handover),
    ("take_thread_control", EventType::Handover),
    ("request_thread_control", EventType::Handover),
    ("app_roles", EventType::Handover),
];

/// Normalizes one entry. `standby[]` items are normalized exactly like `messaging[]` ones:
/// they are the same customer events, only delivered while another app (e.g. a human inbox)
/// owns the thread. They keep their raw item and share the dedup key of the same event
/// received through `messaging[]`, so a message is never stored twice whichever way it came.
pub(super) fn entry(ctx: &Context, entry: &Value, change: ChangeFn, out: &mut Vec<Normalized>) {
    for item in items(entry, "messaging")
        .iter()
        .chain(items(entry, "standby"))
    {
        messaging(ctx, item, out);
    }
    for item in items(entry, "changes") {
        out.push(change(ctx, item));
    }
}

/// The two sides of a messaging item. A checkbox opt-in has no sender: its `user_ref`
/// stands in for the user.
struct Parties {
    sender: Option<String>,
    recipient: Option<String>,
}

impl Parties {
    fn of(item: &Value) -> Parties {
        let sender = ["/sender/id", "/sender/user_ref", "/optin/user_ref"]
            .iter()
            .find_map(|path| id_of(item.pointer(path)));
        Parties {
            sender,
            recipient: id_of(item.pointer("/recipient/id")),
        }
    }

    /// Sets direction, `from`, `to` and `contact` (the user). The user is the side that is
    /// not the Page (the entry id): Meta's own echo examples do not always swap sender and
    /// recipient. When the ids do not tell, an echo's user is its recipient and any other
    /// item's user its sender. Outbound events read from the Page to the user, so a delivery
    /// or read receipt looks like the message it confirms.
    fn apply(&self, event: &mut Event, direction: Direction, echo: bool) {
        let is_page = |side: &Option<String>| side.is_some() && *side == event.account_id;
        let (sender_is_page, recipient_is_page) = (is_page(&self.sender), is_page(&self.recipient));
        let user_is_sender = if sender_is_page == recipient_is_page {
            !echo
        } else {
            recipient_is_page
        };
        let (user, page) = if user_is_sender {
            (self.sender.clone(), self.recipient.clone())
        } else {
            (self.recipient.clone(), self.sender.clone())
        };
        event.direction = direction;
        event.contact = user.clone();
        (event.from, event.to) = match direction {
            Direction::Inbound => (user, page),
            Direction::Outbound => (page, user),
        };
    }
}

/// One messaging (or standby) item: a delivery yields one status per message id it
/// confirms (one without id if it lists none), anything else exactly one event.
fn messaging(ctx: &Context, item: &Value, out: &mut Vec<Normalized>) {
    let who = Parties::of(item);
    match item.get("delivery") {
        Some(delivery) => out.extend(
            delivered_mids(delivery)
                .into_iter()
                .map(|mid| receipt_event(ctx, item, "delivered", mid, &who)),
        ),
        None => out.push(single_event(ctx, item, &who)),
    }
}

/// The message ids a delivery confirms; `[None]` when it only has a watermark, which then
/// stays in `raw`.
fn delivered_mids(delivery: &Value) -> Vec<Option<String>> {
    let mids: Vec<_> = items(delivery, "mids")
        .iter()
        .map(|mid| id_of(Some(mid)))
        .collect();
    if mids.is_empty() {
        vec![None]
    } else {
        mids
    }
}

/// Every messaging key but `delivery`; unknown keys become `unsupported`.
fn single_event(ctx: &Context, item: &Value, who: &Parties) -> Normalized {
    if let Some(message) = item.get("message") {
        return message_event(ctx, item, message, who);
    }
    if let Some(edit) = item.get("message_edit") {
        return edit_event(ctx, item, edit, who);
    }
    if let Some(body) = item.get("reaction") {
        return reaction_event(ctx, item, body, who);
    }
    if let Some(read) = item.get("read") {
        return receipt_event(ctx, item, "read", id_of(read.get("mid")), who);
    }
    if let Some(postback) = item.get("postback") {
        return postback_event(ctx, item, postback, who);
    }
    let Some((_, event_type)) = PLAIN_EVENTS.iter().find(|(key, _)| item.get(key).is_some()) else {
        return ctx.unsupported(item);
    };
    let mut event = ctx.event(*event_type, item, item.get("timestamp"));
    who.apply(&mut event, Direction::Inbound, false);
    event.referral = item.get("referral").cloned();
    ctx.finish(event, None)
}

fn message_event(ctx: &Context, item: &Value, message: &Value, who: &Parties) -> Normalized {
    let flag = |key: &str| message.get(key).and_then(Value::as_bool) == Some(true);
    let event_type = if flag("is_deleted") {
        EventType::MessageDeleted
    } else if flag("is_echo") {
        EventType::MessageEcho
    } else {
        EventType::MessageReceived
    };
    let mut event = ctx.event(event_type, item, item.get("timestamp"));
    let echo = event_type == EventType::MessageEcho;
    let direction = if echo {
        Direction::Outbound
    } else {
        Direction::Inbound
    };
    who.apply(&mut event, direction, echo);
    event.message_id = id_of(message.get("mid"));
    if event_type != EventType::MessageDeleted {
        content(&mut event, message, flag("is_unsupported"));
    }
    let mid = event.message_id.clone();
    ctx.finish(event, mid)
}

/// Text, quick reply, reply target and attachments. One message is one event: the first
/// attachment decides the kind, the first media and location attachments fill `media` and
/// `location`, and every attachment stays in `raw`. A message with no content at all (an
/// echo reduced to its `mid`) has no kind.
fn content(event: &mut Event, message: &Value, unsupported: bool) {
    let attachments = items(message, "attachments");
    event.text = text_of(message.get("text"));
    event.reply_to = ["/reply_to/mid", "/reply_to/story/id"]
        .iter()
        .find_map(|path| id_of(message.pointer(path)));
    event.referral = message.get("referral").cloned();
    event.media = attachments.iter().find_map(attachment_media);
    event.location = attachments.iter().find_map(attachment_location);
    event.interactive = message.get("quick_reply").map(|reply| Interactive {
        kind: Some("quick_reply".to_owned()),
        title: event.text.clone(),
        payload: text_of(reply.get("payload")),
        ..Interactive::default()
    });
    event.kind = if unsupported {
        Some(MessageKind::Unsupported)
    } else if event.interactive.is_some() {
        Some(MessageKind::Interactive)
    } else if message.get("sticker_id").is_some() {
        Some(MessageKind::Sticker)
    } else if let Some(first) = attachments.first() {
        Some(attachment_kind(first.get("type").and_then(Value::as_str)))
    } else {
        event.text.as_ref().map(|_| MessageKind::Text)
    };
}

/// Messenger and Instagram attachment types; reels and post shares are `share`, Instagram's
/// `like_heart` is a sticker, and unknown types (`unsupported_type`…) are `unsupported`.
fn attachment_kind(attachment_type: Option<&str>) -> MessageKind {
    match attachment_type {
        Some("image") => MessageKind::Image,
        Some("audio") => MessageKind::Audio,
        Some("video") => MessageKind::Video,
        Some("file") => MessageKind::Document,
        Some("location") => MessageKind::Location,
        Some("fallback") => MessageKind::Fallback,
        Some("template") => MessageKind::Template,
        Some("share" | "ig_reel" | "reel" | "ig_post") => MessageKind::Share,
        Some("story_mention") => MessageKind::StoryMention,
        Some("like_heart" | "sticker") => MessageKind::Sticker,
        _ => MessageKind::Unsupported,
    }
}

/// The media of a non-location attachment: a CDN URL (in `payload`, or at attachment level
/// on legacy fallbacks), the sticker / reel / post id, and a title as caption.
fn attachment_media(attachment: &Value) -> Option<Media> {
    if attachment.get("type").and_then(Value::as_str) == Some("location") {
        return None;
    }
    let payload = attachment.get("payload");
    let field = |key: &str| text_of(payload.and_then(|p| p.get(key)));
    let url = field("url")
        .or_else(|| text_of(attachment.get("url")))
        .or_else(|| text_of(attachment.get("URL")));
    let id = ["sticker_id", "reel_video_id", "ig_post_media_id"]
        .iter()
        .find_map(|key| id_of(payload.and_then(|p| p.get(key))));
    if url.is_none() && id.is_none() {
        return None;
    }
    Some(Media {
        id,
        url,
        caption: field("title").or_else(|| text_of(attachment.get("title"))),
        ..Media::default()
    })
}

fn attachment_location(attachment: &Value) -> Option<Location> {
    let coordinates = attachment.pointer("/payload/coordinates")?;
    Some(Location {
        latitude: number_of(coordinates.get("lat")),
        longitude: number_of(coordinates.get("long")),
        name: text_of(attachment.get("title")),
        address: None,
        url: text_of(attachment.get("url")),
    })
}

/// An edit carries the edited message's id and its new text; each edit is numbered, which
/// keeps successive edits apart.
fn edit_event(ctx: &Context, item: &Value, edit: &Value, who: &Parties) -> Normalized {
    let mut event = ctx.event(EventType::MessageEdited, item, item.get("timestamp"));
    who.apply(&mut event, Direction::Inbound, false);
    event.message_id = id_of(edit.get("mid"));
    event.text = text_of(edit.get("text"));
    let meta_id = event
        .message_id
        .clone()
        .zip(id_of(edit.get("num_edit")))
        .map(|(mid, n)| format!("{mid}:{n}"));
    ctx.finish(event, meta_id)
}

/// Reactions have no id of their own: the fingerprint of the item (which holds the target,
/// action, emoji and time) keeps a react and a later unreact apart.
fn reaction_event(ctx: &Context, item: &Value, body: &Value, who: &Parties) -> Normalized {
    let mut event = ctx.event(EventType::MessageReaction, item, item.get("timestamp"));
    who.apply(&mut event, Direction::Inbound, false);
    event.reply_to = id_of(body.get("mid"));
    event.reaction = Some(reaction(
        text_of(body.get("emoji")),
        text_of(body.get("action")),
    ));
    ctx.finish(event, None)
}

/// A Messenger `delivery` / `read` (watermark) or Instagram `read` (one message id).
fn receipt_event(
    ctx: &Context,
    item: &Value,
    status: &str,
    message_id: Option<String>,
    who: &Parties,
) -> Normalized {
    let mut event = ctx.event(EventType::MessageStatus, item, item.get("timestamp"));
    who.apply(&mut event, Direction::Outbound, false);
    event.status = Some(Status {
        status: status.to_owned(),
        recipient: event.contact.clone(),
        errors: None,
        conversation: None,
        pricing: None,
    });
    let meta_id = message_id.as_ref().map(|mid| format!("{mid}:{status}"));
    event.message_id = message_id;
    ctx.finish(event, meta_id)
}

fn postback_event(ctx: &Context, item: &Value, postback: &Value, who: &Parties) -> Normalized {
    let mut event = ctx.event(EventType::Postback, item, item.get("timestamp"));
    who.apply(&mut event, Direction::Inbound, false);
    event.message_id = id_of(postback.get("mid"));
    event.text = text_of(postback.get("title"));
    event.interactive = Some(Interactive {
        kind: Some("postback".to_owned()),
        title: event.text.clone(),
        payload: text_of(postback.get("payload")),
        ..Interactive::default()
    });
    event.referral = postback.get("referral").cloned();
    let mid = event.message_id.clone();
    ctx.finish(event, mid)
}

/// A Page `changes[]` item: feed comments (added, edited, removed) and mentions of the Page
/// are conversation events; every other Page field is an `account.update`.
pub(super) fn change(ctx: &Context, change: &Value) -> Normalized {
    let value = change.get("value").unwrap_or(&Value::Null);
    let field = |key: &str| text_of(value.get(key));
    let event_type = match (
        change.get("field").and_then(Value::as_str),
        field("item").as_deref(),
    ) {
        (Some("feed"), Some("comment")) => match field("verb").as_deref() {
            Some("remove") => EventType::MessageDeleted,
            Some("edited") => EventType::MessageEdited,
            _ => EventType::Comment,
        },
        (Some("mention"), _) => EventType::Mention,
        _ => return ctx.account_update(change),
    };
    let mut event = ctx.event(event_type, change, value.get("created_time"));
    let author = id_of(value.pointer("/from/id")).or_else(|| id_of(value.get("sender_id")));
    set_author(&mut event, author, text_of(value.pointer("/from/name")));
    event.message_id = id_of(value.get("comment_id")).or_else(|| id_of(value.get("post_id")));
    event.reply_to = id_of(value.get("parent_id"));
    event.text = field("message");
    let meta_id = match event_type {
        EventType::Comment | EventType::Mention => event.message_id.clone(),
        _ => None,
    };
    ctx.finish(event, meta_id)
}
