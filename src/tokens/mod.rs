//! API tokens: how machines (a proxy's routing check, usage ingestion,
//! metrics, billing) prove who they are. Platform admins make them on
//! `/settings/tokens` or with `bulkhead token`; a token is shown once.

mod pages;
#[cfg(feature = "ssr")]
pub mod secret_fields;
#[cfg(feature = "ssr")]
pub mod ssr;

pub use pages::TokensPage;

use crate::domain::token_scope::TokenScope;
use crate::error::AppError;
use crate::ui::form::FormEcho;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// A token as the list shows it: never the token itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenRow {
    pub id: Uuid,
    pub name: String,
    /// `bkh_` and the first characters, to tell tokens apart.
    pub hint: String,
    pub scopes: Vec<TokenScope>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
    /// Past its expiry when read (by the database's clock: the browser has none to ask).
    pub expired: bool,
}

impl TokenRow {
    /// Whether a machine presenting it now would be let in.
    pub fn usable(&self, now: OffsetDateTime) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| e > now)
    }
}

/// The tokens page: every token, and what the last form sent back (a refusal,
/// or the token just made, shown this once).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokensOverview {
    pub tokens: Vec<TokenRow>,
    pub echo: FormEcho,
    pub fresh: Option<String>,
    /// The reader may make and revoke tokens (platform admins).
    pub can_edit: bool,
}

/// The tokens (platform staff), with the echo `form` names, spent by this read.
#[server(endpoint = "api_tokens")]
pub async fn api_tokens(form: Option<String>) -> Result<TokensOverview, AppError> {
    let user = crate::auth::session::require_platform_staff().await?;
    let state = crate::server::state::app_state()?;
    let mut tx = crate::server::db::read(&state.pool, crate::auth::session::scope_for(&user)?).await?;
    let tokens = ssr::list(&mut tx).await?;
    tx.done().await?;
    let mut echo = match form {
        Some(id) => crate::ui::form::ssr::take(&id).await.unwrap_or_default(),
        None => FormEcho::default(),
    };
    let fresh = echo.values.remove(ssr::FRESH_KEY).and_then(|sealed| ssr::open_fresh(&state, user.id, &sealed));
    let can_edit = user.role == crate::auth::Role::PlatformAdmin;
    Ok(TokensOverview { tokens, echo, fresh, can_edit })
}

/// Makes a token (platform admins). Answers with a redirect to the tokens page,
/// which shows the token once.
#[server(endpoint = "create_api_token")]
pub async fn create_api_token(
    name: String,
    routing: Option<String>,
    ingest: Option<String>,
    metrics: Option<String>,
    billing: Option<String>,
    expires: String,
) -> Result<(), AppError> {
    let chosen: Vec<&str> = [("routing", &routing), ("ingest", &ingest), ("metrics", &metrics), ("billing", &billing)]
        .into_iter()
        .filter(|(_, on)| on.is_some())
        .map(|(s, _)| s)
        .collect();
    let result = async {
        let user = crate::auth::session::require_platform_admin().await?;
        let state = crate::server::state::app_state()?;
        let meta = crate::auth::session::client_meta().await;
        let input = ssr::NewToken::parse(&name, &chosen, &expires)?;
        let token = ssr::create(&state.pool, &meta.actor(Some(&user)), Some(user.id), input).await?;
        Ok(ssr::seal_fresh(&state, user.id, &token))
    }
    .await;
    match result {
        Ok(sealed) => {
            let echo = FormEcho { values: [(ssr::FRESH_KEY.to_string(), sealed)].into(), ..FormEcho::default() };
            leptos_axum::redirect(&crate::ui::form::ssr::echo_to("/settings/tokens", echo).await);
        }
        Err(err) => {
            let mut fields = vec![("name", name), ("expires", expires)];
            fields.extend(chosen.iter().map(|s| (*s, "on".to_string())));
            crate::ui::form::ssr::refuse("/settings/tokens", &fields, &err).await;
        }
    }
    Ok(())
}

/// Revokes a token (platform admins): machines presenting it are refused from
/// now on.
#[server(endpoint = "revoke_api_token")]
pub async fn revoke_api_token(id: String) -> Result<(), AppError> {
    let result = async {
        let user = crate::auth::session::require_platform_admin().await?;
        let state = crate::server::state::app_state()?;
        let meta = crate::auth::session::client_meta().await;
        let id = Uuid::parse_str(id.trim()).map_err(|_| AppError::NotFound)?;
        ssr::revoke(&state.pool, &meta.actor(Some(&user)), ssr::Which::Id(id)).await
    }
    .await;
    crate::ui::form::ssr::finish(result, "/settings/tokens", &[], |_| "/settings/tokens?done=revoked".into()).await;
    Ok(())
}
