//! Bearer authentication: the operator's admin token, or a tenant API key. Unknown, revoked
//! and disabled credentials all answer the same 401, so a caller learns nothing from it.

use poem::Request;
use poem_openapi::auth::Bearer;
use poem_openapi::SecurityScheme;
use subtle::ConstantTimeEq;
use uuid::Uuid;

use crate::api::error::ApiError;
use crate::app::AppState;
use crate::store::api_keys;

/// The operator's token (`SWITCHBOARD_ADMIN_TOKEN`).
#[derive(SecurityScheme)]
#[oai(ty = "bearer", rename = "AdminToken", checker = "check_admin")]
pub struct AdminAuth(());

/// A tenant API key; the inner value is the authenticated tenant's id.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", rename = "TenantApiKey", checker = "check_tenant")]
pub struct TenantAuth(pub Uuid);

fn state(req: &Request) -> poem::Result<&AppState> {
    req.data::<AppState>()
        .ok_or_else(|| poem::Error::from(ApiError::unauthorized()))
}

async fn check_admin(req: &Request, bearer: Bearer) -> poem::Result<()> {
    let state = state(req)?;
    match &state.settings.admin_token {
        Some(expected) if bool::from(expected.as_bytes().ct_eq(bearer.token.as_bytes())) => Ok(()),
        _ => Err(ApiError::unauthorized().into()),
    }
}

async fn check_tenant(req: &Request, bearer: Bearer) -> poem::Result<Uuid> {
    let state = state(req)?;
    api_keys::tenant_of_api_key(&state.pool, &bearer.token)
        .await
        .map_err(ApiError::from)?
        .ok_or_else(|| ApiError::unauthorized().into())
}
