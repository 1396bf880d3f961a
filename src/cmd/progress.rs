//! Progress bars on stderr, shown only when stderr is a terminal, so that
//! scripts and JSON on stdout stay clean.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::time::Duration;

/// Whether progress bars should be drawn.
pub fn enabled() -> bool {
    std::io::stderr().is_terminal()
}

/// A spinner for a stage of unknown length; hidden when not on a terminal.
pub fn spinner(message: &str) -> ProgressBar {
    if !enabled() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} {elapsed}").expect("valid template"),
    );
    bar.set_message(message.to_owned());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} {elapsed} eta {eta}")
        .expect("valid template")
        .progress_chars("=> ")
}

/// A bar over `total` steps with an ETA; hidden when not on a terminal.
pub fn bar(total: u64, message: &str) -> ProgressBar {
    if !enabled() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    bar.set_style(bar_style());
    bar.set_message(message.to_owned());
    bar
}

/// Election progress: turns a spinner into a bar over the batches.
pub struct ElectionBar(pub ProgressBar);

impl crate::rank::Progress for ElectionBar {
    fn batches_planned(&mut self, total: usize) {
        self.0.set_style(bar_style());
        self.0.set_message("election batches");
        self.0.set_length(total as u64);
        self.0.set_position(0);
    }
    fn batch_done(&mut self) {
        self.0.inc(1);
    }
}
