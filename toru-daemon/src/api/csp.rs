//! The Content-Security-Policies of everything the daemon serves to a browser, in one place.
//!
//! Three kinds of document reach a browser from the daemon, and each gets exactly one policy:
//! - the dashboard (every file of the web root, the `index.html` fallback, the "not built"
//!   page): [`DASHBOARD_POLICY`], with no `'unsafe-inline'` and no `'unsafe-eval'`;
//! - the view frame, [`VIEW_FRAME_PATH`], the document a plugin's view runs in, inside a
//!   sandboxed `<iframe>` (no `allow-same-origin`) of the dashboard: [`VIEW_FRAME_POLICY`];
//! - whatever a plugin answers on its forwarded route: [`PLUGIN_RESPONSE_POLICY`], added to
//!   any policy the plugin sent itself. A browser enforces every policy a response carries,
//!   so a plugin can tighten ours but never relax it.
//!
//! Every dashboard document also carries `X-Content-Type-Options: nosniff` ([`NOSNIFF`]), so
//! a file is only ever run or shown as the type it is served as.

use http::header::{CONTENT_SECURITY_POLICY, X_CONTENT_TYPE_OPTIONS};
use http::{HeaderMap, HeaderValue};

/// The path of the view frame's document in the built dashboard (`frontend/public/`); the one
/// dashboard file served with [`VIEW_FRAME_POLICY`] instead of [`DASHBOARD_POLICY`].
pub const VIEW_FRAME_PATH: &str = "/view-frame.html";

/// The policy of every dashboard document but the view frame. The dashboard is a built bundle
/// of files from the daemon itself, so everything is `'self'` or nothing: an injected inline
/// script or `eval` never runs.
pub const DASHBOARD_POLICY: &str = concat!(
    // Anything not named below: only the daemon's own files.
    "default-src 'self'; ",
    // Vite's built modules are files; no inline script, no eval.
    "script-src 'self'; ",
    // Built stylesheets are files; no <style> element or style attribute an injection could add.
    "style-src 'self'; ",
    // Icons and images are files, or small ones inlined by the build as data: URLs.
    "img-src 'self' data:; ",
    // Fonts are files of the build.
    "font-src 'self'; ",
    // The dashboard talks only to the daemon's API (fetch, EventSource, WebSockets).
    "connect-src 'self'; ",
    // The only frame is the view frame, served by the daemon.
    "frame-src 'self'; ",
    // The dashboard starts no workers, so none can be started from injected code either.
    "worker-src 'none'; ",
    // No <object> or <embed>: browser plugins would sidestep script-src.
    "object-src 'none'; ",
    // A <base> element could point every relative URL elsewhere.
    "base-uri 'none'; ",
    // Forms submit only to the daemon.
    "form-action 'self'; ",
    // Clickjacking: no site, not even the daemon's own pages, may frame the dashboard.
    "frame-ancestors 'none'",
);

/// The policy of the view frame's document, in which a plugin's view runs. The frame is
/// sandboxed without `allow-same-origin`, so its origin is opaque; this policy limits what the
/// view's code loads and reaches even so.
pub const VIEW_FRAME_POLICY: &str = concat!(
    // Anything not named below: nothing.
    "default-src 'none'; ",
    // The frame's own script is a file; it imports the view's module (the plugin's bundle,
    // handed over by the dashboard) from a blob: URL it makes, so blob: is added, no inline
    // script and no eval.
    "script-src 'self' blob:; ",
    // Views put their CSS in a <style> element (and set style attributes): inline styles are
    // allowed here, in the frame only, never in the dashboard.
    "style-src 'self' 'unsafe-inline'; ",
    // A view's images, fonts and media come inlined in its bundle or made from its data.
    "img-src data: blob:; ",
    "font-src data:; ",
    "media-src data: blob:; ",
    // A view reaches the network only through the dashboard's bridge (postMessage), which
    // lets it call its own plugin's routes and nothing else.
    "connect-src 'none'; ",
    // Nor by submitting a form, which would navigate the frame elsewhere.
    "form-action 'none'; ",
    // A <base> element could point every relative URL elsewhere.
    "base-uri 'none'; ",
    // Clickjacking: only the dashboard (the same origin) may frame it.
    "frame-ancestors 'self'",
);

/// The policy added to every response a plugin's forwarded route answers. A plugin's route
/// answering `text/html`, opened directly in a tab, would otherwise run the plugin's script
/// with the dashboard's origin and the administrator's session cookie; `sandbox` gives the
/// document an opaque origin and no scripts, whatever else the plugin's own policy allows.
pub const PLUGIN_RESPONSE_POLICY: &str = "sandbox";

/// The value of `X-Content-Type-Options` on every dashboard document and on a plugin's
/// bundle: the browser takes the `Content-Type` as sent and never guesses a more dangerous
/// one from the bytes.
pub const NOSNIFF: &str = "nosniff";

/// Which Content-Security-Policy a dashboard document is served with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DashboardDocument {
    /// The dashboard itself: [`DASHBOARD_POLICY`].
    Dashboard,
    /// The view frame at [`VIEW_FRAME_PATH`]: [`VIEW_FRAME_POLICY`].
    ViewFrame,
}

impl DashboardDocument {
    /// The document's policy.
    pub const fn policy(self) -> &'static str {
        match self {
            DashboardDocument::Dashboard => DASHBOARD_POLICY,
            DashboardDocument::ViewFrame => VIEW_FRAME_POLICY,
        }
    }
}

/// Sets the headers every dashboard document carries: its policy and `nosniff`, replacing
/// any the response had.
pub fn secure_dashboard_document(headers: &mut HeaderMap, document: DashboardDocument) {
    headers.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(document.policy()),
    );
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static(NOSNIFF));
}

/// Adds [`PLUGIN_RESPONSE_POLICY`] to a plugin's forwarded response, next to any
/// Content-Security-Policy the plugin sent: appended, never replacing. On the forwarding hot
/// path: a static value, no allocation of its own.
pub fn sandbox_plugin_response(headers: &mut HeaderMap) {
    headers.append(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PLUGIN_RESPONSE_POLICY),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dashboards_policy_allows_no_inline_script_no_eval_and_no_inline_style() {
        for unsafe_source in ["'unsafe-inline'", "'unsafe-eval'", "'unsafe-hashes'"] {
            assert!(
                !DASHBOARD_POLICY.contains(unsafe_source),
                "{unsafe_source} in the dashboard's policy"
            );
        }
    }

    #[test]
    fn the_view_frame_reaches_no_network_and_runs_no_eval() {
        let directives: Vec<&str> = VIEW_FRAME_POLICY.split("; ").collect();
        assert!(directives.contains(&"connect-src 'none'"), "{directives:?}");
        assert!(directives.contains(&"default-src 'none'"), "{directives:?}");
        assert!(!VIEW_FRAME_POLICY.contains("'unsafe-eval'"));
        let scripts = directives
            .iter()
            .find(|d| d.starts_with("script-src "))
            .expect("a script-src");
        assert!(!scripts.contains("'unsafe-inline'"), "{scripts}");
    }

    #[test]
    fn each_policy_names_each_directive_once_and_is_a_valid_header_value() {
        for policy in [DASHBOARD_POLICY, VIEW_FRAME_POLICY, PLUGIN_RESPONSE_POLICY] {
            assert!(HeaderValue::from_str(policy).is_ok(), "{policy}");
            let mut names: Vec<&str> = policy
                .split("; ")
                .map(|d| d.split(' ').next().unwrap_or(d))
                .collect();
            let count = names.len();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), count, "a directive repeated in {policy}");
        }
    }

    #[test]
    fn a_plugins_own_policy_is_kept_next_to_the_sandbox() {
        let mut headers = HeaderMap::new();
        headers.append(
            CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("script-src *"),
        );
        sandbox_plugin_response(&mut headers);
        let policies: Vec<&HeaderValue> = headers.get_all(CONTENT_SECURITY_POLICY).iter().collect();
        assert_eq!(policies, ["script-src *", PLUGIN_RESPONSE_POLICY]);
    }
}
