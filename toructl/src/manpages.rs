//! Man pages from the same clap definitions as `--help` (clap_mangen), one per command and
//! subcommand (`toructl.1`, `toructl-plugin.1`, `toructl-plugin-enable.1`, …), as `git` and
//! `systemctl` ship them: `toructl manpages DIR` writes them for the Debian package and for a
//! source build (`man -l`, or `MANPATH`).

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::CommandFactory;
use clap_mangen::Man;

use crate::cli::Cli;

/// What the top page adds to clap's sections: examples of the commands used most.
const EXAMPLES: &str = r#".SH EXAMPLES
.nf
toructl user add admin
toructl plugin list
toructl plugin enable hello\-rust
toructl plugin logs hello\-rust \-n 20 \-\-follow
toructl events \-\-actor admin
toructl plugin list | cut \-f1
.fi
.SH ENVIRONMENT
.TP
.B TORU_SOCKET, TORU_URL, TORU_SESSION
the daemon to talk to, as \-\-socket, \-\-url and \-\-session.
.TP
.B NO_COLOR
no colour on a terminal either.
.SH EXIT STATUS
0 on success, 1 when the daemon refused or failed the request, 2 for a usage error, 3 when
the daemon could not be reached.
"#;

/// Every page links back to the top page and the daemon's.
const SEE_ALSO: &str = ".SH SEE ALSO\n.BR toructl (1),\n.BR toru\\-daemon (8)\n";

/// Writes every page into `dir` (created if missing) and returns their paths.
pub fn write_all(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut top = Cli::command().disable_help_subcommand(true);
    // Gives each subcommand its display name, `toructl-plugin-enable`, the page's name.
    top.build();
    let mut written = Vec::new();
    write_page(&top, dir, EXAMPLES, &mut written)?;
    Ok(written)
}

/// Writes `cmd`'s page, with `extra` sections, and its visible subcommands' pages.
fn write_page(
    cmd: &clap::Command,
    dir: &Path,
    extra: &str,
    written: &mut Vec<PathBuf>,
) -> std::io::Result<()> {
    let man = Man::new(cmd.clone());
    let path = dir.join(man.get_filename());
    let mut page = Vec::new();
    man.render(&mut page)?;
    page.write_all(extra.as_bytes())?;
    page.write_all(SEE_ALSO.as_bytes())?;
    std::fs::write(&path, page)?;
    written.push(path);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_page(sub, dir, "", written)?;
    }
    Ok(())
}
