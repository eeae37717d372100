//! The HTML shell, the router and the console's layout.

#[cfg(feature = "ssr")]
pub mod background;
#[cfg(feature = "ssr")]
pub mod routes;
#[cfg(feature = "ssr")]
pub mod startup;

use crate::auth::{fetch_current_user, CurrentUser, Logout};
use crate::pages;
use crate::ui::{Badge, Button, ButtonKind};
use leptos::prelude::*;
#[cfg(feature = "ssr")]
use leptos_meta::MetaTags;
use leptos_meta::{provide_meta_context, Title};
use leptos_router::{
    components::{Outlet, ParentRoute, Redirect, Route, Router, Routes},
    hooks::use_location,
    path, Lazy, SsrMode,
};

/// The document around the application, rendered on the server.
#[cfg(feature = "ssr")]
pub fn shell(options: LeptosOptions) -> impl IntoView {
    // The page's scripts carry this answer's nonce; the policy names it.
    #[cfg(feature = "ssr")]
    crate::server::headers::announce_page_policy();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light dark"/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                <link rel="stylesheet" id="leptos" href=crate::server::assets::stylesheet_href()/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The feature endpoints served beside the pages: files a person downloads.
/// Machine endpoints of features join here too, so `server/` stays
/// infrastructure that names no feature.
#[cfg(feature = "ssr")]
pub fn feature_routes() -> axum::Router<crate::server::state::AppState> {
    use axum::routing::get;
    axum::Router::new()
        .route("/tenants/{slug}/export", get(crate::tenants::ssr::export_handler))
        .route("/tenants/{slug}/activation/files/{name}", get(crate::activation::files::file_handler))
        .route("/tenants/{slug}/activation/report.json", get(crate::activation::files::report_handler))
        .route("/tenants/{slug}/activation/bundle.tar", get(crate::activation::files::bundle_handler))
        .route("/tenants/{slug}/teardown.json", get(crate::activation::files::teardown_handler))
        .route("/tenants/{slug}/namespace.yaml", get(crate::tenants::ssr::namespace::yaml_handler))
        .route("/audit/export", get(crate::trail::export::handler))
        .route("/billing/export", get(crate::billing::http::console_handler))
}

/// The endpoints machines call in the path of every proxied request, served
/// without sessions or page middleware: each checks its own token, and each
/// takes only the state it reads.
#[cfg(feature = "ssr")]
pub fn machine_routes(
    routing: std::sync::Arc<crate::routing::Routing>,
    pool: sqlx::PgPool,
    metrics: std::sync::Arc<crate::metrics::Metrics>,
    heavy: (sqlx::PgPool, std::sync::Arc<crate::server::state::HeavyWork>),
) -> axum::Router<crate::server::state::AppState> {
    use axum::routing::{get, post};
    let sources: crate::metrics::Sources = std::sync::Arc::new((routing.clone(), pool.clone(), metrics));
    let (heavy_pool, heavy_work) = heavy;
    let machines =
        std::sync::Arc::new(crate::usage::ingest::Machines { routing: routing.clone(), pool, heavy_pool, heavy_work });
    axum::Router::new()
        .route("/route/check", get(crate::routing::check::handler))
        .with_state(routing)
        .merge(
            axum::Router::new()
                .route("/api/v1/usage", post(crate::usage::ingest::handler))
                .layer(axum::extract::DefaultBodyLimit::max(crate::usage::ingest::MAX_BODY_BYTES))
                .route("/api/v1/billing", get(crate::billing::http::api_handler))
                .route("/api/v1/billing/adjustments", post(crate::billing::http::adjust_handler))
                .with_state(machines),
        )
        .merge(axum::Router::new().route("/metrics", get(crate::metrics::handler)).with_state(sources))
}

/// The console: every page and where it lives.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Title formatter=crate::ui::document_title/>
        <Router>
            <Routes fallback=NotFound>
                <Route path=path!("/login") view={Lazy::<pages::Login>::new()} ssr=SsrMode::Async/>
                <Route path=path!("/login/code") view={Lazy::<pages::LoginCode>::new()} ssr=SsrMode::Async/>
                <Route path=path!("/login/enrol") view={Lazy::<pages::Enrol>::new()} ssr=SsrMode::Async/>
                <Route path=path!("/login/recovery-codes") view={Lazy::<pages::RecoveryCodes>::new()} ssr=SsrMode::Async/>
                <Route path=path!("/invite/:token") view={Lazy::<pages::Invitation>::new()} ssr=SsrMode::Async/>
                <Route path=path!("/mfa-reset/:token") view={Lazy::<pages::MfaReset>::new()} ssr=SsrMode::Async/>
                <ParentRoute path=path!("") view=ConsoleLayout ssr=SsrMode::Async>
                    <Route path=path!("") view={Lazy::<pages::Dashboard>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("tenants") view={Lazy::<pages::Tenants>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("tenants/new") view={Lazy::<pages::NewTenant>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("tenants/:slug") view={Lazy::<pages::Tenant>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("tenants/:slug/usage") view={Lazy::<pages::Usage>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("usage") view={Lazy::<pages::Usage>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("tenants/:slug/keys") view={Lazy::<pages::Keys>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("keys") view={Lazy::<pages::Keys>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("tenants/:slug/activation") view={Lazy::<pages::Activation>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("tiers") view={Lazy::<pages::Tiers>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("tiers/:id/edit") view={Lazy::<pages::TierEdit>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("audit") view={Lazy::<pages::Audit>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("account") view={Lazy::<pages::Account>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("team") view={Lazy::<pages::Team>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("settings/tokens") view={Lazy::<pages::Tokens>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("settings/webhooks") view={Lazy::<pages::Webhooks>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("settings/webhooks/:id") view={Lazy::<pages::Webhook>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("alerts") view={Lazy::<pages::Alerts>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("billing") view={Lazy::<pages::Billing>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("audit/verify") view={Lazy::<pages::AuditVerify>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("audit/:id") view={Lazy::<pages::AuditEvent>::new()} ssr=SsrMode::Async/>
                </ParentRoute>
            </Routes>
        </Router>
    }
}

/// The frame of every signed-in page: header with the user, navigation, content.
#[component]
fn ConsoleLayout() -> impl IntoView {
    let user = Resource::new(|| (), |_| fetch_current_user());
    let alerts = Resource::new(|| (), |_| crate::alerts::open_alert_count());
    view! {
        <a class="skip-link" href="#main">"Skip to content"</a>
        <div class="console">
            <header class="topbar">
                <a class="brand" href="/">"Bulkhead"</a>
                // Not ui::Loaded: a part of the header: nothing shown while loading or on failure.
                <Suspense>
                    {move || Suspend::new(async move {
                        alerts.await.ok().map(|n| view! { <AlertCount n/> })
                    })}
                </Suspense>
                // Not ui::Loaded: a part of the header: an inline loading word, and a failure sends to the sign-in page.
                <Suspense fallback=|| view! { <span class="muted">"Loading…"</span> }>
                    {move || Suspend::new(async move {
                        match user.await {
                            Ok(u) => view! { <UserMenu user=u/> }.into_any(),
                            Err(_) => view! { <Redirect path="/login"/> }.into_any(),
                        }
                    })}
                </Suspense>
            </header>
            <nav class="sidenav" aria-label="Main">
                // Not ui::Loaded: the navigation: nothing shown while loading; a failure shows the staff's links.
                <Suspense>
                    {move || Suspend::new(async move {
                        // A tenant admin's console is their tenant; the server refuses the rest anyway.
                        let tenant_admin = matches!(user.await, Ok(u) if u.role == crate::auth::Role::TenantAdmin);
                        if tenant_admin {
                            view! {
                                <ul>
                                    <li><NavLink href="/" exact=true label="My tenant"/></li>
                                    <li><NavLink href="/usage" label="Usage"/></li>
                                    <li><NavLink href="/keys" label="API keys"/></li>
                                    <li><NavLink href="/team" label="Team"/></li>
                                    <li><NavLink href="/alerts" label="Alerts"/></li>
                                    <li><NavLink href="/audit" label="Audit trail"/></li>
                                </ul>
                            }.into_any()
                        } else {
                            view! {
                                <ul>
                                    <li><NavLink href="/" exact=true label="Dashboard"/></li>
                                    <li><NavLink href="/tenants" label="Tenants"/></li>
                                    <li><NavLink href="/tiers" label="Tiers"/></li>
                                    <li><NavLink href="/alerts" label="Alerts"/></li>
                                    <li><NavLink href="/audit" label="Audit trail"/></li>
                                    <li><NavLink href="/settings/tokens" label="API tokens"/></li>
                                    <li><NavLink href="/billing" label="Billing"/></li>
                                    <li><NavLink href="/settings/webhooks" label="Webhooks"/></li>
                                </ul>
                            }.into_any()
                        }
                    })}
                </Suspense>
            </nav>
            <main class="content" id="main" tabindex="-1">
                <Outlet/>
            </main>
        </div>
    }
}

#[component]
fn UserMenu(user: CurrentUser) -> impl IntoView {
    let logout = ServerAction::<Logout>::new();
    view! {
        <div class="user-menu">
            <span class="user-email" title="Signed in as">{user.email.clone()}</span>
            <Badge text=user.role.label() tone="info"/>
            <a href="/account">"Account"</a>
            <ActionForm action=logout>
                <Button kind=ButtonKind::Secondary pending=logout.pending() pending_label="Signing out…">"Sign out"</Button>
            </ActionForm>
        </div>
    }
}

/// A link of the side navigation, marked as the page shown (`aria-current`)
/// while the address is at it or under it (`exact`: at it only). The router
/// follows plain links too; this one reads the address once per link.
#[component]
fn NavLink(href: &'static str, label: &'static str, #[prop(optional)] exact: bool) -> impl IntoView {
    let pathname = use_location().pathname;
    let current = move || pathname.with(|path| is_at(path, href, exact)).then_some("page");
    view! { <a href=href aria-current=current>{label}</a> }
}

/// Whether `path` is the page at `href`, or (unless `exact`) one under it.
fn is_at(path: &str, href: &str, exact: bool) -> bool {
    let path = path.strip_suffix('/').filter(|p| !p.is_empty()).unwrap_or(path);
    match path.strip_prefix(href) {
        Some("") => true,
        Some(rest) => !exact && (href.ends_with('/') || rest.starts_with('/')),
        None => false,
    }
}

/// The header's link to the alerts, with how many quotas stand at or over 80 %.
#[component]
fn AlertCount(n: i64) -> impl IntoView {
    let label = match n {
        0 => "No quota alert".to_string(),
        1 => "1 quota alert".to_string(),
        n => format!("{n} quota alerts"),
    };
    view! {
        <a class="alert-count" class:alert-count-on={n > 0} href="/alerts" aria-label=label.clone() title=label>
            "Alerts " <span class="count" data-count=n.to_string()>{n}</span>
        </a>
    }
}

/// Any address the console does not know.
#[component]
fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(res) = use_context::<leptos_axum::ResponseOptions>() {
        res.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <Title text="Not found"/>
        <main class="auth-page" id="main">
            <section class="auth-card">
                <h1>"Page not found"</h1>
                <p>"There is nothing at this address."</p>
                <p><a href="/">"Go to the dashboard"</a></p>
            </section>
        </main>
    }
}

#[cfg(test)]
mod tests {
    use super::is_at;

    #[test]
    fn a_navigation_link_is_current_at_its_page_and_under_it() {
        assert!(is_at("/", "/", true));
        assert!(!is_at("/tenants", "/", true));
        assert!(is_at("/tenants", "/tenants", false));
        assert!(is_at("/tenants/", "/tenants", false));
        assert!(is_at("/tenants/acme/usage", "/tenants", false));
        assert!(!is_at("/tenants-archive", "/tenants", false));
        assert!(!is_at("/tiers", "/tenants", false));
        assert!(!is_at("/settings/webhooks", "/settings/tokens", false));
    }
}
