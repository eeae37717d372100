//! The billing export over HTTP: `GET /billing/export` for platform staff
//! signed in to the console, `GET /api/v1/billing` for machines with a
//! `billing` token. Both take `period=YYYY-MM` and `format=csv|json`.
//! `POST /api/v1/billing/adjustments` corrects a closed month (see [`super::adjust`]).

use super::{adjust, ssr, Period};
use crate::audit::{record, NewEvent};
use crate::auth::session::{AuthContext, ClientMeta};
use crate::domain::token_scope::TokenScope;
use crate::error::AppError;
use crate::server::db;
use crate::server::state::AppState;
use crate::usage::ingest::Machines;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use http::{header, HeaderMap, StatusCode};
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    Json,
}

/// The period and format asked for; a month not yet begun is refused.
fn asked(params: &HashMap<String, String>, default: Format, today: time::Date) -> Result<(Period, Format), AppError> {
    let period = Period::parse(params.get("period").map(String::as_str).unwrap_or_default())?;
    if period.first_day() > today {
        return Err(AppError::invalid("period", format!("{period} has not begun: its figures do not exist yet.")));
    }
    let format = match params.get("format").map(String::as_str) {
        None | Some("") => default,
        Some("csv") => Format::Csv,
        Some("json") => Format::Json,
        Some(_) => return Err(AppError::invalid("format", "Choose csv or json.")),
    };
    Ok((period, format))
}

fn answer(period: Period, format: Format, rows: &[ssr::Figures]) -> Response {
    let (body, kind, extension) = match format {
        Format::Csv => (ssr::csv(rows), "text/csv; charset=utf-8", "csv"),
        Format::Json => (ssr::json(period, rows).to_string(), "application/json", "json"),
    };
    crate::server::headers::attachment(kind, &format!("bulkhead-billing-{period}.{extension}"), body)
}

/// `GET /billing/export`: platform staff, from the console; audited.
pub async fn console_handler(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
    auth: Option<Extension<AuthContext>>,
    meta: Option<Extension<ClientMeta>>,
) -> Result<Response, AppError> {
    let user = auth.and_then(|Extension(a)| a.user).ok_or(AppError::Unauthorized)?;
    if !user.role.is_platform_staff() {
        return Err(AppError::Forbidden);
    }
    let (period, format) = asked(&params, Format::Csv, time::OffsetDateTime::now_utc().date())?;
    let actor = meta.map(|Extension(m)| m).unwrap_or_default().actor(Some(&user));
    let mut tx = db::begin(&state.heavy_pool, crate::auth::session::scope_for(&user)?).await?;
    let rows = ssr::figures(&mut tx, period).await?;
    let event = NewEvent::new("billing.exported").target(period.to_string()).after(serde_json::json!({
        "period": period.to_string(), "format": if format == Format::Csv { "csv" } else { "json" }, "tenants": rows.len(),
    }));
    record(&mut tx, &actor, event).await?;
    tx.commit().await?;
    Ok(answer(period, format, &rows))
}

/// `GET /api/v1/billing`: machines with a `billing` token; JSON unless `format=csv`.
pub async fn api_handler(
    State(machines): State<Arc<Machines>>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let now = time::OffsetDateTime::now_utc();
    let token = match machines.routing.table().authorize(&headers, TokenScope::Billing, now) {
        Ok(grant) => grant.id,
        Err(refused) => return refused.into_response(),
    };
    let (period, format) = match asked(&params, Format::Json, now.date()) {
        Ok(a) => a,
        Err(e) => {
            // A month not yet begun is well formed but cannot be answered (422);
            // anything malformed is a bad request (400).
            let future =
                params.get("period").is_some_and(|p| Period::parse(p).is_ok()) && e.field_message("period").is_some();
            let status = if future { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::BAD_REQUEST };
            let message = match &e {
                AppError::Invalid(errors) => errors.iter().map(|f| f.message.clone()).collect::<Vec<_>>().join(" "),
                other => other.to_string(),
            };
            return (status, Json(serde_json::json!({ "error": message }))).into_response();
        }
    };
    // A month's figures read every tenant's month: on the heavy pool (its own
    // connections, a statement timeout), one export at a time per token.
    let Ok(_turn) = machines.heavy_work.start(token) else {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, "5")],
            Json(serde_json::json!({ "error": "this token's previous export is still running" })),
        )
            .into_response();
    };
    let figures = async {
        let mut tx = db::begin(&machines.heavy_pool, db::Scope::Platform).await?;
        let rows = ssr::figures(&mut tx, period).await?;
        tx.commit().await?;
        Ok::<_, sqlx::Error>(rows)
    }
    .await;
    match figures {
        Ok(rows) => answer(period, format, &rows),
        Err(err) => {
            tracing::error!(error = %err, "billing figures could not be read");
            (StatusCode::SERVICE_UNAVAILABLE, Json(serde_json::json!({ "error": "try again in a moment" })))
                .into_response()
        }
    }
}

/// `POST /api/v1/billing/adjustments` (token scope `billing`): a correction to
/// a closed month, `{"period", "tenant", "metric", "value", "reason"}`;
/// answers 201 with the tenant's figures after it, or 422 naming each bad field.
pub async fn adjust_handler(
    State(machines): State<Arc<Machines>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let now = time::OffsetDateTime::now_utc();
    let token = match machines.routing.table().authorize(&headers, TokenScope::Billing, now) {
        Ok(grant) => grant.id,
        Err(refused) => return refused.into_response(),
    };
    let body: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v @ serde_json::Value::Object(_)) => v,
        _ => {
            return (StatusCode::BAD_REQUEST, Json(serde_json::json!({ "error": "the body is not a JSON object" })))
                .into_response()
        }
    };
    let text = |name: &str| match &body[name] {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => String::new(),
    };
    let refused = |e: AppError| match e {
        AppError::Invalid(errors) => {
            let problems: Vec<_> =
                errors.iter().map(|f| serde_json::json!({ "field": f.field, "reason": f.message })).collect();
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(serde_json::json!({ "error": "the adjustment was refused: nothing was written", "problems": problems })),
            )
                .into_response()
        }
        other => {
            tracing::error!(error = %other, "a billing adjustment could not be written");
            (StatusCode::SERVICE_UNAVAILABLE, Json(serde_json::json!({ "error": "try again in a moment" })))
                .into_response()
        }
    };
    let new = match adjust::NewAdjustment::parse(
        &text("period"),
        &text("tenant"),
        &text("metric"),
        &text("value"),
        &text("reason"),
    ) {
        Ok(new) => new,
        Err(e) => return refused(e),
    };
    let actor = match token_actor(&machines.pool, token).await {
        Ok(actor) => actor,
        Err(e) => return refused(e.into()),
    };
    let period = new.period;
    match adjust::adjust(&machines.pool, &actor, new).await {
        Ok(done) => (
            StatusCode::CREATED,
            Json(serde_json::json!({ "id": done.id, "period": period.to_string(), "tenant": done.figures })),
        )
            .into_response(),
        Err(e) => refused(e),
    }
}

/// The audit trail's actor for a machine token: its name.
async fn token_actor(pool: &sqlx::PgPool, token: uuid::Uuid) -> Result<crate::audit::Actor, sqlx::Error> {
    let mut tx = db::begin(pool, db::Scope::Platform).await?;
    let name = sqlx::query_scalar!("SELECT name FROM api_tokens WHERE id = $1", token).fetch_one(&mut *tx).await?;
    tx.commit().await?;
    Ok(crate::audit::Actor {
        email: Some(format!("token {name}")),
        role: Some("api_token".to_string()),
        ..crate::audit::Actor::default()
    })
}
