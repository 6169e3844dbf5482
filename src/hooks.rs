//! Wiring of the init hooks (`skyport-hooks`) into `skyport start`: the init directory from the
//! configuration, the environment every script gets (the gateway as `AWS_ENDPOINT_URL`, test
//! credentials and the region unless Skyport's own environment sets them), `awslocal` (this binary
//! under that name) and the hint for a missing interpreter.

use std::sync::Arc;

use skyport_hooks::{HookOptions, Hooks, InitStatus};

use crate::config::Config;

/// What the default image's users are told when a hook needs a shell or Python it does not have.
const CONTAINER_HINT: &str = "; the default Skyport image is FROM scratch, with no shell and no Python. \
Run hooks with the image's `-tools` variant: the same tag with the `-tools` suffix, e.g. \
skyport/skyport:latest-tools (compose/build-tools.sh builds skyport/skyport:local-tools)";
const HOST_HINT: &str =
    "; install it, or run Skyport's `-tools` image (e.g. skyport/skyport:latest-tools)";

/// Discovers the hooks `config` names and records them in a fresh status.
pub fn discover(config: &Config) -> Hooks {
    let set = |key: &str| std::env::var(key).is_ok_and(|v| !v.is_empty());
    let mut env = vec![(
        "AWS_ENDPOINT_URL".to_owned(),
        crate::aws_cli::local_endpoint(config),
    )];
    if !set("AWS_ACCESS_KEY_ID") && !set("AWS_PROFILE") {
        env.push(("AWS_ACCESS_KEY_ID".into(), "test".into()));
        env.push(("AWS_SECRET_ACCESS_KEY".into(), "test".into()));
    }
    let region = ["AWS_DEFAULT_REGION", "AWS_REGION"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| skyport_core::DEFAULT_REGION.to_owned());
    env.push(("AWS_DEFAULT_REGION".into(), region.clone()));
    env.push(("AWS_REGION".into(), region));
    let options = HookOptions {
        init_dir: config.init_dir.clone(),
        env,
        awslocal: std::env::current_exe().ok(),
        missing_interpreter_hint: if config.in_container {
            CONTAINER_HINT
        } else {
            HOST_HINT
        }
        .to_owned(),
    };
    Hooks::new(options, Arc::new(InitStatus::new()))
}

/// The URL scripts reach the gateway bound at `addr` by: `localhost` for a wildcard address (Skyport
/// binds it on IPv4 and IPv6), the address itself otherwise.
pub fn endpoint(addr: std::net::SocketAddr) -> String {
    if addr.ip().is_unspecified() {
        format!("http://localhost:{}", addr.port())
    } else {
        format!("http://{addr}")
    }
}
