//! Daemon-wide settings stored in the database (the `settings` table).

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};
use uuid::Uuid;

use super::{Error, OpError, Store};

/// The `settings` key holding this installation's id.
const INSTANCE_ID_KEY: &str = "instance_id";

impl Store {
    /// This installation's id: a random (v4) UUID made the first time it is asked for and the
    /// same forever after, across restarts. It tells installations apart (e.g. in logs or when
    /// several hosts report to one place) without revealing anything about the host.
    pub async fn instance_id(&self) -> Result<Uuid, Error> {
        self.call("instance_id", None, |conn| {
            let text = match get(conn, INSTANCE_ID_KEY)? {
                Some(text) => text,
                None => {
                    // Insert-if-absent then read back, under the write lock: even two processes
                    // racing on a fresh database agree on a single id.
                    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                    tx.prepare_cached(
                        "INSERT INTO settings (key, value) VALUES (?1, ?2) \
                         ON CONFLICT (key) DO NOTHING",
                    )?
                    .execute((INSTANCE_ID_KEY, Uuid::new_v4().to_string()))?;
                    let text = get(&tx, INSTANCE_ID_KEY)?.expect("inserted just above");
                    tx.commit()?;
                    text
                }
            };
            Uuid::parse_str(&text).map_err(|e| {
                OpError::Corrupt(format!(
                    "settings.{INSTANCE_ID_KEY} = {text:?} is not a UUID: {e}"
                ))
            })
        })
        .await
    }
}

/// Reads one setting.
fn get(conn: &Connection, key: &str) -> rusqlite::Result<Option<String>> {
    conn.prepare_cached("SELECT value FROM settings WHERE key = ?1")?
        .query_row([key], |row| row.get(0))
        .optional()
}
