//! `skyport dns resolve NAME [--from IP] [--type A]`: what a client at IP would get from Skyport's DNS
//! for NAME, and why. Asked with `--endpoint`, or when the Skyport at the gateway address runs in a
//! container, the explanation is that running server's own (`GET /_skyport/dns/resolve`: its settings,
//! its interfaces, the names it registered at run time). Otherwise it is standalone: it builds the DNS
//! configuration from this environment and flags (the same variables `skyport start` reads) and this
//! machine's interfaces, runs the server's answer logic and prints what one started with these settings
//! would answer. It sends no DNS query (forwarded names are not resolved).

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
    /// The running Skyport to check against (default: the configured gateway address).
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// The settings a running Skyport would use (flags override the environment).
    #[command(flatten)]
    pub settings: StartArgs,
}

/// The running Skyport's own explanation, when one answers at `endpoint`: `Some(Ok(text))`, or
/// `Some(Err(reason))` when it answers that it cannot (its DNS server is off, a bad argument).
fn ask_running(endpoint: &str, args: &ResolveArgs) -> Option<Result<String, String>> {
    let query: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("name", &args.name)
        .append_pair("type", args.qtype.trim())
        .append_pair("from", &args.from.to_string())
        .finish();
    let path = format!("{}?{query}", crate::dns_app::PATH);
    match crate::probe::http_get(endpoint, &path, std::time::Duration::from_millis(800)) {
        Ok((200, body)) => Some(Ok(body)),
        Ok((400, body)) if !body.trim_start().starts_with('{') => Some(Err(body.trim().to_owned())),
        // An older Skyport without the endpoint, or none at all.
        _ => None,
    }
}

/// The Skyport at `endpoint`: `None` when none answers, else whether it runs in a container.
fn running_skyport(endpoint: &str) -> Option<bool> {
    let timeout = std::time::Duration::from_millis(500);
    match crate::probe::http_get(endpoint, "/_localstack/info", timeout) {
        Ok((200, body)) => Some(
            serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("is_docker").and_then(serde_json::Value::as_bool))
                .unwrap_or(false),
        ),
        _ => None,
    }
}

/// Which Skyport the explanation is about (`running` as [`running_skyport`] found it).
fn whose_answer(endpoint: &str, name: &str, running: Option<bool>) -> String {
    match running {
        Some(true) => format!(
            "  note: the Skyport at {endpoint} runs in a container; this answer comes from this shell's \
             settings and this machine's interfaces, not the container's. Ask it directly: \
             `dig @127.0.0.1 -p <its published DNS port> {name}` (publish it with \
             `skyport start --docker --host-dns`, or `127.0.0.1:53:53/udp` in compose)"
        ),
        Some(false) => format!(
            "  note: a Skyport runs at {endpoint}; names it registered at run time (port-range \
             host names) are not shown here"
        ),
        None => format!(
            "  note: no Skyport answers at {endpoint}; this is what one started with these settings would \
             answer"
        ),
    }
}

/// Runs the command: 0 with the explanation on stdout; 2 for bad arguments or settings; 1 when the
/// interfaces cannot be read.
pub fn resolve(args: &ResolveArgs) -> ExitCode {
    let endpoint = args
        .endpoint
        .clone()
        .unwrap_or_else(crate::probe::default_endpoint);
    // The running Skyport answers for itself when asked by address, or when it runs in a container
    // (whose settings and interfaces this shell cannot know).
    // Probed once: it decides whether to ask, and the last line says which Skyport answered.
    let probed = args.endpoint.is_none().then(|| running_skyport(&endpoint));
    let ask = if args.endpoint.is_some() || probed == Some(Some(true)) {
        ask_running(&endpoint, args)
    } else {
        None
    };
    match ask {
        Some(Ok(text)) => {
            print!("{text}");
            println!(
                "  note: answered by the running Skyport at {endpoint} (its settings, interfaces and run-time names)"
            );
            return ExitCode::SUCCESS;
        }
        Some(Err(reason)) => {
            eprintln!("skyport: the Skyport at {endpoint}: {reason}");
            return ExitCode::from(2);
        }
        None => {}
    }
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
            let running = probed.unwrap_or_else(|| running_skyport(&endpoint));
            println!("{}", whose_answer(&endpoint, &args.name, running));
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
