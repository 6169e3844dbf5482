//! The `skyport` binary: command-line interface, configuration loading, and the wiring of the gateway,
//! the services and the state store. No business logic lives here.
#![forbid(unsafe_code)]

mod aws_cli;
mod cli;
mod config;
mod logging;
mod probe;
mod start;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    cli::run(cli)
}
