//! Fuzz target: arbitrary bytes as a TLS client's first flight, through rustls' `Acceptor` and Skyport's
//! SNI resolver (certificate choice and minting included). Run: `cd certs && cargo +nightly fuzz run client_hello`.
#![no_main]

use std::io::Read;
use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use rustls::server::Acceptor;
use skyport_certs::{CertAuthority, NameConstraintsPolicy, ResolverConfig, SniResolver};

fn server() -> Arc<rustls::ServerConfig> {
    static CONFIG: OnceLock<Arc<rustls::ServerConfig>> = OnceLock::new();
    Arc::clone(CONFIG.get_or_init(|| {
        let ca =
            CertAuthority::generate("fuzz", &NameConstraintsPolicy::skyport_default(None, &[]))
                .expect("CA");
        let resolver = SniResolver::new(
            Arc::new(ca),
            ResolverConfig::skyport_default(None, true, &[]),
        )
        .expect("resolver");
        skyport_certs::server_config(Arc::new(resolver)).expect("config")
    }))
}

fuzz_target!(|data: &[u8]| {
    let mut acceptor = Acceptor::default();
    let mut reader = data;
    loop {
        match acceptor.read_tls(&mut reader) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        match acceptor.accept() {
            Ok(Some(accepted)) => {
                if let Ok(mut conn) = accepted.into_connection(server()) {
                    let mut sink = Vec::new();
                    while conn.wants_write() {
                        if conn.write_tls(&mut sink).is_err() {
                            break;
                        }
                    }
                    let mut plain = Vec::new();
                    let _ = conn.reader().read_to_end(&mut plain);
                }
                return;
            }
            Ok(None) => continue,
            Err((_, mut alert)) => {
                let _ = alert.write_all(&mut Vec::new());
                return;
            }
        }
    }
});
