//! The tenant list: filters, orders and keyset paging.

use super::super::domain;
use super::super::{TenantPageData, TenantRow, TierChoice};
use crate::domain::environment::Environment;
use crate::domain::isolation::IsolationLevel;
use crate::domain::tenant_status::TenantStatus;
use crate::domain::tier_id::TierId;
use crate::error::AppError;
use sqlx::PgConnection;
use uuid::Uuid;

/// Rows per page of the tenant list.
pub const PAGE_SIZE: i64 = 50;

/// The orders the tenant list offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    #[default]
    Newest,
    Oldest,
    Name,
}

impl Sort {
    pub fn parse(s: Option<&str>) -> Result<Sort, AppError> {
        match s.map(str::trim) {
            None | Some("") | Some("newest") => Ok(Sort::Newest),
            Some("oldest") => Ok(Sort::Oldest),
            Some("name") => Ok(Sort::Name),
            Some(_) => Err(AppError::invalid("sort", "Sort by newest, oldest or name.")),
        }
    }
}

/// The tenant list's filters, parsed.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub search: Option<String>,
    pub tier: Option<String>,
    pub status: Option<TenantStatus>,
    pub isolation: Option<IsolationLevel>,
    pub sort: Sort,
    /// The last tenant of the previous page (keyset paging in the chosen order).
    pub after: Option<Uuid>,
}

use crate::domain::text::non_empty;

impl ListFilter {
    pub fn parse(
        q: Option<String>,
        tier: Option<String>,
        status: Option<String>,
        isolation: Option<String>,
        sort: Option<String>,
        after: Option<String>,
    ) -> Result<ListFilter, AppError> {
        let isolation = match non_empty(isolation) {
            None => None,
            Some(l) => Some(domain::parse_isolation(&l).map_err(|m| AppError::invalid("isolation", m))?),
        };
        let search = non_empty(q).map(|s| s.chars().take(100).collect::<String>());
        let status = match non_empty(status) {
            None => None,
            Some(s) => Some(TenantStatus::parse(&s).ok_or_else(|| AppError::invalid("status", "Unknown status."))?),
        };
        let after = match non_empty(after) {
            None => None,
            Some(c) => Some(Uuid::parse_str(&c).map_err(|_| AppError::invalid("after", "Invalid page cursor."))?),
        };
        Ok(ListFilter { search, tier: non_empty(tier), status, isolation, sort: Sort::parse(sort.as_deref())?, after })
    }
}

/// Escapes LIKE wildcards in user input.
fn like_pattern(s: &str) -> String {
    let escaped = s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("%{escaped}%")
}

/// The tenant list query in one order: the same filters, the keyset
/// condition `$cursor` (`$4` is the last row of the previous page) and `ORDER
/// BY $order`; each expansion is still one query checked at compile time.
macro_rules! tenant_page {
    ($conn:expr, $f:expr, $pattern:expr, $cursor:tt, $order:tt) => {
        sqlx::query_as!(
            TenantRow,
            r#"SELECT id, slug, name, tier_id AS "tier_id: TierId", isolation_level AS "isolation_level: IsolationLevel", status AS "status: TenantStatus", region, environment AS "environment: Environment", created_at
               FROM tenants
               WHERE ($1::text IS NULL OR (name || ' ' || slug) ILIKE $1)
                 AND ($2::text IS NULL OR tier_id = $2)
                 AND (CASE WHEN $3::text IS NULL THEN status <> 'deleted' ELSE status = $3 END)
                 AND ($6::smallint IS NULL OR isolation_level = $6)
                 AND ($4::uuid IS NULL OR "# + $cursor + r#")
               ORDER BY "# + $order + r#"
               LIMIT $5"#,
            $pattern,
            $f.tier,
            $f.status.map(TenantStatus::as_str),
            $f.after,
            PAGE_SIZE + 1,
            $f.isolation.map(IsolationLevel::number)
        )
        .fetch_all(&mut *$conn)
        .await?
    };
}

/// One page of tenants, and the tiers its filter offers. The cursor is the
/// last row's id; its sort key is read back from the row, so every order
/// pages by index without OFFSET.
pub async fn list(conn: &mut PgConnection, f: &ListFilter) -> Result<TenantPageData, sqlx::Error> {
    let pattern = f.search.as_deref().map(like_pattern);
    let mut tenants = match f.sort {
        Sort::Newest => tenant_page!(
            conn,
            f,
            pattern,
            "(created_at, id) < ((SELECT created_at FROM tenants WHERE id = $4), $4)",
            "created_at DESC, id DESC"
        ),
        Sort::Oldest => tenant_page!(
            conn,
            f,
            pattern,
            "(created_at, id) > ((SELECT created_at FROM tenants WHERE id = $4), $4)",
            "created_at, id"
        ),
        Sort::Name => {
            tenant_page!(conn, f, pattern, "(name, id) > ((SELECT name FROM tenants WHERE id = $4), $4)", "name, id")
        }
    };
    let next = if tenants.len() as i64 > PAGE_SIZE {
        tenants.truncate(PAGE_SIZE as usize);
        tenants.last().map(|t| t.id.to_string())
    } else {
        None
    };
    Ok(TenantPageData { tenants, next, tiers: tier_choices(conn).await? })
}

/// The tiers the list's filter offers, cheapest first.
async fn tier_choices(conn: &mut PgConnection) -> Result<Vec<TierChoice>, sqlx::Error> {
    sqlx::query_as!(TierChoice, r#"SELECT id AS "id: TierId", name FROM tiers ORDER BY position"#).fetch_all(conn).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_wildcards_in_searches_are_literal() {
        assert_eq!(like_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
    }

    #[test]
    fn sorts_parse_and_refuse_the_unknown() {
        assert_eq!(Sort::parse(None).unwrap(), Sort::Newest);
        assert_eq!(Sort::parse(Some("name")).unwrap(), Sort::Name);
        assert!(Sort::parse(Some("price")).is_err());
        assert!(ListFilter::parse(None, None, None, None, None, Some("not-a-uuid".into())).is_err());
        assert!(ListFilter::parse(None, None, None, Some("9".into()), None, None).is_err());
    }
}
