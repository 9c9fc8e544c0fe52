//! Logs in over HTTP and prints the session token, for wrk's `Cookie:` header.

use http::Method;
use toructl::{Client, Endpoint};

/// `toru-bench login`.
#[derive(clap::Args)]
pub struct Args {
    /// The daemon's TCP address, `127.0.0.1:PORT`.
    #[arg(long)]
    url: String,
    /// User name.
    #[arg(long)]
    user: String,
    /// Password.
    #[arg(long)]
    password: String,
}

/// The session token.
pub async fn run(args: Args) -> anyhow::Result<String> {
    let client = Client::new(
        Endpoint::from_url(&format!("http://{}", args.url)).map_err(anyhow::Error::msg)?,
        None,
    );
    let body = serde_json::json!({"username": args.user, "password": args.password});
    let response = client
        .raw(
            Method::POST,
            "/api/auth/login",
            Some(body.to_string().into_bytes()),
        )
        .await?;
    anyhow::ensure!(
        response.status.is_success(),
        "login failed: {}",
        response.status
    );
    response
        .headers
        .get_all(http::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| {
            c.strip_prefix("toru_session=")?
                .split(';')
                .next()
                .map(str::to_owned)
        })
        .filter(|t| !t.is_empty())
        .ok_or_else(|| anyhow::anyhow!("no session cookie in the login answer"))
}
