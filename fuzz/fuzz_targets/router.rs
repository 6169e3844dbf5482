//! Fuzz target: an arbitrary request head (`METHOD URI` then `Name: value` lines) through the gateway's
//! router classification (service, protocol, operation, credential and account).
#![no_main]

#[path = "shared/head.rs"]
mod head;

use libfuzzer_sys::fuzz_target;
use skyport_core::host::HostDomains;
use skyport_proxy::router::{RouterConfig, classify};

fuzz_target!(|data: &[u8]| {
    let Some(parts) = head::parts(data) else {
        return;
    };
    for parity_access_keys in [false, true] {
        let config = RouterConfig {
            domains: HostDomains::new(&["example.test"]),
            parity_access_keys,
        };
        let mut route = classify(&parts, &config);
        let _ = route.account(&config);
        let _ = route.region();
        route.resolve_action(Some("SendMessage"));
    }
});
