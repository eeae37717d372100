//! The id of the request being served, for logs and error messages.

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
