//! `skyport dns resolve NAME [--from IP] [--type A]`: what a client at IP would get from Skyport's DNS
//! for NAME, and why. Standalone: it builds the DNS configuration from this environment and flags
//! (the same variables `skyport start` reads) and this machine's interfaces, runs the server's
//! answer logic and prints the result. It sends no DNS query (forwarded names are not resolved) and
//! does not need a running Skyport; names a running instance registered at run time are not known.

use std::net::IpAddr;
use std::process::ExitCode;
use std::str::FromStr;

use clap::Args;
use skyport_dns::{NetSnapshot, RecordType, Records};

use crate::cli::StartArgs;

/// Arguments of `skyport dns resolve`.
#[derive(Debug, Args)]
pub struct ResolveArgs {
    /// The name to look up, e.g. s3.amazonaws.com.
    pub name: String,
    /// The client address to answer for (its network decides the address).
    #[arg(long, value_name = "IP", default_value = "127.0.0.1")]
    pub from: IpAddr,
    /// The record type (A, AAAA, MX, TXT, HTTPS, SOA, NS, ANY, ...).
    #[arg(long = "type", short = 't', value_name = "TYPE", default_value = "A")]
    pub qtype: String,
    /// The settings a running Skyport would use (flags override the environment).
    #[command(flatten)]
    pub settings: StartArgs,
}

/// Runs the command: 0 with the explanation on stdout; 2 for bad arguments or settings; 1 when the
/// interfaces cannot be read.
pub fn resolve(args: &ResolveArgs) -> ExitCode {
    let config = match args.settings.load() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("skyport: {e}");
            return ExitCode::from(2);
        }
    };
    let Ok(qtype) = RecordType::from_str(&args.qtype.trim().to_ascii_uppercase()) else {
        eprintln!(
            "skyport: unknown record type {:?} (try A, AAAA, MX, TXT, HTTPS, SOA, NS or ANY)",
            args.qtype
        );
        return ExitCode::from(2);
    };
    let dns_config = crate::dns::load_dns_config(&config);
    let interfaces = match NetSnapshot::from_system() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("skyport: {e}");
            return ExitCode::FAILURE;
        }
    };
    match skyport_dns::explain(
        &dns_config,
        &Records::new(),
        &interfaces,
        &args.name,
        qtype,
        args.from,
    ) {
        Ok(explanation) => {
            print!("{explanation}");
            if config.dns.address.is_none() {
                println!(
                    "  note: the DNS server is off (DNS_ADDRESS=0); this is what it would answer"
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("skyport: {e}");
            ExitCode::from(2)
        }
    }
}
