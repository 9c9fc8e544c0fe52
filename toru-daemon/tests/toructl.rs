//! `toructl` end to end against a real daemon: its output, its `--json`, and its exit codes
//! (0 ok, 1 the daemon said no, 2 usage, 3 unreachable).

mod support;

use std::path::PathBuf;
use std::time::Duration;

use http::Method;
use serde_json::{Value, json};
use support::api::{ApiDaemon, PASSWORD};
use support::ctl::{ctl, ctl_in, ok, run_with, spawn_ctl};
use support::fixtures::{
    crashing_plugin, hello_rust, install, install_misbehaving, script, toructl,
};
use support::harness::Dirs;
use tokio::process::Command;

async fn started() -> (Dirs, ApiDaemon) {
    let dirs = Dirs::new();
    install(&dirs.plugins(), &hello_rust(), "hello-rust");
    let d = ApiDaemon::start(&dirs).await;
    (dirs, d)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugins_status_events_and_kv() {
    let (_dirs, d) = started().await;

    let status = ctl(&d, &["status"]).await;
    ok(&status, "status");
    assert!(
        status.stdout.contains("supervisor  embedded"),
        "{}",
        status.stdout
    );
    assert!(status.stdout.contains(d.daemon.plugins.instance_id()));
    assert!(status.stdout.contains("1 installed, 0 enabled"));

    let list = ctl(&d, &["plugin", "list"]).await;
    ok(&list, "plugin list");
    let row = list
        .stdout
        .lines()
        .find(|l| l.contains("hello-rust"))
        .expect("a row for hello-rust");
    assert!(
        row.contains("Hello (Rust)") && row.contains("disabled"),
        "{row}"
    );

    let enable = ctl(&d, &["plugin", "enable", "hello-rust"]).await;
    ok(&enable, "enable");
    assert!(
        enable.stdout.starts_with("hello-rust: running (pid "),
        "waits until running: {}",
        enable.stdout
    );

    let show = ctl(&d, &["--json", "plugin", "show", "hello-rust"]).await;
    ok(&show, "show --json");
    let shown: Value = serde_json::from_str(&show.stdout).unwrap();
    assert_eq!(shown["status"]["state"], "running");
    assert_eq!(shown["unit_name"], Value::Null, "embedded backend: no unit");
    let human = ctl(&d, &["plugin", "show", "hello-rust"]).await;
    ok(&human, "show");
    assert!(
        human.stdout.contains("health      healthy"),
        "{}",
        human.stdout
    );
    assert!(
        human.stdout.contains("started"),
        "recent events listed: {}",
        human.stdout
    );
    let iso_8601 = |w: &str| w.len() == 20 && w.ends_with('Z') && w.as_bytes()[10] == b'T';
    assert!(
        human.stdout.split_whitespace().any(iso_8601) && !human.stdout.contains("unix ms"),
        "event times as people read them: {}",
        human.stdout
    );
    assert!(
        human.stdout.contains("toructl plugin logs hello-rust"),
        "its last log lines, as systemctl status shows them: {}",
        human.stdout
    );

    ok(
        &ctl(&d, &["kv", "set", "hello-rust", "greeting", "hi there"]).await,
        "kv set",
    );
    let get = ctl(&d, &["kv", "get", "hello-rust", "greeting"]).await;
    ok(&get, "kv get");
    assert_eq!(get.stdout, "hi there\n");
    let list = ctl(&d, &["kv", "list", "hello-rust"]).await;
    assert_eq!(list.stdout, "greeting\n");
    ok(
        &ctl(&d, &["kv", "delete", "hello-rust", "greeting"]).await,
        "kv delete",
    );
    let gone = ctl(&d, &["kv", "get", "hello-rust", "greeting"]).await;
    assert_eq!(gone.code, 1, "a missing key is the daemon saying no");
    assert!(gone.stderr.contains("has no key"), "{}", gone.stderr);

    let events = ctl(&d, &["--json", "events", "--plugin", "hello-rust"]).await;
    ok(&events, "events");
    let events: Value = serde_json::from_str(&events.stdout).unwrap();
    assert_eq!(events[0]["kind"], "kv_deleted");
    let started = ctl(&d, &["--json", "events", "--kind", "started"]).await;
    let started: Value = serde_json::from_str(&started.stdout).unwrap();
    assert_eq!(started.as_array().unwrap().len(), 1, "{started:#}");
    // The audit trail: who changed what, one tab-separated row each on a pipe.
    let uid = nix::unistd::getuid();
    let audit = ctl(&d, &["events", "--actor", &format!("uid {uid}")]).await;
    ok(&audit, "events --actor");
    let rows: Vec<Vec<&str>> = audit
        .stdout
        .lines()
        .map(|l| l.split('\t').collect())
        .collect();
    let kinds: Vec<&str> = rows.iter().map(|r| r[2]).collect();
    assert_eq!(
        kinds,
        ["kv_deleted", "kv_set", "enabled"],
        "{}",
        audit.stdout
    );
    assert!(
        rows[0][3].starts_with(&format!("uid {uid} ("))
            && rows[0][3].ends_with("via the local socket"),
        "{}",
        audit.stdout
    );
    assert_eq!(rows[0][1], "hello-rust");
    let unknown = ctl(&d, &["events", "--kind", "exploded"]).await;
    assert_eq!(unknown.code, 2, "a usage error: {}", unknown.stderr);

    let disable = ctl(&d, &["plugin", "disable", "hello-rust"]).await;
    ok(&disable, "disable");
    assert_eq!(disable.stdout, "hello-rust: disabled\n");
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_starts_a_new_process_and_starts_a_stopped_plugin_like_systemctl() {
    let (_dirs, d) = started().await;
    let pid_of = |stdout: &str| -> u64 {
        let shown: Value = serde_json::from_str(stdout).unwrap();
        assert_eq!(shown["status"]["state"], "running", "{stdout}");
        shown["status"]["pid"].as_u64().unwrap()
    };

    // Not running: restart starts it, as `systemctl restart` starts a stopped unit.
    let first = ctl(&d, &["--json", "plugin", "restart", "hello-rust"]).await;
    ok(&first, "restart of a disabled plugin");
    let first_pid = pid_of(&first.stdout);

    let again = ctl(&d, &["plugin", "restart", "hello-rust"]).await;
    ok(&again, "restart");
    assert!(
        again.stdout.starts_with("hello-rust: running (pid "),
        "waits until it runs again: {}",
        again.stdout
    );
    let shown = ctl(&d, &["--json", "plugin", "show", "hello-rust"]).await;
    let second_pid = pid_of(&shown.stdout);
    assert_ne!(second_pid, first_pid, "a new process");
    let shown: Value = serde_json::from_str(&shown.stdout).unwrap();
    assert_eq!(shown["status"]["enabled"], true);

    let events = ctl(&d, &["--json", "events", "--plugin", "hello-rust"]).await;
    let events: Value = serde_json::from_str(&events.stdout).unwrap();
    let kinds: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "restarted").count(),
        2,
        "each restart is recorded: {kinds:?}"
    );
    assert!(kinds.contains(&"stopped"), "{kinds:?}");

    let unknown = ctl(&d, &["plugin", "restart", "no-such-plugin"]).await;
    assert_eq!(unknown.code, 1, "{}", unknown.stderr);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_enable_shows_the_last_log_lines_and_skipped_files_are_listed_with_why() {
    let dirs = Dirs::new();
    crashing_plugin(&dirs.plugins(), "crashy", 1);
    let d = ApiDaemon::start(&dirs).await;

    let enable = ctl(&d, &["plugin", "enable", "crashy"]).await;
    assert_eq!(enable.code, 1, "{}{}", enable.stdout, enable.stderr);
    assert!(
        enable.stderr.contains("crashy did not start"),
        "{}",
        enable.stderr
    );
    assert!(
        enable.stdout.contains("Last log lines of crashy:")
            && enable.stdout.contains("crashing on purpose")
            && enable.stdout.contains("toructl plugin logs crashy"),
        "the plugin's own words and where to read more: {}",
        enable.stdout
    );
    ok(&ctl(&d, &["plugin", "disable", "crashy"]).await, "disable");

    // A file that is not a plugin: named, with its reason, by rescan and (on stderr) by list.
    script(&dirs.plugins(), "garbage", "echo 'this is not json'");
    let rescan = ctl(&d, &["plugin", "rescan"]).await;
    ok(&rescan, "rescan");
    assert!(
        rescan
            .stdout
            .contains("1 file(s) in the plugins directory skipped:")
            && rescan
                .stdout
                .contains("garbage.binary: --metadata printed invalid metadata"),
        "{}",
        rescan.stdout
    );
    let list = ctl(&d, &["plugin", "list"]).await;
    ok(&list, "list");
    assert!(
        !list.stdout.contains("garbage"),
        "stdout keeps only plugins: {}",
        list.stdout
    );
    assert!(list.stderr.contains("garbage.binary"), "{}", list.stderr);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enable_on_a_terminal_says_what_it_waits_for_and_a_pipe_gets_no_spinner() {
    let dirs = Dirs::new();
    // Never completes lifecycle.init: `starting` until the daemon's start timeout (5 s here).
    install_misbehaving(&dirs.plugins(), "liar");
    let d = ApiDaemon::start(&dirs).await;
    let socket = d.socket();
    let command = format!(
        "{} --socket {} plugin enable liar",
        toructl().display(),
        socket.display()
    );
    // script(1) gives toructl a pseudo-terminal, as an administrator's shell would.
    let tty = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .output()
        .await
        .expect("script (util-linux) runs toructl on a pseudo-terminal");
    let shown = String::from_utf8_lossy(&tty.stdout);
    assert!(
        shown.contains("waiting for liar: starting"),
        "the spinner says what it waits for: {shown}"
    );
    assert!(shown.contains("liar did not start"), "{shown}");

    ok(&ctl(&d, &["plugin", "disable", "liar"]).await, "disable");
    let piped = ctl(&d, &["plugin", "enable", "liar"]).await;
    assert_eq!(piped.code, 1);
    assert!(
        !piped.stderr.contains("waiting for"),
        "no spinner off a terminal: {}",
        piped.stderr
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_print_oldest_first_and_follow_streams() {
    let (_dirs, d) = started().await;
    ok(
        &ctl(&d, &["plugin", "enable", "hello-rust"]).await,
        "enable",
    );
    let logs = ctl(&d, &["plugin", "logs", "hello-rust", "-n", "5"]).await;
    ok(&logs, "logs");
    assert!(
        logs.stdout.contains("INFO  initialised for instance"),
        "{}",
        logs.stdout
    );

    // --follow: start it, make the plugin log, see the line arrive.
    let (mut follow, mut lines) =
        spawn_ctl(&d, &["plugin", "logs", "hello-rust", "--follow", "-n", "1"]);
    let first = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
        .await
        .unwrap()
        .unwrap();
    assert!(
        first.unwrap().contains("initialised"),
        "the last existing entry first"
    );
    let session = d.local.clone();
    let _: Value = session
        .send_json(
            Method::POST,
            "/api/plugins/hello-rust/route/counter/increment",
            &json!({}),
        )
        .await
        .unwrap();
    let next = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
        .await
        .unwrap()
        .unwrap();
    assert!(next.unwrap().contains("counter incremented to 1"));
    follow.kill().await.unwrap();
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_follow_prints_the_last_events_then_new_ones_like_journalctl_f() {
    let (_dirs, d) = started().await;
    ok(
        &ctl(&d, &["plugin", "enable", "hello-rust"]).await,
        "enable",
    );
    let (mut follow, mut lines) = spawn_ctl(&d, &["events", "-f", "-n", "1"]);
    let mut next_line = async || {
        tokio::time::timeout(Duration::from_secs(10), lines.next_line())
            .await
            .expect("a line within 10 s")
            .unwrap()
            .expect("toructl still follows")
    };
    let newest = next_line().await;
    assert!(
        newest.contains("hello-rust  started"),
        "the newest event first: {newest}"
    );
    // Recorded after toructl started following: it arrives, and nothing twice.
    ok(
        &ctl(&d, &["plugin", "disable", "hello-rust"]).await,
        "disable",
    );
    let mut arrived = Vec::new();
    while !arrived.iter().any(|l: &String| l.contains("  disabled  ")) {
        arrived.push(next_line().await);
    }
    assert!(
        arrived.iter().all(|l| !l.contains("  started  ")),
        "nothing printed twice: {arrived:?}"
    );
    let disabled = arrived.last().unwrap();
    assert!(
        disabled.contains("hello-rust") && disabled.contains("via the local socket"),
        "{disabled}"
    );
    follow.kill().await.unwrap();
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_and_remote_login() {
    let (_dirs, d) = started().await;
    let add = ctl_in(
        &d,
        &["user", "add", "admin"],
        Some(&format!("{PASSWORD}\n")),
    )
    .await;
    ok(&add, "user add");
    assert_eq!(add.stdout, "user admin created\n");
    let again = ctl_in(
        &d,
        &["user", "add", "admin"],
        Some(&format!("{PASSWORD}\n")),
    )
    .await;
    assert_eq!(again.code, 1);
    assert!(again.stderr.contains("already exists"), "{}", again.stderr);
    let short = ctl_in(&d, &["user", "add", "bob"], Some("short\n")).await;
    assert_eq!(short.code, 1);
    assert!(short.stderr.contains("at least 8"), "{}", short.stderr);
    let users = ctl(&d, &["user", "list"]).await;
    assert!(users.stdout.contains("admin") && !users.stdout.contains("bob"));

    // Remote: log in over HTTP, then use the printed session.
    let url = format!("http://{}", d.daemon.http_addr);
    let login = run_with(
        &["--url", &url, "login", "admin"],
        Some(&format!("{PASSWORD}\n")),
    )
    .await;
    ok(&login, "login");
    let token = login
        .stdout
        .trim()
        .strip_prefix("export TORU_SESSION=")
        .expect("an export line")
        .to_owned();
    let status = run_with(&["--url", &url, "--session", &token, "status"], None).await;
    ok(&status, "status over --url");
    // A token may start with '-' (base64url); it must still be taken as the value.
    let dashed = run_with(&["--url", &url, "--session", "-not-a-flag", "status"], None).await;
    assert_eq!(
        dashed.code, 1,
        "a bad session, not a usage error: {}",
        dashed.stderr
    );
    assert!(
        status.stdout.contains("you         admin"),
        "{}",
        status.stdout
    );
    let anonymous = run_with(&["--url", &url, "status"], None).await;
    assert_eq!(anonymous.code, 1);
    assert!(
        anonymous.stderr.contains("log in first") && anonymous.stderr.contains("hint"),
        "{}",
        anonymous.stderr
    );
    let wrong = run_with(&["--url", &url, "login", "admin"], Some("wrong password\n")).await;
    assert_eq!(wrong.code, 1);
    assert!(
        wrong.stderr.contains("wrong user name or password")
            && wrong.stderr.contains("check the user name and password")
            && !wrong.stderr.contains("log in first"),
        "a wrong password is not a missing login: {}",
        wrong.stderr
    );
    // Until the limiter answers 429 (5 tries per user name and address): then it says when.
    let mut limited = wrong;
    for _ in 0..10 {
        if limited.stderr.contains("(429") {
            break;
        }
        limited = run_with(&["--url", &url, "login", "admin"], Some("wrong again\n")).await;
    }
    assert!(
        limited.stderr.contains("(429") && limited.stderr.contains("hint: try again in "),
        "{}",
        limited.stderr
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_get_roles_and_are_disabled_enabled_and_deleted() {
    let (_dirs, d) = started().await;
    let pw = format!("{PASSWORD}\n");
    ok(
        &ctl_in(&d, &["user", "add", "admin"], Some(&pw)).await,
        "add admin",
    );
    let viewer = ctl_in(&d, &["user", "add", "ada", "--role", "viewer"], Some(&pw)).await;
    ok(&viewer, "add a viewer");
    assert_eq!(viewer.stdout, "user ada created (viewer)\n");
    let bad = ctl_in(&d, &["user", "add", "bo", "--role", "root"], Some(&pw)).await;
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(bad.stderr.contains("admin, viewer"), "{}", bad.stderr);

    // On a pipe, `user list` is tab-separated: name, role, state, created.
    let rows = |run: &support::ctl::Run| -> Vec<Vec<String>> {
        run.stdout
            .lines()
            .map(|l| l.split('\t').map(str::to_owned).collect())
            .collect()
    };
    let list = ctl(&d, &["user", "list"]).await;
    ok(&list, "user list");
    let listed = rows(&list);
    assert_eq!(listed.len(), 2, "{}", list.stdout);
    assert_eq!(listed[0][..3], ["ada", "viewer", "enabled"]);
    assert_eq!(listed[1][..3], ["admin", "admin", "enabled"]);
    assert!(
        listed[1][3].ends_with('Z'),
        "an ISO 8601 time: {}",
        list.stdout
    );

    // The last enabled administrator stays, with a hint.
    for cmd in [
        &["user", "delete", "admin"][..],
        &["user", "disable", "admin"],
        &["user", "set-role", "admin", "viewer"],
    ] {
        let refused = ctl(&d, cmd).await;
        assert_eq!(refused.code, 1, "{cmd:?}");
        assert!(
            refused.stderr.contains("last enabled administrator")
                && refused
                    .stderr
                    .contains("hint: make another user an administrator"),
            "{cmd:?}: {}",
            refused.stderr
        );
    }
    let promoted = ctl(&d, &["user", "set-role", "ada", "admin"]).await;
    ok(&promoted, "set-role");
    assert_eq!(promoted.stdout, "user ada is now admin\n");
    let disabled = ctl(&d, &["user", "disable", "admin"]).await;
    ok(&disabled, "disable");
    assert_eq!(
        disabled.stdout,
        "user admin disabled; their sessions ended\n"
    );
    let listed = rows(&ctl(&d, &["user", "list"]).await);
    assert_eq!(listed[1][..3], ["admin", "admin", "disabled"]);
    // A disabled user's login says so, and how to undo it.
    let url = format!("http://{}", d.daemon.http_addr);
    let refused = run_with(&["--url", &url, "login", "admin"], Some(&pw)).await;
    assert_eq!(refused.code, 1);
    assert!(
        refused.stderr.contains("this account is disabled")
            && refused
                .stderr
                .contains("hint: an administrator can enable it again"),
        "{}",
        refused.stderr
    );
    let json: Value =
        serde_json::from_str(&ctl(&d, &["--json", "user", "enable", "admin"]).await.stdout)
            .unwrap();
    assert_eq!(json["disabled"], false);
    let deleted = ctl(&d, &["user", "delete", "ada"]).await;
    ok(&deleted, "delete");
    assert_eq!(deleted.stdout, "user ada deleted; their sessions ended\n");
    let gone = ctl(&d, &["user", "delete", "ada"]).await;
    assert_eq!(gone.code, 1);
    assert!(gone.stderr.contains("no user ada"), "{}", gone.stderr);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_say_what_went_wrong() {
    let (_dirs, d) = started().await;
    // 1: the daemon refused (unknown plugin).
    let unknown = ctl(&d, &["plugin", "show", "nope"]).await;
    assert_eq!(unknown.code, 1);
    assert!(
        unknown.stderr.contains("no plugin with id"),
        "{}",
        unknown.stderr
    );
    // 2: usage errors, from clap or from us.
    assert_eq!(run_with(&["plugin", "frobnicate"], None).await.code, 2);
    assert_eq!(
        run_with(&["--url", "ftp://x:1", "status"], None).await.code,
        2
    );
    assert_eq!(
        run_with(&["login", "admin"], Some("x\n")).await.code,
        2,
        "login needs --url"
    );
    // 3: nobody listening, with a hint.
    let away = run_with(&["--socket", "/nonexistent/toru.sock", "status"], None).await;
    assert_eq!(away.code, 3);
    assert!(
        away.stderr.contains("is toru-daemon running"),
        "{}",
        away.stderr
    );
    // 3 too, but the hint is group toru, not a daemon that is down: the socket refuses nobody.
    let socket = d.socket();
    let denied = tokio::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(toructl())
        .arg("--socket")
        .arg(&socket)
        .arg("status")
        .output()
        .await
        .expect("setpriv (util-linux) runs toructl as nobody; these tests run as root");
    let stderr = String::from_utf8_lossy(&denied.stderr);
    assert_eq!(denied.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("sudo adduser $USER toru") && !stderr.contains("is toru-daemon running"),
        "{stderr}"
    );
    // Completions are generated without a daemon.
    let completions = run_with(&["completions", "bash"], None).await;
    ok(&completions, "completions");
    assert!(completions.stdout.contains("toructl"));
    d.stop().await;
}

/// <Tab> in a real bash, with the script `toructl completions bash` prints: plugin ids and
/// user names come from the daemon; with no daemon, nothing is offered and nothing is printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bash_completes_plugin_ids_and_user_names_from_the_daemon() {
    let (_dirs, d) = started().await;
    d.create_admin().await;
    let script = run_with(&["completions", "bash"], None).await;
    ok(&script, "completions bash");
    assert!(
        !script.stdout.contains("target/"),
        "the script runs `toructl` from PATH, not the path it was generated with"
    );
    let dir = tempfile::tempdir().unwrap();
    let script_path = dir.path().join("toructl.bash");
    std::fs::write(&script_path, &script.stdout).unwrap();
    let bin_dir = toructl().parent().unwrap().to_path_buf();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap());
    let tab = |words: &'static str, socket: PathBuf| {
        let script_path = script_path.clone();
        let path = path.clone();
        async move {
            // COMP_* as bash sets them for `toructl <words>` with the cursor at the end.
            let program = format!(
                "source {script}\nCOMP_WORDS=(toructl {words}) COMP_CWORD={cword} COMP_TYPE=9\n\
                 _clap_complete_toructl toructl \"${{COMP_WORDS[COMP_CWORD]}}\"\n\
                 printf '%s\\n' \"${{COMPREPLY[@]}}\"",
                script = script_path.display(),
                cword = words.split(' ').count(),
            );
            let out = tokio::process::Command::new("bash")
                .arg("-c")
                .arg(program)
                .env("PATH", path)
                .env("TORU_SOCKET", socket)
                .output()
                .await
                .expect("bash runs");
            (
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        }
    };
    let (ids, stderr) = tab("plugin enable hello", d.socket()).await;
    assert_eq!(ids.trim(), "hello-rust", "stderr: {stderr}");
    let (names, _) = tab("user passwd ad", d.socket()).await;
    assert_eq!(names.trim(), "admin");
    let (ids, _) = tab("events --plugin ", d.socket()).await;
    assert_eq!(ids.trim(), "hello-rust");
    let (none, stderr) = tab("plugin enable hello", dir.path().join("no.sock")).await;
    assert_eq!(
        (none.trim(), stderr.trim()),
        ("", ""),
        "no daemon: no candidates, no noise"
    );
    d.stop().await;
}

/// `toructl manpages DIR` writes one page per command from the clap definitions, which `man`
/// renders.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn man_pages_are_written_one_per_command() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("man1");
    let run = run_with(&["manpages", out.to_str().unwrap()], None).await;
    ok(&run, "manpages");
    let mut pages: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    pages.sort();
    for page in [
        "toructl.1",
        "toructl-plugin.1",
        "toructl-plugin-enable.1",
        "toructl-plugin-license-set.1",
        "toructl-events.1",
    ] {
        assert!(pages.iter().any(|p| p == page), "{page} in {pages:?}");
    }
    assert!(
        !pages
            .iter()
            .any(|p| p.contains("manpages") || p.contains("help")),
        "{pages:?}"
    );
    let top = std::fs::read_to_string(out.join("toructl.1")).unwrap();
    assert!(top.contains(".SH EXAMPLES") && top.contains(".SH SEE ALSO"));
    let events = std::fs::read_to_string(out.join("toructl-events.1")).unwrap();
    assert!(events.contains("\\-\\-actor"), "{events}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requested_permissions_are_shown_before_enabling() {
    let dirs = Dirs::new();
    // Case: a plugin that asks for the network, a writable path and a JIT (never enabled here).
    let meta = r#"{"id":"needs-more","name":"Needs more","version":"1","route":"/needs-more","protocol_version":1,"permissions":{"network":true,"writable_paths":["/srv/needs-more"],"jit":true}}"#;
    support::fixtures::script(
        &dirs.plugins(),
        "needs-more",
        &format!("if [ \"$1\" = --metadata ]; then echo '{meta}'; exit 0; fi\nexit 1"),
    );
    // Case: a plugin that asks for nothing.
    install(&dirs.plugins(), &hello_rust(), "hello-rust");
    let d = ApiDaemon::start(&dirs).await;

    let show = ctl(&d, &["--json", "plugin", "show", "needs-more"]).await;
    ok(&show, "show --json");
    let shown: Value = serde_json::from_str(&show.stdout).unwrap();
    assert_eq!(shown["permissions"]["network"], true, "{shown}");
    assert_eq!(shown["permissions"]["writable_paths"][0], "/srv/needs-more");
    assert_eq!(shown["permissions"]["jit"], true);
    assert_eq!(shown["status"]["enabled"], false);

    let human = ctl(&d, &["plugin", "show", "needs-more"]).await;
    ok(&human, "show");
    assert!(
        human.stdout.contains(
            "permissions network beyond localhost; writes /srv/needs-more; \
                 may write and run machine code at run time (JIT)"
        ),
        "{}",
        human.stdout
    );
    let plain = ctl(&d, &["plugin", "show", "hello-rust"]).await;
    assert!(
        plain
            .stdout
            .contains("permissions none (the default sandbox)"),
        "{}",
        plain.stdout
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backups_are_written_private_never_to_a_terminal_and_restored() {
    use std::os::unix::fs::PermissionsExt;
    let (dirs, d) = started().await;
    ok(
        &ctl(&d, &["plugin", "enable", "hello-rust"]).await,
        "enable",
    );
    ok(
        &ctl(&d, &["kv", "set", "hello-rust", "counter", "7"]).await,
        "kv set",
    );

    let whole = dirs.root.path().join("toru-backup.tar");
    let run = ctl(&d, &["backup", "-o", whole.to_str().unwrap()]).await;
    ok(&run, "backup");
    assert!(run.stderr.contains("backup written to"), "{}", run.stderr);
    let mode = std::fs::metadata(&whole).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "a backup holds secrets");
    assert!(std::fs::read(&whole).unwrap().len() > 1024);

    let one = dirs.root.path().join("hello-rust.json");
    ok(
        &ctl(
            &d,
            &[
                "plugin",
                "backup",
                "hello-rust",
                "-o",
                one.to_str().unwrap(),
            ],
        )
        .await,
        "plugin backup",
    );
    ok(
        &ctl(&d, &["kv", "set", "hello-rust", "counter", "8"]).await,
        "kv set",
    );
    let run = ctl(
        &d,
        &["plugin", "restore", "hello-rust", one.to_str().unwrap()],
    )
    .await;
    ok(&run, "plugin restore");
    assert!(
        run.stdout
            .contains("hello-rust: 1 KV entries and no licence key restored; it restarted"),
        "{}",
        run.stdout
    );
    let get = ctl(&d, &["kv", "get", "hello-rust", "counter"]).await;
    assert_eq!(get.stdout.trim(), "7");

    // A plugin backup where a whole one belongs: exit 1, with the command that takes it.
    let run = ctl(&d, &["restore", one.to_str().unwrap()]).await;
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("toructl plugin restore"),
        "{}",
        run.stderr
    );

    // On a terminal, standard output is no place for an archive.
    let command = format!(
        "{} --socket {} backup",
        toructl().display(),
        d.socket().display()
    );
    let tty = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .output()
        .await
        .expect("script (util-linux) runs toructl on a pseudo-terminal");
    let shown = String::from_utf8_lossy(&tty.stdout);
    assert!(
        shown.contains("not writing a tar archive to a terminal"),
        "{shown}"
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_config_shows_sets_by_the_schemas_types_and_unsets() {
    let (dirs, d) = started().await;
    support::fixtures::install_python_fixture(&dirs.plugins(), "settings_plugin.py", "configured");
    ok(&ctl(&d, &["plugin", "rescan"]).await, "rescan");
    ok(
        &ctl(&d, &["plugin", "enable", "hello-rust"]).await,
        "enable",
    );

    let shown = ctl(&d, &["plugin", "config", "hello-rust"]).await;
    ok(&shown, "config");
    assert_eq!(
        shown.stdout,
        "greeting\t-\tHello\tThe word the plugin greets with.\n"
    );
    let set = ctl(
        &d,
        &["plugin", "config", "set", "hello-rust", "greeting=Ahoy"],
    )
    .await;
    ok(&set, "config set");
    assert!(
        set.stdout.starts_with("greeting\tAhoy\tHello\t"),
        "{}",
        set.stdout
    );
    // The plugin was re-initialised with the new greeting before toructl returned.
    d.create_admin().await;
    let greeting: Value = d
        .login()
        .await
        .get("/api/plugins/hello-rust/route/greeting")
        .await
        .unwrap();
    assert_eq!(greeting["message"], "Ahoy, admin!");

    // Refusals: the daemon's (exit 1, naming the setting), and toructl's own (exit 2).
    let empty = ctl(&d, &["plugin", "config", "set", "hello-rust", "greeting="]).await;
    assert_eq!(empty.code, 1, "{}", empty.stderr);
    assert!(
        empty
            .stderr
            .contains("greeting: \"\" is shorter than 1 character"),
        "{}",
        empty.stderr
    );
    let unknown = ctl(&d, &["plugin", "config", "set", "hello-rust", "colour=red"]).await;
    assert_eq!(unknown.code, 2, "{}", unknown.stderr);
    assert!(
        unknown
            .stderr
            .contains("hello-rust has no setting \"colour\""),
        "{}",
        unknown.stderr
    );

    let unset = ctl(&d, &["plugin", "config", "unset", "hello-rust", "greeting"]).await;
    ok(&unset, "config unset");
    assert!(
        unset.stdout.starts_with("greeting\t-\tHello"),
        "{}",
        unset.stdout
    );

    // Values are read as the schema's type; a secret shows only whether it is set.
    let typed = ctl(
        &d,
        &[
            "plugin",
            "config",
            "set",
            "configured",
            "port=9000",
            "verbose=true",
            "token=s3cret-token-value",
        ],
    )
    .await;
    ok(&typed, "typed config set");
    assert!(
        typed.stdout.contains("port\t9000\t8080\t"),
        "{}",
        typed.stdout
    );
    assert!(
        typed
            .stdout
            .contains("token\tset\t-\t(required) The API token."),
        "{}",
        typed.stdout
    );
    assert!(
        typed.stdout.contains("verbose\ttrue\t-\t"),
        "{}",
        typed.stdout
    );
    assert!(!typed.stdout.contains("s3cret"), "{}", typed.stdout);
    let bad_type = ctl(
        &d,
        &["plugin", "config", "set", "configured", "port=eighty"],
    )
    .await;
    assert_eq!(bad_type.code, 2, "{}", bad_type.stderr);
    assert!(
        bad_type
            .stderr
            .contains("port: expected an integer, not \"eighty\""),
        "{}",
        bad_type.stderr
    );
    let unset = ctl(&d, &["plugin", "config", "unset", "configured", "token"]).await;
    assert_eq!(unset.code, 1, "{}", unset.stderr);
    assert!(
        unset.stderr.contains("token: is required and has no value"),
        "{}",
        unset.stderr
    );
    d.stop().await;
}

/// Two daemons at once, one on plain HTTP and one on TLS with its self-signed certificate, both
/// driven by one `toructl` through contexts, as from an administrator's laptop: `login
/// --context` keeps each session (the TLS one only once its fingerprint, which the refusal
/// shows, is passed), `--context` picks one, `context use` changes the default,
/// `--all-contexts` lists both in one table and says which failed, and `context remove` ends
/// the session on the daemon. The file that holds the tokens is 0600.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contexts_drive_two_daemons_at_once() {
    use std::os::unix::fs::PermissionsExt as _;

    use support::api::test_config;
    use support::ctl::run_configured;

    let (_dirs_a, a) = started().await;
    a.create_admin().await;
    let dirs_b = Dirs::new();
    let mut config_b = test_config(&dirs_b);
    config_b.tls_listen = Some("127.0.0.1:0".parse().unwrap());
    let b = ApiDaemon::start_with(config_b).await;
    b.create_admin().await;
    let fingerprint = b
        .local
        .status()
        .await
        .unwrap()
        .tls
        .unwrap()
        .sha256_fingerprint;

    let home = tempfile::tempdir().unwrap();
    let password = format!("{PASSWORD}\n");
    let run = |args: &[&str], stdin: Option<&str>| {
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        let stdin = stdin.map(str::to_owned);
        let home = home.path().to_owned();
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            run_configured(&home, &args, stdin.as_deref()).await
        }
    };
    let url_a = format!("http://{}", a.daemon.http_addr);
    let url_b = format!("https://{}", b.daemon.tls_addr.unwrap());

    let login_a = run(
        &["login", "--context", "web-a", &url_a, "admin"],
        Some(&password),
    )
    .await;
    ok(&login_a, "login to web-a");
    assert!(
        login_a.stderr.contains("saved as context web-a"),
        "{}",
        login_a.stderr
    );

    // Not a terminal, so no question: the refusal shows the fingerprint to check and pass.
    let untrusted = run(
        &["login", "--context", "web-b", &url_b, "admin"],
        Some(&password),
    )
    .await;
    assert_eq!(untrusted.code, 2, "{}", untrusted.stderr);
    assert!(
        untrusted.stderr.contains(&fingerprint) && untrusted.stderr.contains("--fingerprint"),
        "{}",
        untrusted.stderr
    );
    let other = "00".repeat(32);
    let pinned_wrong = run(
        &[
            "login",
            "--context",
            "web-b",
            &url_b,
            "admin",
            "--fingerprint",
            &other,
        ],
        Some(&password),
    )
    .await;
    assert_eq!(pinned_wrong.code, 3, "{}", pinned_wrong.stderr);
    assert!(
        pinned_wrong.stderr.contains("not trusted"),
        "{}",
        pinned_wrong.stderr
    );
    let login_b = run(
        &[
            "login",
            "--context",
            "web-b",
            &url_b,
            "admin",
            "--fingerprint",
            &fingerprint,
        ],
        Some(&password),
    )
    .await;
    ok(&login_b, "login to web-b with its fingerprint");

    let file = home.path().join("toru/contexts.toml");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let stored: toml::Table = toml::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let session_a = stored["contexts"]["web-a"]["session"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        stored["contexts"]["web-b"]["fingerprint"].as_str(),
        Some(&*fingerprint)
    );

    let list = run(&["context", "list"], None).await;
    ok(&list, "context list");
    assert!(!list.stdout.contains(&session_a), "never prints a token");
    for row in [
        "*\tlocal\t".to_owned(),
        format!("\tweb-a\t{url_a}\tadmin\t-"),
        format!("\tweb-b\t{url_b}\tadmin\tpinned"),
    ] {
        assert!(list.stdout.contains(&row), "{row:?} in {}", list.stdout);
    }

    let instance = |d: &ApiDaemon| d.daemon.plugins.instance_id().to_owned();
    let on_a = run(&["--context", "web-a", "status"], None).await;
    ok(&on_a, "status on web-a");
    assert!(on_a.stdout.contains(&instance(&a)), "{}", on_a.stdout);
    let on_b = run(&["--context", "web-b", "status"], None).await;
    ok(&on_b, "status on web-b, over TLS");
    assert!(on_b.stdout.contains(&instance(&b)), "{}", on_b.stdout);

    ok(
        &run(&["context", "use", "web-b"], None).await,
        "context use",
    );
    let current = run(&["status"], None).await;
    assert!(current.stdout.contains(&instance(&b)), "{}", current.stdout);
    let unknown = run(&["--context", "web-c", "status"], None).await;
    assert_eq!(unknown.code, 2, "{}", unknown.stderr);

    // The fleet view: a's plugin under its context, b has none; JSON by context.
    let fleet = run(&["--all-contexts", "plugin", "list"], None).await;
    ok(&fleet, "--all-contexts plugin list");
    assert!(
        fleet.stdout.starts_with("web-a\thello-rust\t"),
        "{}",
        fleet.stdout
    );
    let fleet_json = run(&["--all-contexts", "--json", "status"], None).await;
    ok(&fleet_json, "--all-contexts --json status");
    let by_context: Value = serde_json::from_str(&fleet_json.stdout).unwrap();
    assert_eq!(by_context["web-a"]["instance_id"], json!(instance(&a)));
    assert_eq!(by_context["web-b"]["instance_id"], json!(instance(&b)));

    // One daemon gone: the other still answers, and the exit code says one failed.
    b.stop().await;
    let partial = run(&["--all-contexts", "status"], None).await;
    assert_eq!(partial.code, 1, "{}", partial.stderr);
    assert!(partial.stdout.contains("web-a\t"), "{}", partial.stdout);
    assert!(
        partial.stderr.contains("web-b: cannot reach")
            && partial.stderr.contains("1 of 2 contexts failed: web-b"),
        "{}",
        partial.stderr
    );

    // Removing a context ends its session on the daemon, not only in the file.
    ok(
        &run(&["context", "remove", "web-a"], None).await,
        "context remove",
    );
    let with_old_token = run(&["--url", &url_a, "--session", &session_a, "status"], None).await;
    assert_eq!(with_old_token.code, 1, "{}", with_old_token.stderr);
    let list = run(&["context", "list"], None).await;
    assert!(!list.stdout.contains("web-a"), "{}", list.stdout);
    a.stop().await;
}
