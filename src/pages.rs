//! Every page as a lazy route: its code travels in a chunk of its own
//! (`cargo leptos build --split`), fetched the first time the page is shown,
//! so a first visit downloads the shell and the page it asked for, not the
//! whole console. Without `--split` the same routes are ordinary ones.

use leptos::prelude::*;
use leptos_router::{lazy_route, LazyRoute};

/// A route whose view is `page`, loaded lazily.
macro_rules! lazy_pages {
    ($($route:ident => $page:path),* $(,)?) => {
        $(
            #[doc = concat!("The lazily loaded route of `", stringify!($page), "`.")]
            pub struct $route;

            #[lazy_route]
            impl LazyRoute for $route {
                fn data() -> Self {
                    $route
                }

                fn view(this: Self) -> AnyView {
                    let _ = this;
                    $page().into_any()
                }
            }
        )*
    };
}

lazy_pages! {
    Login => crate::auth::LoginPage,
    LoginCode => crate::auth::LoginCodePage,
    Enrol => crate::auth::EnrolPage,
    RecoveryCodes => crate::auth::RecoveryCodesPage,
    Invitation => crate::team::InvitationPage,
    MfaReset => crate::auth::MfaResetPage,
    Dashboard => crate::dashboard::DashboardPage,
    Tenants => crate::tenants::TenantsPage,
    NewTenant => crate::tenants::NewTenantPage,
    Tenant => crate::tenants::TenantPage,
    Usage => crate::tenants::UsagePage,
    Activation => crate::activation::ActivationPage,
    Tiers => crate::tiers::TiersPage,
    TierEdit => crate::tiers::TierEditPage,
    Audit => crate::trail::AuditPage,
    AuditVerify => crate::trail::AuditVerifyPage,
    AuditEvent => crate::trail::AuditEventPage,
    Account => crate::auth::AccountPage,
    Team => crate::tenants::TeamPage,
    Tokens => crate::tokens::TokensPage,
    Keys => crate::keys::KeysPage,
    Webhooks => crate::webhooks::WebhooksPage,
    Webhook => crate::webhooks::WebhookPage,
    Alerts => crate::alerts::AlertsPage,
    Billing => crate::billing::BillingPage,
}
