//! Ctrl-C. By default an interrupt ends rca at once with exit code 130:
//! reading commands leave nothing behind, and the streamed results of a
//! backtest (`--format jsonl`, `--out`) are flushed line by line, so what
//! finished stays. Commands with something to clean up or save
//! ([`cooperate`]: `bisect` removes its scratch checkouts, `train` writes
//! its checkpoint) check [`requested`] and stop by themselves; a second
//! Ctrl-C still ends rca at once.

use std::sync::atomic::{AtomicBool, Ordering};

static COOPERATIVE: AtomicBool = AtomicBool::new(false);
static REQUESTED: AtomicBool = AtomicBool::new(false);

/// The interruption, as an error: the command maps it to exit code 130.
#[derive(Debug, thiserror::Error)]
#[error("interrupted")]
pub struct Interrupted;

/// Installs the handler (once, at start).
pub fn install() {
    let _ = ctrlc::set_handler(|| {
        if COOPERATIVE.load(Ordering::SeqCst) && !REQUESTED.swap(true, Ordering::SeqCst) {
            return;
        }
        eprintln!("rca: interrupted");
        std::process::exit(i32::from(crate::error::exit_code::INTERRUPTED));
    });
}

/// From now on the command stops by itself when [`requested`].
pub fn cooperate() {
    COOPERATIVE.store(true, Ordering::SeqCst);
}

/// Whether Ctrl-C was pressed (only seen after [`cooperate`]).
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}

/// `Err(Interrupted)` once Ctrl-C was pressed.
pub fn check() -> anyhow::Result<()> {
    if requested() {
        Err(Interrupted.into())
    } else {
        Ok(())
    }
}
