//! The restart, backoff and give-up policy of [`supervise`], against a fake backend whose
//! plugins are tasks speaking the real protocol over real Unix sockets, with tokio's clock
//! paused: the minutes of real backoff pass in milliseconds, and the schedule is exact.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::net::UnixListener;
use tokio::sync::oneshot;
use tokio::time::Instant;
use tokio_util::codec::Framed;
use tokio_util::sync::CancellationToken;
use toru_plugin_api::{Body, FrameCodec, Message, PluginId, PluginMetadata, Ready};

use super::*;
use crate::plugins::backend::BackendError;
use crate::plugins::enabled::EnabledState;
use crate::plugins::status::{PluginState, PluginStatus};
use crate::store::Event as StoredEvent;
use crate::sync::lock;

const ID: &str = "fake";

/// What the fake plugin does when started.
#[derive(Debug, Clone, Copy)]
enum Script {
    /// The backend cannot start it.
    StartFails,
    /// The process exits with status 1 before it listens.
    ExitsAtStart,
    /// It serves (answering pings), then exits with status 1 this long after its start.
    CrashesAfter(Duration),
    /// It answers `lifecycle.init` but never a ping.
    Hangs,
    /// It serves until stopped.
    Serves,
}

/// A fake plugin process: a task, and how to end it.
struct FakeProcess {
    kill: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

/// A backend that runs scripted fake plugins and remembers when each start happened.
struct FakeBackend {
    dir: PathBuf,
    scripts: Mutex<VecDeque<Script>>,
    starts: Mutex<Vec<Instant>>,
    process: Mutex<Option<FakeProcess>>,
    /// Restarts the plugin itself after this delay, as systemd ≥ 254 does (`None`: never).
    restarts_itself_after: Option<Duration>,
    /// Calls of `stop`.
    stops: Mutex<usize>,
}

impl FakeBackend {
    /// Runs `scripts` in order, then [`Script::Serves`] forever.
    fn new(dir: &Path, scripts: impl IntoIterator<Item = Script>) -> Arc<Self> {
        Arc::new(FakeBackend {
            dir: dir.to_owned(),
            scripts: Mutex::new(scripts.into_iter().collect()),
            starts: Mutex::default(),
            process: Mutex::default(),
            restarts_itself_after: None,
            stops: Mutex::default(),
        })
    }

    /// Like [`FakeBackend::new`], for a backend that restarts a failed plugin itself `after`.
    fn restarting_itself(
        dir: &Path,
        scripts: impl IntoIterator<Item = Script>,
        after: Duration,
    ) -> Arc<Self> {
        let mut backend = Arc::into_inner(Self::new(dir, scripts)).expect("not shared yet");
        backend.restarts_itself_after = Some(after);
        Arc::new(backend)
    }

    /// Seconds (rounded down) between consecutive starts.
    fn gaps_between_starts(&self) -> Vec<u64> {
        let starts = lock(&self.starts);
        starts
            .windows(2)
            .map(|pair| (pair[1] - pair[0]).as_secs())
            .collect()
    }

    fn start_count(&self) -> usize {
        lock(&self.starts).len()
    }
}

#[async_trait::async_trait]
impl SupervisorBackend for FakeBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Embedded
    }

    fn socket_path(&self, plugin_id: &PluginId) -> PathBuf {
        self.dir.join(format!("{plugin_id}.sock"))
    }

    async fn start(&self, spec: &LaunchSpec) -> Result<RunningPlugin, BackendError> {
        lock(&self.starts).push(Instant::now());
        let script = lock(&self.scripts).pop_front().unwrap_or(Script::Serves);
        let (exit_tx, exited) = oneshot::channel();
        match script {
            Script::StartFails => {
                return Err(BackendError::start(
                    &spec.plugin_id,
                    std::io::Error::other("scripted to fail"),
                ));
            }
            Script::ExitsAtStart => {
                let _ = exit_tx.send(ExitInfo::Exited(1));
            }
            Script::CrashesAfter(_) | Script::Hangs | Script::Serves => {
                let _ = std::fs::remove_file(&spec.socket);
                let listener = UnixListener::bind(&spec.socket).expect("bind the fake's socket");
                let kill = CancellationToken::new();
                let task = tokio::spawn(fake_plugin(listener, script, kill.clone(), exit_tx));
                *lock(&self.process) = Some(FakeProcess { kill, task });
            }
        }
        Ok(RunningPlugin {
            pid: Some(1000 + lock(&self.starts).len() as u32),
            unit: None,
            exited,
            unseen_restarts: 0,
        })
    }

    async fn adopt(&self, _plugin_id: &PluginId) -> Result<Option<RunningPlugin>, BackendError> {
        Ok(None)
    }

    async fn scheduled_restart(&self, _plugin_id: &PluginId) -> Option<Duration> {
        self.restarts_itself_after
    }

    async fn stop(&self, _plugin_id: &PluginId, _grace: Duration) -> Result<(), BackendError> {
        *lock(&self.stops) += 1;
        let process = lock(&self.process).take();
        if let Some(process) = process {
            process.kill.cancel();
            let _ = process.task.await;
        }
        Ok(())
    }

    async fn list_running(&self) -> Result<Vec<PluginId>, BackendError> {
        Ok(Vec::new())
    }

    async fn run_metadata(
        &self,
        _run: &crate::plugins::backend::MetadataRun<'_>,
    ) -> Result<Vec<u8>, crate::plugins::backend::MetadataError> {
        unreachable!("the supervisor never runs --metadata; discovery does")
    }
}

/// One fake plugin process: accepts one connection, answers `lifecycle.init` and (unless it
/// hangs) pings, and reports its exit the way a backend would.
async fn fake_plugin(
    listener: UnixListener,
    script: Script,
    kill: CancellationToken,
    exit: oneshot::Sender<ExitInfo>,
) {
    let crash_at = match script {
        Script::CrashesAfter(after) => Instant::now() + after,
        _ => Instant::now() + Duration::from_secs(24 * 3600),
    };
    let serve = async {
        let (stream, _) = listener.accept().await.expect("accept");
        let mut frames = Framed::new(stream, FrameCodec::new());
        while let Some(Ok(Ok(message))) = frames.next().await {
            let reply = match message.body {
                Body::Init(_) => Body::Ready(Ready {
                    protocol_version: toru_plugin_api::PROTOCOL_VERSION,
                    license: None,
                }),
                Body::Ping if !matches!(script, Script::Hangs) => Body::Pong,
                Body::Shutdown => return ExitInfo::Exited(0),
                _ => continue,
            };
            let reply = Message {
                request_id: message.request_id,
                timestamp: 0,
                body: reply,
            };
            if frames.send(&reply).await.is_err() {
                break;
            }
        }
        ExitInfo::Exited(0)
    };
    let info = tokio::select! {
        info = serve => info,
        () = tokio::time::sleep_until(crash_at) => ExitInfo::Exited(1),
        () = kill.cancelled() => ExitInfo::Killed(15),
    };
    let _ = exit.send(info);
}

/// A supervisor over `backend` for one enabled plugin, and what it needs to be watched.
struct Supervised {
    slot: Arc<Slot>,
    stop: StopSignal,
    task: tokio::task::JoinHandle<()>,
    store: Store,
    enabled: EnabledConfig,
    _dir: tempfile::TempDir,
}

async fn supervised(
    backend: impl FnOnce(&Path) -> Arc<FakeBackend>,
) -> (Supervised, Arc<FakeBackend>) {
    let dir = tempfile::tempdir().unwrap();
    let backend = backend(dir.path());
    let store = Store::open(&dir.path().join("toru.db")).await.unwrap();
    let mut enabled = EnabledState::load(dir.path()).unwrap();
    enabled.set(ID, true).unwrap();
    let enabled = EnabledConfig::new(enabled);
    let settings = Settings::new(dir.path().to_owned());
    let ctx = Arc::new(SupervisorContext {
        backend: backend.clone(),
        store: store.clone(),
        instance_id: "test-instance".to_owned(),
        enabled: enabled.clone(),
        settings,
    });
    let meta = PluginMetadata {
        id: ID.to_owned(),
        name: "Fake".to_owned(),
        version: "1.0.0".to_owned(),
        author: String::new(),
        icon: String::new(),
        route: "/fake".to_owned(),
        protocol_version: toru_plugin_api::PROTOCOL_VERSION,
        description: String::new(),
        license_required: false,
        permissions: Default::default(),
        settings: None,
    };
    let found = crate::plugins::discovery::DiscoveredPlugin {
        id: PluginId::new(ID).unwrap(),
        meta,
        binary: dir.path().join("fake.binary"),
        verified: crate::plugins::trust::Verified::unchecked(&dir.path().join("fake.binary")),
    };
    let slot = Arc::new(Slot::new(
        found,
        ctx.settings.restart_policy(),
        Default::default(),
    ));
    slot.apply(Event::Enable).unwrap();
    let stop = StopSignal::new(&CancellationToken::new());
    let task = tokio::spawn(supervise(ctx, slot.clone(), stop.clone(), None));
    let supervised = Supervised {
        slot,
        stop,
        task,
        store,
        enabled,
        _dir: dir,
    };
    (supervised, backend)
}

impl Supervised {
    /// Waits for the supervisor task to end.
    async fn ended(&mut self) {
        (&mut self.task)
            .await
            .expect("the supervisor did not panic");
    }

    /// Waits (in paused time, so at no real cost) until the status satisfies `done`.
    async fn wait_for(&self, done: impl Fn(&PluginStatus) -> bool) -> PluginStatus {
        let mut status = self.slot.subscribe();
        tokio::time::timeout(Duration::from_secs(3600), status.wait_for(|s| done(s)))
            .await
            .expect("the status was reached within an hour of virtual time")
            .expect("the slot is alive")
            .clone()
    }

    async fn events(&self) -> Vec<StoredEvent> {
        let mut events = self.store.recent_events(ID, 1000).await.unwrap();
        events.reverse();
        events
    }

    async fn details_of(&self, kind: EventKind) -> Vec<String> {
        let events = self.events().await;
        events
            .into_iter()
            .filter(|e| e.kind == kind)
            .map(|e| e.details)
            .collect()
    }
}

#[tokio::test(start_paused = true)]
async fn a_plugin_that_keeps_failing_backs_off_1_to_16_s_and_is_given_up_at_the_tenth_failure() {
    let (mut s, backend) =
        supervised(|dir| FakeBackend::new(dir, [Script::ExitsAtStart; 10])).await;
    s.ended().await;
    let status = s.slot.status();
    assert_eq!(status.state, PluginState::Failed);
    assert!(!status.enabled);
    assert_eq!((status.consecutive_failures, status.restarts), (10, 9));
    assert_eq!(
        status.last_error.as_deref(),
        Some(
            "gave up after 10 consecutive failures; disabled. Last failure: exited with status 1 during start"
        )
    );
    assert_eq!(
        backend.gaps_between_starts(),
        [1, 2, 4, 8, 16, 16, 16, 16, 16]
    );
    assert!(
        !s.enabled.is_enabled(ID),
        "giving up is written to config.json"
    );
    let kinds: Vec<EventKind> = s.events().await.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == EventKind::Crashed).count(),
        10
    );
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == EventKind::Restarting)
            .count(),
        9
    );
    assert_eq!(kinds.last(), Some(&EventKind::GaveUp));
    assert_eq!(
        s.details_of(EventKind::Crashed).await[0],
        "exited with status 1 during start"
    );
}

#[tokio::test(start_paused = true)]
async fn a_backend_that_restarts_by_itself_sets_the_delays_and_the_give_up_cancels_its_restart() {
    let (mut s, backend) = supervised(|dir| {
        FakeBackend::restarting_itself(dir, [Script::ExitsAtStart; 10], Duration::from_secs(3))
    })
    .await;
    s.ended().await;
    let status = s.slot.status();
    assert_eq!(status.state, PluginState::Failed);
    assert_eq!((status.consecutive_failures, status.restarts), (10, 9));
    assert_eq!(backend.gaps_between_starts(), [3; 9], "the backend's delay");
    assert_eq!(
        s.details_of(EventKind::Restarting).await[0],
        "restart 1 in 3s"
    );
    assert_eq!(*lock(&backend.stops), 1, "the give-up stopped the unit");
}

#[tokio::test(start_paused = true)]
async fn disabling_while_the_backend_restarts_by_itself_cancels_its_restart() {
    let (mut s, backend) = supervised(|dir| {
        FakeBackend::restarting_itself(dir, [Script::ExitsAtStart], Duration::from_secs(3))
    })
    .await;
    s.wait_for(|st| st.state == PluginState::Backoff).await;
    s.stop.request(StopIntent::Disable);
    s.ended().await;
    assert_eq!(s.slot.status().state, PluginState::Disabled);
    assert_eq!(backend.start_count(), 1);
    assert_eq!(
        *lock(&backend.stops),
        1,
        "the scheduled restart was cancelled"
    );
}

#[tokio::test(start_paused = true)]
async fn a_run_of_30_s_resets_the_failure_count() {
    let secs = Duration::from_secs;
    let scripts = [
        Script::CrashesAfter(secs(5)),
        Script::CrashesAfter(secs(5)),
        Script::CrashesAfter(secs(31)),
        Script::CrashesAfter(secs(5)),
    ];
    let (s, backend) = supervised(|dir| FakeBackend::new(dir, scripts)).await;
    let status = s
        .wait_for(|s| s.restarts == 4 && s.state == PluginState::Running)
        .await;
    assert_eq!(status.consecutive_failures, 2, "{status:?}");
    assert_eq!(status.last_error.as_deref(), Some("exited with status 1"));
    assert!(status.healthy && status.enabled && status.pid.is_some());
    assert_eq!(
        s.details_of(EventKind::Restarting).await,
        [
            "restart 1 in 1s",
            "restart 2 in 2s",
            "restart 1 in 1s",
            "restart 2 in 2s"
        ]
    );
    // Each run's length plus the backoff after it.
    assert_eq!(backend.gaps_between_starts(), [5 + 1, 5 + 2, 31 + 1, 5 + 2]);
}

#[tokio::test(start_paused = true)]
async fn a_plugin_that_stops_answering_pings_is_stopped_and_restarted() {
    let (s, backend) = supervised(|dir| FakeBackend::new(dir, [Script::Hangs])).await;
    let unhealthy = s
        .wait_for(|s| s.state == PluginState::Running && !s.healthy)
        .await;
    assert!(
        unhealthy.enabled && unhealthy.pid.is_some(),
        "{unhealthy:?}"
    );
    let status = s
        .wait_for(|s| s.restarts == 1 && s.state == PluginState::Running)
        .await;
    assert!(status.healthy);
    assert_eq!(status.consecutive_failures, 1);
    assert_eq!(
        status.last_error.as_deref(),
        Some("stopped answering pings (3 missed in a row)")
    );
    assert_eq!(backend.start_count(), 2);
    let kinds: Vec<EventKind> = s.events().await.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            EventKind::Started,
            EventKind::Unhealthy,
            EventKind::Stopped,
            EventKind::Crashed,
            EventKind::Restarting,
            EventKind::Started
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn disabling_during_backoff_ends_disabled_without_another_start() {
    let (mut s, backend) = supervised(|dir| FakeBackend::new(dir, [Script::StartFails])).await;
    let backoff = s.wait_for(|s| s.state == PluginState::Backoff).await;
    assert!(backoff.enabled && backoff.pid.is_none(), "{backoff:?}");
    s.stop.request(StopIntent::Disable);
    s.ended().await;
    let status = s.slot.status();
    assert_eq!(
        (status.state, status.enabled),
        (PluginState::Disabled, false)
    );
    assert_eq!(backend.start_count(), 1);
}

#[tokio::test(start_paused = true)]
async fn disabling_a_running_plugin_stops_its_process() {
    let (mut s, backend) = supervised(|dir| FakeBackend::new(dir, [])).await;
    s.wait_for(|s| s.state == PluginState::Running).await;
    s.stop.request(StopIntent::Disable);
    s.ended().await;
    let status = s.slot.status();
    assert_eq!(
        (status.state, status.enabled),
        (PluginState::Disabled, false)
    );
    assert_eq!((status.pid, status.restarts), (None, 0));
    assert!(lock(&backend.process).is_none(), "the process was stopped");
    assert_eq!(s.details_of(EventKind::Stopped).await, ["stopped"]);
}

#[tokio::test(start_paused = true)]
async fn a_restart_for_a_new_licence_key_leaves_the_plugin_starting() {
    let (mut s, _backend) = supervised(|dir| FakeBackend::new(dir, [])).await;
    s.wait_for(|s| s.state == PluginState::Running).await;
    s.stop.request(StopIntent::Restart);
    s.ended().await;
    let status = s.slot.status();
    assert_eq!(
        (status.state, status.enabled),
        (PluginState::Starting, true)
    );
    assert_eq!(status.pid, None);
}
