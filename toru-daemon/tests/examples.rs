//! Both example plugins exactly as their `build.sh` scripts build them, under a real daemon
//! with the embedded supervisor: discovered, enabled, their routes called through the API, KV
//! kept across a SIGKILL and the supervisor's restart, and their views served as ES modules
//! that node can import.

mod support;

use http::Method;
use serde_json::{Value, json};
use support::api::{ApiDaemon, wait_restarted};
use support::fixtures::example_plugins;
use support::harness::Dirs;

async fn check_example(d: &ApiDaemon, id: &str) {
    let s = &d.local;
    let p = d.enable(s, id).await;
    let pid = p["status"]["pid"].as_u64().unwrap();

    let greeting: Value = s
        .get(&format!("/api/plugins/{id}/route/greeting"))
        .await
        .unwrap();
    assert_eq!(greeting["message"], "Hello, root!", "{id}");
    for expected in 1..=2 {
        let c: Value = s
            .send_json(
                Method::POST,
                &format!("/api/plugins/{id}/route/counter/increment"),
                &json!({}),
            )
            .await
            .unwrap();
        assert_eq!(c["count"], expected, "{id}");
    }

    // Its view: served with the right type, and an ES module exporting mount and unmount.
    let bundle = s
        .raw(Method::GET, &format!("/api/plugins/{id}/bundle.js"), None)
        .await
        .unwrap();
    assert_eq!(bundle.status, http::StatusCode::OK, "{id}");
    assert!(
        bundle.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    let module = d.config.data_dir.join(format!("{id}-bundle.mjs"));
    std::fs::write(&module, &bundle.body).unwrap();
    let check = "const m = await import(process.argv[1]); \
                 if (typeof m.mount !== 'function' || typeof m.unmount !== 'function') { \
                   console.error('exports:', Object.keys(m)); process.exit(1); }";
    let node = std::process::Command::new("node")
        .args(["--input-type=module", "-e", check])
        .arg(format!("file://{}", module.display()))
        .output()
        .expect("node is installed");
    assert!(
        node.status.success(),
        "{id}: {}",
        String::from_utf8_lossy(&node.stderr)
    );

    // SIGKILL: the supervisor restarts it, and its KV is still there.
    std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    let p = wait_restarted(s, id, pid).await;
    assert_eq!(p["status"]["restarts"], 1, "{id}");
    let c: Value = s
        .get(&format!("/api/plugins/{id}/route/counter"))
        .await
        .unwrap();
    assert_eq!(c["count"], 2, "{id}: KV kept across the restart");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_examples_work_end_to_end_under_the_embedded_supervisor() {
    let built = example_plugins();
    let dirs = Dirs::new();
    std::fs::create_dir_all(dirs.plugins()).unwrap();
    for name in ["hello-rust.binary", "hello-python.binary"] {
        std::fs::copy(built.join(name), dirs.plugins().join(name)).unwrap();
    }
    let d = ApiDaemon::start(&dirs).await;
    let ids: Vec<String> = d
        .daemon
        .plugins
        .list()
        .into_iter()
        .map(|p| p.meta.id)
        .collect();
    assert_eq!(ids, ["hello-python", "hello-rust"]);
    check_example(&d, "hello-rust").await;
    check_example(&d, "hello-python").await;
    d.stop().await;
}
