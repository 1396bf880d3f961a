//! The `rca` binary: parse, run, map the outcome to an exit code.

use clap::Parser;
use rca::error::{exit_code, exit_code_of, one_line};
use std::process::ExitCode;

fn main() -> ExitCode {
    rca::model::tune_allocator();
    rca::interrupt::install();
    let cli = match rca::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                exit_code::USAGE
            } else {
                exit_code::SUCCESS
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match rca::cmd::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("rca: error: {}", one_line(&err));
            ExitCode::from(exit_code_of(&err))
        }
    }
}
