//! Invocations: the pool of warm environments per function version, the Runtime API each one talks
//! to, deadlines, concurrency limits, the function's logs (`START`/`END`/`REPORT` and its output, to
//! CloudWatch Logs), synchronous (`RequestResponse`), asynchronous (`Event`, retried on error) and
//! `DryRun` invocations.

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use bytes::Bytes;
use skyport_core::RequestContext;
use skyport_core::bus::{CredentialIssuer, LogLine, LogSink};
use skyport_wire::ApiError;
use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::destinations::{AsyncOutcome, AsyncPolicy, AsyncReporter};
use crate::errors;
use crate::executor::{EnvSpec, Executor, Instance, NotReady, StartError, Stop};
use crate::ids;
use crate::record::{Function, Version};
use crate::runtime_api::{Invocation, Outcome, RuntimeApi};
use crate::shapes;

/// The largest synchronous payload (6 MB).
pub const MAX_SYNC_PAYLOAD: usize = 6_291_456;
/// The largest asynchronous payload (1 MB since AWS raised it).
pub const MAX_ASYNC_PAYLOAD: usize = 1_048_576;
/// How long a new environment may take to start (to its first `invocation/next`).
const INIT_TIMEOUT: Duration = Duration::from_secs(30);

/// What the engine needs to know about where it runs.
#[derive(Clone)]
pub struct EngineSettings {
    /// How long an idle environment is kept (`LAMBDA_KEEPALIVE_MS`).
    pub keepalive: Duration,
    /// The base delay between retries of failed asynchronous invocations (AWS: about a minute, then
    /// two; tests shorten it).
    pub retry_base: Duration,
    /// Environment variables every function gets on top of Lambda's (`LOCALSTACK_HOSTNAME`, ...).
    pub extra_env: Vec<(String, String)>,
    /// The gateway's port (`EDGE_PORT`), as environments reach it.
    pub edge_port: u16,
}

impl Default for EngineSettings {
    fn default() -> EngineSettings {
        EngineSettings {
            keepalive: Duration::from_secs(600),
            retry_base: Duration::from_secs(60),
            extra_env: Vec::new(),
            edge_port: 4566,
        }
    }
}

/// The version an invocation runs.
#[derive(Debug, Clone)]
pub struct Target {
    /// The unqualified function ARN.
    pub function_arn: String,
    /// The ARN as invoked (qualified when a qualifier was given).
    pub invoked_arn: String,
    /// `$LATEST` or the version number that runs.
    pub version: String,
    /// The version's record.
    pub record: Version,
    /// The function's reserved concurrency.
    pub reserved: Option<i32>,
}

impl Target {
    /// The version `qualifier` selects, following an alias's routing weights.
    pub fn resolve(f: &Function, base: &str, qualifier: Option<&str>) -> Result<Target, ApiError> {
        let invoked_arn = match qualifier {
            Some(q) => ids::qualified_arn(base, q),
            None => base.to_owned(),
        };
        let (mut version, alias) = f
            .version(qualifier)
            .ok_or_else(|| errors::function_not_found(&invoked_arn))?;
        if let Some(weights) = alias
            .and_then(|a| a.routing_config.as_ref())
            .and_then(|r| r.additional_version_weights.as_ref())
        {
            let roll = fastrand::f64();
            let mut acc = 0.0;
            for (v, w) in weights {
                acc += w;
                if roll < acc
                    && let Some((other, _)) = f.version(Some(v))
                {
                    version = other;
                    break;
                }
            }
        }
        Ok(Target {
            function_arn: base.to_owned(),
            invoked_arn,
            version: version
                .config
                .version
                .clone()
                .unwrap_or_else(|| "$LATEST".to_owned()),
            record: version.clone(),
            reserved: f.reserved_concurrency,
        })
    }

    fn pool_key(&self) -> String {
        format!("{}:{}", self.function_arn, self.version)
    }
}

/// A warm environment.
struct Env {
    id: String,
    revision: String,
    api: RuntimeApi,
    stopper: Box<dyn Stop>,
    memory: Box<dyn crate::executor::MemoryGauge>,
    /// How the environment ended, once it did.
    exit: tokio::sync::watch::Receiver<Option<String>>,
    log: LogPump,
    started: Instant,
    init: Mutex<Option<Duration>>,
    dead: AtomicBool,
}

impl Env {
    async fn stop(&self) {
        self.dead.store(true, Ordering::Release);
        self.stopper.stop().await;
    }
}

/// The idle environments of one version, the most recently used last.
#[derive(Default)]
struct Pool {
    idle: VecDeque<(Arc<Env>, Instant)>,
}

struct Inner {
    executor: Arc<dyn Executor>,
    settings: EngineSettings,
    pools: Mutex<HashMap<String, Pool>>,
    /// In-flight invocations per function (unqualified ARN), for reserved concurrency.
    in_flight: Mutex<HashMap<String, usize>>,
    reserved: Mutex<HashMap<String, Option<i32>>>,
    logs: Option<Arc<dyn LogSink>>,
    credentials: Option<Arc<dyn CredentialIssuer>>,
    code_dir: std::path::PathBuf,
    starts: Semaphore,
    stopping: AtomicBool,
    envs_started: AtomicUsize,
    /// Where the outcomes of `Event` invocations go (destinations, dead-letter queues).
    reporter: std::sync::OnceLock<Arc<dyn AsyncReporter>>,
}

/// The invocation engine.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

/// The result of running one invocation.
struct Ran {
    request_id: String,
    outcome: Result<Outcome, Failure>,
    executed_version: String,
    log_tail: String,
}

/// How an invocation failed without a result from the function.
enum Failure {
    Timeout(f64),
    Exited(String),
    Start(String),
}

impl Engine {
    /// An engine running environments with `executor`; packages are in `code_dir`.
    pub fn new(
        executor: Arc<dyn Executor>,
        settings: EngineSettings,
        code_dir: std::path::PathBuf,
        logs: Option<Arc<dyn LogSink>>,
        credentials: Option<Arc<dyn CredentialIssuer>>,
    ) -> Engine {
        let engine = Engine {
            inner: Arc::new(Inner {
                executor,
                settings,
                pools: Mutex::new(HashMap::new()),
                in_flight: Mutex::new(HashMap::new()),
                reserved: Mutex::new(HashMap::new()),
                logs,
                credentials,
                code_dir,
                starts: Semaphore::new(16),
                stopping: AtomicBool::new(false),
                envs_started: AtomicUsize::new(0),
                reporter: std::sync::OnceLock::new(),
            }),
        };
        let sweeper = engine.clone();
        tokio::spawn(async move {
            sweeper.inner.executor.sweep_orphans().await;
            sweeper.reap_idle_forever().await;
        });
        engine
    }

    /// Sends the outcomes of `Event` invocations to `reporter` (destinations, dead-letter queues).
    pub fn set_reporter(&self, reporter: Arc<dyn AsyncReporter>) {
        let _ = self.inner.reporter.set(reporter);
    }

    /// The executor's name.
    pub fn executor(&self) -> &'static str {
        self.inner.executor.name()
    }

    /// How many environments were started so far.
    pub fn environments_started(&self) -> usize {
        self.inner.envs_started.load(Ordering::Relaxed)
    }

    /// The package `sha256` in the code store.
    fn package(&self, sha256: &str) -> std::path::PathBuf {
        crate::code::package_path(&self.inner.code_dir, sha256)
    }

    fn spec(&self, target: &Target, region: &str, env_id: &str, api: &str) -> EnvSpec {
        let c = &target.record.config;
        let name = c.function_name.clone().unwrap_or_default();
        let memory = c.memory_size.unwrap_or(128);
        let log_group = c
            .logging_config
            .as_ref()
            .and_then(|l| l.log_group.clone())
            .unwrap_or_else(|| format!("/aws/lambda/{name}"));
        let mut env = vec![
            ("AWS_REGION".to_owned(), region.to_owned()),
            ("AWS_DEFAULT_REGION".to_owned(), region.to_owned()),
            ("AWS_LAMBDA_FUNCTION_NAME".to_owned(), name.clone()),
            (
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE".to_owned(),
                memory.to_string(),
            ),
            (
                "AWS_LAMBDA_FUNCTION_VERSION".to_owned(),
                target.version.clone(),
            ),
            (
                "AWS_LAMBDA_INITIALIZATION_TYPE".to_owned(),
                "on-demand".to_owned(),
            ),
            ("AWS_LAMBDA_LOG_GROUP_NAME".to_owned(), log_group),
            (
                "AWS_LAMBDA_LOG_STREAM_NAME".to_owned(),
                log_stream_name(&target.version, env_id),
            ),
            ("AWS_LAMBDA_RUNTIME_API".to_owned(), api.to_owned()),
            ("LAMBDA_TASK_ROOT".to_owned(), "/var/task".to_owned()),
            ("LAMBDA_RUNTIME_DIR".to_owned(), "/var/runtime".to_owned()),
            ("TZ".to_owned(), ":UTC".to_owned()),
            (
                "AWS_XRAY_CONTEXT_MISSING".to_owned(),
                "LOG_ERROR".to_owned(),
            ),
            (
                "AWS_XRAY_DAEMON_ADDRESS".to_owned(),
                "127.0.0.1:2000".to_owned(),
            ),
            (
                "_AWS_XRAY_DAEMON_ADDRESS".to_owned(),
                "127.0.0.1".to_owned(),
            ),
            ("_AWS_XRAY_DAEMON_PORT".to_owned(), "2000".to_owned()),
            (
                "AWS_LAMBDA_FUNCTION_TIMEOUT".to_owned(),
                c.timeout.unwrap_or(3).to_string(),
            ),
            (
                "EDGE_PORT".to_owned(),
                self.inner.settings.edge_port.to_string(),
            ),
        ];
        if let Some(handler) = &c.handler {
            env.push(("_HANDLER".to_owned(), handler.clone()));
        }
        if let Some(runtime) = &c.runtime {
            env.push((
                "AWS_EXECUTION_ENV".to_owned(),
                format!("AWS_Lambda_{runtime}"),
            ));
        }
        env.extend(self.inner.settings.extra_env.iter().cloned());
        if let Some(vars) = c.environment.as_ref().and_then(|e| e.variables.as_ref()) {
            for (k, v) in vars {
                env.retain(|(existing, _)| existing != k);
                env.push((k.clone(), v.clone()));
            }
        }
        // Zip functions run in their runtime's image, which the executor picks (it knows the mapping);
        // image functions the digest their tag named when the code was set.
        let code = &target.record.code;
        let image = code.resolved_image_uri.clone().or(code.image_uri.clone());
        // `arn:aws:lambda:<region>:<account>:function:<name>`
        let mut arn = target.function_arn.split(':').skip(3);
        let (arn_region, account) = (arn.next().unwrap_or(region), arn.next().unwrap_or_default());
        EnvSpec {
            id: env_id.to_owned(),
            function_name: name,
            account: account.to_owned(),
            region: arn_region.to_owned(),
            runtime: c.runtime.clone(),
            handler: c.handler.clone(),
            code: target.record.code.clone(),
            code_path: Some(self.package(&target.record.code.sha256)),
            layer_paths: target
                .record
                .code
                .layers
                .iter()
                .map(|sha| self.package(sha))
                .collect(),
            image,
            image_config: c
                .image_config_response
                .as_ref()
                .and_then(|r| r.image_config.clone()),
            memory_mb: u32::try_from(memory).unwrap_or(128),
            architecture: c
                .architectures
                .as_ref()
                .and_then(|a| a.first().cloned())
                .unwrap_or_else(|| "x86_64".to_owned()),
            env,
            runtime_api: api.to_owned(),
        }
    }

    /// Readies what `version` needs before it becomes `Active` (pulls its image).
    pub async fn prepare(&self, version: &Version) -> Result<(), NotReady> {
        let target = Target {
            function_arn: version.config.function_arn.clone().unwrap_or_default(),
            invoked_arn: String::new(),
            version: "$LATEST".to_owned(),
            record: version.clone(),
            reserved: None,
        };
        let spec = self.spec(&target, "", "prepare", "");
        self.inner.executor.prepare(&spec).await
    }

    /// Records a function's reserved concurrency.
    pub fn set_reserved(&self, function_arn: &str, reserved: Option<i32>) {
        lock(&self.inner.reserved).insert(function_arn.to_owned(), reserved);
    }

    /// Stops every environment of a deleted function.
    pub async fn retire_function(&self, function_arn: &str) {
        let prefix = format!("{function_arn}:");
        let envs: Vec<Arc<Env>> = {
            let mut pools = lock(&self.inner.pools);
            let keys: Vec<String> = pools
                .keys()
                .filter(|k| k.starts_with(&prefix))
                .cloned()
                .collect();
            keys.into_iter()
                .filter_map(|k| pools.remove(&k))
                .flat_map(|p| p.idle.into_iter().map(|(e, _)| e))
                .collect()
        };
        for env in envs {
            env.stop().await;
        }
    }

    /// Stops the idle environments of one version (its code or settings changed).
    pub async fn retire_version(&self, function_arn: &str, version: &str) {
        let key = format!("{function_arn}:{version}");
        let envs: Vec<Arc<Env>> = lock(&self.inner.pools)
            .get_mut(&key)
            .map(|p| p.idle.drain(..).map(|(e, _)| e).collect())
            .unwrap_or_default();
        for env in envs {
            env.stop().await;
        }
    }

    /// Stops every idle environment and forgets the pools (a state reset or import); unlike
    /// [`Engine::shutdown`] new environments start afterwards.
    pub async fn retire_all(&self) {
        let envs: Vec<Arc<Env>> = {
            let mut pools = lock(&self.inner.pools);
            pools
                .drain()
                .flat_map(|(_, p)| p.idle.into_iter().map(|(e, _)| e))
                .collect()
        };
        let stops = envs.iter().map(|e| e.stop());
        futures_util::future::join_all(stops).await;
    }

    /// Graceful shutdown began: no new environments.
    pub fn stopping(&self) {
        self.inner.stopping.store(true, Ordering::Release);
    }

    /// Stops every environment.
    pub async fn shutdown(&self) {
        self.stopping();
        self.retire_all().await;
    }

    async fn reap_idle_forever(&self) {
        let tick = (self.inner.settings.keepalive / 4)
            .clamp(Duration::from_millis(50), Duration::from_secs(10));
        loop {
            tokio::time::sleep(tick).await;
            if self.inner.stopping.load(Ordering::Acquire) {
                return;
            }
            let keepalive = self.inner.settings.keepalive;
            let expired: Vec<Arc<Env>> = {
                let mut pools = lock(&self.inner.pools);
                let mut out = Vec::new();
                for pool in pools.values_mut() {
                    while pool
                        .idle
                        .front()
                        .is_some_and(|(_, since)| since.elapsed() >= keepalive)
                    {
                        if let Some((env, _)) = pool.idle.pop_front() {
                            out.push(env);
                        }
                    }
                }
                out
            };
            for env in expired {
                tracing::debug!(env = %env.id, "lambda: stopping an environment idle for {keepalive:?}");
                env.stop().await;
            }
        }
    }

    /// `Invoke`; an `Event` invocation runs with `policy` (retries, event age, destinations).
    pub async fn invoke(
        &self,
        ctx: &RequestContext,
        target: Target,
        input: shapes::InvocationRequest,
        policy: AsyncPolicy,
    ) -> Result<shapes::InvocationResponse, ApiError> {
        let kind = input
            .invocation_type
            .as_deref()
            .unwrap_or("RequestResponse");
        let payload = input
            .payload
            .clone()
            .unwrap_or_else(|| Bytes::from_static(b"{}"));
        if target.record.config.state.as_deref() == Some("Pending") {
            return Err(errors::resource_not_ready(&target.invoked_arn));
        }
        if target.record.config.state.as_deref() == Some("Failed") {
            return Err(errors::invalid_parameter(format!(
                "The operation cannot be performed at this time. The function is in a Failed state: {}",
                target
                    .record
                    .config
                    .state_reason
                    .clone()
                    .unwrap_or_default()
            )));
        }
        match kind {
            "DryRun" => Ok(shapes::InvocationResponse {
                status_code: Some(204),
                executed_version: Some(target.version.clone()),
                ..Default::default()
            }),
            "Event" => {
                if payload.len() > MAX_ASYNC_PAYLOAD {
                    return Err(errors::request_too_large(format!(
                        "Request must be smaller than {MAX_ASYNC_PAYLOAD} bytes for the InvokeAsync operation"
                    )));
                }
                let engine = self.clone();
                let ctx = ctx.clone();
                tokio::spawn(async move { engine.run_async(ctx, target, payload, policy).await });
                Ok(shapes::InvocationResponse {
                    status_code: Some(202),
                    ..Default::default()
                })
            }
            _ => {
                if payload.len() > MAX_SYNC_PAYLOAD {
                    return Err(errors::request_too_large(format!(
                        "Request must be smaller than {MAX_SYNC_PAYLOAD} bytes for the Invoke operation"
                    )));
                }
                let tail = input.log_type.as_deref() == Some("Tail");
                let client_context = input.client_context.as_deref().and_then(|cc| {
                    base64::engine::general_purpose::STANDARD
                        .decode(cc)
                        .ok()
                        .and_then(|b| String::from_utf8(b).ok())
                });
                let ran = self
                    .run(ctx, &target, payload, client_context, tail)
                    .await?;
                Ok(response_of(ran, tail))
            }
        }
    }

    /// An `Event` invocation: run, and on a function error retry (`policy.max_retries` times, with
    /// growing delays, while the event is younger than `policy.max_age`); then report the outcome.
    async fn run_async(
        &self,
        ctx: RequestContext,
        target: Target,
        payload: Bytes,
        policy: AsyncPolicy,
    ) {
        let received = Instant::now();
        let mut attempts = 0u32;
        let mut failures = 0u32;
        let mut last: Option<Ran> = None;
        let condition = loop {
            if failures > 0 {
                let delay = self.inner.settings.retry_base * failures;
                if received.elapsed() + delay > policy.max_age {
                    break "EventAgeExceeded";
                }
                tokio::time::sleep(delay).await;
            }
            match self.run(&ctx, &target, payload.clone(), None, false).await {
                Ok(ran) => {
                    attempts += 1;
                    let ok = matches!(ran.outcome, Ok(Outcome::Response(_)));
                    last = Some(ran);
                    if ok {
                        break "Success";
                    }
                    tracing::info!(function = %target.function_arn, attempt = attempts, "lambda: asynchronous invocation failed");
                    failures += 1;
                    if failures > policy.max_retries {
                        break "RetriesExhausted";
                    }
                }
                // Throttled: tried again (AWS retries throttles for up to the event's age).
                Err(e) if e.code == "TooManyRequestsException" => {
                    if received.elapsed() > policy.max_age {
                        break "EventAgeExceeded";
                    }
                    tokio::time::sleep(
                        self.inner
                            .settings
                            .retry_base
                            .max(Duration::from_millis(10)),
                    )
                    .await;
                }
                Err(e) => {
                    tracing::warn!(function = %target.function_arn, "lambda: asynchronous invocation refused: {}", e.message);
                    return;
                }
            }
        };
        let Some(reporter) = self.inner.reporter.get() else {
            return;
        };
        if policy.on_success.is_none()
            && policy.on_failure.is_none()
            && policy.dead_letter.is_none()
        {
            return;
        }
        let (executed_version, function_error, response_payload) = match last {
            Some(ran) => {
                let version = ran.executed_version.clone();
                let response = response_of(ran, false);
                (version, response.function_error, response.payload)
            }
            None => (target.version.clone(), None, None),
        };
        let outcome = AsyncOutcome {
            request_id: ctx.request_id.clone(),
            account: ctx.account.clone(),
            region: ctx.region.clone(),
            function_arn: ids::qualified_arn(&target.function_arn, &executed_version),
            condition,
            attempts,
            request_payload: payload,
            executed_version,
            function_error,
            response_payload,
        };
        reporter.finished(outcome, policy).await;
    }

    /// Takes a slot of the function's concurrency, or `TooManyRequestsException`.
    fn acquire_slot(&self, target: &Target) -> Result<SlotGuard, ApiError> {
        let reserved = lock(&self.inner.reserved)
            .get(&target.function_arn)
            .copied()
            .unwrap_or(target.reserved);
        let mut in_flight = lock(&self.inner.in_flight);
        let count = in_flight.entry(target.function_arn.clone()).or_insert(0);
        if let Some(limit) = reserved
            && *count >= usize::try_from(limit.max(0)).unwrap_or(0)
        {
            return Err(errors::too_many_requests(
                "Rate Exceeded.",
                "ReservedFunctionConcurrentInvocationLimitExceeded",
            ));
        }
        if *count >= 1000 {
            return Err(errors::too_many_requests(
                "Rate Exceeded.",
                "ConcurrentInvocationLimitExceeded",
            ));
        }
        *count += 1;
        Ok(SlotGuard {
            engine: self.clone(),
            function: target.function_arn.clone(),
        })
    }

    /// Runs one invocation on a warm or new environment.
    async fn run(
        &self,
        ctx: &RequestContext,
        target: &Target,
        payload: Bytes,
        client_context: Option<String>,
        tail: bool,
    ) -> Result<Ran, ApiError> {
        let _slot = self.acquire_slot(target)?;
        // The invocation's id is the API request's, as in AWS (also across an Event's retries).
        let request_id = ctx.request_id.clone();
        let mut revision = target.record.config.revision_id.clone().unwrap_or_default();
        // Hot-reload code: a change under the directory retires the warm environments.
        if let Some(dir) = target.record.code.hot_reload.clone() {
            let stamp =
                tokio::task::spawn_blocking(move || crate::code::dir_stamp(Path::new(&dir)))
                    .await
                    .unwrap_or_default();
            revision.push(':');
            revision.push_str(&stamp);
        }
        let (env, cold) = match self.take_idle(target, &revision) {
            Some(env) => (env, false),
            None => match self.start_env(ctx, target, &revision).await {
                Ok(env) => (env, true),
                Err(e) => {
                    return Ok(Ran {
                        request_id,
                        outcome: Err(Failure::Start(e.to_string())),
                        executed_version: target.version.clone(),
                        log_tail: String::new(),
                    });
                }
            },
        };
        let timeout = Duration::from_secs(
            u64::try_from(target.record.config.timeout.unwrap_or(3)).unwrap_or(3),
        );
        let started = Instant::now();
        let deadline_ms = skyport_wire::Timestamp::from(SystemTime::now() + timeout).millis();
        env.log.start(&request_id, &target.version);
        let receiver = env.api.dispatch(Invocation {
            request_id: request_id.clone(),
            payload,
            deadline_ms,
            invoked_arn: target.invoked_arn.clone(),
            trace_id: format!(
                "Root=1-{:08x}-{};Parent={};Sampled=0;Lineage=1:{}:0",
                SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0),
                &skyport_core::ids::uuid().replace('-', "")[..24],
                &skyport_core::ids::uuid().replace('-', "")[..16],
                &request_id.replace('-', "")[..8]
            ),
            client_context,
        });
        let outcome = tokio::select! {
            outcome = receiver => match outcome {
                Ok(o) => Ok(o),
                Err(_) => Err(Failure::Exited("the runtime went away".to_owned())),
            },
            how = wait_exit(env.exit.clone()) => Err(Failure::Exited(how)),
            _ = tokio::time::sleep(timeout) => Err(Failure::Timeout(timeout.as_secs_f64())),
        };
        let duration = started.elapsed();
        let init = if cold { lock(&env.init).take() } else { None };
        let memory = target.record.config.memory_size.unwrap_or(128);
        let used = env.memory.peak_bytes().await.map(|b| b.div_ceil(1 << 20));
        let report_extra = match &outcome {
            Err(Failure::Timeout(_)) => "\tStatus: timeout",
            Err(Failure::Exited(_)) => "\tStatus: error\tError Type: Runtime.ExitError",
            _ => "",
        };
        if let Err(Failure::Timeout(secs)) = &outcome {
            env.log.line(format!(
                "{} {request_id} Task timed out after {secs:.2} seconds",
                skyport_wire::timestamp::iso8601(skyport_wire::Timestamp::now())
            ));
        }
        let log_tail = env
            .log
            .end(
                &request_id,
                duration,
                (memory, used),
                init,
                report_extra,
                tail,
            )
            .await;
        match &outcome {
            Ok(_) => self.give_back(target, env),
            Err(_) => {
                env.api.abandon(&request_id);
                env.stop().await;
            }
        }
        Ok(Ran {
            request_id: request_id.clone(),
            outcome: outcome.map_err(|f| match f {
                Failure::Exited(how) => Failure::Exited(format!(
                    "RequestId: {request_id} Error: Runtime exited with error: {how}"
                )),
                Failure::Timeout(secs) => Failure::Timeout(secs),
                other => other,
            }),
            executed_version: target.version.clone(),
            log_tail,
        })
    }

    fn take_idle(&self, target: &Target, revision: &str) -> Option<Arc<Env>> {
        let mut pools = lock(&self.inner.pools);
        let pool = pools.entry(target.pool_key()).or_default();
        while let Some((env, _)) = pool.idle.pop_back() {
            if env.revision == revision && !env.dead.load(Ordering::Acquire) {
                return Some(env);
            }
            let stale = env.clone();
            tokio::spawn(async move { stale.stop().await });
        }
        None
    }

    fn give_back(&self, target: &Target, env: Arc<Env>) {
        if self.inner.stopping.load(Ordering::Acquire) || env.dead.load(Ordering::Acquire) {
            tokio::spawn(async move { env.stop().await });
            return;
        }
        let mut pools = lock(&self.inner.pools);
        pools
            .entry(target.pool_key())
            .or_default()
            .idle
            .push_back((env, Instant::now()));
    }

    async fn start_env(
        &self,
        ctx: &RequestContext,
        target: &Target,
        revision: &str,
    ) -> Result<Arc<Env>, StartError> {
        if self.inner.stopping.load(Ordering::Acquire) {
            return Err(StartError::Unavailable(
                "Skyport is shutting down".to_owned(),
            ));
        }
        let _permit = self
            .inner
            .starts
            .acquire()
            .await
            .map_err(|_| StartError::Unavailable("shutting down".to_owned()))?;
        let reach = self.inner.executor.reach().await?;
        let api = RuntimeApi::bind(reach.bind).await.map_err(|e| {
            StartError::Failed(format!(
                "cannot listen for the Runtime API on {}: {e}",
                reach.bind
            ))
        })?;
        let api_host = if reach.host.contains(':') && !reach.host.starts_with('[') {
            format!("[{}]:{}", reach.host, api.addr().port())
        } else {
            format!("{}:{}", reach.host, api.addr().port())
        };
        let env_id = skyport_core::ids::uuid().replace('-', "");
        let mut spec = self.spec(target, &ctx.region, &env_id, &api_host);
        self.add_credentials(target, &mut spec).await;
        let instance: Instance = self.inner.executor.start(&spec).await?;
        // Init Duration, as AWS reports it: from the environment's start to the runtime's first request.
        let started = Instant::now();
        self.inner.envs_started.fetch_add(1, Ordering::Relaxed);
        let log_group = spec
            .env
            .iter()
            .find(|(k, _)| k == "AWS_LAMBDA_LOG_GROUP_NAME")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let log = LogPump::spawn(
            self.inner.logs.clone(),
            ctx.account.clone(),
            ctx.region.clone(),
            log_group,
            log_stream_name(&target.version, &env_id),
            instance.lines,
        );
        let (exit_tx, exit) = tokio::sync::watch::channel(None);
        let exited = instance.exited;
        tokio::spawn(async move {
            if let Ok(how) = exited.await {
                let _ = exit_tx.send(Some(how));
            } else {
                // Keep the sender (and so the watch) alive: the environment was stopped by us.
                exit_tx.closed().await;
            }
        });
        let env = Arc::new(Env {
            id: env_id,
            revision: revision.to_owned(),
            api,
            stopper: instance.stopper,
            memory: instance.memory,
            exit,
            log,
            started,
            init: Mutex::new(None),
            dead: AtomicBool::new(false),
        });
        // The runtime is ready when it first asks for work; it may also report an init error or die.
        let ready = tokio::select! {
            r = env.api.ready() => r.map_err(|doc| StartError::Failed(format!("Runtime.InitError: {}", String::from_utf8_lossy(&doc)))),
            how = wait_exit(env.exit.clone()) => Err(StartError::Failed(format!("Runtime exited with error: {how}"))),
            _ = tokio::time::sleep(INIT_TIMEOUT) => Err(StartError::Failed("the runtime did not start within 30 seconds".to_owned())),
        };
        if let Err(e) = ready {
            env.stop().await;
            return Err(e);
        }
        *lock(&env.init) = Some(env.started.elapsed());
        tracing::debug!(env = %env.id, function = %target.function_arn, "lambda: environment ready in {:?}", env.started.elapsed());
        Ok(env)
    }

    /// The function's execution-role credentials (STS), else test credentials in its account.
    async fn add_credentials(&self, target: &Target, spec: &mut EnvSpec) {
        let role = target.record.config.role.clone().unwrap_or_default();
        let issued = match &self.inner.credentials {
            Some(issuer) => issuer
                .assume_role(&role, &spec.function_name, Duration::from_secs(12 * 3600))
                .await
                .ok(),
            None => None,
        };
        let (key, secret, token) = match issued {
            Some(c) => (c.access_key_id, c.secret_access_key, Some(c.session_token)),
            None => ("test".to_owned(), "test".to_owned(), None),
        };
        spec.env.push(("AWS_ACCESS_KEY_ID".to_owned(), key));
        spec.env.push(("AWS_SECRET_ACCESS_KEY".to_owned(), secret));
        if let Some(token) = token {
            spec.env.push(("AWS_SESSION_TOKEN".to_owned(), token));
        }
    }
}

struct SlotGuard {
    engine: Engine,
    function: String,
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        let mut in_flight = lock(&self.engine.inner.in_flight);
        if let Some(c) = in_flight.get_mut(&self.function) {
            *c = c.saturating_sub(1);
        }
    }
}

/// Resolves with how the environment ended.
async fn wait_exit(mut exit: tokio::sync::watch::Receiver<Option<String>>) -> String {
    let how = match exit.wait_for(Option::is_some).await {
        Ok(how) => how.clone(),
        Err(_) => None,
    };
    match how {
        Some(how) => how,
        // The watcher is gone: the environment cannot report an exit any more.
        None => std::future::pending().await,
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// AWS's log stream name: `2024/01/31/[$LATEST]<32 hex>`.
pub fn log_stream_name(version: &str, env_id: &str) -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}/{:02}/{:02}/[{version}]{env_id}",
        now.year(),
        u8::from(now.month()),
        now.day()
    )
}

fn response_of(ran: Ran, tail: bool) -> shapes::InvocationResponse {
    let log_result = tail.then(|| {
        let text = ran.log_tail.as_bytes();
        let start = text.len().saturating_sub(4096);
        base64::engine::general_purpose::STANDARD.encode(&text[start..])
    });
    let (payload, function_error) = match ran.outcome {
        Ok(Outcome::Response(body)) => (body, None),
        Ok(Outcome::Error { payload, kind }) => {
            let _ = kind;
            (payload, Some("Unhandled".to_owned()))
        }
        Err(Failure::Timeout(secs)) => (
            Bytes::from(
                serde_json::json!({
                    "errorMessage": format!(
                        "{} {} Task timed out after {secs:.2} seconds",
                        skyport_wire::timestamp::iso8601(skyport_wire::Timestamp::now()),
                        ran.request_id
                    )
                })
                .to_string(),
            ),
            Some("Unhandled".to_owned()),
        ),
        Err(Failure::Exited(message)) => (
            Bytes::from(
                serde_json::json!({"errorType": "Runtime.ExitError", "errorMessage": message})
                    .to_string(),
            ),
            Some("Unhandled".to_owned()),
        ),
        Err(Failure::Start(message)) => (
            Bytes::from(
                serde_json::json!({"errorType": "Runtime.InitError", "errorMessage": message})
                    .to_string(),
            ),
            Some("Unhandled".to_owned()),
        ),
    };
    shapes::InvocationResponse {
        status_code: Some(200),
        function_error,
        log_result,
        payload: Some(payload),
        executed_version: Some(ran.executed_version),
        ..Default::default()
    }
}

/// Moves an environment's output to CloudWatch Logs as it comes, framed by `START`/`END`/`REPORT`,
/// and keeps the current invocation's text for `LogType: Tail`.
struct LogPump {
    tx: mpsc::UnboundedSender<PumpMsg>,
}

enum PumpMsg {
    Line(String),
    Start(String),
    End {
        text: Vec<String>,
        tail: Option<oneshot::Sender<String>>,
    },
}

impl LogPump {
    fn spawn(
        sink: Option<Arc<dyn LogSink>>,
        account: String,
        region: String,
        group: String,
        stream: String,
        mut lines: mpsc::Receiver<String>,
    ) -> LogPump {
        let (tx, mut rx) = mpsc::unbounded_channel::<PumpMsg>();
        let forward = tx.clone();
        tokio::spawn(async move {
            while let Some(line) = lines.recv().await {
                if forward.send(PumpMsg::Line(line)).is_err() {
                    break;
                }
            }
        });
        tokio::spawn(async move {
            let mut batch: Vec<LogLine> = Vec::new();
            let mut current: Vec<String> = Vec::new();
            let mut held: Option<PumpMsg> = None;
            loop {
                let msg = match held.take() {
                    Some(m) => Some(m),
                    None if batch.is_empty() => rx.recv().await,
                    None => match tokio::time::timeout(Duration::from_millis(100), rx.recv()).await
                    {
                        Ok(m) => m,
                        Err(_) => {
                            flush(&sink, &account, &region, &group, &stream, &mut batch).await;
                            continue;
                        }
                    },
                };
                let Some(msg) = msg else { break };
                let now = skyport_wire::Timestamp::now().millis();
                match msg {
                    PumpMsg::Line(line) => {
                        current.push(line.clone());
                        batch.push(LogLine {
                            timestamp: now,
                            message: line,
                        });
                    }
                    PumpMsg::Start(line) => {
                        current.clear();
                        current.push(line.clone());
                        batch.push(LogLine {
                            timestamp: now,
                            message: line,
                        });
                    }
                    PumpMsg::End { text, tail } => {
                        // Output written just before the result may still be on its way: take what
                        // arrives within a moment before closing the invocation.
                        let quiet = Duration::from_millis(if tail.is_some() { 30 } else { 5 });
                        while let Ok(Some(next)) = tokio::time::timeout(quiet, rx.recv()).await {
                            match next {
                                PumpMsg::Line(line) => {
                                    current.push(line.clone());
                                    batch.push(LogLine {
                                        timestamp: now,
                                        message: line,
                                    });
                                }
                                other => {
                                    held = Some(other);
                                    break;
                                }
                            }
                        }
                        for line in text {
                            current.push(line.clone());
                            batch.push(LogLine {
                                timestamp: now,
                                message: line,
                            });
                        }
                        if let Some(tail) = tail {
                            let _ = tail.send(current.join("\n") + "\n");
                        }
                        current.clear();
                        flush(&sink, &account, &region, &group, &stream, &mut batch).await;
                    }
                }
                if batch.len() >= 500 {
                    flush(&sink, &account, &region, &group, &stream, &mut batch).await;
                }
            }
            flush(&sink, &account, &region, &group, &stream, &mut batch).await;
        });
        LogPump { tx }
    }

    fn start(&self, request_id: &str, version: &str) {
        let _ = self.tx.send(PumpMsg::Start(format!(
            "START RequestId: {request_id} Version: {version}"
        )));
    }

    fn line(&self, line: String) {
        let _ = self.tx.send(PumpMsg::Line(line));
    }

    async fn end(
        &self,
        request_id: &str,
        duration: Duration,
        (memory, used): (i32, Option<u64>),
        init: Option<Duration>,
        extra: &str,
        want_tail: bool,
    ) -> String {
        let ms = duration.as_secs_f64() * 1000.0;
        let billed = ms.ceil().max(1.0) as u64;
        let init = init
            .map(|d| format!("\tInit Duration: {:.2} ms", d.as_secs_f64() * 1000.0))
            .unwrap_or_default();
        let text = vec![
            format!("END RequestId: {request_id}"),
            format!(
                "REPORT RequestId: {request_id}\tDuration: {ms:.2} ms\tBilled Duration: {billed} ms\tMemory Size: {memory} MB{}{init}{extra}\t",
                used.map(|mb| format!("\tMax Memory Used: {mb} MB"))
                    .unwrap_or_default()
            ),
        ];
        let (tail_tx, tail_rx) = if want_tail {
            let (tx, rx) = oneshot::channel();
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let _ = self.tx.send(PumpMsg::End {
            text,
            tail: tail_tx,
        });
        match tail_rx {
            Some(rx) => rx.await.unwrap_or_default(),
            None => String::new(),
        }
    }
}

async fn flush(
    sink: &Option<Arc<dyn LogSink>>,
    account: &str,
    region: &str,
    group: &str,
    stream: &str,
    batch: &mut Vec<LogLine>,
) {
    if batch.is_empty() {
        return;
    }
    let lines = std::mem::take(batch);
    if let Some(sink) = sink
        && let Err(e) = sink.append(account, region, group, stream, lines).await
    {
        tracing::warn!("lambda: writing the function's logs to {group} failed: {e}");
    }
}
