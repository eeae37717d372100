//! The one form protocol: a refused form goes back to its page with what was
//! typed and why, through a one-time echo kept in the session.
//!
//! A form's server function parses, authorises and acts; on success it
//! redirects, on refusal [`ssr::refuse`] stores a [`FormEcho`] in the session
//! and redirects to the form's page with `?form=<id>`, an opaque id that means
//! nothing outside that session. The page reads the echo once with
//! [`use_form_echo`]: a link cannot make the console display text of its
//! choosing, and a form behaves the same with and without JavaScript.

use crate::error::AppError;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The query parameter that names a form's echo.
pub const ECHO_PARAM: &str = "form";

/// The field name of an error that concerns the whole form.
pub const FORM_FIELD: &str = "_form";

/// What a refused form sends back to its page: the values typed (shortened)
/// and a message per field, `_form` for one that concerns no single field.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormEcho {
    pub values: BTreeMap<String, String>,
    pub errors: BTreeMap<String, String>,
}

impl FormEcho {
    /// The echo of a refusal: `err`'s field messages (or its message for the
    /// whole form) and the non-empty values typed.
    pub fn refused(fields: &[(&str, String)], err: &AppError) -> Self {
        let values = fields
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.to_string(), v.chars().take(200).collect()))
            .collect();
        let errors = match err {
            AppError::Invalid(errors) => errors.iter().map(|e| (e.field.clone(), e.message.clone())).collect(),
            other => BTreeMap::from([(FORM_FIELD.to_string(), other.to_string())]),
        };
        FormEcho { values, errors }
    }

    /// The value typed into `field`.
    pub fn value(&self, field: &str) -> Option<String> {
        self.values.get(field).cloned()
    }

    /// The message under `field`.
    pub fn error(&self, field: &str) -> Option<String> {
        self.errors.get(field).cloned()
    }

    /// The message that concerns the whole form.
    pub fn form_error(&self) -> Option<String> {
        self.error(FORM_FIELD)
    }

    /// Whether any field (not the form as a whole) was refused.
    pub fn has_field_errors(&self) -> bool {
        self.errors.keys().any(|k| k != FORM_FIELD)
    }

    /// Whether the form was sent back at all.
    pub fn is_refusal(&self) -> bool {
        !self.errors.is_empty()
    }
}

/// A form's echo as a view reads it: `Copy`, so every closure of the view
/// (a form's children among them) may hold it.
#[derive(Debug, Clone, Copy)]
pub struct Echo(StoredValue<FormEcho>);

impl Echo {
    pub fn new(echo: FormEcho) -> Self {
        Echo(StoredValue::new(echo))
    }

    pub fn value(&self, field: &str) -> Option<String> {
        self.0.with_value(|e| e.value(field))
    }

    pub fn error(&self, field: &str) -> Option<String> {
        self.0.with_value(|e| e.error(field))
    }

    pub fn form_error(&self) -> Option<String> {
        self.0.with_value(FormEcho::form_error)
    }

    pub fn has_field_errors(&self) -> bool {
        self.0.with_value(FormEcho::has_field_errors)
    }

    pub fn is_refusal(&self) -> bool {
        self.0.with_value(FormEcho::is_refusal)
    }
}

/// Reads (and spends) the echo `id` of this session.
#[server(endpoint = "form_echo")]
pub async fn load_form_echo(id: String) -> Result<Option<FormEcho>, AppError> {
    Ok(ssr::take(&id).await)
}

/// The echo of a refused form, as a page reads it.
pub type EchoResource = Resource<FormEcho>;

/// The echo named by this page's address, empty when there is none; read it
/// inside a `Suspense`. The echo is spent when first read, so a page creates
/// this once, at its top level, and the sections below it share that one
/// (through the context this provides).
pub fn use_form_echo() -> EchoResource {
    if let Some(echo) = use_context::<EchoResource>() {
        return echo;
    }
    let query = use_query_map();
    let echo = Resource::new(
        move || query.read().get(ECHO_PARAM),
        |id| async move {
            match id {
                Some(id) => load_form_echo(id).await.ok().flatten().unwrap_or_default(),
                None => FormEcho::default(),
            }
        },
    );
    provide_context(echo);
    echo
}

#[cfg(feature = "ssr")]
pub mod ssr {
    use super::{FormEcho, ECHO_PARAM};
    use crate::error::AppError;
    use axum::Extension;
    use serde::{Deserialize, Serialize};
    use tower_sessions::Session;

    const KEY: &str = "form_echo";

    /// The echo a page request names, taken from the session before the page
    /// renders (a streamed page's own session changes would be saved too late).
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct TakenEcho {
        id: String,
        echo: FormEcho,
    }

    /// Stores the echo of a refused form and sends the browser back to `back`
    /// (which may end with a `#fragment`) naming it.
    pub async fn refuse(back: &str, fields: &[(&str, String)], err: &AppError) {
        leptos_axum::redirect(&echo_to(back, FormEcho::refused(fields, err)).await);
    }

    /// Stores `echo` in this session; answers `back` naming it (or `back`
    /// alone when the session cannot keep it).
    pub async fn echo_to(back: &str, echo: FormEcho) -> String {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let stored = TakenEcho { id: id.clone(), echo };
        match leptos_axum::extract::<Session>().await {
            Ok(session) => match session.insert(KEY, stored).await {
                Ok(()) => with_param(back, ECHO_PARAM, &id),
                Err(e) => {
                    tracing::error!(error = %e, "the form's echo could not be stored");
                    back.to_string()
                }
            },
            Err(e) => {
                tracing::error!(error = ?e, "no session to store the form's echo in");
                back.to_string()
            }
        }
    }

    /// Ends a form's server function: on success to the address `done` makes
    /// of the outcome, on refusal back to `back` with the echo.
    pub async fn finish<T>(
        result: Result<T, AppError>,
        back: &str,
        fields: &[(&str, String)],
        done: impl FnOnce(T) -> String,
    ) {
        match result {
            Ok(outcome) => leptos_axum::redirect(&done(outcome)),
            Err(err) => refuse(back, fields, &err).await,
        }
    }

    /// For the page middleware: takes the echo a page's address names out of
    /// the session, to hand to the page.
    pub async fn take_for_page(session: &Session, query: Option<&str>) -> Option<TakenEcho> {
        // Echo ids are hexadecimal: nothing to decode.
        let id = query?.split('&').find_map(|p| p.strip_prefix(ECHO_PARAM)?.strip_prefix('='))?;
        take_from_session(session, id).await
    }

    async fn take_from_session(session: &Session, id: &str) -> Option<TakenEcho> {
        let stored: TakenEcho = session.get(KEY).await.ok().flatten()?;
        if stored.id != id {
            return None;
        }
        let _ = session.remove::<TakenEcho>(KEY).await;
        Some(stored)
    }

    /// The echo `id`: the one the page middleware took for this page, or
    /// (a page rendered in the browser asks for it) the session's.
    pub async fn take(id: &str) -> Option<FormEcho> {
        if let Ok(Extension(taken)) = leptos_axum::extract::<Extension<TakenEcho>>().await {
            return (taken.id == id).then_some(taken.echo);
        }
        let session = leptos_axum::extract::<Session>().await.ok()?;
        take_from_session(&session, id).await.map(|t| t.echo)
    }

    /// `path` with `name=value` added to its query, before any fragment.
    fn with_param(path: &str, name: &str, value: &str) -> String {
        let (base, fragment) = match path.split_once('#') {
            Some((b, f)) => (b, Some(f)),
            None => (path, None),
        };
        let sep = if base.contains('?') { '&' } else { '?' };
        let mut url = format!("{base}{sep}{name}={}", crate::ui::url_encode(value));
        if let Some(f) = fragment {
            url.push('#');
            url.push_str(f);
        }
        url
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn the_echo_id_goes_before_the_fragment() {
            assert_eq!(with_param("/tenants/acme#admins", "form", "ab"), "/tenants/acme?form=ab#admins");
            assert_eq!(with_param("/tenants/new", "form", "ab"), "/tenants/new?form=ab");
            assert_eq!(with_param("/x?a=1", "form", "ab"), "/x?a=1&form=ab");
        }
    }
}
