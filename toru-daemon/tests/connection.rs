//! The daemon's side of a plugin connection over a real socket pair, with the test playing the
//! plugin: a reply too large for the frame limit becomes an `error` for that request only.

use futures::{SinkExt, StreamExt};
use tokio::net::UnixStream;
use tokio_util::codec::Framed;
use toru_daemon::plugins::connection::Connection;
use toru_daemon::store::Store;
use toru_plugin_api::{Body, ErrorCode, FrameCodec, KvOp, KvResult, Message, PluginId};

#[tokio::test]
async fn an_oversized_kv_answer_is_an_error_and_the_connection_stays() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("toru.db")).await.unwrap();
    // Forty 100-byte keys: listing them needs more than the 1 KiB frame limit used here.
    for i in 0..40 {
        store
            .kv_set("p", &format!("{i:03}{}", "k".repeat(97)), "v")
            .await
            .unwrap();
    }
    let (daemon_side, plugin_side) = UnixStream::pair().unwrap();
    let conn = Connection::serve(&plugin_p(), daemon_side, store, 1024);
    let mut plugin = Framed::new(plugin_side, FrameCodec::new());

    let list = Message::new(
        "p-1",
        Body::KvRequest(KvOp::List {
            prefix: String::new(),
        }),
    );
    plugin.send(&list).await.unwrap();
    let reply = plugin.next().await.unwrap().unwrap().unwrap();
    assert_eq!(reply.request_id, "p-1");
    match reply.body {
        Body::Error(e) => {
            assert_eq!(e.code, ErrorCode::KvFailed);
            assert!(e.message.contains("frame limit"), "{}", e.message);
        }
        other => panic!("expected an error, got {other:?}"),
    }
    // The connection is still there and serves the next request.
    let get = Message::new(
        "p-2",
        Body::KvRequest(KvOp::Get {
            key: "missing".into(),
        }),
    );
    plugin.send(&get).await.unwrap();
    let reply = plugin.next().await.unwrap().unwrap().unwrap();
    assert_eq!(reply.body, Body::KvResponse(KvResult::Get { value: None }));
    assert!(!conn.is_closed());
}

/// The id of the plugin these connections talk to.
fn plugin_p() -> PluginId {
    PluginId::new("p").unwrap()
}
