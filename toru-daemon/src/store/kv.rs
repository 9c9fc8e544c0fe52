//! Per-plugin key-value data (the `plugin_kv` table), backing the plugins' `kv.request`.
//!
//! Every query is scoped by `plugin_id`: one plugin can never see or touch another's keys.
//!
//! Each plugin's data is bounded by a quota in bytes (UTF-8 key plus value lengths of all its
//! entries), so a plugin cannot fill the disk. Its use is kept in `plugin_kv_usage` by triggers
//! (schema version 3) and checked in the same transaction as the write.

use std::sync::atomic::Ordering;

use rusqlite::OptionalExtension;
use serde::Serialize;

use super::error::OpError;
use super::{Error, Store, now_unix_ms};

/// Bytes of KV data (keys and values) one plugin may keep unless the administrator sets
/// `kv_quota_bytes`: far more than a plugin's settings and state need, and a bound on what a
/// runaway or hostile plugin can write to the daemon's disk.
pub const DEFAULT_KV_QUOTA: u64 = 64 * 1024 * 1024;

/// A plugin's KV use, for the API and `toructl plugin show`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct KvUsage {
    /// Bytes its keys and values take (UTF-8 lengths, not the file's size).
    pub bytes: u64,
    /// Bytes it may take.
    pub quota: u64,
}

impl Store {
    /// Sets the per-plugin KV quota in bytes ([`DEFAULT_KV_QUOTA`] until called). Data already
    /// over a lowered quota stays; only writes that would grow it are refused.
    pub fn set_kv_quota(&self, bytes: u64) {
        self.inner.kv_quota.store(bytes, Ordering::Relaxed);
    }

    /// `plugin_id`'s KV use and quota.
    pub async fn kv_usage(&self, plugin_id: &str) -> Result<KvUsage, Error> {
        let plugin = plugin_id.to_owned();
        let quota = self.inner.kv_quota.load(Ordering::Relaxed);
        let bytes = self
            .read_now("kv_usage", Some(plugin_id), move |conn| {
                Ok(used_bytes(conn, &plugin)?)
            })
            .await?;
        Ok(KvUsage { bytes, quota })
    }

    /// Reads `key` from `plugin_id`'s store; `None` if it was never set or was deleted.
    pub async fn kv_get(&self, plugin_id: &str, key: &str) -> Result<Option<String>, Error> {
        let (plugin, key) = (plugin_id.to_owned(), key.to_owned());
        self.read_now("kv_get", Some(plugin_id), move |conn| {
            Ok(conn
                .prepare_cached("SELECT value FROM plugin_kv WHERE plugin_id = ?1 AND key = ?2")?
                .query_row((&plugin, &key), |row| row.get(0))
                .optional()?)
        })
        .await
    }

    /// Sets `key` in `plugin_id`'s store, replacing any previous value. Durable once it
    /// returns (see the module docs). Fails with [`Error::KvQuotaExceeded`] when the write would
    /// take the plugin's data past its quota and grow it.
    pub async fn kv_set(&self, plugin_id: &str, key: &str, value: &str) -> Result<(), Error> {
        let (plugin, key, value) = (plugin_id.to_owned(), key.to_owned(), value.to_owned());
        let quota = self.inner.kv_quota.load(Ordering::Relaxed);
        self.call("kv_set", Some(plugin_id), move |conn| {
            let tx = conn.transaction()?;
            let used = used_bytes(&tx, &plugin)?;
            let old: i64 = tx
                .prepare_cached(
                    "SELECT length(CAST(key AS BLOB)) + length(CAST(value AS BLOB)) \
                     FROM plugin_kv WHERE plugin_id = ?1 AND key = ?2",
                )?
                .query_row((&plugin, &key), |row| row.get(0))
                .optional()?
                .unwrap_or(0);
            let old = u64::try_from(old).unwrap_or(0);
            let new = u64::try_from(key.len() + value.len()).unwrap_or(u64::MAX);
            let would_be = used.saturating_sub(old).saturating_add(new);
            if would_be > quota && would_be > used {
                return Err(OpError::Done(Error::KvQuotaExceeded {
                    plugin_id: plugin,
                    quota,
                    used,
                    would_be,
                }));
            }
            tx.prepare_cached(
                "INSERT INTO plugin_kv (plugin_id, key, value, updated_at) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (plugin_id, key) \
                 DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            )?
            .execute((&plugin, &key, &value, now_unix_ms()))?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// Removes `key` from `plugin_id`'s store. Returns whether it existed.
    pub async fn kv_delete(&self, plugin_id: &str, key: &str) -> Result<bool, Error> {
        let (plugin, key) = (plugin_id.to_owned(), key.to_owned());
        self.call("kv_delete", Some(plugin_id), move |conn| {
            let n = conn
                .prepare_cached("DELETE FROM plugin_kv WHERE plugin_id = ?1 AND key = ?2")?
                .execute((&plugin, &key))?;
            Ok(n > 0)
        })
        .await
    }

    /// The keys in `plugin_id`'s store that start with `prefix` (all keys for `""`), sorted by
    /// their UTF-8 bytes (= by code point). The prefix is matched literally: `%` and `_` are
    /// ordinary characters, not `LIKE` wildcards.
    pub async fn kv_list(&self, plugin_id: &str, prefix: &str) -> Result<Vec<String>, Error> {
        let keys = self.kv_list_within(plugin_id, prefix, usize::MAX).await?;
        Ok(keys.unwrap_or_default())
    }

    /// Like [`Store::kv_list`], but `None` as soon as the keys take more than `max_bytes`
    /// (their UTF-8 lengths): an answer that could not be sent anyway is never built in full,
    /// so a plugin's `list` costs the daemon at most about one frame of memory.
    pub async fn kv_list_within(
        &self,
        plugin_id: &str,
        prefix: &str,
        max_bytes: usize,
    ) -> Result<Option<Vec<String>>, Error> {
        let plugin = plugin_id.to_owned();
        let lower = prefix.to_owned();
        let upper = prefix_upper_bound(prefix);
        self.call("kv_list", Some(plugin_id), move |conn| {
            // A range on the primary key, so SQLite walks exactly the matching keys.
            let mut statement = match &upper {
                Some(_) => conn.prepare_cached(
                    "SELECT key FROM plugin_kv \
                     WHERE plugin_id = ?1 AND key >= ?2 AND key < ?3 ORDER BY key",
                )?,
                None => conn.prepare_cached(
                    "SELECT key FROM plugin_kv WHERE plugin_id = ?1 AND key >= ?2 ORDER BY key",
                )?,
            };
            let mut rows = match &upper {
                Some(upper) => statement.query((&plugin, &lower, upper))?,
                None => statement.query((&plugin, &lower))?,
            };
            let (mut keys, mut bytes) = (Vec::new(), 0usize);
            while let Some(row) = rows.next()? {
                let key: String = row.get(0)?;
                bytes = bytes.saturating_add(key.len());
                if bytes > max_bytes {
                    return Ok(None);
                }
                keys.push(key);
            }
            Ok(Some(keys))
        })
        .await
    }
}

/// The bytes `plugin_id`'s entries take, from the table the triggers keep.
fn used_bytes(conn: &rusqlite::Connection, plugin_id: &str) -> Result<u64, rusqlite::Error> {
    Ok(conn
        .prepare_cached("SELECT bytes FROM plugin_kv_usage WHERE plugin_id = ?1")?
        .query_row([plugin_id], |row| row.get::<_, i64>(0))
        .optional()?
        .map_or(0, |bytes| u64::try_from(bytes).unwrap_or(0)))
}

/// The smallest string greater than every string that starts with `prefix`, or `None` if there
/// is none (`prefix` is empty or all U+10FFFF).
///
/// SQLite compares TEXT with `memcmp` on UTF-8, and UTF-8 byte order is code point order, so
/// "starts with `prefix`" is exactly `prefix <= key < prefix_upper_bound(prefix)`: bump the
/// last character that can be bumped and cut off everything after it. Unlike appending
/// U+10FFFF, this does not miss keys that continue with U+10FFFF.
fn prefix_upper_bound(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = match last {
            '\u{D7FF}' => Some('\u{E000}'), // skip the surrogate range, which is not a char
            c => char::from_u32(u32::from(c) + 1),
        };
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
        // `last` was U+10FFFF: nothing follows it, so bump the character before.
    }
    None
}

#[cfg(test)]
mod tests {
    use super::prefix_upper_bound;

    #[tokio::test]
    async fn a_list_stops_as_soon_as_its_keys_pass_the_bound() {
        let dir = tempfile::tempdir().unwrap();
        let store = super::Store::open(&dir.path().join("t.db")).await.unwrap();
        for key in ["aa", "ab", "ac", "b"] {
            store.kv_set("p", key, "v").await.unwrap();
        }
        let within = |prefix: &'static str, max: usize| {
            let store = store.clone();
            async move { store.kv_list_within("p", prefix, max).await.unwrap() }
        };
        assert_eq!(
            within("a", 6).await,
            Some(vec!["aa".into(), "ab".into(), "ac".into()])
        );
        assert_eq!(
            within("a", 5).await,
            None,
            "6 bytes of keys over a 5-byte bound"
        );
        assert_eq!(within("b", 1).await, Some(vec!["b".into()]));
        assert_eq!(
            store.kv_list("p", "").await.unwrap().len(),
            4,
            "kv_list is unbounded"
        );
    }

    #[test]
    fn upper_bounds() {
        // (case, prefix, expected bound)
        let cases: &[(&str, &str, Option<&str>)] = &[
            ("empty prefix has no bound", "", None),
            ("ascii", "abc", Some("abd")),
            ("percent is just a byte", "a%", Some("a&")),
            ("multi-byte last char", "aé", Some("aê")),
            ("before surrogates", "a\u{D7FF}", Some("a\u{E000}")),
            ("max char is dropped", "a\u{10FFFF}", Some("b")),
            ("only max chars", "\u{10FFFF}\u{10FFFF}", None),
        ];
        for (case, prefix, expected) in cases {
            assert_eq!(
                prefix_upper_bound(prefix).as_deref(),
                *expected,
                "case: {case}"
            );
        }
    }

    #[test]
    fn bound_is_tight_for_byte_order() {
        // Every string with the prefix sorts below the bound; the bound itself does not have it.
        for prefix in ["a", "é", "a\u{10FFFF}", "z\u{D7FF}"] {
            let upper = prefix_upper_bound(prefix).unwrap();
            for tail in ["", "\u{0}", "zzz", "\u{10FFFF}\u{10FFFF}"] {
                let key = format!("{prefix}{tail}");
                assert!(key.as_bytes() < upper.as_bytes(), "{key:?} < {upper:?}");
            }
            assert!(!upper.starts_with(prefix));
        }
    }
}
