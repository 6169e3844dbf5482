//! The `skyport` binary: command-line interface, configuration loading, and the wiring of the gateway,
//! the services and the state store. No business logic lives here.
#![forbid(unsafe_code)]

mod aws_cli;
mod certs_cmd;
mod cli;
mod config;
mod dns;
mod dns_cmd;
mod docker_cmd;
mod lambda;
mod logging;
mod pitfalls;
mod probe;
mod start;
mod state_cmd;
mod tls;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    cli::run(cli)
}
