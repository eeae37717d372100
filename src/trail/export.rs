//! `GET /audit/export?format=csv|jsonl&<filters>`: the filtered trail as a
//! file, newest event first like the page, streamed from the database row by row. The
//! server holds one buffer of about 64 KiB per export, whatever its size.

use crate::audit::ssr::{events, record, resolve, NewEvent};
use crate::audit::{AuditQuery, EventDetail};
use crate::auth::session::{scope_for, AuthContext, ClientMeta};
use crate::error::AppError;
use crate::server::db::{self, Scope};
use crate::server::state::AppState;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::response::Response;
use axum::Extension;
use futures_util::TryStreamExt;
use std::collections::HashMap;
use tokio::sync::mpsc;
use uuid::Uuid;

/// The file formats on offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    JsonLines,
}

impl Format {
    pub fn parse(s: Option<&str>) -> Result<Format, AppError> {
        match s {
            None | Some("csv") => Ok(Format::Csv),
            Some("jsonl") => Ok(Format::JsonLines),
            Some(_) => Err(AppError::invalid("format", "Choose csv or jsonl.")),
        }
    }
    fn mime(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::JsonLines => "application/x-ndjson",
        }
    }
    fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::JsonLines => "jsonl",
        }
    }
}

/// The CSV columns, in order.
pub const CSV_HEADER: &str = "id,occurred_at,actor_user_id,actor_email,actor_role,ip,user_agent,tenant_id,tenant_slug,action,target,before,after,prev_hash,hash\r\n";

/// One CSV field: quoted when it holds a separator, a quote or a line break;
/// a leading `=`, `+`, `-`, `@`, tab or carriage return is preceded by `'`
/// so that a spreadsheet does not run it as a formula.
pub fn csv_field(out: &mut String, value: &str) {
    let guarded = value.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if guarded || value.contains([',', '"', '\n', '\r']) {
        out.push('"');
        if guarded {
            out.push('\'');
        }
        // Quotes doubled, the rest copied a run at a time.
        let mut rest = value;
        while let Some(at) = rest.find('"') {
            out.push_str(&rest[..=at]);
            out.push('"');
            rest = &rest[at + 1..];
        }
        out.push_str(rest);
        out.push('"');
    } else {
        out.push_str(value);
    }
}

/// Writes CSV records, reusing its buffers from one event to the next.
#[derive(Default)]
pub struct CsvWriter {
    scratch: Vec<u8>,
}

impl CsvWriter {
    /// One event as a CSV record, CRLF-terminated (RFC 4180).
    pub fn line(&mut self, out: &mut String, e: &EventDetail) {
        use std::fmt::Write;
        let _ = write!(out, "{}", e.id);
        out.push(',');
        self.scratch.clear();
        let _ = e.occurred_at.format_into(&mut self.scratch, &time::format_description::well_known::Rfc3339);
        out.push_str(std::str::from_utf8(&self.scratch).unwrap_or_default());
        let mut uuid = Uuid::encode_buffer();
        out.push(',');
        out.push_str(e.actor_user_id.map(|u| &*u.hyphenated().encode_lower(&mut uuid)).unwrap_or_default());
        for text in [&e.actor_email, &e.actor_role, &e.ip, &e.user_agent] {
            out.push(',');
            csv_field(out, text.as_deref().unwrap_or_default());
        }
        out.push(',');
        out.push_str(e.tenant_id.map(|u| &*u.hyphenated().encode_lower(&mut uuid)).unwrap_or_default());
        out.push(',');
        csv_field(out, e.tenant_slug.as_deref().unwrap_or_default());
        out.push(',');
        csv_field(out, &e.action);
        out.push(',');
        csv_field(out, e.target.as_deref().unwrap_or_default());
        for doc in [&e.before, &e.after] {
            out.push(',');
            if let Some(doc) = doc {
                self.scratch.clear();
                let _ = serde_json::to_writer(&mut self.scratch, doc);
                csv_field(out, std::str::from_utf8(&self.scratch).unwrap_or_default());
            }
        }
        for hash in [&e.prev_hash, &e.hash] {
            out.push(',');
            out.push_str(hash);
        }
        out.push_str("\r\n");
    }
}

/// One event as a JSON line.
pub fn json_line(out: &mut String, e: &EventDetail) {
    out.push_str(&crate::server::json::html_safe(serde_json::to_string(e).unwrap_or_default()));
    out.push('\n');
}

const CHUNK: usize = 64 * 1024;

/// The export route.
pub async fn handler(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
    auth: Option<Extension<AuthContext>>,
    meta: Option<Extension<ClientMeta>>,
) -> Result<Response, AppError> {
    let p = |k: &str| params.get(k).cloned();
    let format = Format::parse(params.get("format").map(String::as_str))?;
    let query = AuditQuery {
        before: None,
        ..AuditQuery::parse(p("tenant"), p("actor"), p("action"), p("from"), p("to"), None)?
    };
    let user = auth.and_then(|Extension(a)| a.user).ok_or(AppError::Unauthorized)?;
    let scope = scope_for(&user)?;
    // One export or verification at a time per user, held until the last row is sent.
    let turn = state.heavy_work.start(user.id)?;
    let actor = meta.map(|Extension(m)| m).unwrap_or_default().actor(Some(&user));

    // The export is recorded before it starts, in its own transaction, so an
    // export the reader abandons half-way is on record too.
    let mut tx = db::begin(&state.pool, scope).await?;
    let resolved = resolve(&mut tx, &query).await?;
    let filters: serde_json::Map<String, serde_json::Value> =
        query.filter_pairs().into_iter().map(|(k, v)| (k.to_string(), v.into())).collect();
    let event =
        NewEvent::new("audit.exported").after(serde_json::json!({ "format": format.extension(), "filters": filters }));
    let event = match (scope, resolved.tenant_id) {
        (Scope::Tenant(t), _) | (_, Some(t)) => event.tenant(t),
        _ => event,
    };
    record(&mut tx, &actor, event).await?;
    tx.commit().await?;

    let (sender, receiver) = mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let (pool, send_timeout) = (state.heavy_pool.clone(), state.config.export_send_timeout);
    tokio::spawn(async move {
        let _turn = turn;
        if let Err(err) = stream_rows(&pool, scope, &query, format, &sender, send_timeout).await {
            tracing::error!(error = %err, "audit export failed part-way");
            // An error in the body aborts the transfer, so the reader sees a
            // failed download rather than a file that looks complete.
            let _ = sender.send(Err(std::io::Error::other("export failed"))).await;
        }
    });
    let body = Body::from_stream(futures_util::stream::unfold(receiver, |mut r| async move {
        r.recv().await.map(|chunk| (chunk, r))
    }));
    let stamp = time::OffsetDateTime::now_utc().unix_timestamp();
    Response::builder()
        .header(http::header::CONTENT_TYPE, format.mime())
        .header(
            http::header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"audit-{stamp}.{}\"", format.extension()),
        )
        .header(http::header::CACHE_CONTROL, "no-store")
        .body(body)
        .map_err(AppError::internal)
}

/// Writes the events to `sender` in chunks; stops quietly when the reader goes away.
async fn stream_rows(
    pool: &sqlx::PgPool,
    scope: Scope,
    query: &AuditQuery,
    format: Format,
    sender: &mpsc::Sender<Result<Bytes, std::io::Error>>,
    send_timeout: std::time::Duration,
) -> Result<(), AppError> {
    let mut tx = db::begin(pool, scope).await?;
    let r = resolve(&mut tx, query).await?;
    let mut rows = events(&mut tx, &r, None);
    let mut buf = String::with_capacity(CHUNK + 4096);
    let mut csv = CsvWriter::default();
    if format == Format::Csv {
        buf.push_str(CSV_HEADER);
    }
    while let Some(event) = rows.try_next().await? {
        match format {
            Format::Csv => csv.line(&mut buf, &event),
            Format::JsonLines => json_line(&mut buf, &event),
        }
        if buf.len() >= CHUNK {
            let chunk = Bytes::from(std::mem::replace(&mut buf, String::with_capacity(CHUNK + 4096)));
            // A reader that stops reading must not hold a connection for good.
            match tokio::time::timeout(send_timeout, sender.send(Ok(chunk))).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Ok(()),
                Err(_) => {
                    tracing::warn!("audit export abandoned: the reader stopped reading");
                    return Ok(());
                }
            }
        }
    }
    drop(rows);
    tx.commit().await?;
    if !buf.is_empty() {
        let _ = sender.send(Ok(Bytes::from(buf))).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        let field = |v: &str| {
            let mut s = String::new();
            csv_field(&mut s, v);
            s
        };
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("two\nlines"), "\"two\nlines\"");
        assert_eq!(field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(field("@SUM(A1)"), "\"'@SUM(A1)\"");
        assert_eq!(field(""), "");
    }

    #[test]
    fn formats_are_named_in_the_address() {
        assert_eq!(Format::parse(None).unwrap(), Format::Csv);
        assert_eq!(Format::parse(Some("jsonl")).unwrap(), Format::JsonLines);
        assert!(Format::parse(Some("xlsx")).is_err());
    }
}
