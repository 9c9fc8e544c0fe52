//! `toructl --all-contexts COMMAND`: one command against every stored context, for an
//! administrator with many servers. `plugin list` and `status`, the fleet views, ask every
//! daemon at once and print one table with a CONTEXT column; any other command runs against
//! each context in turn under a `==> NAME <==` header, as `tail` prints several files. A
//! context that fails does not stop the others; the exit code says some failed.

use futures::StreamExt;
use serde_json::{Map, Value};
use toructl::Client;

use crate::cli::{Command, PluginCommand};
use crate::contexts::{ContextName, Contexts};
use crate::output::Rows;
use crate::remote::{context_client, stored};
use crate::{Failure, Outcome, PLUGIN_COLUMNS, dispatch, plugin_row, print_json, usage};

/// How many daemons are asked at once: enough that a hundred servers answer in a few round
/// trips, few enough not to open a hundred connections from one shell.
const AT_ONCE: usize = 16;

/// Runs `command` against every stored context.
pub async fn run(command: Command, json: bool) -> Outcome {
    let (_, contexts) = stored()?;
    if contexts.contexts.is_empty() {
        return Err(usage(
            "no contexts stored: toructl login --context NAME URL USER adds one",
        ));
    }
    match command {
        Command::Plugin(PluginCommand::List) => plugin_list(&contexts, json).await,
        Command::Status => status(&contexts, json).await,
        Command::Backup { .. } | Command::Restore { .. } => Err(usage(
            "backup and restore take one daemon at a time: use --context NAME",
        )),
        // Following one context never ends, so the next would never be reached.
        Command::Events { follow: true, .. }
        | Command::Plugin(PluginCommand::Logs { follow: true, .. }) => {
            Err(usage("--follow watches one daemon: use --context NAME"))
        }
        command => each(&contexts, command, json).await,
    }
}

/// `plugin list` of every context, in one table.
async fn plugin_list(contexts: &Contexts, json: bool) -> Outcome {
    let answers = ask_all(contexts, |client| async move { client.plugins().await }).await;
    let mut rows = Rows::new(&[&["CONTEXT"], &PLUGIN_COLUMNS[..]].concat());
    for (name, answer) in &answers {
        for plugin in answer.iter().flatten() {
            let mut row = vec![name.as_ref().into()];
            row.extend(plugin_row(plugin));
            rows.add(row);
        }
    }
    report(answers, json, rows)
}

/// `status` of every context, one row each.
async fn status(contexts: &Contexts, json: bool) -> Outcome {
    let answers = ask_all(contexts, |client| async move { client.status().await }).await;
    let mut rows = Rows::new(&[
        "CONTEXT",
        "VERSION",
        "SUPERVISOR",
        "INSTALLED",
        "ENABLED",
        "RUNNING",
        "FAILED",
    ]);
    for (name, answer) in &answers {
        if let Ok(s) = answer {
            let p = &s.plugins;
            rows.add(vec![
                name.as_ref().into(),
                s.version.as_str().into(),
                s.backend.to_string().into(),
                p.total.to_string().into(),
                p.enabled.to_string().into(),
                p.running.to_string().into(),
                p.failed.to_string().into(),
            ]);
        }
    }
    report(answers, json, rows)
}

/// Any other command, context by context.
async fn each(contexts: &Contexts, command: Command, json: bool) -> Outcome {
    let mut failed = Vec::new();
    for name in contexts.contexts.keys() {
        println!("==> {name} <==");
        let outcome = match context_client(contexts, name) {
            Ok(client) => dispatch(&client, command.clone(), json).await,
            Err(e) => Err(e),
        };
        if let Err(e) = outcome {
            eprintln!("toructl: {name}: {}", e.message);
            failed.push(name.to_string());
        }
    }
    failed_contexts(&failed, contexts.contexts.len())
}

/// One request to every context, [`AT_ONCE`] at a time, the answers in name order.
async fn ask_all<T, F, Fut>(
    contexts: &Contexts,
    request: F,
) -> Vec<(ContextName, Result<T, Failure>)>
where
    F: Fn(Client) -> Fut,
    Fut: Future<Output = Result<T, toructl::ClientError>>,
{
    let request = &request;
    futures::stream::iter(contexts.contexts.keys().cloned())
        .map(|name| async move {
            let answer = match context_client(contexts, &name) {
                Ok(client) => request(client).await.map_err(Failure::from),
                Err(e) => Err(e),
            };
            (name, answer)
        })
        .buffered(AT_ONCE)
        .collect()
        .await
}

/// Prints the fleet view (`rows`, or as JSON every answer by context name, a failure as
/// `{"error": …}`), each failure on stderr, and fails if any context did.
fn report<T: serde::Serialize>(
    answers: Vec<(ContextName, Result<T, Failure>)>,
    json: bool,
    rows: Rows,
) -> Outcome {
    let total = answers.len();
    let mut failed = Vec::new();
    let mut by_context = Map::new();
    for (name, answer) in answers {
        let value = match answer {
            Ok(value) => serde_json::to_value(value).unwrap_or(Value::Null),
            Err(e) => {
                eprintln!("toructl: {name}: {}", e.message);
                failed.push(name.to_string());
                serde_json::json!({ "error": e.message })
            }
        };
        by_context.insert(name.to_string(), value);
    }
    if json {
        print_json(&by_context);
    } else {
        rows.print();
    }
    failed_contexts(&failed, total)
}

/// Exit 1, naming them, when some contexts failed.
fn failed_contexts(failed: &[String], total: usize) -> Outcome {
    if failed.is_empty() {
        return Ok(());
    }
    Err(Failure {
        code: 1,
        message: format!(
            "{} of {total} contexts failed: {}",
            failed.len(),
            failed.join(", ")
        ),
    })
}
