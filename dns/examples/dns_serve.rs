//! Runs Skyport's DNS server alone (no gateway, no services), for profiling and quick benchmarks:
//! `dns_serve LISTEN [UPSTREAM]`, e.g. `dns_serve 127.0.0.1:5300 127.0.0.1:5301`.

use std::net::SocketAddr;

use skyport_dns::{DnsConfig, DnsServer};

fn main() -> std::process::ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(Ok(listen)) = args.next().map(|a| a.parse::<SocketAddr>()) else {
        eprintln!("usage: dns_serve LISTEN [UPSTREAM]");
        return std::process::ExitCode::from(2);
    };
    let upstreams: Vec<SocketAddr> = args.filter_map(|a| a.parse().ok()).collect();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("dns_serve: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let config = DnsConfig {
            listen: vec![listen],
            upstreams,
            ..DnsConfig::default()
        };
        match DnsServer::start(config).await {
            Ok(server) => {
                eprintln!("Ready. {:?}", server.local_addrs());
                let _ = tokio::signal::ctrl_c().await;
                server.shutdown().await;
                std::process::ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("dns_serve: {e}");
                std::process::ExitCode::FAILURE
            }
        }
    })
}
