//! Tenant API for normalized events.

use chrono::{DateTime, Utc};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::OpenApi;
use uuid::Uuid;

use crate::api::auth::TenantAuth;
use crate::api::error::ApiError;
use crate::api::{check_time_range, page_limit, ApiTags, Page};
use crate::app::AppState;
use crate::error::Error;
use crate::event::{Channel, Event, EventType};
use crate::store::events::{self, EventFilter};

/// Tenant event routes.
pub struct EventsApi {
    pub state: AppState,
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Events")]
impl EventsApi {
    /// Normalized events, oldest first, keyset-paginated; `raw` is left out (see the single
    /// event route).
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/events", method = "get")]
    async fn list(
        &self,
        auth: TenantAuth,
        /// `whatsapp`, `messenger` or `instagram`.
        channel: Query<Option<String>>,
        /// An event type such as `message.received`.
        #[oai(name = "type")]
        event_type: Query<Option<String>>,
        /// The customer side, e.g. `+15551234567`.
        contact: Query<Option<String>>,
        /// Event time at or after.
        since: Query<Option<DateTime<Utc>>>,
        /// Event time before.
        until: Query<Option<DateTime<Utc>>>,
        after: Query<Option<Uuid>>,
        limit: Query<Option<i64>>,
    ) -> Result<Json<Page<Event>>, ApiError> {
        let limit = page_limit(limit.0)?;
        check_time_range(since.0, until.0)?;
        if channel
            .0
            .as_deref()
            .is_some_and(|c| Channel::parse(c).is_none())
        {
            return Err(Error::invalid("invalid_channel", "unknown channel").into());
        }
        if event_type
            .0
            .as_deref()
            .is_some_and(|t| EventType::parse(t).is_none())
        {
            return Err(Error::invalid("invalid_event_type", "unknown event type").into());
        }
        let filter = EventFilter {
            channel: channel.0,
            event_type: event_type.0,
            contact: contact.0,
            since: since.0,
            until: until.0,
        };
        let rows =
            events::list_events_of_tenant(&self.state.pool, auth.0, &filter, after.0, limit + 1)
                .await?;
        Ok(Json(Page::from_rows(
            rows,
            limit,
            |e| e.id.unwrap_or_default(),
            |e| e,
        )))
    }

    /// One event, with the raw Meta object it was made from.
    #[oai(path = "/events/:id", method = "get")]
    async fn get(&self, auth: TenantAuth, id: Path<Uuid>) -> Result<Json<Event>, ApiError> {
        events::get_event_of_tenant(&self.state.pool, auth.0, id.0)
            .await?
            .map(Json)
            .ok_or_else(|| ApiError::not_found("event"))
    }
}
