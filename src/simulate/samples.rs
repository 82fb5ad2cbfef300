//! The sample webhooks `switchboard simulate` can send: real Meta bodies from the test
//! fixtures, compiled into the binary, one per kind of event the normalizer knows on each
//! channel. The fixtures stay the single source: the golden tests check what they yield.

use crate::event::Channel;

/// One sample webhook: a fixture body under the name a user types.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// The channel it belongs to (and the callback URL it is sent to).
    pub channel: Channel,
    /// What the user types after the channel, e.g. `text` or `status-read`.
    pub kind: &'static str,
    /// The fixture it comes from, below `tests/fixtures/meta/`, for `--list`.
    pub fixture: &'static str,
    /// The body as Meta sent it (before ids and times are made fresh).
    pub body: &'static str,
}

macro_rules! samples {
    ($($channel:ident $kind:literal => $file:literal,)*) => {
        /// Every sample, in the order `simulate --list` prints them.
        pub const SAMPLES: &[Sample] = &[$(
            Sample {
                channel: Channel::$channel,
                kind: $kind,
                fixture: $file,
                body: include_str!(concat!("../../tests/fixtures/meta/", $file)),
            },
        )*];
    };
}

samples! {
    Whatsapp "text" => "whatsapp/text.json",
    Whatsapp "reply" => "whatsapp/reply-context.json",
    Whatsapp "image" => "whatsapp/image-with-url.json",
    Whatsapp "audio" => "whatsapp/audio-file-forwarded.json",
    Whatsapp "voice" => "whatsapp/audio-voice.json",
    Whatsapp "video" => "whatsapp/video-caption.json",
    Whatsapp "document" => "whatsapp/document.json",
    Whatsapp "sticker" => "whatsapp/sticker-animated.json",
    Whatsapp "location" => "whatsapp/location-named.json",
    Whatsapp "contacts" => "whatsapp/contacts-single.json",
    Whatsapp "list-reply" => "whatsapp/interactive-list-reply.json",
    Whatsapp "button-reply" => "whatsapp/interactive-button-reply.json",
    Whatsapp "flow-reply" => "whatsapp/interactive-nfm-reply-flow.json",
    Whatsapp "button" => "whatsapp/button-template-quick-reply.json",
    Whatsapp "order" => "whatsapp/order.json",
    Whatsapp "system" => "whatsapp/system-customer-identity-changed.json",
    Whatsapp "ad-referral" => "whatsapp/referral-ctwa.json",
    Whatsapp "reaction" => "whatsapp/reaction-escaped-skin-tone.json",
    Whatsapp "unreaction" => "whatsapp/reaction-removed-empty-emoji.json",
    Whatsapp "edit" => "whatsapp/edit-image-caption.json",
    Whatsapp "delete" => "whatsapp/revoke-user-deleted.json",
    Whatsapp "echo" => "whatsapp/smb-message-echo-text.json",
    Whatsapp "status-sent" => "whatsapp/status-sent.json",
    Whatsapp "status-delivered" => "whatsapp/status-delivered.json",
    Whatsapp "status-read" => "whatsapp/status-read.json",
    Whatsapp "status-failed" => "whatsapp/status-failed-131026.json",
    Whatsapp "account-update" => "whatsapp/account-update-verified.json",
    Whatsapp "template-status" => "whatsapp/template-status-approved.json",
    Whatsapp "quality-update" => "whatsapp/phone-number-quality-update.json",
    Whatsapp "unsupported" => "whatsapp/unsupported-with-type.json",
    Whatsapp "call" => "whatsapp/calls-connect-user-initiated.json",
    Messenger "text" => "messenger/text-botman.json",
    Messenger "reply" => "messenger/reply-to.json",
    Messenger "image" => "messenger/attachment-image.json",
    Messenger "audio" => "messenger/attachment-audio-2016.json",
    Messenger "location" => "messenger/attachment-location-2016.json",
    Messenger "sticker" => "messenger/sticker-thumbs-up.json",
    Messenger "share" => "messenger/attachment-ig-reel.json",
    Messenger "fallback" => "messenger/attachment-fallback-legacy.json",
    Messenger "quick-reply" => "messenger/quick-reply.json",
    Messenger "unsupported" => "messenger/message-unsupported.json",
    Messenger "echo" => "messenger/echo-text.json",
    Messenger "template-echo" => "messenger/echo-template-receipt-real.json",
    Messenger "reaction" => "messenger/reaction-react.json",
    Messenger "unreaction" => "messenger/reaction-unreact.json",
    Messenger "edit" => "messenger/message-edit.json",
    Messenger "delete" => "messenger/message-deleted.json",
    Messenger "delivery" => "messenger/delivery.json",
    Messenger "read" => "messenger/read.json",
    Messenger "postback" => "messenger/postback.json",
    Messenger "get-started" => "messenger/postback-get-started.json",
    Messenger "referral" => "messenger/referral-ad.json",
    Messenger "optin" => "messenger/optin.json",
    Messenger "handover" => "messenger/handover-pass-thread-control.json",
    Messenger "comment" => "messenger/feed-comment-add-changes.json",
    Messenger "account-update" => "messenger/policy-enforcement-block.json",
    Messenger "unknown" => "messenger/unknown-event-type.json",
    Instagram "text" => "instagram/story-reply-text-real.json",
    Instagram "image" => "instagram/attachment-image.json",
    Instagram "share" => "instagram/ig-reel-share-real.json",
    Instagram "like" => "instagram/like-heart.json",
    Instagram "story-mention" => "instagram/story-mention.json",
    Instagram "unsupported" => "instagram/attachment-unsupported-type.json",
    Instagram "echo" => "instagram/echo-text-unicode-real.json",
    Instagram "reaction" => "instagram/reaction-like-real.json",
    Instagram "delete" => "instagram/message-deleted.json",
    Instagram "seen" => "instagram/messaging-seen.json",
    Instagram "postback" => "instagram/postback-icebreaker.json",
    Instagram "comment" => "instagram/comments.json",
    Instagram "live-comment" => "instagram/live-comments.json",
    Instagram "mention" => "instagram/mentions.json",
    Instagram "account-update" => "instagram/story-insights.json",
}

/// The sample named `kind` on `channel`.
pub fn find(channel: Channel, kind: &str) -> Option<&'static Sample> {
    SAMPLES
        .iter()
        .find(|s| s.channel == channel && s.kind == kind)
}

/// The kinds available on `channel`, for error messages.
pub fn kinds_of(channel: Channel) -> Vec<&'static str> {
    SAMPLES
        .iter()
        .filter(|s| s.channel == channel)
        .map(|s| s.kind)
        .collect()
}
