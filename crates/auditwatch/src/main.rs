//! The `auditwatch` binary: maps [`run`] to an exit status and prints the error chain.

use std::process::ExitCode;

mod cli;
mod config;
mod generate;
mod output;

fn main() -> ExitCode {
    match cli::run() {
        Ok(cli::Outcome::Success) => ExitCode::SUCCESS,
        Ok(cli::Outcome::SomeRejected) => ExitCode::from(2),
        // `auditwatch sql … | head`: the reader had what it wanted.
        Err(e) if output::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            let chain: Vec<String> = e.chain().map(|c| c.to_string()).collect();
            eprintln!("error: {}", chain.join(": "));
            ExitCode::from(1)
        }
    }
}
