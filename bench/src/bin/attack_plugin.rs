//! attack-plugin: a hostile plugin for `bench/run.sh`'s attack scenario (issue 16 items 6, 7).
//! It speaks raw protocol frames, not the SDK, because the SDK would not misbehave.
//!
//! Its mode is its id, the file name without `.binary`:
//! - `attack-deaf`: answers `lifecycle.init`, sets a 1 MiB value, asks for it 3000 times without
//!   waiting, and never reads its socket again (but keeps it open);
//! - `attack-flood`: answers `lifecycle.init`, then pipelines small `kv set`s as fast as it can
//!   for as long as it runs, reading the answers (and answering pings) so its socket never
//!   fills and it stays healthy.

use futures::{SinkExt, StreamExt};
use tokio::net::{UnixListener, UnixStream};
use tokio_util::codec::{FramedRead, FramedWrite};
use toru_plugin_api::{
    Body, FrameCodec, KvOp, Message, PROTOCOL_VERSION, PluginMetadata, Ready, SOCKET_ENV,
};

/// Gets of the 1 MiB value the deaf plugin asks for before it stops reading.
const DEAF_GETS: usize = 3000;

/// Sets per write of the flooding plugin.
const FLOOD_BATCH: usize = 1000;

fn id_from_argv0() -> String {
    let argv0 = std::env::args().next().unwrap_or_default();
    let name = std::path::Path::new(&argv0)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    name.strip_suffix(".binary").unwrap_or(&name).to_owned()
}

fn metadata(id: &str) -> PluginMetadata {
    PluginMetadata {
        id: id.to_owned(),
        name: format!("Attack {id}"),
        version: env!("CARGO_PKG_VERSION").into(),
        author: "The Toru developers".into(),
        icon: "☠".into(),
        route: format!("/{id}"),
        protocol_version: PROTOCOL_VERSION,
        description: "Misbehaves on purpose for bench/run.sh".into(),
        license_required: false,
        permissions: Default::default(),
        settings: None,
    }
}

fn kv(n: usize, op: KvOp) -> Message {
    Message::new(format!("p-{n}"), Body::KvRequest(op))
}

async fn serve(id: String, stream: UnixStream) -> anyhow::Result<()> {
    let (read_half, write_half) = stream.into_split();
    let mut frames = FramedRead::new(read_half, FrameCodec::new());
    let mut sink = FramedWrite::new(write_half, FrameCodec::new());
    // Wait for init and answer it.
    while let Some(frame) = frames.next().await {
        let Ok(message) = frame? else { continue };
        if let Body::Init(_) = message.body {
            let ready = Ready {
                protocol_version: PROTOCOL_VERSION,
                license: None,
            };
            sink.send(&Message::new(message.request_id, Body::Ready(ready)))
                .await?;
            break;
        }
    }
    if id.ends_with("deaf") {
        let big = "x".repeat(1 << 20);
        sink.send(&kv(
            0,
            KvOp::Set {
                key: "big".into(),
                value: big,
            },
        ))
        .await?;
        for n in 1..=DEAF_GETS {
            // Blocks once the daemon stops reading; that is the point.
            sink.send(&kv(n, KvOp::Get { key: "big".into() })).await?;
        }
        // Never read again, never close.
        std::future::pending::<()>().await;
    }
    // Flood: answers in the background (pongs so it stays healthy), sets in the foreground.
    let (pong_tx, mut pong_rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(Ok(frame)) = frames.next().await {
            if let Ok(message) = frame
                && message.body == Body::Ping
            {
                let _ = pong_tx.send(Message::new(message.request_id, Body::Pong));
            }
        }
    });
    let mut n = 0usize;
    loop {
        while let Ok(pong) = pong_rx.try_recv() {
            sink.feed(&pong).await?;
        }
        for _ in 0..FLOOD_BATCH {
            n += 1;
            let set = KvOp::Set {
                key: format!("k{}", n % 1000),
                value: "v".repeat(100),
            };
            sink.feed(&kv(n, set)).await?;
        }
        sink.flush().await?;
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let id = id_from_argv0();
    let mut args = std::env::args().skip(1);
    let mut socket = std::env::var_os(SOCKET_ENV).map(std::path::PathBuf::from);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--metadata" => {
                println!("{}", serde_json::to_string(&metadata(&id))?);
                return Ok(());
            }
            "--socket" => socket = args.next().map(Into::into),
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    let socket =
        socket.ok_or_else(|| anyhow::anyhow!("no socket: give --socket or set {SOCKET_ENV}"))?;
    let _ = std::fs::remove_file(&socket);
    let listener = UnixListener::bind(&socket)?;
    loop {
        let (stream, _) = listener.accept().await?;
        let id = id.clone();
        tokio::spawn(async move {
            if let Err(e) = serve(id, stream).await {
                eprintln!("<4>connection ended: {e}");
            }
        });
    }
}
