//! The binary's side of Lambda: its options from the [`Config`], and [`NetworkListeners`], which lets
//! the Docker executor (with Skyport on the host) make the gateway and the DNS server answer on the
//! gateway address of its containers' network.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, OnceLock};

use skyport_core::bus::{ListenerControl, Served};
use skyport_core::store::StateLayout;
use skyport_dns::DnsServer;
use skyport_lambda::LambdaOptions;
use skyport_lambda::executor::Choice;

use crate::config::Config;

/// Starts gateway and DNS listeners on a network's address, once per address.
pub struct NetworkListeners {
    gateway: OnceLock<skyport_proxy::Listeners>,
    dns: Mutex<Option<Arc<DnsServer>>>,
    edge_port: u16,
    served: tokio::sync::Mutex<HashMap<IpAddr, Served>>,
}

impl NetworkListeners {
    /// Not yet bound to a running gateway (see [`NetworkListeners::bind`]).
    pub fn new(config: &Config) -> NetworkListeners {
        NetworkListeners {
            gateway: OnceLock::new(),
            dns: Mutex::new(None),
            edge_port: config.gateway_listen.first().map_or(4566, |a| a.port()),
            served: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    /// Binds to the running gateway and DNS server.
    pub fn bind(&self, gateway: skyport_proxy::Listeners, dns: Option<Arc<DnsServer>>) {
        let _ = self.gateway.set(gateway);
        *self.dns.lock().unwrap_or_else(|p| p.into_inner()) = dns;
    }

    /// Lets go of the DNS server (before it is shut down).
    pub fn release(&self) {
        self.dns.lock().unwrap_or_else(|p| p.into_inner()).take();
    }
}

/// Listening worked, or something (an earlier listener of ours on a wildcard address) already holds
/// the port there.
fn listening(result: Result<SocketAddr, skyport_proxy::listener::BindError>, what: &str) -> bool {
    match result {
        Ok(_) | Err(skyport_proxy::listener::BindError::InUse { .. }) => true,
        Err(e) => {
            tracing::warn!("lambda: {what}: {e}");
            false
        }
    }
}

#[async_trait::async_trait]
impl ListenerControl for NetworkListeners {
    async fn serve_on(&self, ip: IpAddr) -> Served {
        let mut served = self.served.lock().await;
        if let Some(s) = served.get(&ip) {
            return *s;
        }
        let Some(gateway) = self.gateway.get() else {
            return Served::default();
        };
        let edge = listening(
            gateway.listen_on(SocketAddr::new(ip, self.edge_port)),
            "the gateway on the functions' network",
        );
        let https_443 = self.edge_port == 443
            || listening(
                gateway.listen_on(SocketAddr::new(ip, 443)),
                "HTTPS on 443 for real AWS names on the functions' network (functions get AWS_ENDPOINT_URL instead)",
            );
        let dns_server = self.dns.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let dns = match dns_server {
            // A container's resolver is always on port 53, whatever DNS_PORT says for the host.
            Some(server) => match server.add_listener(SocketAddr::new(ip, 53)).await {
                Ok(addr) => {
                    tracing::info!("DNS listening on {addr} (UDP and TCP)");
                    true
                }
                Err(e) => {
                    tracing::warn!(
                        "lambda: the DNS server on the functions' network: {e} (functions get AWS_ENDPOINT_URL instead)"
                    );
                    false
                }
            },
            None => false,
        };
        let s = Served {
            https_443,
            edge,
            dns,
        };
        served.insert(ip, s);
        s
    }
}

/// A short stable id of this Skyport: its state directory, and its container when it runs in one (every
/// containerised Skyport has the same state directory). It labels the function containers it owns.
fn owner_id(config: &Config, own_container: Option<&str>) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let key = format!(
        "{}|{}",
        config.state_dir.display(),
        own_container.unwrap_or("")
    );
    for b in key.bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// Lambda's options from the configuration.
pub fn options(
    config: &Config,
    layout: &StateLayout,
    ca_pem: &str,
    listeners: Arc<NetworkListeners>,
) -> LambdaOptions {
    let l = &config.lambda;
    let edge_port = config.gateway_listen.first().map_or(4566, |a| a.port());
    let own_container = if config.in_container {
        l.main_container_name
            .clone()
            .or_else(|| std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()))
    } else {
        None
    };
    let ca_bundle_file = {
        let path = layout.scratch_dir().join("lambda-ca-bundle.pem");
        let ca_pem = ca_pem.to_owned();
        skyport_lambda::local::LazyFile::new(move || {
            let bundle = skyport_certs::trust::trust_bundle(&ca_pem);
            match std::fs::write(&path, bundle.pem) {
                Ok(()) => Some(path.clone()),
                Err(e) => {
                    tracing::warn!(path = %path.display(), "cannot write the local functions' CA bundle: {e}");
                    None
                }
            }
        })
    };
    let mut extra_env = Vec::new();
    if let Some(host) = &l.hostname_from_lambda {
        extra_env.push(("LOCALSTACK_HOSTNAME".to_owned(), host.clone()));
    }
    LambdaOptions {
        executor: match l.executor.as_deref() {
            Some("docker") => Choice::Docker,
            Some("local") => Choice::Local,
            _ => Choice::Auto,
        },
        docker: skyport_lambda::docker::DockerSettings {
            socket: crate::pitfalls::docker_socket()
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_else(|_| "/var/run/docker.sock".to_owned()),
            network: l.docker_network.clone(),
            dns: l.docker_dns.clone(),
            flags: l.docker_flags.clone(),
            remove_containers: l.remove_containers,
            image_mapping: l.image_mapping.clone(),
            hostname_override: l.hostname_from_lambda.clone(),
            in_container: config.in_container,
            owner: owner_id(config, own_container.as_deref()),
            own_container,
            ca_pem: ca_pem.to_owned(),
            listeners: Some(listeners),
            // Set by the caller once ECR is open.
            images: None,
        },
        engine: skyport_lambda::invoke::EngineSettings {
            keepalive: l.keepalive,
            retry_base: l.retry_base,
            extra_env,
            edge_port,
        },
        local_endpoint: format!("http://127.0.0.1:{edge_port}"),
        ca_bundle_file: Some(ca_bundle_file),
    }
}
