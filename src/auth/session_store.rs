//! The browser sessions' store: PostgreSQL, read through what this instance
//! holds (`held`), so an unchanged session is not read again on each request.

use super::held::HeldSessions;
use std::sync::Arc;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};
use tower_sessions_sqlx_store::PostgresStore;

/// `PostgresStore`, with the records this instance read or wrote held in
/// memory until the database notices a change (`held`).
#[derive(Debug, Clone)]
pub struct HeldStore {
    store: PostgresStore,
    held: Arc<HeldSessions>,
}

impl HeldStore {
    pub fn new(store: PostgresStore, held: Arc<HeldSessions>) -> Self {
        Self { store, held }
    }
}

#[async_trait::async_trait]
impl SessionStore for HeldStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        let epoch = self.held.epoch();
        self.store.create(record).await?;
        self.held.keep_record(record, epoch);
        Ok(())
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        // Written by this instance: its own notice will follow, and the
        // record is read again once after it.
        self.held.forget_record(&record.id);
        self.store.save(record).await
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        if let Some(record) = self.held.record(id) {
            return Ok(Some(record));
        }
        let epoch = self.held.epoch();
        let record = self.store.load(id).await?;
        if let Some(record) = &record {
            self.held.keep_record(record, epoch);
        }
        Ok(record)
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.held.forget_record(id);
        self.store.delete(id).await
    }
}
