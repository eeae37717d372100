//! Billing: each tenant's figures per calendar month (tier, limits, API
//! calls, peak and average of each reported gauge, overage per limit), as
//! CSV or JSON from the console (`/billing`), from `GET /api/v1/billing`
//! (token scope `billing`) and from `bulkhead billing export`. When a month
//! closes, a `billing.period_closed` event carries the figures to webhooks;
//! a closed month changes only by an adjustment (`billing.period_adjusted`).

#[cfg(feature = "ssr")]
pub mod adjust;
#[cfg(feature = "ssr")]
pub mod http;
mod page;
#[cfg(feature = "ssr")]
pub mod ssr;

pub use page::BillingPage;

use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// A calendar month, `YYYY-MM`, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub year: i32,
    pub month: u8,
}

impl Period {
    /// Parses `YYYY-MM` (a month from 2000 on).
    pub fn parse(input: &str) -> Result<Period, AppError> {
        let bad = || AppError::invalid("period", "Give a month as YYYY-MM, for example 2026-10.");
        let (y, m) = input.trim().split_once('-').ok_or_else(bad)?;
        if y.len() != 4 || m.len() != 2 {
            return Err(bad());
        }
        let (year, month): (i32, u8) = (y.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
        if !(2000..=9999).contains(&year) || !(1..=12).contains(&month) {
            return Err(bad());
        }
        Ok(Period { year, month })
    }

    /// The month's first day.
    pub fn first_day(self) -> time::Date {
        let month = time::Month::try_from(self.month).expect("a checked month");
        time::Date::from_calendar_date(self.year, month, 1).expect("every month has a first day")
    }

    /// The month holding `date`.
    pub fn of(date: time::Date) -> Period {
        Period { year: date.year(), month: date.month() as u8 }
    }

    /// The month before.
    pub fn previous(self) -> Period {
        if self.month == 1 {
            Period { year: self.year - 1, month: 12 }
        } else {
            Period { year: self.year, month: self.month - 1 }
        }
    }
}

impl std::fmt::Display for Period {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// A month closed for billing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClosedPeriod {
    pub period: String,
    #[serde(with = "time::serde::rfc3339")]
    pub closed_at: time::OffsetDateTime,
    pub tenants: i32,
}

/// The billing page: the month to offer (the last one ended) and the months closed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BillingOverview {
    pub last_month: String,
    pub closed: Vec<ClosedPeriod>,
}

/// The months closed so far, newest first (platform staff).
#[server(endpoint = "billing_periods")]
pub async fn billing_periods() -> Result<BillingOverview, AppError> {
    let user = crate::auth::session::require_platform_staff().await?;
    let state = crate::server::state::app_state()?;
    let mut tx = crate::server::db::read(&state.pool, crate::auth::session::scope_for(&user)?).await?;
    let closed = ssr::closed(&mut tx).await?;
    tx.done().await?;
    let last_month = Period::of(time::OffsetDateTime::now_utc().date()).previous().to_string();
    Ok(BillingOverview { last_month, closed })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_parse_and_print_as_year_and_month() {
        let p = Period::parse(" 2026-01 ").unwrap();
        assert_eq!((p.to_string(), p.previous().to_string()), ("2026-01".into(), "2025-12".into()));
        assert_eq!(p.first_day().to_string(), "2026-01-01");
        for bad in ["2026-13", "2026-1", "26-01", "2026/01", "", "2026-00", "1999-12", "abcd-ef"] {
            assert!(Period::parse(bad).is_err(), "{bad}");
        }
    }
}
