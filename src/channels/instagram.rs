//! Instagram (`object: "instagram"`). Messaging (DMs, story replies and mentions, shares,
//! reactions, seen, postbacks, echoes) has Messenger's shape and goes through
//! `messenger::entry`; this module only maps Instagram's `changes[]` fields.

use serde_json::Value;

use super::{id_of, set_author, text_of, Context, Normalized};
use crate::event::EventType;

/// A `changes[]` item: `comments` and `live_comments` are comments, `mentions` are mentions
/// of the account in a caption or comment; anything else (`story_insights`…) describes the
/// account and is an `account.update`.
pub(super) fn change(ctx: &Context, change: &Value) -> Normalized {
    let value = change.get("value").unwrap_or(&Value::Null);
    match change.get("field").and_then(Value::as_str) {
        Some("comments" | "live_comments") => comment(ctx, change, value),
        Some("mentions") => mention(ctx, change, value),
        _ => ctx.account_update(change),
    }
}

/// A comment on the account's media: `reply_to` is the parent comment for a reply, else the
/// media commented on. Comments before Oct 2021 carry only `{id, text}`.
fn comment(ctx: &Context, change: &Value, value: &Value) -> Normalized {
    let mut event = ctx.event(EventType::Comment, change, None);
    let author = id_of(value.pointer("/from/id"));
    set_author(&mut event, author, text_of(value.pointer("/from/username")));
    event.message_id = id_of(value.get("id"));
    event.text = text_of(value.get("text"));
    event.reply_to = id_of(value.get("parent_id")).or_else(|| id_of(value.pointer("/media/id")));
    let comment_id = event.message_id.clone();
    ctx.finish(event, comment_id)
}

/// The account was mentioned: in a comment (`comment_id`) or in a media caption (only
/// `media_id`). The mentioning user is not in the webhook.
fn mention(ctx: &Context, change: &Value, value: &Value) -> Normalized {
    let mut event = ctx.event(EventType::Mention, change, None);
    let comment_id = id_of(value.get("comment_id"));
    let media_id = id_of(value.get("media_id"));
    event.reply_to = comment_id.as_ref().and(media_id.clone());
    event.message_id = comment_id.or(media_id);
    let mention_id = event.message_id.clone();
    ctx.finish(event, mention_id)
}
