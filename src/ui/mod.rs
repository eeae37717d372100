//! Shared components: form field, button, badge, meter bar, table, empty state
//! and flash message. They hold no data access and know no capability.

pub mod chart;
pub mod form;

use leptos::prelude::*;
use time::OffsetDateTime;

pub use crate::domain::amounts::{format_bytes, format_count, format_cpu};

/// A labelled input with its error message underneath.
#[component]
pub fn FormField(
    label: &'static str,
    name: &'static str,
    #[prop(default = "text")] input_type: &'static str,
    #[prop(optional)] autocomplete: Option<&'static str>,
    #[prop(optional)] required: bool,
    #[prop(optional)] autofocus: bool,
    #[prop(optional)] hint: Option<&'static str>,
    #[prop(optional, into)] value: MaybeProp<String>,
    #[prop(optional, into)] error: MaybeProp<String>,
    /// The input's id when one page has two fields of the same name.
    #[prop(optional)]
    id: Option<&'static str>,
) -> impl IntoView {
    let id = id.map(str::to_string).unwrap_or_else(|| format!("field-{name}"));
    let error_id = format!("{id}-error");
    let hint_id = format!("{id}-hint");
    let described_by = {
        let (error_id, hint_id) = (error_id.clone(), hint_id.clone());
        move || {
            let mut ids = Vec::new();
            if hint.is_some() {
                ids.push(hint_id.clone());
            }
            if error.get().is_some() {
                ids.push(error_id.clone());
            }
            (!ids.is_empty()).then(|| ids.join(" "))
        }
    };
    view! {
        <div class="field" class:field-invalid=move || error.get().is_some()>
            <label for=id.clone()>{label}</label>
            {hint.map(|h| view! { <p class="field-hint" id=hint_id.clone()>{h}</p> })}
            <input
                id=id
                name=name
                type=input_type
                autocomplete=autocomplete
                required=required
                autofocus=autofocus
                value=move || value.get()
                aria-invalid=move || error.get().is_some().then_some("true")
                aria-describedby=described_by
            />
            {move || error.get().map(|e| view! { <p class="field-error" id=error_id.clone()>{e}</p> })}
        </div>
    }
}

/// How a button looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ButtonKind {
    #[default]
    Primary,
    Secondary,
    Danger,
    Link,
}

/// A submit button that says when its action is under way.
#[component]
pub fn Button(
    #[prop(optional)] kind: ButtonKind,
    #[prop(optional, into)] pending: MaybeProp<bool>,
    #[prop(optional)] pending_label: Option<&'static str>,
    children: Children,
) -> impl IntoView {
    let class = match kind {
        ButtonKind::Primary => "btn btn-primary",
        ButtonKind::Secondary => "btn",
        ButtonKind::Danger => "btn btn-danger",
        ButtonKind::Link => "btn btn-link",
    };
    let busy = move || pending.get().unwrap_or(false);
    view! {
        <button type="submit" class=class disabled=busy aria-busy=move || busy().then_some("true")>
            <span class="btn-label" class:hidden=busy>{children()}</span>
            {move || busy().then(|| view! { <span>{pending_label.unwrap_or("Working…")}</span> })}
        </button>
    }
}

/// The document title for a page's own title: the console's one title
/// formatter, so every page's `<Title text=…/>` passes through it.
///
/// On the server leptos_meta writes the formatted title into `<head>` as raw
/// HTML, so it is escaped here (a tenant named `</title><script>` stays text);
/// in the browser leptos_meta sets `document.title`, which takes plain text.
pub fn document_title(page: String) -> String {
    let text = if page.is_empty() { "Bulkhead".to_string() } else { format!("{page} · Bulkhead") };
    if cfg!(feature = "ssr") {
        html_escape::encode_text(&text).into_owned()
    } else {
        text
    }
}

/// A small coloured label (status, tier, role).
#[component]
pub fn Badge(#[prop(into)] text: String, #[prop(default = "neutral")] tone: &'static str) -> impl IntoView {
    view! { <span class=format!("badge badge-{tone}")>{text}</span> }
}

/// How full a quota is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeterLevel {
    Ok,
    /// At or above 80 % of the limit.
    Warning,
    /// At or above the limit.
    Over,
}

/// The level of `used` against `limit`: warning from 80 %, over from 100 %.
pub fn meter_level(used: f64, limit: f64) -> MeterLevel {
    if limit <= 0.0 {
        return if used > 0.0 { MeterLevel::Over } else { MeterLevel::Ok };
    }
    let ratio = used / limit;
    if ratio >= 1.0 {
        MeterLevel::Over
    } else if ratio >= 0.8 {
        MeterLevel::Warning
    } else {
        MeterLevel::Ok
    }
}

/// Usage against a limit, as a bar that turns amber at 80 % and red at 100 %.
#[component]
pub fn MeterBar(label: String, used: f64, limit: f64, #[prop(into)] caption: String) -> impl IntoView {
    let level = meter_level(used, limit);
    let pct = if limit > 0.0 { (used / limit * 100.0).clamp(0.0, 100.0) } else { 100.0 };
    let class = match level {
        MeterLevel::Ok => "meter",
        MeterLevel::Warning => "meter meter-warning",
        MeterLevel::Over => "meter meter-over",
    };
    view! {
        <div class=class>
            <div class="meter-label"><span>{label.clone()}</span><span class="num">{caption}</span></div>
            // An SVG bar: its width is an attribute, so no inline style (which the
            // Content-Security-Policy refuses) is needed.
            <div class="meter-track" role="meter" aria-label=label aria-valuemin="0"
                aria-valuemax=limit.to_string() aria-valuenow=used.to_string()>
                <svg class="meter-svg" aria-hidden="true" focusable="false">
                    <rect class="meter-fill" height="100%" width=format!("{pct:.1}%")/>
                </svg>
            </div>
        </div>
    }
}

/// A secret just made, shown this once in a success message, labelled for
/// whoever copies it (an API token, a webhook's signing secret).
#[component]
pub fn ShownOnce(message: &'static str, label: &'static str, secret: String) -> impl IntoView {
    view! {
        <div class="flash flash-success" role="status">
            <p>{message}</p>
            <p><code class="secret" aria-label=label>{secret}</code></p>
        </div>
    }
}

/// A table with a caption and sticky headers; numeric columns are right-aligned by CSS class.
#[component]
pub fn Table(caption: &'static str, headers: Vec<(String, bool)>, children: Children) -> impl IntoView {
    view! {
        <div class="table-wrap" tabindex="0" role="region" aria-label=caption>
            <table>
                <caption class="visually-hidden">{caption}</caption>
                <thead>
                    <tr>
                        {headers
                            .into_iter()
                            .map(|(h, numeric)| view! { <th scope="col" class:num=numeric>{h}</th> })
                            .collect_view()}
                    </tr>
                </thead>
                <tbody>{children()}</tbody>
            </table>
        </div>
    }
}

/// What an empty list shows: what is missing and what to do next.
#[component]
pub fn EmptyState(title: &'static str, #[prop(into)] hint: String) -> impl IntoView {
    view! {
        <div class="empty-state">
            <p class="empty-title">{title}</p>
            <p class="muted">{hint}</p>
        </div>
    }
}

/// What a page shows when its own data could not be loaded. On the server
/// the answer takes the error's status (404, 400, 403, 500…) rather than 200.
pub fn error_view(e: crate::error::AppError) -> AnyView {
    #[cfg(feature = "ssr")]
    if let Some(res) = use_context::<leptos_axum::ResponseOptions>() {
        res.set_status(http::StatusCode::from_u16(e.status_code()).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR));
    }
    section_error_view(e)
}

/// A resource's value once it has loaded: a loading line meanwhile, and on
/// failure the error in its place (with the page's status, unless `section`:
/// a part of a page that failed leaves the page's status as it is).
///
/// `<Loaded resource=data let:overview><OverviewView overview/></Loaded>`
#[component]
pub fn Loaded<T, V, F>(
    resource: Resource<Result<T, crate::error::AppError>>,
    children: F,
    #[prop(optional)] section: bool,
) -> impl IntoView
where
    T: Clone + Send + Sync + serde::Serialize + serde::de::DeserializeOwned + 'static,
    F: Fn(T) -> V + Clone + Send + Sync + 'static,
    V: IntoView + 'static,
{
    view! {
        <Suspense fallback=|| view! { <p class="muted" aria-live="polite">"Loading…"</p> }>
            {move || {
                let children = children.clone();
                Suspend::new(async move {
                    match resource.await {
                        Ok(value) => children(value).into_any(),
                        Err(e) if section => section_error_view(e),
                        Err(e) => error_view(e),
                    }
                })
            }}
        </Suspense>
    }
}

/// The message for a part of a page that could not be loaded; the page's
/// status stays as it is.
pub fn section_error_view(e: crate::error::AppError) -> AnyView {
    view! { <Flash kind=FlashKind::Error message=e.to_string()/> }.into_any()
}

/// The kind of a flash message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlashKind {
    Info,
    Success,
    Error,
}

/// A message at the top of a page after an action.
#[component]
pub fn Flash(kind: FlashKind, #[prop(into)] message: String) -> impl IntoView {
    let (class, role) = match kind {
        FlashKind::Info => ("flash flash-info", "status"),
        FlashKind::Success => ("flash flash-success", "status"),
        FlashKind::Error => ("flash flash-error", "alert"),
    };
    view! { <div class=class role=role>{message}</div> }
}

/// Percent-encodes `s` for use in a query string (`/` is kept, so a path
/// stays readable in `next=`).
pub fn url_encode(s: &str) -> String {
    use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
    const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~').remove(b'/');
    utf8_percent_encode(s, QUERY_VALUE).to_string()
}

/// A time as `2026-11-23 09:41 UTC`.
pub fn format_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meters_turn_amber_at_80_and_red_at_100_percent() {
        assert_eq!(meter_level(79.9, 100.0), MeterLevel::Ok);
        assert_eq!(meter_level(80.0, 100.0), MeterLevel::Warning);
        assert_eq!(meter_level(99.99, 100.0), MeterLevel::Warning);
        assert_eq!(meter_level(100.0, 100.0), MeterLevel::Over);
        assert_eq!(meter_level(0.0, 0.0), MeterLevel::Ok);
        assert_eq!(meter_level(1.0, 0.0), MeterLevel::Over);
    }

    #[test]
    fn quantities_read_as_people_write_them() {
        assert_eq!(format_bytes(512 * 1024 * 1024), "512 MiB");
        assert_eq!(format_bytes(10 * 1024_i64.pow(4)), "10 TiB");
        assert_eq!(format_bytes(1536), "1.5 KiB");
        assert_eq!(format_count(100_000_000), "100,000,000");
        assert_eq!(format_count(10), "10");
        assert_eq!(format_count(-1234), "-1,234");
        assert_eq!(format_cpu(250), "0.25 cores");
        assert_eq!(format_cpu(32000), "32 cores");
        assert_eq!(format_cpu(1000), "1 core");
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(url_encode("a b&c=d/é"), "a%20b%26c%3Dd/%C3%A9");
    }

    #[test]
    fn times_are_shown_in_utc() {
        let t = OffsetDateTime::from_unix_timestamp(1_795_000_000).unwrap();
        assert_eq!(format_time(t), "2026-11-18 11:06:40 UTC");
    }
}
