//! `skyport start`: load the configuration, set up logging and the state directory, build the services,
//! start the gateway, print `Ready.` once every listener accepts, and shut down gracefully on SIGINT,
//! SIGTERM or a health-endpoint `kill`.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use skyport_core::init::Stage;
use skyport_core::ports::{PortRange, PortRegistry};
use skyport_core::{host::HostDomains, store::StateLayout};
use skyport_proxy::{Gateway, GatewayOptions, router::RouterConfig};

use crate::cli::StartArgs;
use crate::config::{Config, IMPLEMENTED_SERVICES, SqsEndpointStrategy};

/// Findings about the machine (not the settings): privileged ports without privileges, addresses that
/// are not on this host.
pub fn environment_warnings(config: &Config) -> Vec<String> {
    let mut warnings = Vec::new();
    let root = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|uid| uid == "0"))
        })
        .unwrap_or(false);
    for addr in &config.gateway_listen {
        if addr.port() != 0 && addr.port() < 1024 && !root {
            warnings.push(format!(
                "GATEWAY_LISTEN includes {addr}: ports below 1024 need root or CAP_NET_BIND_SERVICE \
                 (`sudo setcap cap_net_bind_service=+ep $(which skyport)`), or run Skyport in its container"
            ));
        }
        if !addr.ip().is_unspecified() && std::net::UdpSocket::bind((addr.ip(), 0)).is_err() {
            warnings.push(format!(
                "GATEWAY_LISTEN includes {addr}, but {} is not an address of this host",
                addr.ip()
            ));
        }
    }
    if let Some(ip) = config.dns.address {
        if config.dns.port < 1024 && !root && !config.in_container {
            warnings.push(format!(
                "the DNS server wants {ip}:{}, which needs root or CAP_NET_BIND_SERVICE; set DNS_PORT (e.g. 5353) \
                 or DNS_ADDRESS=0 to turn the DNS off",
                config.dns.port
            ));
        }
    }
    warnings
}

pub fn run(args: &StartArgs, compose_file: Option<&std::path::Path>) -> ExitCode {
    let started = Instant::now();
    let config = match args.load() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("skyport: {e}");
            return ExitCode::from(2);
        }
    };
    let _log_guard = crate::logging::init(&config);
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all().worker_threads(config.worker_threads);
    let runtime = match builder.build() {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let compose_file = crate::pitfalls::compose_file(compose_file);
    let code = runtime.block_on(serve(config, started, compose_file));
    // Give in-flight blocking commits a moment, then stop.
    runtime.shutdown_timeout(Duration::from_secs(1));
    code
}

async fn serve(
    config: Config,
    started: Instant,
    compose_file: Option<std::path::PathBuf>,
) -> ExitCode {
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    // Init hooks: boot.d before anything starts.
    let mut hooks = crate::hooks::discover(&config);
    hooks.run(Stage::Boot).await;
    let layout = match StateLayout::new(&config.state_dir, config.persistence) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("cannot prepare the state directory: {e}");
            return ExitCode::FAILURE;
        }
    };

    let domains = HostDomains::new(&[config.localstack_host.host.as_str()]);
    let mut options = GatewayOptions::new(
        config.gateway_listen.clone(),
        RouterConfig {
            domains,
            parity_access_keys: config.parity_access_keys,
        },
    );
    options.localstack_header = config.response_header;
    options.is_docker = config.in_container;
    options.handshake_timeout = config.handshake_timeout;
    options.init = hooks.status().clone();
    options.header_read_timeout = config.header_timeout;
    options.snapshot_dir = Some(layout.root().join("snapshots"));
    // Port-range routes made through `/_skyport/ports` are kept across restarts with persistence.
    if config.persistence {
        match layout.open_store("ports") {
            Ok(store) => options.ports_store = Some(store),
            Err(e) => tracing::warn!("cannot open the port allocations' store: {e}"),
        }
    }
    let (first, last) = config.external_ports;
    // Services that need a port of their own (Lambda, RDS, ...) get a clone of this registry.
    let ports = PortRange::new(first, last).map(PortRegistry::new);
    options.ports = ports.clone();
    options.forward = skyport_proxy::forward::ForwardOptions {
        connect_timeout: config.ports_connect_timeout,
        idle_timeout: config.ports_idle_timeout,
    };
    let tls = match crate::tls::build(&config, &layout.certs_dir()) {
        Ok(t) => t,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("skyport: {e}");
            return ExitCode::FAILURE;
        }
    };
    options.tls = Some(Arc::clone(&tls.server_config));
    let mut gateway = Gateway::new(options);
    gateway.add_document(
        crate::tls::CA_DOCUMENT_PATH,
        crate::tls::CA_CONTENT_TYPE,
        bytes::Bytes::from(tls.ca.cert_pem().to_owned()),
    );

    let sts_store = match layout.open_store("sts") {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("cannot open the STS state store: {e}");
            return ExitCode::FAILURE;
        }
    };
    // IAM first: STS answers for the keys IAM issues.
    let (logs_store, iam_store) = match (layout.open_store("logs"), layout.open_store("iam")) {
        (Ok(logs), Ok(iam)) => (logs, iam),
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!("cannot open the Logs or IAM state store: {e}");
            return ExitCode::FAILURE;
        }
    };
    let iam = Arc::new(skyport_iam::Iam::new(iam_store));
    gateway.register(iam.clone());
    let sts = Arc::new(skyport_sts::Sts::new(sts_store).with_key_directory(iam.clone()));
    gateway.register(sts.clone());
    // ENFORCE_IAM=1: every signature is verified against each account's root test credentials (and
    // SKYPORT_SIGV4_KEYS), the keys IAM issued and the credentials STS minted.
    let credentials: Option<Arc<dyn skyport_core::bus::CredentialDirectory>> =
        config.enforce_iam.then(|| {
            let roots = skyport_core::bus::RootTestCredentials {
                keys: config.s3_sigv4_keys.iter().flatten().cloned().collect(),
                only_keys: false,
            };
            Arc::new(skyport_core::bus::CredentialDirectories(vec![
                Arc::new(roots),
                iam.clone(),
                Arc::new(sts.credentials()),
            ])) as Arc<dyn skyport_core::bus::CredentialDirectory>
        });
    let authorizer = credentials.as_ref().map(|directory| {
        gateway.enforce_signatures(directory.clone());
        let authorizer = Arc::new(skyport_iam::IamAuthorizer::new(
            (*iam).clone(),
            config.iam_soft_mode,
        ));
        gateway.enforce_policies(authorizer.clone());
        gateway.mount(Arc::new(crate::iam_app::DenialsApp::new(
            authorizer.clone(),
        )));
        authorizer
    });
    let sqs_urls = skyport_sqs::UrlConfig {
        strategy: match config.sqs_endpoint_strategy {
            SqsEndpointStrategy::Standard => skyport_sqs::EndpointStrategy::Standard,
            SqsEndpointStrategy::Domain => skyport_sqs::EndpointStrategy::Domain,
            SqsEndpointStrategy::Path => skyport_sqs::EndpointStrategy::Path,
            SqsEndpointStrategy::Off => skyport_sqs::EndpointStrategy::Off,
            SqsEndpointStrategy::Dynamic => skyport_sqs::EndpointStrategy::Dynamic,
        },
        domains: HostDomains::new(&[config.localstack_host.host.as_str()]),
        fallback_host: config.localstack_host.host.clone(),
    };
    // Also the `QueueSink` other services enqueue into (S3 event notifications).
    let sqs_options = skyport_sqs::SqsOptions {
        urls: sqs_urls,
        delay_recently_deleted: config.sqs_delay_recently_deleted,
        delay_purge_retry: config.sqs_delay_purge_retry,
    };
    let sqs = match skyport_sqs::Sqs::new(&layout, sqs_options) {
        Ok(sqs) => Arc::new(sqs),
        Err(e) => {
            tracing::error!("cannot open the SQS state: {e}");
            return ExitCode::FAILURE;
        }
    };
    gateway.register(sqs.clone());
    let s3_domains = HostDomains::new(&[config.localstack_host.host.as_str()]);
    let s3 = match skyport_s3::S3::new(&layout, s3_domains) {
        Ok(s3) => {
            let mut s3 = s3.with_queue_sink(sqs.clone()).start_lifecycle(
                skyport_s3::lifecycle::LifecycleOptions {
                    day: config.s3_lifecycle_day,
                    interval: config.s3_lifecycle_interval,
                },
            );
            if let Some(directory) = &credentials {
                s3 = s3.with_credentials(directory.clone());
            } else if let Some(keys) = &config.s3_sigv4_keys {
                s3 = s3.with_sigv4_keys(keys.iter().cloned());
            }
            Arc::new(s3)
        }
        Err(e) => {
            tracing::error!("cannot open the S3 state: {e}");
            return ExitCode::FAILURE;
        }
    };
    s3.spawn_access_log_delivery(config.s3_access_log_interval);
    gateway.register(s3.clone());
    let logs = Arc::new(skyport_logs::Logs::new(logs_store));
    gateway.register(logs.clone());
    let dynamodb = layout.open_store("dynamodb").and_then(|store| {
        skyport_dynamodb::DynamoDb::new(
            store,
            skyport_dynamodb::Options {
                ttl_sweep: config.dynamodb_ttl_sweep,
            },
        )
    });
    let table_streams = match dynamodb {
        Ok(dynamodb) => {
            let streams = Arc::new(dynamodb.streams());
            gateway.register(streams.clone());
            gateway.register(Arc::new(dynamodb));
            streams
        }
        Err(e) => {
            tracing::error!("cannot open the DynamoDB state: {e}");
            return ExitCode::FAILURE;
        }
    };
    // SNS delivers to SQS (and, once Lambda is open, to functions).
    let sns = layout.open_store("sns").and_then(|store| {
        skyport_sns::Sns::new(
            store,
            skyport_sns::Options {
                retry_second_ms: u64::try_from(config.sns_retry_second.as_millis()).unwrap_or(1000),
            },
        )
    });
    let sns = match sns {
        Ok(sns) => Arc::new(sns),
        Err(e) => {
            tracing::error!("cannot open the SNS state: {e}");
            return ExitCode::FAILURE;
        }
    };
    sns.links().set_queue_sink(sqs.clone());
    // Messages are signed with a key whose certificate Skyport's CA issues (SigningCertURL).
    let ca = tls.ca.clone();
    sns.enable_signing(move |spki| {
        ca.certify_public_key(
            spki,
            "sns.amazonaws.com",
            Duration::from_secs(3 * 365 * 86_400),
        )
        .map_err(|e| e.to_string())
    });
    gateway.register(sns.clone());
    // Queue and topic policies take part in IAM's decisions (ENFORCE_IAM=1).
    if let Some(authorizer) = &authorizer {
        authorizer.add_resource_policies("sqs", sqs.clone());
        authorizer.add_resource_policies("sns", sns.clone());
    }
    // ECR: repository URIs name `<account>.dkr.ecr.<region>.<LOCALSTACK_HOST>`; the registry also gets
    // a port of the external range on first need (`docker login 127.0.0.1:<port>`). Lambda runs the
    // images of image functions from it.
    let ecr = skyport_ecr::Ecr::new(
        &layout,
        skyport_ecr::Options {
            host: config.localstack_host.to_string(),
            ports: ports.clone(),
            ..skyport_ecr::Options::default()
        },
    );
    let ecr = match ecr {
        Ok(ecr) => {
            let ecr = Arc::new(ecr);
            // Repository policies take part in IAM's decisions (ENFORCE_IAM=1).
            if let Some(authorizer) = &authorizer {
                authorizer.add_resource_policies("ecr", ecr.clone());
            }
            ecr
        }
        Err(e) => {
            tracing::error!("cannot open the ECR state: {e}");
            return ExitCode::FAILURE;
        }
    };
    let network_listeners = Arc::new(crate::lambda::NetworkListeners::new(&config));
    let mut lambda_options = crate::lambda::options(
        &config,
        &layout,
        tls.ca.cert_pem(),
        network_listeners.clone(),
    );
    lambda_options.docker.images = Some(ecr.clone());
    let function_invoker = match skyport_lambda::Lambda::open(
        &layout,
        lambda_options,
        Some(logs.clone()),
        Some(sts.clone()),
    ) {
        // Deployment packages given as `S3Bucket`/`S3Key` come from Skyport's S3; event source
        // mappings poll SQS and read DynamoDB streams; destinations deliver to SQS and SNS.
        Ok(lambda) => {
            let lambda = lambda.with_object_source(s3.clone());
            lambda.connect_topics(sns.clone());
            lambda.connect_streams(table_streams);
            lambda.connect_queues(sqs.clone(), sqs.clone());
            // S3's `LambdaFunctionConfigurations` and SNS's `lambda` subscriptions invoke functions.
            s3.set_function_invoker(lambda.handle());
            sns.links().set_function_invoker(lambda.handle());
            let handle = lambda.handle();
            // Function policies take part in IAM's decisions (ENFORCE_IAM=1).
            if let Some(authorizer) = &authorizer {
                authorizer.add_resource_policies("lambda", handle.clone());
            }
            gateway.register(Arc::new(lambda));
            handle
        }
        Err(e) => {
            tracing::error!("cannot open the Lambda state: {e}");
            return ExitCode::FAILURE;
        }
    };
    // EventBridge: targets deliver to SQS, Lambda and SNS; S3's `EventBridgeConfiguration` puts
    // events on it.
    let events = match layout.open_store("events") {
        Ok(store) => {
            let events = skyport_events::Events::new(store)
                .with_queue_sink(sqs.clone())
                .with_function_invoker(function_invoker)
                .with_topic_publisher(sns.clone());
            events.start_scheduler(skyport_events::ScheduleClock::new(
                config.events_schedule_minute,
            ));
            Arc::new(events)
        }
        Err(e) => {
            tracing::error!("cannot open the EventBridge state store: {e}");
            return ExitCode::FAILURE;
        }
    };
    gateway.register(events.clone());
    s3.set_event_sink(events.clone());
    gateway.register(ecr);
    // S3's `TopicConfigurations` publish to SNS.
    s3.set_topic_publisher(sns.clone());
    // The web console at `/_skyport/`: a resource browser and the live request log.
    gateway.mount(Arc::new(skyport_console::Console::new(
        skyport_console::Options {
            write: config.console_write,
            public: config.console_public,
        },
    )));
    for service in IMPLEMENTED_SERVICES {
        if !config.service_enabled(service) {
            gateway.disable(service);
        }
    }

    // The DNS server first, so names resolve by the time the gateway reports ready; kept until the
    // gateway has drained.
    let dns = crate::dns::start(&config).await.map(Arc::new);
    // Host names given with a port allocation (`POST /_skyport/ports` `hostname`) go to its registry.
    if let (Some(ports), Some(dns)) = (&ports, &dns) {
        ports.names_with(Arc::new(crate::dns::PortNamesInDns(dns.records())));
    }
    // `skyport dns resolve` asks the running server for its own answer.
    gateway.mount(Arc::new(crate::dns_app::DnsExplain::new(dns.as_ref())));

    // start.d: the services are open, the gateway is about to accept requests.
    hooks.run(Stage::Start).await;
    let running = match gateway.start().await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    network_listeners.bind(running.listeners(), dns.clone());
    let mut denied = Vec::new();
    for e in &running.bind_errors {
        match e {
            skyport_proxy::listener::BindError::PermissionDenied { addr } => denied.push(*addr),
            _ => tracing::warn!("{e}; continuing without it"),
        }
    }
    if !denied.is_empty() {
        // One warning for all privileged addresses (e.g. 127.0.0.1:443 and [::1]:443), with the fix.
        let list: Vec<String> = denied.iter().map(ToString::to_string).collect();
        let serving: Vec<String> = running.addrs.iter().map(ToString::to_string).collect();
        tracing::warn!(
            "cannot bind {}: permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE: run \
             `sudo setcap cap_net_bind_service=+ep $(which skyport)`, or run Skyport in its container); \
             continuing on {}",
            list.join(", "),
            serving.join(", ")
        );
    }
    for addr in &running.addrs {
        tracing::info!("Listening on {addr} (HTTP and HTTPS, HTTP/1.1 and HTTP/2)");
    }
    tracing::info!(
        state_dir = %config.state_dir.display(),
        persistence = config.persistence,
        "Skyport {} started in {:.1} ms",
        skyport_core::VERSION,
        started.elapsed().as_secs_f64() * 1000.0
    );
    if let Some(range) = PortRange::new(first, last) {
        tracing::debug!("external service ports {range}: bound on demand, on the gateway's hosts");
    }
    // The port actually bound (a configured port 0 is chosen by the system).
    if let Some(addr) = running.addrs.first() {
        hooks.set_env("AWS_ENDPOINT_URL", &crate::hooks::endpoint(*addr));
    }
    // ready.d runs against the serving gateway; `Ready.` only once it ran (tools wait for that line).
    hooks.run(Stage::Ready).await;
    // The hooks' log lines first, then `Ready.`.
    crate::logging::flush();
    println!("Ready.");
    // The machine checks (Docker socket, LOCALSTACK_HOST, compose file, state volume) after Ready., so
    // they cost the start nothing; the ports are ours by now, so they are not checked.
    let checked = config.clone();
    tokio::task::spawn_blocking(move || {
        let ctx = crate::pitfalls::Context {
            compose_file,
            docker_mode: false,
            check_ports: false,
        };
        for warning in crate::pitfalls::check(&checked, &ctx) {
            tracing::warn!("{warning}");
        }
    });

    let shutdown = running.shutdown_signal();
    tokio::select! {
        _ = signal() => tracing::info!("shutdown signal received; finishing in-flight requests"),
        _ = shutdown.wait() => tracing::info!("shutdown requested; finishing in-flight requests"),
    }
    // shutdown.d while the gateway still serves (scripts may call it), unless a second signal.
    tokio::select! {
        _ = hooks.run(Stage::Shutdown) => {}
        _ = signal() => {
            tracing::warn!("second signal: exiting without the shutdown hooks");
            return ExitCode::from(130);
        }
    }
    let grace = config.shutdown_timeout;
    let drained = tokio::select! {
        d = running.shutdown(grace) => d,
        _ = signal() => {
            tracing::warn!("second signal: exiting without waiting for in-flight requests");
            return ExitCode::from(130);
        }
    };
    network_listeners.release();
    if let Some(dns) = dns.and_then(|d| Arc::try_unwrap(d).ok()) {
        dns.shutdown().await;
    }
    if drained {
        tracing::info!("Skyport stopped");
    } else {
        tracing::warn!(
            "stopped with requests still in flight after {:.1}s",
            grace.as_secs_f64()
        );
    }
    drop(layout);
    ExitCode::SUCCESS
}

/// Resolves on SIGINT or SIGTERM.
pub(crate) async fn signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
