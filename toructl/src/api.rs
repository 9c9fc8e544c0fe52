//! The admin API's calls, typed with the `toru-api` crate: one method per route the CLI uses,
//! so no caller builds a path or reads a JSON field by name.

use http::Method;
use toru_api::{
    DiscoveryFailure, Event, EventsQuery, FollowEventsQuery, InstallResult, KvEntry, KvKeys,
    KvValue, LicenseForm, LimitsChange, LogEntry, LogPage, LoginRequest, LogsQuery, Me,
    NewPassword, NewRole, NewUser, Plugin, PluginBackup, PluginDetails, PluginLimits,
    PluginRestored, PluginSettings, PluginUsage, RestoreStaged, Role, SIGNATURE_HEADER,
    SettingsChange, Status, UninstallQuery, Uninstalled, User,
};

use crate::client::{Client, ClientError};

/// A path segment from user input (an id, a key, a user name), percent-encoded except for the
/// unreserved characters.
pub fn segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `?a=1&b=x` from one of `toru-api`'s query types, naming only the fields that have a value
/// (an empty string when none has): the contract's own field names, so a filter added there
/// is sent without a change here.
fn query<Q: serde::Serialize>(q: &Q) -> String {
    // A flat struct of strings, numbers and enums always serialises.
    let encoded = serde_urlencoded::to_string(q).unwrap_or_default();
    if encoded.is_empty() {
        encoded
    } else {
        format!("?{encoded}")
    }
}

/// `/api/plugins/{id}`.
fn plugin_path(id: &str) -> String {
    format!("/api/plugins/{}", segment(id))
}

/// `/api/plugins/{id}/kv/{key}`.
fn kv_path(id: &str, key: &str) -> String {
    format!("{}/kv/{}", plugin_path(id), segment(key))
}

/// A session token from a login's `Set-Cookie` headers (public for the daemon's tests, which
/// log in with raw requests too).
pub fn session_token(headers: &http::HeaderMap) -> Option<String> {
    headers
        .get_all(http::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix("toru_session="))
        .and_then(|c| c.split(';').next())
        .map(str::to_owned)
}

impl Client {
    /// `GET /api/status`.
    pub async fn status(&self) -> Result<Status, ClientError> {
        self.get("/api/status").await
    }

    /// `GET /api/plugins`.
    pub async fn plugins(&self) -> Result<Vec<Plugin>, ClientError> {
        self.get("/api/plugins").await
    }

    /// `GET /api/plugins/{id}`.
    pub async fn plugin(&self, id: &str) -> Result<PluginDetails, ClientError> {
        self.get(&plugin_path(id)).await
    }

    /// `POST /api/plugins/{id}/enable`: answers before the plugin runs.
    pub async fn enable(&self, id: &str) -> Result<Plugin, ClientError> {
        let path = format!("{}/enable", plugin_path(id));
        self.send_json(Method::POST, &path, &serde_json::json!({}))
            .await
    }

    /// `POST /api/plugins/{id}/restart`: answers before the plugin runs again.
    pub async fn restart(&self, id: &str) -> Result<Plugin, ClientError> {
        let path = format!("{}/restart", plugin_path(id));
        self.send_json(Method::POST, &path, &serde_json::json!({}))
            .await
    }

    /// `POST /api/plugins/{id}/disable`.
    pub async fn disable(&self, id: &str) -> Result<Plugin, ClientError> {
        let path = format!("{}/disable", plugin_path(id));
        self.send_json(Method::POST, &path, &serde_json::json!({}))
            .await
    }

    /// `GET /api/discovery-failures`: the `*.binary` files the last scan skipped, and why.
    pub async fn discovery_failures(&self) -> Result<Vec<DiscoveryFailure>, ClientError> {
        self.get("/api/discovery-failures").await
    }

    /// `POST /api/rescan`: the plugins after looking for new ones.
    pub async fn rescan(&self) -> Result<Vec<Plugin>, ClientError> {
        self.send_json(Method::POST, "/api/rescan", &serde_json::json!({}))
            .await
    }

    /// `POST /api/plugins`: installs or upgrades a plugin from its executable's bytes, with its
    /// detached signature (the `.sig` file's content) if there is one.
    pub async fn install(
        &self,
        binary: Vec<u8>,
        signature: Option<&str>,
    ) -> Result<InstallResult, ClientError> {
        let mut headers = vec![("content-type", "application/octet-stream")];
        if let Some(signature) = signature {
            headers.push((SIGNATURE_HEADER, signature.trim()));
        }
        self.request(Method::POST, "/api/plugins", &headers, Some(binary))
            .await?
            .json()
    }

    /// `POST /api/plugins/{id}/rollback`.
    pub async fn rollback(&self, id: &str) -> Result<Plugin, ClientError> {
        let path = format!("{}/rollback", plugin_path(id));
        self.send_json(Method::POST, &path, &serde_json::json!({}))
            .await
    }

    /// `DELETE /api/plugins/{id}[?purge=true]`.
    pub async fn uninstall(&self, id: &str, purge: bool) -> Result<Uninstalled, ClientError> {
        let path = format!("{}{}", plugin_path(id), query(&UninstallQuery { purge }));
        self.send_json(Method::DELETE, &path, &serde_json::json!({}))
            .await
    }

    /// `PUT /api/plugins/{id}/license`.
    pub async fn set_license(&self, id: &str, key: &str) -> Result<Plugin, ClientError> {
        let path = format!("{}/license", plugin_path(id));
        let form = LicenseForm {
            key: key.to_owned(),
        };
        self.send_json(Method::PUT, &path, &form).await
    }

    /// `DELETE /api/plugins/{id}/license`.
    pub async fn clear_license(&self, id: &str) -> Result<Plugin, ClientError> {
        let path = format!("{}/license", plugin_path(id));
        self.send_json(Method::DELETE, &path, &serde_json::json!({}))
            .await
    }

    /// `GET /api/plugins/{id}/config`: the plugin's settings, secrets only as set or not.
    pub async fn settings(&self, id: &str) -> Result<PluginSettings, ClientError> {
        self.get(&format!("{}/config", plugin_path(id))).await
    }

    /// `PUT /api/plugins/{id}/config`: sets the given settings (`null` unsets one).
    pub async fn set_settings(
        &self,
        id: &str,
        change: &SettingsChange,
    ) -> Result<PluginSettings, ClientError> {
        let path = format!("{}/config", plugin_path(id));
        self.send_json(Method::PUT, &path, change).await
    }

    /// `GET /api/plugins/{id}/usage`: the plugin's resource figures now and over the last hour.
    pub async fn usage(&self, id: &str) -> Result<PluginUsage, ClientError> {
        self.get(&format!("{}/usage", plugin_path(id))).await
    }

    /// `GET /api/plugins/{id}/limits`: defaults, overrides and effective limits.
    pub async fn limits(&self, id: &str) -> Result<PluginLimits, ClientError> {
        self.get(&format!("{}/limits", plugin_path(id))).await
    }

    /// `PUT /api/plugins/{id}/limits`: changes the named limits (`null` back to the default).
    pub async fn set_limits(
        &self,
        id: &str,
        change: &LimitsChange,
    ) -> Result<PluginLimits, ClientError> {
        let path = format!("{}/limits", plugin_path(id));
        self.send_json(Method::PUT, &path, change).await
    }

    /// `GET /api/plugins/{id}/logs`: one page, newest first.
    pub async fn logs(&self, id: &str, q: &LogsQuery) -> Result<LogPage, ClientError> {
        let path = format!("{}/logs{}", plugin_path(id), query(q));
        self.get(&path).await
    }

    /// `GET /api/plugins/{id}/logs/follow`: calls `on_entry` with each new entry until the
    /// stream ends or `on_entry` returns false. Events that are not entries are skipped.
    pub async fn follow_logs(
        &self,
        id: &str,
        q: &LogsQuery,
        mut on_entry: impl FnMut(LogEntry) -> bool,
    ) -> Result<(), ClientError> {
        let path = format!("{}/logs/follow{}", plugin_path(id), query(q));
        self.follow(&path, |data| match serde_json::from_str::<LogEntry>(data) {
            Ok(entry) => on_entry(entry),
            Err(_) => true,
        })
        .await
    }

    /// `GET /api/events`: newest first.
    pub async fn events(&self, q: &EventsQuery) -> Result<Vec<Event>, ClientError> {
        let path = format!("/api/events{}", query(q));
        self.get(&path).await
    }

    /// `GET /api/events/follow`: calls `on_event` with each event recorded after `q.after`
    /// (or from now), oldest first, until the stream ends or `on_event` returns false.
    pub async fn follow_events(
        &self,
        q: &FollowEventsQuery,
        mut on_event: impl FnMut(Event) -> bool,
    ) -> Result<(), ClientError> {
        let path = format!("/api/events/follow{}", query(q));
        self.follow(&path, |data| match serde_json::from_str::<Event>(data) {
            Ok(event) => on_event(event),
            Err(_) => true,
        })
        .await
    }

    /// `GET /api/backup`: the whole daemon's backup archive.
    pub async fn backup(&self) -> Result<bytes::Bytes, ClientError> {
        Ok(self.call(Method::GET, "/api/backup", None).await?.body)
    }

    /// `GET /metrics`: the daemon's and its plugins' figures in the Prometheus text format.
    pub async fn metrics(&self) -> Result<String, ClientError> {
        let response = self.call(Method::GET, "/metrics", None).await?;
        String::from_utf8(response.body.to_vec()).map_err(|e| ClientError::Protocol(e.to_string()))
    }

    /// `POST /api/restore` with a backup archive; the daemon stops to load it.
    pub async fn restore(&self, archive: Vec<u8>) -> Result<RestoreStaged, ClientError> {
        self.send_bytes(Method::POST, "/api/restore", "application/x-tar", archive)
            .await
    }

    /// `GET /api/plugins/{id}/backup`.
    pub async fn plugin_backup(&self, id: &str) -> Result<PluginBackup, ClientError> {
        self.get(&format!("{}/backup", plugin_path(id))).await
    }

    /// `POST /api/plugins/{id}/restore` with a plugin backup as its file holds it (sent as is,
    /// so the daemon judges the file, not what this CLI made of it).
    pub async fn plugin_restore(
        &self,
        id: &str,
        backup: Vec<u8>,
    ) -> Result<PluginRestored, ClientError> {
        let path = format!("{}/restore", plugin_path(id));
        self.send_bytes(Method::POST, &path, "application/json", backup)
            .await
    }

    /// `GET /api/users`.
    pub async fn users(&self) -> Result<Vec<User>, ClientError> {
        self.get("/api/users").await
    }

    /// `POST /api/users`.
    pub async fn create_user(&self, user: &NewUser) -> Result<User, ClientError> {
        self.send_json(Method::POST, "/api/users", user).await
    }

    /// `PUT /api/users/{name}/password`: ends that user's sessions.
    pub async fn set_password(
        &self,
        username: &str,
        form: &NewPassword,
    ) -> Result<(), ClientError> {
        let path = format!("/api/users/{}/password", segment(username));
        self.send_json(Method::PUT, &path, form).await
    }

    /// `DELETE /api/users/{name}`: their sessions end.
    pub async fn delete_user(&self, username: &str) -> Result<(), ClientError> {
        let path = format!("/api/users/{}", segment(username));
        self.call(Method::DELETE, &path, None).await?;
        Ok(())
    }

    /// `POST /api/users/{name}/disable` (`disabled`) or `…/enable`.
    pub async fn set_user_disabled(
        &self,
        username: &str,
        disabled: bool,
    ) -> Result<User, ClientError> {
        let action = if disabled { "disable" } else { "enable" };
        let path = format!("/api/users/{}/{action}", segment(username));
        self.send_json(Method::POST, &path, &serde_json::json!({}))
            .await
    }

    /// `PUT /api/users/{name}/role`.
    pub async fn set_role(&self, username: &str, role: Role) -> Result<User, ClientError> {
        let path = format!("/api/users/{}/role", segment(username));
        self.send_json(Method::PUT, &path, &NewRole { role }).await
    }

    /// `GET /api/plugins/{id}/kv?prefix=`.
    pub async fn kv_list(&self, id: &str, prefix: &str) -> Result<KvKeys, ClientError> {
        let path = format!("{}/kv?prefix={}", plugin_path(id), segment(prefix));
        self.get(&path).await
    }

    /// `GET /api/plugins/{id}/kv/{key}`.
    pub async fn kv_get(&self, id: &str, key: &str) -> Result<KvEntry, ClientError> {
        self.get(&kv_path(id, key)).await
    }

    /// `PUT /api/plugins/{id}/kv/{key}`.
    pub async fn kv_set(&self, id: &str, key: &str, value: &str) -> Result<KvEntry, ClientError> {
        let body = KvValue {
            value: value.to_owned(),
        };
        self.send_json(Method::PUT, &kv_path(id, key), &body).await
    }

    /// `DELETE /api/plugins/{id}/kv/{key}`.
    pub async fn kv_delete(&self, id: &str, key: &str) -> Result<(), ClientError> {
        self.call(Method::DELETE, &kv_path(id, key), None).await?;
        Ok(())
    }

    /// `POST /api/auth/login`: who logged in, and the session token the daemon set, if any.
    pub async fn login(&self, form: &LoginRequest) -> Result<(Me, Option<String>), ClientError> {
        let body = serde_json::to_value(form).map_err(|e| ClientError::Protocol(e.to_string()))?;
        let response = self
            .call(Method::POST, "/api/auth/login", Some(&body))
            .await?;
        let me = serde_json::from_slice(&response.body)
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        Ok((me, session_token(&response.headers)))
    }

    /// `POST /api/auth/logout`: ends this client's session.
    pub async fn logout(&self) -> Result<(), ClientError> {
        self.call(Method::POST, "/api/auth/logout", None).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_keep_only_unreserved_characters() {
        assert_eq!(segment("hello-rust"), "hello-rust");
        assert_eq!(segment("a/b c?"), "a%2Fb%20c%3F");
        assert_eq!(segment("ünï"), "%C3%BCn%C3%AF");
    }

    #[test]
    fn queries_name_only_the_values_given() {
        assert_eq!(query(&EventsQuery::default()), "");
        let events = EventsQuery {
            plugin: Some("x y".into()),
            kind: Some(toru_api::EventKind::GaveUp),
            actor: Some("uid 1000".into()),
            ..EventsQuery::default()
        };
        assert_eq!(query(&events), "?plugin=x+y&kind=gave_up&actor=uid+1000");
        let page = LogsQuery {
            page: None,
            page_size: Some(5),
            level: Some("warn".into()),
        };
        assert_eq!(query(&page), "?page_size=5&level=warn");
    }
}
