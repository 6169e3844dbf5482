//! The `skyport` binary: command-line interface, configuration loading, and the wiring of the gateway,
//! the services and the state store. No business logic lives here.
#![forbid(unsafe_code)]

mod aws_cli;
mod certs_cmd;
mod cli;
mod config;
mod dns;
mod dns_app;
mod dns_cmd;
mod docker_cmd;
mod hooks;
mod iam_app;
mod lambda;
mod logging;
mod pitfalls;
mod probe;
mod start;
mod state_cmd;
mod tls;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc instead of the C library's allocator: size-segregated pages keep long-lived data (packed
/// DynamoDB items, queued messages) from being carved out of the holes short-lived request buffers
/// leave, which made glibc's malloc spend a third of a bulk load consolidating free lists.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // Called as `awslocal` (a link to this binary, as init hooks find it on their PATH): the AWS CLI
    // against Skyport, like LocalStack's command of that name.
    let mut args = std::env::args_os();
    let name = args.next();
    if name
        .as_ref()
        .and_then(|n| std::path::Path::new(n).file_name())
        .is_some_and(|n| n == "awslocal")
    {
        let args: Vec<String> = args.map(|a| a.to_string_lossy().into_owned()).collect();
        let endpoint = std::env::var("AWS_ENDPOINT_URL")
            .ok()
            .filter(|e| !e.is_empty());
        return aws_cli::run(endpoint.as_deref(), &args);
    }
    let cli = cli::Cli::parse();
    cli::run(cli)
}
