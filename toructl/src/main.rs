//! `toructl`: drives the Toru daemon's HTTP API from a shell.

use clap::Parser;

/// Command-line client for the Toru daemon.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {}

fn main() {
    let _cli = Cli::parse();
}
