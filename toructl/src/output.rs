//! Tables as the place they go expects them. On a terminal: a table that fits its width, with
//! state words coloured (`running` green, `failed` red) unless `NO_COLOR` is set. On a pipe or
//! in a file: plain tab-separated rows with no header and no box drawing, so
//! `toructl plugin list | awk '{print $1}'` prints the ids, as `systemctl --no-legend` would.

use std::io::IsTerminal;

use comfy_table::{Color, ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use toru_api::PluginState;

/// How a cell reads at a glance, shown as its colour on a terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// No colour.
    Plain,
    /// All is well (green).
    Good,
    /// Needs a look (red).
    Bad,
    /// On its way somewhere (yellow).
    Busy,
}

/// One cell: its text and its tone.
#[derive(Debug, Clone)]
pub struct Cell {
    text: String,
    tone: Tone,
}

impl Cell {
    /// A cell with a tone.
    pub fn toned(text: impl Into<String>, tone: Tone) -> Self {
        Cell {
            text: text.into(),
            tone,
        }
    }

    /// Its text.
    #[cfg(test)]
    pub fn text(&self) -> &str {
        &self.text
    }

    /// A plugin state, coloured by what it means.
    pub fn state(state: PluginState) -> Self {
        let tone = match state {
            PluginState::Running => Tone::Good,
            PluginState::Failed => Tone::Bad,
            PluginState::Starting | PluginState::Stopping | PluginState::Backoff => Tone::Busy,
            PluginState::Disabled => Tone::Plain,
        };
        Cell::toned(state.to_string(), tone)
    }
}

impl From<String> for Cell {
    fn from(text: String) -> Self {
        Cell::toned(text, Tone::Plain)
    }
}

impl From<&str> for Cell {
    fn from(text: &str) -> Self {
        Cell::toned(text, Tone::Plain)
    }
}

/// Rows under a header, printed by [`Rows::print`] as the destination expects.
#[derive(Debug, Clone)]
pub struct Rows {
    headers: Vec<String>,
    rows: Vec<Vec<Cell>>,
}

impl Rows {
    /// Empty rows under `headers`.
    pub fn new(headers: &[&str]) -> Self {
        Rows {
            headers: headers.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row.
    pub fn add(&mut self, row: Vec<Cell>) {
        self.rows.push(row);
    }

    /// Prints to stdout: a table on a terminal, tab-separated rows otherwise.
    pub fn print(&self) {
        let terminal = std::io::stdout().is_terminal();
        let colour = terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        print!("{}", self.render(terminal, colour));
    }

    /// The text [`Rows::print`] writes, for a terminal (`colour`ed or not) or not.
    pub fn render(&self, terminal: bool, colour: bool) -> String {
        if !terminal {
            return self
                .rows
                .iter()
                .map(|row| {
                    let fields: Vec<String> = row.iter().map(|c| plain_field(&c.text)).collect();
                    fields.join("\t") + "\n"
                })
                .collect();
        }
        let mut table = Table::new();
        table
            .load_style(UTF8_FULL_CONDENSED)
            .set_content_arrangement(ContentArrangement::Dynamic)
            .set_header(self.headers.clone());
        if colour {
            table.enforce_styling();
        }
        for row in &self.rows {
            table.add_row(row.iter().map(|c| {
                let cell = comfy_table::Cell::new(&c.text);
                match (colour, c.tone) {
                    (false, _) | (true, Tone::Plain) => cell,
                    (true, Tone::Good) => cell.fg(Color::Green),
                    (true, Tone::Bad) => cell.fg(Color::Red),
                    (true, Tone::Busy) => cell.fg(Color::Yellow),
                }
            }));
        }
        format!("{table}\n")
    }
}

/// A field of a tab-separated row: tabs and line breaks inside it become spaces, so one row
/// stays one line with the same number of fields.
fn plain_field(text: &str) -> String {
    text.replace(['\t', '\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Rows {
        let mut rows = Rows::new(&["ID", "STATE", "DETAILS"]);
        rows.add(vec![
            "hello".into(),
            Cell::state(PluginState::Running),
            "two\twords\nand a line".into(),
        ]);
        rows.add(vec![
            "crashy".into(),
            Cell::state(PluginState::Failed),
            "-".into(),
        ]);
        rows
    }

    #[test]
    fn a_pipe_gets_tab_separated_rows_without_header_or_boxes() {
        assert_eq!(
            sample().render(false, false),
            "hello\trunning\ttwo words and a line\ncrashy\tfailed\t-\n"
        );
    }

    #[test]
    fn a_terminal_gets_a_table_coloured_only_when_asked() {
        let plain = sample().render(true, false);
        assert!(
            plain.contains("│ ID") && plain.contains("running"),
            "{plain}"
        );
        assert!(!plain.contains('\u{1b}'), "no colour: {plain}");
        let coloured = sample().render(true, true);
        assert!(coloured.contains('\u{1b}'), "colour: {coloured}");
    }
}
