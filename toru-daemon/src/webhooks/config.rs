//! The `[[webhooks]]` tables of the configuration file, checked and resolved at start: a bad
//! URL, an unknown event kind or an unreadable secret stops the daemon with a reason, rather
//! than leaving an administrator to wonder why nothing arrives.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::store::EventKind;

/// Most webhooks one daemon sends to; each has its own queue and delivery task.
pub const MAX_WEBHOOKS: usize = 16;

/// How long one attempt may take, from connecting to the response's headers, by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest `timeout_secs` accepted: a delivery task waits this long at most per attempt.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(60);

/// Largest secret file read; a secret is a line of random text.
const MAX_SECRET_BYTES: u64 = 4096;

/// Largest CA file read.
const MAX_CA_FILE_BYTES: u64 = 1024 * 1024;

/// One `[[webhooks]]` table as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookFile {
    /// What failure events and logs call it [default: the URL's host].
    pub name: Option<String>,
    /// Where deliveries are POSTed: `http://` or `https://`.
    pub url: String,
    /// The event kinds sent (`EventKind` names), or `["*"]` for all.
    pub events: Vec<String>,
    /// The file holding the HMAC key (its content, without a final newline).
    pub secret_file: PathBuf,
    /// Seconds one attempt may take [default: 10, at most 60].
    pub timeout_secs: Option<u64>,
    /// PEM certificates to trust for this `https://` URL instead of the system's CAs (a
    /// receiver with an internal CA or a self-signed certificate).
    pub ca_file: Option<PathBuf>,
}

/// A webhook ready to be sent to.
#[derive(Clone)]
pub struct Webhook {
    /// What failure events and logs call it; never the URL, which may carry a token.
    pub name: String,
    /// Where deliveries are POSTed.
    pub url: http::Uri,
    /// Which events it gets.
    pub events: EventSelection,
    /// The HMAC-SHA256 key of the `X-Toru-Signature-256` header.
    pub secret: Vec<u8>,
    /// How long one attempt may take.
    pub timeout: Duration,
    /// The PEM text of the certificates it trusts, when not the system's.
    pub ca_pem: Option<Vec<u8>>,
}

impl fmt::Debug for Webhook {
    /// Without the secret, and without the URL's path and query, which may carry a token.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Webhook")
            .field("name", &self.name)
            .field("host", &self.url.host())
            .field("events", &self.events)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// The event kinds a webhook gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventSelection {
    /// Every kind (`["*"]`) but `webhook_failed`.
    All,
    /// These kinds.
    Kinds(HashSet<EventKind>),
}

impl EventSelection {
    /// Whether an event of `kind` goes to the webhook. A `webhook_failed` event never does:
    /// a receiver that fails would otherwise be sent its own failures, without end.
    pub fn wants(&self, kind: EventKind) -> bool {
        kind != EventKind::WebhookFailed
            && match self {
                EventSelection::All => true,
                EventSelection::Kinds(kinds) => kinds.contains(&kind),
            }
    }

    fn parse(names: &[String]) -> Result<EventSelection, String> {
        if names.is_empty() {
            return Err("`events` is empty: name event kinds, or [\"*\"] for all".into());
        }
        if names.iter().any(|name| name == "*") {
            return Ok(EventSelection::All);
        }
        let mut kinds = HashSet::new();
        for name in names {
            let kind: EventKind = name.parse().map_err(|e| format!("`events`: {e}"))?;
            if kind == EventKind::WebhookFailed {
                return Err("`events`: webhook_failed is never sent to webhooks".into());
            }
            kinds.insert(kind);
        }
        Ok(EventSelection::Kinds(kinds))
    }
}

impl Webhook {
    /// Checks the `index`th table (from 0) and reads its secret and CA files; the error says
    /// which webhook and what is wrong.
    pub fn resolve(index: usize, file: &WebhookFile) -> Result<Webhook, String> {
        let label = file
            .name
            .clone()
            .unwrap_or_else(|| format!("number {}", index + 1));
        let wrong = |reason: String| format!("webhook {label}: {reason}");
        let url = parse_url(&file.url).map_err(wrong)?;
        let events = EventSelection::parse(&file.events).map_err(wrong)?;
        let secret = read_secret(&file.secret_file).map_err(wrong)?;
        let timeout = match file.timeout_secs {
            None => DEFAULT_TIMEOUT,
            Some(secs) if (1..=MAX_TIMEOUT.as_secs()).contains(&secs) => Duration::from_secs(secs),
            Some(secs) => {
                return Err(wrong(format!(
                    "timeout_secs = {secs}: must be 1–{}",
                    MAX_TIMEOUT.as_secs()
                )));
            }
        };
        let ca_pem = match &file.ca_file {
            None => None,
            Some(path) => Some(read_limited(path, MAX_CA_FILE_BYTES).map_err(wrong)?),
        };
        if ca_pem.is_some() && url.scheme() != Some(&http::uri::Scheme::HTTPS) {
            return Err(wrong("ca_file is for https:// URLs".into()));
        }
        let name = file.name.clone().unwrap_or_else(|| {
            url.authority()
                .map_or_else(String::new, |a| a.host().to_owned())
        });
        Ok(Webhook {
            name,
            url,
            events,
            secret,
            timeout,
            ca_pem,
        })
    }

    /// Resolves every table, refusing more than [`MAX_WEBHOOKS`].
    pub fn resolve_all(files: &[WebhookFile]) -> Result<Vec<Webhook>, String> {
        if files.len() > MAX_WEBHOOKS {
            return Err(format!("{} webhooks: at most {MAX_WEBHOOKS}", files.len()));
        }
        files
            .iter()
            .enumerate()
            .map(|(index, file)| Webhook::resolve(index, file))
            .collect()
    }
}

/// An absolute `http://` or `https://` URL with a host, without user information (which
/// would be sent in the clear to anyone reading logs; a token belongs in the secret).
fn parse_url(text: &str) -> Result<http::Uri, String> {
    let url: http::Uri = text
        .parse()
        .map_err(|e| format!("url {text:?} is not a URL: {e}"))?;
    let scheme = url.scheme_str().unwrap_or_default();
    if scheme != "http" && scheme != "https" {
        return Err(format!("url {text:?}: only http:// and https:// URLs"));
    }
    match url.authority() {
        None => Err(format!("url {text:?} has no host")),
        Some(a) if a.host().is_empty() => Err(format!("url {text:?} has no host")),
        Some(a) if a.as_str().contains('@') => {
            Err(format!("url {text:?}: user information is not supported"))
        }
        Some(_) => Ok(url),
    }
}

/// The secret file's content without its final line break; an empty one is refused.
fn read_secret(path: &Path) -> Result<Vec<u8>, String> {
    let mut secret = read_limited(path, MAX_SECRET_BYTES)?;
    while secret.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        secret.pop();
    }
    if secret.is_empty() {
        return Err(format!("secret_file {} is empty", path.display()));
    }
    Ok(secret)
}

/// A whole file of at most `max` bytes.
fn read_limited(path: &Path, max: u64) -> Result<Vec<u8>, String> {
    use std::io::Read as _;
    let cannot = |e: std::io::Error| format!("cannot read {}: {e}", path.display());
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .map_err(cannot)?
        .take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if bytes.len() as u64 > max {
        return Err(format!("{} is larger than {max} bytes", path.display()));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(url: &str, events: &[&str], secret_file: &Path) -> WebhookFile {
        WebhookFile {
            name: None,
            url: url.into(),
            events: events.iter().map(|e| (*e).to_owned()).collect(),
            secret_file: secret_file.to_owned(),
            timeout_secs: None,
            ca_file: None,
        }
    }

    #[test]
    fn a_good_table_resolves_with_its_secret_without_the_final_newline() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret");
        std::fs::write(&secret, "s3cret\n").unwrap();
        let hook = Webhook::resolve(
            0,
            &file(
                "https://hooks.example.org/toru?t=1",
                &["crashed", "gave_up"],
                &secret,
            ),
        )
        .unwrap();
        assert_eq!(hook.secret, b"s3cret");
        assert_eq!(hook.name, "hooks.example.org");
        assert_eq!(hook.timeout, DEFAULT_TIMEOUT);
        assert!(hook.events.wants(EventKind::Crashed) && hook.events.wants(EventKind::GaveUp));
        assert!(!hook.events.wants(EventKind::Started));
        assert!(
            !format!("{hook:?}").contains("s3cret"),
            "the secret is not printed"
        );
        assert!(!format!("{hook:?}").contains("t=1"), "nor the URL's query");
    }

    #[test]
    fn every_kind_but_webhook_failed_goes_to_a_star_webhook() {
        let all = EventSelection::parse(&["*".into()]).unwrap();
        for kind in EventKind::ALL {
            assert_eq!(all.wants(kind), kind != EventKind::WebhookFailed, "{kind}");
        }
    }

    #[test]
    fn bad_tables_are_refused_saying_which_and_why() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret");
        std::fs::write(&secret, "k").unwrap();
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "\n").unwrap();
        let missing = dir.path().join("missing");
        let cases: [(WebhookFile, &str); 9] = [
            (
                file("ftp://x/", &["*"], &secret),
                "only http:// and https://",
            ),
            (
                file("/just/a/path", &["*"], &secret),
                "only http:// and https://",
            ),
            (file("http://u:p@x/", &["*"], &secret), "user information"),
            (
                file("http://x/", &["crashd"], &secret),
                "unknown event kind \"crashd\"",
            ),
            (file("http://x/", &[], &secret), "`events` is empty"),
            (
                file("http://x/", &["webhook_failed"], &secret),
                "never sent",
            ),
            (file("http://x/", &["*"], &missing), "cannot read"),
            (file("http://x/", &["*"], &empty), "is empty"),
            (
                WebhookFile {
                    timeout_secs: Some(0),
                    ..file("http://x/", &["*"], &secret)
                },
                "timeout_secs = 0",
            ),
        ];
        for (table, expected) in cases {
            let err = Webhook::resolve(1, &table).unwrap_err();
            assert!(err.starts_with("webhook number 2: "), "{err}");
            assert!(err.contains(expected), "{err} should say {expected:?}");
        }
        let many = vec![file("http://x/", &["*"], &secret); MAX_WEBHOOKS + 1];
        assert!(Webhook::resolve_all(&many).unwrap_err().contains("at most"));
    }
}
