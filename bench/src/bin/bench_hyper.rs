//! bench-hyper: the baseline — a minimal hyper 1 HTTP/1.1 server answering every request with
//! the bench plugin's 41-byte JSON body. nginx proxies to it over `--unix` (what a user would
//! put in front of an HTTP service); wrk hits it directly over `--tcp` (the cost of one hop).
//!
//! Usage: `bench-hyper [--unix PATH] [--tcp ADDR]`; worker threads come from
//! `TOKIO_WORKER_THREADS` like any tokio program.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};

/// The same body the bench plugin's `/hello` returns.
const HELLO: &[u8] = br#"{"message":"hello from the bench plugin"}"#;

async fn hello(
    _req: hyper::Request<hyper::body::Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let mut response = hyper::Response::new(Full::new(Bytes::from_static(HELLO)));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

fn serve_one<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(stream: S) {
    tokio::spawn(async move {
        let _ = http1::Builder::new()
            .keep_alive(true)
            .serve_connection(TokioIo::new(stream), service_fn(hello))
            .await;
    });
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (mut unix, mut tcp) = (None, None);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--unix" => unix = args.next(),
            "--tcp" => tcp = args.next(),
            other => anyhow::bail!("unknown argument {other:?}; usage: --unix PATH --tcp ADDR"),
        }
    }
    let mut tasks = Vec::new();
    if let Some(path) = unix {
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path)?;
        tasks.push(tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                serve_one(stream);
            }
        }));
    }
    if let Some(addr) = tcp {
        let listener = TcpListener::bind(&addr).await?;
        tasks.push(tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let _ = stream.set_nodelay(true);
                serve_one(stream);
            }
        }));
    }
    anyhow::ensure!(!tasks.is_empty(), "give --unix PATH and/or --tcp ADDR");
    for task in tasks {
        task.await?;
    }
    Ok(())
}
