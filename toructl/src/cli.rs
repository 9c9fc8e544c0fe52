//! The command line, as clap sees it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use toru_api::{CertFingerprint, Role};

use crate::contexts::ContextName;

/// Drive the Toru daemon: plugins, logs, users, KV.
#[derive(Debug, Parser)]
#[command(name = "toructl", version, about, propagate_version = true)]
pub struct Cli {
    /// The daemon's local socket [default: /run/toru/toru.sock as root; else
    /// $XDG_RUNTIME_DIR/toru/toru.sock if it exists, else /run/toru/toru.sock].
    #[arg(
        long,
        global = true,
        env = "TORU_SOCKET",
        value_name = "PATH",
        conflicts_with_all = ["url", "context"]
    )]
    pub socket: Option<PathBuf>,
    /// Talk to a daemon over HTTP or HTTPS instead (needs --session or TORU_SESSION; see
    /// `login`).
    #[arg(
        long,
        global = true,
        env = "TORU_URL",
        value_name = "URL",
        conflicts_with = "context"
    )]
    pub url: Option<String>,
    /// Talk to the daemon of this context (see `toructl context`) instead of the current one;
    /// `local` is the local socket.
    #[arg(
        long,
        global = true,
        env = "TORU_CONTEXT",
        value_name = "NAME",
        add = crate::complete::context_names()
    )]
    pub context: Option<ContextName>,
    /// Run the command against every stored context in turn (`plugin list` and `status` as one
    /// table with a CONTEXT column).
    #[arg(long, global = true, conflicts_with_all = ["socket", "url", "context"])]
    pub all_contexts: bool,
    /// Session token for --url.
    // Tokens are base64url and may start with '-', which must not read as a flag.
    #[arg(
        long,
        global = true,
        env = "TORU_SESSION",
        value_name = "TOKEN",
        hide_env_values = true,
        allow_hyphen_values = true
    )]
    pub session: Option<String>,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Daemon version, instance id, supervisor backend and plugin counts.
    Status,
    /// Manage plugins.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// What each running plugin costs, refreshed every 2 s like top(1): memory, CPU, tasks,
    /// restarts, uptime. On a pipe it prints plain snapshots instead of redrawing the screen.
    Top {
        /// Stop after this many refreshes [default: until interrupted].
        #[arg(short = 'n', long = "iterations", value_name = "COUNT")]
        iterations: Option<u32>,
        /// Order by memory or CPU, largest first.
        #[arg(long, value_enum, default_value_t = TopSort::Mem)]
        sort: TopSort,
    },
    /// Recent plugin events (starts, crashes, restarts…), newest first; with --follow, oldest
    /// first and then each new one as it happens, like `journalctl -f`.
    Events {
        /// Only this plugin.
        #[arg(long, add = crate::complete::plugin_ids())]
        plugin: Option<String>,
        /// Only events of this kind (`crashed`, `enabled`, `user_created`, …).
        #[arg(long, value_name = "KIND")]
        kind: Option<toru_api::EventKind>,
        /// Only changes made by this actor: a dashboard user, a local caller's system user
        /// name, or `uid N` (the audit trail).
        #[arg(long, value_name = "NAME")]
        actor: Option<String>,
        /// How many.
        #[arg(short = 'n', long, default_value_t = 50)]
        limit: usize,
        /// Keep printing new events until interrupted (Ctrl-C), reconnecting if the daemon
        /// restarts, without printing any twice.
        #[arg(short, long)]
        follow: bool,
    },
    /// Write a backup of the whole daemon (a consistent copy of its database, the enabled
    /// plugins, its configuration) as a tar archive: `toructl backup > toru-backup.tar`.
    Backup {
        /// Write it to this file (mode 0600) instead of standard output.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Restore a backup taken with `toructl backup` (`-` reads standard input): the daemon
    /// checks it, restarts and runs on it; the database it replaced is kept in before-restore/.
    Restore {
        /// The backup archive.
        file: PathBuf,
        /// Return once the backup is staged instead of waiting for the daemon to run on it.
        #[arg(long)]
        no_wait: bool,
    },
    /// Manage dashboard users.
    #[command(subcommand)]
    User(UserCommand),
    /// Read and write a plugin's key-value store.
    #[command(subcommand)]
    Kv(KvCommand),
    /// Log in to a remote daemon. `toructl login --context NAME URL USER` keeps the session in
    /// context NAME (`toructl login --context NAME` logs in again when it expired);
    /// `toructl --url URL login USER` prints the token to export as TORU_SESSION instead.
    Login {
        /// With --context: [URL] [USER]; else: USER.
        #[arg(value_name = "URL|USER", num_args = 0..=2)]
        args: Vec<String>,
        /// Trust the daemon's self-signed certificate with this SHA-256 fingerprint (as
        /// `toructl status` shows it on the server) without asking.
        #[arg(long, value_name = "SHA256")]
        fingerprint: Option<CertFingerprint>,
    },
    /// Named remote daemons, as kubectl's contexts: list, switch, remove.
    #[command(subcommand)]
    Context(ContextCommand),
    /// Print the script that registers completion in a shell (plugin ids and user names are
    /// asked of the daemon at <Tab>): `source <(toructl completions bash)`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Write the man pages, one per command, into DIR (for packaging and source builds).
    #[command(hide = true)]
    Manpages {
        /// Where to write them (created if missing).
        dir: PathBuf,
    },
}

/// `toructl context …`
#[derive(Debug, Clone, Subcommand)]
pub enum ContextCommand {
    /// Every context, the current one marked with `*`.
    #[command(visible_alias = "ls")]
    List,
    /// Make NAME the context commands use without --context (`local`: the local socket).
    Use {
        /// The context.
        #[arg(add = crate::complete::context_names())]
        name: ContextName,
    },
    /// Forget a context and end its session on the daemon when it can be reached.
    #[command(visible_alias = "rm")]
    Remove {
        /// The context.
        #[arg(add = crate::complete::context_names())]
        name: ContextName,
    },
}

/// `toructl plugin …`
#[derive(Debug, Clone, Subcommand)]
pub enum PluginCommand {
    /// All discovered plugins.
    List,
    /// One plugin, with its status and recent events.
    Show {
        /// Plugin id.
        #[arg(add = crate::complete::plugin_ids())]
        id: String,
    },
    /// Enable a plugin and wait until it runs.
    Enable {
        /// Plugin id.
        #[arg(add = crate::complete::plugin_ids())]
        id: String,
        /// Return at once instead of waiting for it to run.
        #[arg(long)]
        no_wait: bool,
    },
    /// Stop a plugin and start it again, and wait until it runs (a plugin that does not run
    /// is started).
    Restart {
        /// Plugin id.
        #[arg(add = crate::complete::plugin_ids())]
        id: String,
        /// Return at once instead of waiting for it to run.
        #[arg(long)]
        no_wait: bool,
    },
    /// Disable a plugin (it is stopped).
    Disable {
        /// Plugin id.
        #[arg(add = crate::complete::plugin_ids())]
        id: String,
    },
    /// Install a plugin from its executable, or upgrade the installed plugin with its id (a
    /// running plugin must stay healthy on the new version, else it is rolled back).
    Install {
        /// The plugin executable (`X.binary`).
        file: PathBuf,
        /// Its detached signature [default: FILE.sig, if it exists].
        #[arg(long, value_name = "FILE.sig")]
        signature: Option<PathBuf>,
        /// Enable a newly installed plugin and wait until it runs.
        #[arg(long)]
        enable: bool,
    },
    /// Swap a plugin back to its previous version (the installed one becomes the previous).
    Rollback {
        /// Plugin id.
        #[arg(add = crate::complete::plugin_ids())]
        id: String,
    },
    /// Stop a plugin and remove it; its data stays for a reinstall unless --purge.
    Uninstall {
        /// Plugin id.
        #[arg(add = crate::complete::plugin_ids())]
        id: String,
        /// Also delete its KV data, settings and licence key.
        #[arg(long)]
        purge: bool,
    },
    /// Look for plugins installed since the daemon started.
    Rescan,
    /// Write a plugin's KV data, settings and licence key as a JSON document (it holds secrets:
    /// keep it like a password).
    Backup {
        /// Plugin id.
        #[arg(add = crate::complete::plugin_ids())]
        id: String,
        /// Write it to this file (mode 0600) instead of standard output.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Replace a plugin's KV data, settings and licence key with a backup's (`-` reads standard
    /// input); a running plugin restarts to read them.
    Restore {
        /// Plugin id.
        #[arg(add = crate::complete::plugin_ids())]
        id: String,
        /// The plugin backup.
        file: PathBuf,
    },
    /// Install or remove a plugin's licence key.
    #[command(subcommand)]
    License(LicenseCommand),
    /// A plugin's settings: `config ID` shows them, `config set ID KEY=VALUE…` changes them.
    Config(ConfigArgs),
    /// A plugin's resource limits: `limits ID` shows them, `limits ID memory=256M cpu=50%
    /// tasks=64` changes them (`memory=default` goes back to the configured default). A running
    /// plugin restarts to run under them.
    Limits {
        /// Plugin id.
        #[arg(add = crate::complete::plugin_ids())]
        id: String,
        /// `memory=SIZE`, `cpu=PERCENT%`, `tasks=COUNT`, or `NAME=default`.
        #[arg(value_name = "NAME=VALUE")]
        pairs: Vec<String>,
    },
    /// A plugin's log, newest last.
    Logs {
        /// Plugin id.
        #[arg(add = crate::complete::plugin_ids())]
        id: String,
        /// Keep printing new entries.
        #[arg(short, long)]
        follow: bool,
        /// Only this level and more severe: error, warn, info, debug.
        #[arg(long)]
        level: Option<String>,
        /// How many entries.
        #[arg(short = 'n', long, default_value_t = 50)]
        lines: usize,
    },
}

/// What `toructl top` orders plugins by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TopSort {
    /// Memory, largest first.
    Mem,
    /// CPU percent, busiest first.
    Cpu,
}

/// `toructl plugin config ID` or `toructl plugin config set|unset|show ID …`.
#[derive(Debug, Clone, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct ConfigArgs {
    /// What to do; without one, show the settings of ID.
    #[command(subcommand)]
    pub command: Option<ConfigCommand>,
    /// Plugin id whose settings to show.
    #[arg(required = true, add = crate::complete::plugin_ids())]
    pub id: Option<String>,
}

/// `toructl plugin config …`
#[derive(Debug, Clone, Subcommand)]
pub enum ConfigCommand {
    /// Show a plugin's settings (secrets only as "set" or "not set").
    Show {
        /// Plugin id.
        #[arg(add = crate::complete::plugin_ids())]
        id: String,
    },
    /// Set settings; each value is read as the setting's type (`port=8080` is a number when the
    /// plugin declares an integer). The plugin restarts to read them.
    Set {
        /// Plugin id.
        #[arg(add = crate::complete::plugin_ids())]
        id: String,
        /// `KEY=VALUE` pairs.
        #[arg(required = true, value_name = "KEY=VALUE")]
        pairs: Vec<String>,
    },
    /// Unset settings, so the plugin gets their defaults. The plugin restarts to read them.
    Unset {
        /// Plugin id.
        #[arg(add = crate::complete::plugin_ids())]
        id: String,
        /// Setting names.
        #[arg(required = true, value_name = "KEY")]
        keys: Vec<String>,
    },
}

/// `toructl plugin license …`
#[derive(Debug, Clone, Subcommand)]
pub enum LicenseCommand {
    /// Install (or replace) a plugin's licence key; the plugin restarts to check it.
    Set {
        /// Plugin id.
        #[arg(add = crate::complete::plugin_ids())]
        id: String,
        /// The key as the vendor issued it (`TORU1.…`); `-` or nothing reads standard input.
        key: Option<String>,
        /// Read the key from this file instead.
        #[arg(long, conflicts_with = "key")]
        file: Option<std::path::PathBuf>,
    },
    /// Remove a plugin's licence key; the plugin restarts without one.
    Clear {
        /// Plugin id.
        #[arg(add = crate::complete::plugin_ids())]
        id: String,
    },
}

/// `toructl user …`
#[derive(Debug, Clone, Subcommand)]
pub enum UserCommand {
    /// Create a user; the password is prompted for (or read from standard input).
    Add {
        /// The user name.
        username: String,
        /// What the user may do: admin (everything) or viewer (look, change nothing).
        #[arg(long, default_value = "admin", value_parser = parse_role)]
        role: Role,
    },
    /// Set a user's password; their sessions end.
    Passwd {
        /// The user name.
        #[arg(add = crate::complete::user_names())]
        username: String,
    },
    /// Delete a user; their sessions end at once.
    Delete {
        /// The user name.
        username: String,
    },
    /// Disable a user: they cannot log in, and their sessions end at once.
    Disable {
        /// The user name.
        username: String,
    },
    /// Enable a disabled user again.
    Enable {
        /// The user name.
        username: String,
    },
    /// Change a user's role, from their next request on.
    SetRole {
        /// The user name.
        username: String,
        /// admin or viewer.
        #[arg(value_parser = parse_role)]
        role: Role,
    },
    /// List users with their role, state and creation time.
    List,
}

/// A role by its API name (`admin`, `viewer`), so the CLI's words are the wire's.
fn parse_role(text: &str) -> Result<Role, String> {
    serde_json::from_value(serde_json::Value::from(text)).map_err(|_| {
        let names: Vec<String> = Role::ALL.iter().map(Role::to_string).collect();
        format!("not a role; one of: {}", names.join(", "))
    })
}

/// `toructl kv …`
#[derive(Debug, Clone, Subcommand)]
pub enum KvCommand {
    /// Print one value.
    Get {
        /// Plugin id.
        #[arg(add = crate::complete::plugin_ids())]
        id: String,
        /// The key.
        key: String,
    },
    /// Store one value.
    Set {
        /// Plugin id.
        #[arg(add = crate::complete::plugin_ids())]
        id: String,
        /// The key.
        key: String,
        /// The value.
        value: String,
    },
    /// Remove one key.
    Delete {
        /// Plugin id.
        #[arg(add = crate::complete::plugin_ids())]
        id: String,
        /// The key.
        key: String,
    },
    /// List keys.
    List {
        /// Plugin id.
        #[arg(add = crate::complete::plugin_ids())]
        id: String,
        /// Only keys starting with this.
        #[arg(default_value = "")]
        prefix: String,
    },
}
