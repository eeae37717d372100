//! The one error type of Bulkhead, shared by server functions, machine routes
//! and the pages that show errors.

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

/// A message attached to one form field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// Everything that can go wrong, in terms a user (or a machine client) can act on.
/// Internal details are logged with the request id and never sent out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    #[error("Not found.")]
    NotFound,
    #[error("You are not signed in.")]
    Unauthorized,
    #[error("You do not have permission to do that.")]
    Forbidden,
    #[error("{0}")]
    Conflict(String),
    #[error("Please correct the highlighted fields.")]
    Invalid(Vec<FieldError>),
    #[error("Too many requests. Try again in {retry_after_secs} seconds.")]
    TooManyRequests { retry_after_secs: u64 },
    #[error("The console cannot reach its database right now. Try again in a moment. (request {request_id})")]
    Unavailable { request_id: String },
    #[error("Something went wrong on our side. (request {request_id})")]
    Internal { request_id: String },
    #[error("The request could not be understood.")]
    BadRequest(ServerFnErrorErr),
}

impl AppError {
    /// A single-field validation error.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        AppError::Invalid(vec![FieldError { field: field.to_string(), message: message.into() }])
    }

    /// The message for `field`, if this error names it.
    pub fn field_message(&self, field: &str) -> Option<String> {
        match self {
            AppError::Invalid(errors) => errors.iter().find(|e| e.field == field).map(|e| e.message.clone()),
            _ => None,
        }
    }

    /// The HTTP status this error answers with.
    pub fn status_code(&self) -> u16 {
        match self {
            AppError::NotFound => 404,
            AppError::Unauthorized => 401,
            AppError::Forbidden => 403,
            AppError::Conflict(_) => 409,
            AppError::Invalid(_) => 422,
            AppError::TooManyRequests { .. } => 429,
            AppError::Unavailable { .. } => 503,
            AppError::Internal { .. } => 500,
            AppError::BadRequest(ServerFnErrorErr::Request(_))
            | AppError::BadRequest(ServerFnErrorErr::Response(_))
            | AppError::BadRequest(ServerFnErrorErr::Registration(_))
            | AppError::BadRequest(ServerFnErrorErr::ServerError(_)) => 500,
            AppError::BadRequest(_) => 400,
        }
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        AppError::BadRequest(value)
    }
}

/// The id of the request being served, for logs and error messages.
#[cfg(feature = "ssr")]
pub mod request_id {
    use axum::{extract::Request, middleware::Next, response::Response};

    tokio::task_local! {
        static REQUEST_ID: String;
    }

    /// The current request's id, or `"-"` outside a request.
    pub fn current() -> String {
        REQUEST_ID.try_with(|id| id.clone()).unwrap_or_else(|_| "-".to_string())
    }

    /// Makes the `x-request-id` header (set by `SetRequestIdLayer`) the task's request id.
    pub async fn scope(req: Request, next: Next) -> Response {
        let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-").to_string();
        REQUEST_ID.scope(id, next.run(req)).await
    }
}

/// Turns the violation of one named database constraint into an error of the
/// caller's choosing (a message under a field, usually); any other database
/// error converts as usual.
#[cfg(feature = "ssr")]
pub trait OnConstraint<T> {
    fn on_constraint<E: From<sqlx::Error>>(self, name: &str, err: impl FnOnce() -> E) -> Result<T, E>;
}

#[cfg(feature = "ssr")]
impl<T> OnConstraint<T> for Result<T, sqlx::Error> {
    fn on_constraint<E: From<sqlx::Error>>(self, name: &str, err: impl FnOnce() -> E) -> Result<T, E> {
        self.map_err(|e| match &e {
            sqlx::Error::Database(d) if d.constraint() == Some(name) => err(),
            _ => E::from(e),
        })
    }
}

#[cfg(feature = "ssr")]
mod ssr {
    use super::AppError;
    use axum::response::{IntoResponse, Response};
    use http::{header, HeaderValue, StatusCode};

    impl AppError {
        /// An internal failure: logged here with the request id, opaque to the user.
        pub fn internal(err: impl std::fmt::Display) -> Self {
            let request_id = super::request_id::current();
            tracing::error!(%request_id, error = %err, "internal error");
            AppError::Internal { request_id }
        }
    }

    impl From<sqlx::Error> for AppError {
        fn from(err: sqlx::Error) -> Self {
            let request_id = super::request_id::current();
            match &err {
                sqlx::Error::PoolTimedOut
                | sqlx::Error::Io(_)
                | sqlx::Error::PoolClosed
                | sqlx::Error::WorkerCrashed => {
                    tracing::warn!(%request_id, error = %err, "database unavailable");
                    AppError::Unavailable { request_id }
                }
                // The server went away or refused the connection mid-request
                // (SQLSTATE classes 08, connection exception; 57P, shutdown or
                // terminated; 53, insufficient resources): unavailable, not a bug.
                sqlx::Error::Database(db)
                    if db
                        .code()
                        .is_some_and(|c| c.starts_with("08") || c.starts_with("57P") || c.starts_with("53")) =>
                {
                    tracing::warn!(%request_id, error = %err, "database unavailable");
                    AppError::Unavailable { request_id }
                }
                sqlx::Error::RowNotFound => AppError::NotFound,
                _ => {
                    tracing::error!(%request_id, error = %err, "database error");
                    AppError::Internal { request_id }
                }
            }
        }
    }

    impl From<tower_sessions::session::Error> for AppError {
        fn from(err: tower_sessions::session::Error) -> Self {
            let request_id = super::request_id::current();
            tracing::warn!(%request_id, error = %err, "session store error");
            AppError::Unavailable { request_id }
        }
    }

    impl IntoResponse for AppError {
        fn into_response(self) -> Response {
            let status = StatusCode::from_u16(self.status_code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let body = serde_json::json!({ "error": self.to_string(), "detail": &self });
            let mut res = (status, axum::Json(body)).into_response();
            if let AppError::TooManyRequests { retry_after_secs } = self {
                if let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                    res.headers_mut().insert(header::RETRY_AFTER, v);
                }
            }
            res
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_the_kind_of_error() {
        assert_eq!(AppError::NotFound.status_code(), 404);
        assert_eq!(AppError::invalid("email", "bad").status_code(), 422);
        assert_eq!(AppError::BadRequest(ServerFnErrorErr::Args("x".into())).status_code(), 400);
        assert_eq!(AppError::BadRequest(ServerFnErrorErr::ServerError("x".into())).status_code(), 500);
    }

    #[test]
    fn field_messages_are_found_by_field() {
        let err = AppError::invalid("email", "Enter an e-mail address.");
        assert_eq!(err.field_message("email").as_deref(), Some("Enter an e-mail address."));
        assert_eq!(err.field_message("password"), None);
    }

    #[test]
    fn errors_survive_the_wire_format() {
        let err = AppError::TooManyRequests { retry_after_secs: 30 };
        let json = serde_json::to_string(&err).unwrap();
        assert_eq!(serde_json::from_str::<AppError>(&json).unwrap(), err);
    }
}
