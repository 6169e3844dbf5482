//! Fuzz target: an arbitrary request head (`METHOD URI` then `Name: value` lines) through the gateway's
//! router classification (service, protocol, operation, credential and account).
#![no_main]

use libfuzzer_sys::fuzz_target;
use skyport_core::host::HostDomains;
use skyport_proxy::router::{RouterConfig, classify};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.split("\r\n");
    let mut first = lines.next().unwrap_or("").splitn(2, ' ');
    let method = first.next().unwrap_or("GET");
    let uri = first.next().unwrap_or("/");
    let mut builder = http::Request::builder().method(method).uri(uri);
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            builder = builder.header(name.trim(), value.trim());
        }
    }
    let Ok(request) = builder.body(()) else {
        return;
    };
    let (parts, ()) = request.into_parts();
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
