//! WhatsApp Cloud API (`object: "whatsapp_business_account"`): each entry holds `changes[]`
//! of `{field, value}`. Conversation fields carry `messages[]`, `statuses[]` and
//! `message_echoes[]`; the other fields describe the account.

use serde_json::Value;

use super::{
    errors_of, id_of, items, number_of, phone_or_id, reaction, text_of, Context, Normalized,
};
use crate::event::{
    Direction, Event, EventType, Interactive, Location, Media, MessageKind, Status,
};

/// Fields about the account, its numbers, templates or users' settings rather than a
/// conversation: tenants get them as `account.update` with the whole change as raw. Fields
/// not listed here (calls, groups, new ones) become `unsupported` until we model them.
const ACCOUNT_FIELDS: [&str; 18] = [
    "account_alerts",
    "account_review_update",
    "account_settings_update",
    "account_update",
    "business_capability_update",
    "business_status_update",
    "flows",
    "message_template_components_update",
    "message_template_quality_update",
    "message_template_status_update",
    "partner_solutions",
    "payment_configuration_update",
    "phone_number_name_update",
    "phone_number_quality_update",
    "security",
    "template_category_update",
    "user_id_update",
    "user_preferences",
];

/// Message `type`s we read, with the kind they map to (`None`: the type is an event of its
/// own, not content). Also used to guess the type of a message that lacks `type`.
const MESSAGE_TYPES: [(&str, Option<MessageKind>); 16] = [
    ("text", Some(MessageKind::Text)),
    ("image", Some(MessageKind::Image)),
    ("audio", Some(MessageKind::Audio)),
    ("voice", Some(MessageKind::Audio)),
    ("video", Some(MessageKind::Video)),
    ("document", Some(MessageKind::Document)),
    ("sticker", Some(MessageKind::Sticker)),
    ("location", Some(MessageKind::Location)),
    ("contacts", Some(MessageKind::Contacts)),
    ("interactive", Some(MessageKind::Interactive)),
    ("button", Some(MessageKind::Button)),
    ("order", Some(MessageKind::Order)),
    ("system", Some(MessageKind::System)),
    ("reaction", None),
    ("revoke", None),
    ("edit", None),
];

/// Normalizes one entry: every change yields at least one event.
pub(super) fn entry(ctx: &Context, entry: &Value, out: &mut Vec<Normalized>) {
    for change in items(entry, "changes") {
        let before = out.len();
        let value = change.get("value").unwrap_or(&Value::Null);
        let ctx = ctx.with_account(id_of(value.pointer("/metadata/phone_number_id")));
        match change.get("field").and_then(Value::as_str) {
            Some("messages" | "smb_message_echoes") => conversation(&ctx, change, value, out),
            Some(field) if ACCOUNT_FIELDS.contains(&field) => {
                out.push(other_change(&ctx, change, value, EventType::AccountUpdate));
            }
            _ => {}
        }
        if out.len() == before {
            out.push(other_change(&ctx, change, value, EventType::Unsupported));
        }
    }
}

/// A change that is not (or not only) a conversation, kept whole as raw. Such values have
/// no time of their own, but their items often do (`user_preferences[]`, `calls[]`,
/// `groups[]`…): the first item's time is a better clock than the entry's or the receipt's.
fn other_change(ctx: &Context, change: &Value, value: &Value, event_type: EventType) -> Normalized {
    let first_item_time = value
        .as_object()
        .into_iter()
        .flat_map(|fields| fields.values())
        .filter_map(Value::as_array)
        .find_map(|items| items.first()?.get("timestamp"));
    ctx.finish(ctx.event(event_type, change, first_item_time), None)
}

/// What the items of one conversation value share: the business number and the profiles.
struct Thread<'a> {
    business: Option<String>,
    profiles: &'a [Value],
}

impl Thread<'_> {
    /// The profile name of the user with one of these ids (`wa_id` or BSUID), or of the only
    /// profile in the value.
    fn name_of(&self, ids: [Option<&Value>; 2]) -> Option<String> {
        let is_user = |profile: &&Value| {
            ids.iter()
                .flatten()
                .any(|id| [profile.get("wa_id"), profile.get("user_id")].contains(&Some(*id)))
        };
        let only = match self.profiles {
            [only] => Some(only),
            _ => None,
        };
        let profile = self.profiles.iter().find(is_user).or(only)?;
        text_of(profile.pointer("/profile/name"))
    }
}

/// A `messages` or `smb_message_echoes` value: one event per message, echo and status, plus
/// one `account.update` for value-level `errors[]` (they concern the account's webhook, not
/// one message, and carry the whole change as raw).
fn conversation(ctx: &Context, change: &Value, value: &Value, out: &mut Vec<Normalized>) {
    let thread = Thread {
        business: text_of(value.pointer("/metadata/display_phone_number")).map(|n| phone_or_id(&n)),
        profiles: items(value, "contacts"),
    };
    for msg in items(value, "messages") {
        out.push(message(ctx, &thread, msg, Direction::Inbound));
    }
    for echo in items(value, "message_echoes") {
        out.push(message(ctx, &thread, echo, Direction::Outbound));
    }
    for status_item in items(value, "statuses") {
        out.push(status(ctx, &thread, status_item));
    }
    if let Some(errors) = errors_of(value) {
        let mut event = ctx.event(EventType::AccountUpdate, change, None);
        event.errors = Some(errors);
        out.push(ctx.finish(event, None));
    }
}

/// A message from the customer (`Inbound`) or an echo of one the business sent from the
/// WhatsApp Business app (`Outbound`).
fn message(ctx: &Context, thread: &Thread, msg: &Value, direction: Direction) -> Normalized {
    let msg_type = message_type(msg);
    let event_type = match (direction, msg_type) {
        (Direction::Outbound, _) => EventType::MessageEcho,
        (_, "reaction") => EventType::MessageReaction,
        (_, "revoke") => EventType::MessageDeleted,
        (_, "edit") => EventType::MessageEdited,
        _ => EventType::MessageReceived,
    };
    let mut event = ctx.event(event_type, msg, msg.get("timestamp"));
    event.direction = direction;
    set_parties(&mut event, thread, msg);
    event.message_id = id_of(msg.get("id"));
    event.reply_to = id_of(msg.pointer("/context/id"));
    event.referral = msg.get("referral").cloned();
    event.errors = errors_of(msg);
    content(&mut event, msg, msg_type);
    let own_id = id_of(msg.get("id"));
    ctx.finish(event, own_id)
}

/// `from`, `to`, `contact` and `contact_name` of a message or echo. The customer is the
/// sender of a message and the recipient of an echo, known by phone number or, when Meta
/// withholds it, by BSUID. In a group the conversation is with the group, so `contact` is
/// the group id while `from` stays the participant.
fn set_parties(event: &mut Event, thread: &Thread, msg: &Value) {
    let (customer_key, bsuid_key) = match event.direction {
        Direction::Inbound => ("from", "from_user_id"),
        Direction::Outbound => ("to", "to_user_id"),
    };
    let customer_ids = [msg.get(customer_key), msg.get(bsuid_key)];
    let customer = customer_ids
        .iter()
        .find_map(|id| text_of(*id))
        .map(|id| phone_or_id(&id));
    (event.from, event.to) = match event.direction {
        Direction::Inbound => (customer.clone(), thread.business.clone()),
        Direction::Outbound => {
            let sender = text_of(msg.get("from")).map(|n| phone_or_id(&n));
            (sender.or_else(|| thread.business.clone()), customer.clone())
        }
    };
    event.contact = text_of(msg.get("group_id")).or(customer);
    event.contact_name = thread.name_of(customer_ids);
}

/// The message's `type`, or for a message without one the first content key it carries.
fn message_type(msg: &Value) -> &str {
    msg.get("type").and_then(Value::as_str).unwrap_or_else(|| {
        MESSAGE_TYPES
            .iter()
            .map(|(name, _)| *name)
            .find(|name| msg.get(name).is_some())
            .unwrap_or("unknown")
    })
}

/// Fills kind and content from the type-named object (`msg.text`, `msg.image`…). Types we do
/// not know (`unsupported`, `unknown`, new ones) are kind `unsupported` with `errors` kept.
fn content(event: &mut Event, msg: &Value, msg_type: &str) {
    event.kind = MESSAGE_TYPES
        .iter()
        .find(|(name, _)| *name == msg_type)
        .map_or(Some(MessageKind::Unsupported), |(_, kind)| *kind);
    let body = msg.get(msg_type);
    let field = |key: &str| text_of(body.and_then(|b| b.get(key)));
    match msg_type {
        "text" => event.text = field("body"),
        "image" | "audio" | "voice" | "video" | "document" | "sticker" => {
            event.media = body.and_then(|b| media_of(b, msg_type == "voice"));
            event.text = field("caption");
        }
        "location" => event.location = body.map(location_of),
        "contacts" => event.contacts = body.and_then(Value::as_array).cloned(),
        "interactive" => {
            event.interactive = body.and_then(interactive_of);
            event.text = event.interactive.as_ref().and_then(|i| i.title.clone());
        }
        "button" => {
            event.text = field("text");
            event.interactive = Some(Interactive {
                kind: Some("button".to_owned()),
                title: field("text"),
                payload: field("payload"),
                ..Interactive::default()
            });
        }
        "order" => event.text = field("text"),
        "system" => event.text = field("body"),
        "reaction" => {
            event.reply_to = id_of(body.and_then(|b| b.get("message_id")));
            event.reaction = Some(reaction(field("emoji"), None));
        }
        "revoke" => event.message_id = id_of(body.and_then(|b| b.get("original_message_id"))),
        "edit" => edited(event, body),
        _ => {}
    }
}

/// An edit: the event is about the original message and carries the new content. Only one
/// level is read, so an edit nested in an edit cannot recurse.
fn edited(event: &mut Event, edit: Option<&Value>) {
    event.message_id = id_of(edit.and_then(|e| e.get("original_message_id")));
    let Some(new) = edit.and_then(|e| e.get("message")) else {
        return;
    };
    match message_type(new) {
        "edit" => event.kind = Some(MessageKind::Unsupported),
        new_type => content(event, new, new_type),
    }
}

/// A media object (`image`, `audio`, `voice`…); the legacy On-Premises `voice` type is a
/// voice note even when it does not say so.
fn media_of(body: &Value, legacy_voice: bool) -> Option<Media> {
    body.as_object()?;
    let field = |key: &str| text_of(body.get(key));
    let flag = |key: &str| body.get(key).and_then(Value::as_bool);
    Some(Media {
        id: id_of(body.get("id")),
        url: field("url"),
        mime_type: field("mime_type"),
        sha256: field("sha256"),
        filename: field("filename"),
        caption: field("caption"),
        voice: flag("voice").or(legacy_voice.then_some(true)),
        animated: flag("animated"),
        capture: None,
    })
}

fn location_of(body: &Value) -> Location {
    Location {
        latitude: number_of(body.get("latitude")),
        longitude: number_of(body.get("longitude")),
        name: text_of(body.get("name")),
        address: text_of(body.get("address")),
        url: text_of(body.get("url")),
    }
}

/// A button, list or Flow (`nfm_reply`) reply: the reply sits under the key its `type`
/// names. A Flow's answers stay the JSON string Meta sent, as `payload`.
fn interactive_of(body: &Value) -> Option<Interactive> {
    body.as_object()?;
    let kind = text_of(body.get("type"));
    let reply = kind.as_deref().and_then(|k| body.get(k));
    let field = |key: &str| text_of(reply.and_then(|r| r.get(key)));
    Some(Interactive {
        id: field("id"),
        title: field("title").or_else(|| field("body")),
        description: field("description"),
        payload: field("response_json"),
        kind,
    })
}

/// A delivery status of a message the business sent: outbound, `to` and `contact` are the
/// recipient (in a group, `contact` is the group and `to` the participant).
fn status(ctx: &Context, thread: &Thread, item: &Value) -> Normalized {
    let first = |keys: [&str; 2]| {
        keys.iter()
            .find_map(|k| text_of(item.get(k)))
            .map(|id| phone_or_id(&id))
    };
    let recipient = first(["recipient_id", "recipient_user_id"]);
    let participant = first(["recipient_participant_id", "recipient_participant_user_id"]);
    let status_name = text_of(item.get("status")).unwrap_or_else(|| "unknown".to_owned());
    let message_id = id_of(item.get("id"));
    let meta_id = message_id.as_ref().map(|id| format!("{id}:{status_name}"));

    let mut event = ctx.event(EventType::MessageStatus, item, item.get("timestamp"));
    event.direction = Direction::Outbound;
    event.from = thread.business.clone();
    event.to = participant.or_else(|| recipient.clone());
    event.contact = recipient.clone();
    event.contact_name = thread.name_of([item.get("recipient_id"), item.get("recipient_user_id")]);
    event.message_id = message_id;
    event.errors = errors_of(item);
    event.status = Some(Status {
        status: status_name,
        recipient,
        errors: event.errors.clone(),
        conversation: item.get("conversation").cloned(),
        pricing: item.get("pricing").cloned(),
    });
    ctx.finish(event, meta_id)
}
