//! `toru-daemon`: the Toru host daemon.

use clap::Parser;

/// The Toru host daemon.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {}

fn main() {
    let _cli = Cli::parse();
}
