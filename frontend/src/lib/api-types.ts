// Generated from the toru-api crate by ts-rs; do not edit by hand.
// Regenerate with: TORU_UPDATE_TS=1 cargo test -p toru-api --test typescript

/**
 * Every error code the daemon sends. Each code always comes with the same HTTP status
 * ([`ErrorCode::status`]); a status can carry several codes (400 is `bad_request`,
 * `invalid_json`, …), so clients that need to tell causes apart read the code.
 */
export type ErrorCode = "bad_request" | "invalid_json" | "invalid_username" | "bad_license" | "bad_path" | "invalid_backup" | "invalid_plugin" | "invalid_settings" | "unauthorized" | "invalid_credentials" | "license_missing" | "forbidden" | "license_invalid" | "admin_required" | "account_disabled" | "not_found" | "method_not_allowed" | "request_timeout" | "user_exists" | "last_admin" | "install_in_progress" | "no_previous_version" | "payload_too_large" | "unsupported_media_type" | "upgrade_failed" | "unknown_host" | "rate_limited" | "internal" | "plugin_error" | "journal_unavailable" | "busy" | "plugin_unavailable" | "plugin_timeout" | "kv_quota_exceeded" | "invalid_limits";

/**
 * The inside of an [`ErrorBody`].
 */
export type ErrorDetail = { 
/**
 * A stable, machine-readable code; scripts branch on this, never on the message.
 */
code: ErrorCode, 
/**
 * What went wrong, for a human; its wording may change.
 */
message: string, };

/**
 * Every failed call's body: `{"error": {"code": "not_found", "message": "…"}}`.
 */
export type ErrorBody = { 
/**
 * What went wrong.
 */
error: ErrorDetail, };

/**
 * Where a plugin is in its lifecycle (ARCHITECTURE.md, "Supervision").
 */
export type PluginState = "disabled" | "starting" | "running" | "backoff" | "stopping" | "failed";

/**
 * What the daemon knows about a plugin right now.
 */
export type PluginStatus = { 
/**
 * Whether an admin wants it running.
 */
enabled: boolean, 
/**
 * Its lifecycle state.
 */
state: PluginState, 
/**
 * Whether it answers pings; only meaningful while running.
 */
healthy: boolean, 
/**
 * Its main PID while it runs.
 */
pid: number | null, 
/**
 * The systemd unit, under the systemd backend.
 */
unit: string | null, 
/**
 * Restarts after failures since it was last enabled.
 */
restarts: number, 
/**
 * Failures in a row; reset after a stable run.
 */
consecutive_failures: number, 
/**
 * The most recent failure, for the admin.
 */
last_error: string | null, };

/**
 * Where a plugin's licence stands.
 */
export type LicenseState = "valid" | "invalid" | "missing" | "unchecked";

/**
 * A plugin's licence key and the plugin's verdict on it (`docs/licensing.md`).
 */
export type LicenseStatus = { 
/**
 * The plugin's metadata says it is useless without a licence: the daemon refuses its
 * routes (402/403) until it has a valid one.
 */
required: boolean, 
/**
 * A key is installed.
 */
installed: boolean, 
/**
 * The verdict.
 */
state: LicenseState, 
/**
 * The failure kind of `docs/licensing.md` when not valid, e.g. `wrong_instance`,
 * `expired` or `missing`. The plugin reports it, so the set is open.
 */
error: string | null, 
/**
 * What the admin can do about it, or what a valid licence covers.
 */
message: string | null, 
/**
 * Who the licence is for, when valid.
 */
licensee: string | null, 
/**
 * Unix seconds at which a valid licence stops being valid; `null` if never.
 */
expires_at: number | null, 
/**
 * What a valid licence unlocks.
 */
features: Array<string>, };

/**
 * Whether a plugin's binary is signed by a key the administrator trusts (`docs/signing.md`).
 * What the daemon checked at the last scan (or start), under its `signatures` policy.
 */
export type SignatureStatus = { "state": "not_checked" } | { "state": "signed", 
/**
 * The trusted key's name.
 */
key: string, } | { "state": "unsigned" } | { "state": "invalid", 
/**
 * Why, for the administrator.
 */
reason: string, };

/**
 * What a plugin asks for beyond the default sandbox (`docs/protocol.md`, "Permissions").
 */
export type Permissions = { 
/**
 * IP to any address, not only localhost.
 */
network: boolean, 
/**
 * Absolute paths it may write.
 */
writable_paths: Array<string>, 
/**
 * Device nodes under `/dev` it may use.
 */
devices: Array<string>, 
/**
 * It may write and run machine code at run time (JIT): memory that is written, then
 * executed, as V8, the JVM, .NET, LuaJIT and PyPy need. Absent from daemons that predate
 * it, hence the default.
 */
jit: boolean, };

/**
 * A plugin, as `GET /api/plugins` lists it: its metadata, executable, status and licence.
 */
export type Plugin = { 
/**
 * Its stable id (`^[a-z0-9][a-z0-9-]{0,62}$`), used in every URL about it.
 */
id: string, 
/**
 * Human-readable name.
 */
name: string, 
/**
 * The plugin's own version.
 */
version: string, 
/**
 * Who wrote it.
 */
author: string, 
/**
 * An emoji or a short icon name.
 */
icon: string, 
/**
 * Where its view lives in the dashboard, e.g. `/hello-rust`.
 */
route: string, 
/**
 * The protocol version it speaks.
 */
protocol_version: number, 
/**
 * One sentence for its card.
 */
description: string, 
/**
 * Whether it refuses to work without a valid licence (its metadata; also in `license`).
 */
license_required: boolean, 
/**
 * What it asked for beyond the default sandbox.
 */
permissions: Permissions, 
/**
 * Path of its executable on the server.
 */
binary: string, 
/**
 * What the daemon knows about it now.
 */
status: PluginStatus, 
/**
 * Its licence key and its verdict on it.
 */
license: LicenseStatus, 
/**
 * The version kept from before its last upgrade, which `POST /api/plugins/{id}/rollback`
 * puts back; `null` when there is none.
 */
previous_version: string | null, 
/**
 * Whether its binary is signed by a trusted key. Absent from daemons that predate it.
 */
signature: SignatureStatus, 
/**
 * What it costs while it runs (memory, CPU, tasks, uptime); absent while it does not run,
 * and from daemons that predate it.
 */
usage?: ResourceUsage, };

/**
 * A plugin's key-value use against its quota.
 */
export type KvUsage = { 
/**
 * Bytes its keys and values take.
 */
bytes: number, 
/**
 * Bytes it may take.
 */
quota: number, };

/**
 * `GET /api/plugins/{id}`: the plugin plus where it runs, its data use and recent events.
 */
export type PluginDetails = { 
/**
 * The systemd unit it runs as; `null` under the embedded backend, which runs no units.
 */
unit_name: string | null, 
/**
 * Its key-value use against its quota.
 */
kv: KvUsage, 
/**
 * Its most recent events, newest first.
 */
events: Array<Event>, 
/**
 * Its stable id (`^[a-z0-9][a-z0-9-]{0,62}$`), used in every URL about it.
 */
id: string, 
/**
 * Human-readable name.
 */
name: string, 
/**
 * The plugin's own version.
 */
version: string, 
/**
 * Who wrote it.
 */
author: string, 
/**
 * An emoji or a short icon name.
 */
icon: string, 
/**
 * Where its view lives in the dashboard, e.g. `/hello-rust`.
 */
route: string, 
/**
 * The protocol version it speaks.
 */
protocol_version: number, 
/**
 * One sentence for its card.
 */
description: string, 
/**
 * Whether it refuses to work without a valid licence (its metadata; also in `license`).
 */
license_required: boolean, 
/**
 * What it asked for beyond the default sandbox.
 */
permissions: Permissions, 
/**
 * Path of its executable on the server.
 */
binary: string, 
/**
 * What the daemon knows about it now.
 */
status: PluginStatus, 
/**
 * Its licence key and its verdict on it.
 */
license: LicenseStatus, 
/**
 * The version kept from before its last upgrade, which `POST /api/plugins/{id}/rollback`
 * puts back; `null` when there is none.
 */
previous_version: string | null, 
/**
 * Whether its binary is signed by a trusted key. Absent from daemons that predate it.
 */
signature: SignatureStatus, 
/**
 * What it costs while it runs (memory, CPU, tasks, uptime); absent while it does not run,
 * and from daemons that predate it.
 */
usage?: ResourceUsage, };

/**
 * A `*.binary` file that discovery skipped, and why (`GET /api/discovery-failures`).
 */
export type DiscoveryFailure = { 
/**
 * The file.
 */
binary: string, 
/**
 * Why it is not a plugin.
 */
reason: string, };

/**
 * The body of `PUT /api/plugins/{id}/license`.
 */
export type LicenseForm = { 
/**
 * The key exactly as the vendor issued it (`TORU1.…`); surrounding whitespace is ignored.
 */
key: string, };

/**
 * What `POST /api/plugins` did with an upload that was accepted.
 */
export type InstallOutcome = "installed" | "upgraded";

/**
 * The answer of `POST /api/plugins`.
 */
export type InstallResult = { 
/**
 * Installed or upgraded.
 */
outcome: InstallOutcome, 
/**
 * The plugin as it is now.
 */
plugin: Plugin, };

/**
 * The answer of `DELETE /api/plugins/{id}`.
 */
export type Uninstalled = { 
/**
 * The plugin that was removed.
 */
id: string, 
/**
 * Whether its data was deleted too (`?purge=true`).
 */
purged: boolean, };

/**
 * The type of a setting, as the plugin declared it.
 */
export type SettingType = "string" | "number" | "integer" | "boolean" | "enum";

/**
 * Where a setting's value stands. A secret's value is never sent: only that it is set.
 */
export type SettingValue = { "state": "unset" } | { "state": "set", 
/**
 * The value.
 */
value: unknown, } | { "state": "secret_set" };

/**
 * One declared setting, its schema and its value.
 */
export type SettingField = { 
/**
 * The key, as in `PUT` bodies and `lifecycle.init`'s `config`.
 */
name: string, 
/**
 * Its type.
 */
type: SettingType, 
/**
 * A label for a form; show the name when absent.
 */
title: string | null, 
/**
 * What it does, for the administrator.
 */
description: string | null, 
/**
 * What the plugin gets while no value is set.
 */
default: unknown, 
/**
 * The plugin is not started while it has neither a value nor a default.
 */
required: boolean, 
/**
 * Write-only: its value is never returned.
 */
secret: boolean, 
/**
 * Inclusive lower bound of a number or integer.
 */
minimum: number | null, 
/**
 * Inclusive upper bound of a number or integer.
 */
maximum: number | null, 
/**
 * Fewest characters of a string.
 */
min_length: number | null, 
/**
 * Most characters of a string.
 */
max_length: number | null, 
/**
 * A regular expression a string must match (JSON Schema's `pattern`).
 */
pattern: string | null, 
/**
 * The choices of an enum; empty for other types.
 */
options: Array<string>, 
/**
 * Its current value.
 */
value: SettingValue, };

/**
 * `GET` and `PUT /api/plugins/{id}/config`: every setting the plugin declares, sorted by name;
 * empty when it declares none.
 */
export type PluginSettings = { 
/**
 * The settings.
 */
settings: Array<SettingField>, };

/**
 * The body of `PUT /api/plugins/{id}/config`: the settings to change, each to its new value,
 * or unset by `null`; settings not named keep their value. Validated as a whole against the
 * plugin's schema: all of it is stored, or nothing (400 `invalid_settings`).
 */
export type SettingsChange = Record<string, unknown>;

/**
 * What happened to a plugin.
 */
export type EventKind = "discovered" | "discovery_failed" | "enabled" | "disabled" | "started" | "stopped" | "crashed" | "restarting" | "gave_up" | "adopted" | "unhealthy" | "healthy" | "license_set" | "license_cleared" | "restarted" | "kv_set" | "kv_deleted" | "rescanned" | "user_created" | "user_deleted" | "user_disabled" | "user_enabled" | "user_role_changed" | "password_changed" | "backup_restored" | "plugin_data_restored" | "signature_refused" | "installed" | "upgraded" | "upgrade_failed" | "rolled_back" | "uninstalled" | "settings_changed" | "webhook_failed" | "limits_changed";

/**
 * Who made a change through the API: the audit trail's "who". Events the daemon causes on its
 * own (a crash, a restart after backoff) have none.
 */
export type Actor = { "via": "password", 
/**
 * The user name.
 */
name: string, 
/**
 * The client's IP address; absent when the session came over the local socket.
 */
address: string | null, } | { "via": "local_socket", 
/**
 * The process's uid.
 */
uid: number, 
/**
 * The system user name of that uid, or `uid:<n>` when it has none.
 */
name: string, };

/**
 * One entry of the event log.
 */
export type Event = { 
/**
 * Increases with insertion order.
 */
id: number, 
/**
 * The plugin the event is about; `null` for an event about no plugin (a user change, a
 * rescan).
 */
plugin_id: string | null, 
/**
 * The dashboard user the event is about (`user_*` and `password_changed` events).
 */
user: string | null, 
/**
 * When it was recorded, in ms since the Unix epoch.
 */
at_unix_ms: number, 
/**
 * What happened.
 */
kind: EventKind, 
/**
 * Human-readable details (exit status, error message, …); may be empty.
 */
details: string, 
/**
 * Who caused it through the API; `null` for what the daemon did on its own.
 */
actor: Actor | null, };

/**
 * A log level, coarser than syslog's eight priorities because that is what people filter by.
 */
export type LogLevel = "error" | "warn" | "info" | "debug";

/**
 * One log line of a plugin; also each `data:` of `GET /api/plugins/{id}/logs/follow`.
 */
export type LogEntry = { 
/**
 * RFC 3339 UTC time with milliseconds, e.g. `2026-11-25T12:00:00.123Z`.
 */
timestamp: string, 
/**
 * The entry's level.
 */
level: LogLevel, 
/**
 * The plugin id.
 */
plugin: string, 
/**
 * The text, without its priority prefix.
 */
message: string, 
/**
 * Extra structured fields (`stream`, `pid`, …); absent when none.
 */
fields?: Record<string, unknown>, };

/**
 * `GET /api/plugins/{id}/logs`: one page of entries, newest first.
 */
export type LogPage = { 
/**
 * The entries, newest first.
 */
entries: Array<LogEntry>, 
/**
 * The page number served (0 is the newest).
 */
page: number, 
/**
 * The page size served.
 */
page_size: number, 
/**
 * Whether an older page exists.
 */
has_more: boolean, };

/**
 * `GET /api/plugins/{id}/kv`: the keys, in byte order.
 */
export type KvKeys = { 
/**
 * The keys.
 */
keys: Array<string>, };

/**
 * One key and its value.
 */
export type KvEntry = { 
/**
 * The key.
 */
key: string, 
/**
 * Its value.
 */
value: string, };

/**
 * The body of `PUT /api/plugins/{id}/kv/{key}`.
 */
export type KvValue = { 
/**
 * The new value, at most 1 MiB.
 */
value: string, };

/**
 * The body of `POST /api/auth/login`.
 */
export type LoginRequest = { 
/**
 * The user name, at most 64 bytes.
 */
username: string, 
/**
 * The password.
 */
password: string, };

/**
 * How the caller proved who they are.
 */
export type AuthMethod = "password" | "local";

/**
 * What a caller may do. Every state-changing route needs `admin`; every read is open to
 * `viewer` too. Local-socket callers are always `admin`.
 */
export type Role = "admin" | "viewer";

/**
 * Who is calling (`GET /api/auth/me`, and the answer to a login).
 */
export type Me = { 
/**
 * The user name, or the local peer's account name.
 */
username: string, 
/**
 * How they authenticated.
 */
method: AuthMethod, 
/**
 * What they may do; `admin` for every local-socket caller.
 */
role: Role, };

/**
 * A dashboard user, as listed.
 */
export type User = { 
/**
 * The user name.
 */
username: string, 
/**
 * What the user may do.
 */
role: Role, 
/**
 * A disabled user cannot log in and has no sessions; an administrator can enable them
 * again.
 */
disabled: boolean, 
/**
 * When the user was made, in ms since the Unix epoch.
 */
created_at_unix_ms: number, };

/**
 * The body of `POST /api/users`.
 */
export type NewUser = { 
/**
 * 1–64 of `A-Z a-z 0-9 . _ - @`, starting with a letter or digit; unique in any case.
 */
username: string, 
/**
 * At least 8 characters.
 */
password: string, 
/**
 * What the user may do; `admin` when absent, as before roles existed.
 */
role?: Role, };

/**
 * The body of `PUT /api/users/{name}/password`.
 */
export type NewPassword = { 
/**
 * At least 8 characters.
 */
password: string, };

/**
 * The body of `PUT /api/users/{name}/role`.
 */
export type NewRole = { 
/**
 * The user's new role.
 */
role: Role, };

/**
 * The body of `PUT /api/auth/password`: a caller changing their own password, whatever
 * their role.
 */
export type PasswordChange = { 
/**
 * The password now, so that a session left open cannot lock its owner out.
 */
current_password: string, 
/**
 * The new one, at least 8 characters.
 */
password: string, };

/**
 * Which backend runs the plugins.
 */
export type Backend = "systemd" | "embedded";

/**
 * How many plugins are in which condition.
 */
export type PluginCounts = { 
/**
 * Installed.
 */
total: number, 
/**
 * Enabled by an admin.
 */
enabled: number, 
/**
 * Running.
 */
running: number, 
/**
 * Given up on after too many failures.
 */
failed: number, };

/**
 * The built-in TLS listener, so an administrator can check the certificate a browser shows
 * on its first visit against the one the daemon serves.
 */
export type TlsListener = { 
/**
 * The address it listens on, e.g. `0.0.0.0:7443`.
 */
listen: string, 
/**
 * The SHA-256 fingerprint of the certificate it serves, as browsers and
 * `openssl x509 -noout -fingerprint -sha256` show it: colon-separated upper-case hex.
 */
sha256_fingerprint: string, };

/**
 * `GET /api/status`: what `toructl status` prints.
 */
export type Status = { 
/**
 * The daemon's version.
 */
version: string, 
/**
 * This installation's id, which licence keys are issued for.
 */
instance_id: string, 
/**
 * Which backend runs the plugins.
 */
backend: Backend, 
/**
 * Who is calling.
 */
user: string, 
/**
 * Plugin counts.
 */
plugins: PluginCounts, 
/**
 * The built-in TLS listener, when one is configured (`tls_listen`); absent otherwise, and
 * from daemons that predate it.
 */
tls?: TlsListener, };

/**
 * The only value of [`Health::status`].
 */
export type HealthStatus = "ok";

/**
 * `GET /api/health`: `{"status": "ok"}` while the daemon answers.
 */
export type Health = { 
/**
 * Always `ok`.
 */
status: HealthStatus, };

/**
 * A running plugin's resource use, from its last sample. A figure the backend cannot read
 * (systemd without accounting for it, a process gone between two reads) is `null`, never a
 * made-up number.
 */
export type ResourceUsage = { 
/**
 * Memory in bytes: the unit's cgroup (`MemoryCurrent`) under systemd, the sum of the
 * resident set of every process in the plugin's process group under the embedded backend.
 */
memory_bytes: number | null, 
/**
 * CPU over the last sample interval, in percent of one CPU (200 is two CPUs busy); `null`
 * until two samples of the same run exist.
 */
cpu_percent: number | null, 
/**
 * CPU time used by this run of the plugin, user and system, in seconds.
 */
cpu_seconds: number | null, 
/**
 * Tasks (threads) in the plugin's cgroup or process group.
 */
tasks: number | null, 
/**
 * Restarts after failures since it was last enabled (as in its status).
 */
restarts: number, 
/**
 * Seconds since the daemon started (or adopted) the running process.
 */
uptime_secs: number, };

/**
 * One sample of the last hour, for a chart.
 */
export type UsageSample = { 
/**
 * When it was taken, Unix seconds.
 */
at: number, 
/**
 * Memory in bytes, as in [`ResourceUsage::memory_bytes`].
 */
memory_bytes: number | null, 
/**
 * CPU percent since the sample before, as in [`ResourceUsage::cpu_percent`].
 */
cpu_percent: number | null, 
/**
 * Tasks, as in [`ResourceUsage::tasks`].
 */
tasks: number | null, };

/**
 * `GET /api/plugins/{id}/usage`: the figures now and the samples of the last hour.
 */
export type PluginUsage = { 
/**
 * The latest figures; `null` while the plugin does not run.
 */
current: ResourceUsage | null, 
/**
 * The samples kept (at most an hour's), oldest first; runs of the plugin follow each other
 * with gaps where it did not run.
 */
history: Array<UsageSample>, 
/**
 * Seconds between two samples.
 */
interval_secs: number, };

/**
 * Which limit, as a client names it.
 */
export type LimitName = "memory" | "cpu" | "tasks";

/**
 * A limit value as written: a number (bytes, percent or tasks) or text (`"256M"`, `"50%"`).
 */
export type LimitInput = number | string;

/**
 * Resource limits, each `None` when not limited. The unit is in each field's name.
 */
export type LimitValues = { 
/**
 * Memory ceiling in bytes.
 */
memory_max_bytes: number | null, 
/**
 * CPU ceiling in percent of one CPU.
 */
cpu_quota_percent: number | null, 
/**
 * Maximum number of tasks.
 */
tasks_max: number | null, };

/**
 * `GET /api/plugins/{id}/limits`: the configured defaults, this plugin's overrides, and what
 * applies to it.
 */
export type PluginLimits = { 
/**
 * From the configuration file (`plugin_memory_max`, `plugin_cpu_quota`, `plugin_tasks_max`).
 */
defaults: LimitValues, 
/**
 * Set for this plugin (`toructl plugin limits ID memory=256M`).
 */
overrides: LimitValues, 
/**
 * The overrides over the defaults: what the plugin runs under.
 */
effective: LimitValues, };

/**
 * The body of `PUT /api/plugins/{id}/limits`: the limits to change. A limit not named keeps
 * its override; `null` removes the override, so the default applies again. All or nothing:
 * one bad value is 400 `invalid_limits` naming it and nothing changes.
 */
export type LimitsChange = { 
/**
 * Memory: bytes, or a size such as `"256M"` or `"1GiB"`.
 */
memory?: LimitInput | null, 
/**
 * CPU: percent of one CPU, `50` or `"50%"`.
 */
cpu?: LimitInput | null, 
/**
 * Tasks: a count.
 */
tasks?: LimitInput | null, };
