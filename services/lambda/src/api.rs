//! Lambda's control plane over the model's types: functions, versions, aliases, tags, resource
//! policies, concurrency and account settings. `invoke` runs functions; the wire format is the
//! model-driven layer's (`skyport-wire` with `models/lambda.json`).

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response};
use skyport_core::bus::{BusError, ImageError, ImageSource, ObjectSource};
use skyport_core::store::{Store, StoreError};
use skyport_core::{
    AwsError, Body, OperationTable, Protocol, RequestContext, Service, ServiceInfo, body,
};
use skyport_wire::{ApiError, Endpoint, Handler, Model, Operation, Value};

use crate::code::{CodeError, CodeStore};
use crate::errors;
use crate::ids::{self, FunctionRef};
use crate::invoke::Engine;
use crate::record::{self, CodeRef, FUNCTIONS, Function, Version};
use crate::runtimes;
use crate::shapes::{self, LambdaApi};

mod layers;
mod state;
mod triggers;
mod urls;

skyport_wire::static_model!(MODEL, skyport_wire::embedded::LAMBDA);

static INFO: ServiceInfo = ServiceInfo {
    name: "lambda",
    protocols: &[Protocol::RestJson],
    xml_namespace: "",
    json_error_prefix: "",
};

/// The operations implemented; the model's others answer `NotImplemented`.
pub const OPERATIONS: &[&str] = &[
    "AddLayerVersionPermission",
    "AddPermission",
    "CreateAlias",
    "CreateEventSourceMapping",
    "CreateFunction",
    "CreateFunctionUrlConfig",
    "DeleteAlias",
    "DeleteEventSourceMapping",
    "DeleteFunction",
    "DeleteFunctionConcurrency",
    "DeleteFunctionEventInvokeConfig",
    "DeleteFunctionUrlConfig",
    "DeleteLayerVersion",
    "GetAccountSettings",
    "GetAlias",
    "GetEventSourceMapping",
    "GetFunction",
    "GetFunctionConcurrency",
    "GetFunctionConfiguration",
    "GetFunctionEventInvokeConfig",
    "GetFunctionUrlConfig",
    "GetLayerVersion",
    "GetLayerVersionByArn",
    "GetLayerVersionPolicy",
    "GetPolicy",
    "Invoke",
    "ListAliases",
    "ListEventSourceMappings",
    "ListFunctionEventInvokeConfigs",
    "ListFunctionUrlConfigs",
    "ListFunctions",
    "ListLayerVersions",
    "ListLayers",
    "ListTags",
    "ListVersionsByFunction",
    "PublishLayerVersion",
    "PublishVersion",
    "PutFunctionConcurrency",
    "PutFunctionEventInvokeConfig",
    "RemoveLayerVersionPermission",
    "RemovePermission",
    "TagResource",
    "UntagResource",
    "UpdateAlias",
    "UpdateEventSourceMapping",
    "UpdateFunctionCode",
    "UpdateFunctionConfiguration",
    "UpdateFunctionEventInvokeConfig",
    "UpdateFunctionUrlConfig",
];

/// The Lambda model (compiled on first use).
pub fn model() -> &'static Model {
    MODEL()
}

/// Account-wide limits, as AWS reports them by default.
const ACCOUNT_CONCURRENCY: i32 = 1000;
const UNRESERVED_MINIMUM: i32 = 100;
const TOTAL_CODE_SIZE: i64 = 80_530_636_800;

/// Environment variable names a function may not set (AWS's reserved keys).
const RESERVED_ENV: &[&str] = &[
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
];

/// The Lambda service.
#[derive(Clone)]
pub struct Lambda {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    code: CodeStore,
    engine: Engine,
    objects: Option<Arc<dyn ObjectSource>>,
    /// Skyport's ECR, which resolves the `ImageUri` of image functions.
    images: Option<Arc<dyn ImageSource>>,
    /// Event source mappings and their pollers.
    mappings: Arc<crate::esm::Mappings>,
    /// Where asynchronous invocations' outcomes go.
    deliverer: Arc<crate::destinations::Deliverer>,
}

impl std::fmt::Debug for Lambda {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lambda").finish_non_exhaustive()
    }
}

fn store_error(e: StoreError) -> ApiError {
    AwsError::storage(
        &(&e).into(),
        skyport_core::error::StorageCodes {
            unavailable: "ServiceException",
            internal: "ServiceException",
        },
    )
    .into()
}

fn code_error(e: CodeError) -> ApiError {
    match e {
        CodeError::Io(e) => errors::service(format!("The code could not be stored: {e}")),
        other => errors::invalid_parameter(other.to_string()),
    }
}

/// How Lambda runs functions: the binary fills this from the configuration.
pub struct LambdaOptions {
    /// `LAMBDA_EXECUTOR`.
    pub executor: crate::executor::Choice,
    /// The Docker executor's settings.
    pub docker: crate::docker::DockerSettings,
    /// The engine's settings (keep-alive, retries, extra variables).
    pub engine: crate::invoke::EngineSettings,
    /// The gateway as host processes reach it, for the local executor's `AWS_ENDPOINT_URL`.
    pub local_endpoint: String,
    /// A CA bundle file for the local executor's TLS variables, written when the first local
    /// environment starts.
    pub ca_bundle_file: Option<crate::local::LazyFile>,
}

impl Lambda {
    /// Opens Lambda's state in `layout` and its engine; functions' logs go to `logs`, their role
    /// credentials come from `credentials`.
    pub fn open(
        layout: &skyport_core::store::StateLayout,
        options: LambdaOptions,
        logs: Option<Arc<dyn skyport_core::bus::LogSink>>,
        credentials: Option<Arc<dyn skyport_core::bus::CredentialIssuer>>,
    ) -> Result<Lambda, StoreError> {
        let store = layout.open_store("lambda")?;
        let code_dir = if layout.persistent() {
            layout.service_dir("lambda")?.join("code")
        } else {
            layout.scratch_dir().join("lambda-code")
        };
        let code =
            CodeStore::open(code_dir.clone(), layout.persistent()).map_err(|e| StoreError::Io {
                path: code_dir.clone(),
                source: e,
            })?;
        let work_dir = layout.scratch_dir().join("lambda-envs");
        let images = options.docker.images.clone();
        let executor = crate::executor::Auto::new(
            options.executor,
            crate::docker::DockerExecutor::new(options.docker)
                .with_unpack_dir(layout.scratch_dir().join("lambda-unpacked")),
            crate::local::LocalExecutor::new(
                work_dir,
                options.local_endpoint,
                options.ca_bundle_file,
            ),
        );
        let engine = Engine::new(
            Arc::new(executor),
            options.engine,
            code_dir,
            logs,
            credentials,
        );
        let lambda = Lambda::new(store, code, engine);
        Ok(match images {
            Some(images) => lambda.with_image_source(images),
            None => lambda,
        })
    }

    /// Lambda keeping its records in `store`, packages in `code`, running functions with `engine`.
    pub fn new(store: Store, code: CodeStore, engine: Engine) -> Lambda {
        let deliverer = Arc::new(crate::destinations::Deliverer::default());
        engine.set_reporter(deliverer.clone());
        Lambda {
            inner: Arc::new(Inner {
                mappings: Arc::new(crate::esm::Mappings::new(store.clone(), deliverer.clone())),
                store,
                code,
                engine,
                objects: None,
                images: None,
                deliverer,
            }),
        }
    }

    /// Reads `S3Bucket`/`S3Key` code from Skyport's S3 through `objects`.
    pub fn with_object_source(self, objects: Arc<dyn ObjectSource>) -> Lambda {
        self.with_inner(|inner| inner.objects = Some(objects))
    }

    /// Resolves the `ImageUri` of image functions in Skyport's ECR through `images`.
    pub fn with_image_source(self, images: Arc<dyn ImageSource>) -> Lambda {
        self.with_inner(|inner| inner.images = Some(images))
    }

    fn with_inner(self, change: impl FnOnce(&mut Inner)) -> Lambda {
        let mut inner = match Arc::try_unwrap(self.inner) {
            Ok(inner) => inner,
            Err(shared) => Inner {
                store: shared.store.clone(),
                code: shared.code.clone(),
                engine: shared.engine.clone(),
                objects: shared.objects.clone(),
                images: shared.images.clone(),
                mappings: shared.mappings.clone(),
                deliverer: shared.deliverer.clone(),
            },
        };
        change(&mut inner);
        Lambda {
            inner: Arc::new(inner),
        }
    }

    /// The invocation engine.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The function `r` names, or `ResourceNotFoundException`.
    fn load(&self, ctx: &RequestContext, r: &FunctionRef) -> Result<Function, ApiError> {
        let key = record::key(&r.account, &r.region, &r.name);
        self.store()
            .read(|reader| Function::read(reader, &key))
            .map_err(store_error)?
            .ok_or_else(|| errors::function_not_found(&self.arn(ctx, r)))
    }

    fn arn(&self, ctx: &RequestContext, r: &FunctionRef) -> String {
        ids::function_arn(ctx.partition(), &r.region, &r.account, &r.name)
    }

    /// Runs `change` on the function `r` inside one write transaction and stores the result.
    async fn update<T: Send + 'static>(
        &self,
        ctx: &RequestContext,
        r: &FunctionRef,
        change: impl FnOnce(&mut Function) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let key = record::key(&r.account, &r.region, &r.name);
        let missing = errors::function_not_found(&self.arn(ctx, r));
        self.store()
            .write_async(move |w| {
                let Some(mut f) = Function::read_in(w, &key)? else {
                    return Ok(Err(missing));
                };
                match change(&mut f) {
                    Ok(out) => {
                        f.write(w, &key)?;
                        Ok(Ok(out))
                    }
                    Err(e) => Ok(Err(e)),
                }
            })
            .await
            .map_err(store_error)?
    }

    /// The code of an image function and its `CodeSha256`. An `ImageUri` of Skyport's ECR must name an
    /// image there (AWS's `InvalidParameterValueException` otherwise); the function then runs the
    /// digest the URI names now (`ResolvedImageUri`), whose hex is the `CodeSha256`, as on AWS. Other
    /// URIs are taken as given (the Docker executor pulls them).
    async fn image_code(
        &self,
        ctx: &RequestContext,
        uri: &str,
        architecture: &str,
    ) -> Result<(CodeRef, String), ApiError> {
        let resolved = match &self.inner.images {
            Some(images) => images
                .resolve(uri, &ctx.account, &ctx.region, architecture)
                .await
                .map_err(|e| match e {
                    ImageError::NotFound => errors::invalid_parameter(format!(
                        "Source image {uri} does not exist. Provide a valid source image."
                    )),
                    ImageError::Invalid(_) => errors::invalid_parameter(format!(
                        "Source image {uri} is not valid. Provide a valid source image."
                    )),
                    ImageError::Unsupported(why) => {
                        tracing::info!("lambda: the image {uri} cannot run: {why}");
                        errors::invalid_parameter(format!(
                            "The image manifest, config or layer media type for the source image {uri} is not supported."
                        ))
                    }
                    ImageError::Internal(why) => errors::service(why),
                })?,
            None => None,
        };
        let code = |sha256: String, resolved_image_uri: Option<String>| CodeRef {
            sha256,
            size: 0,
            hot_reload: None,
            image_uri: Some(uri.to_owned()),
            resolved_image_uri,
            layers: Vec::new(),
        };
        Ok(match resolved {
            Some(image) => {
                let hex = image
                    .digest
                    .strip_prefix("sha256:")
                    .unwrap_or(&image.digest)
                    .to_owned();
                (code(hex.clone(), Some(image.pinned_uri())), hex)
            }
            None => {
                let (hex, b64) = crate::code::digests(uri.as_bytes());
                (code(hex, None), b64)
            }
        })
    }

    /// The package of a `FunctionCode` (or `UpdateFunctionCode`): inline zip, S3 object, or a
    /// hot-reload directory.
    async fn fetch_code(
        &self,
        ctx: &RequestContext,
        zip: Option<Bytes>,
        bucket: Option<&str>,
        key: Option<&str>,
        version: Option<&str>,
    ) -> Result<(CodeRef, String), ApiError> {
        if let Some(zip) = zip {
            return self.inner.code.put(zip).await.map_err(code_error);
        }
        match (bucket, key) {
            (Some("hot-reload" | "__local__"), Some(dir)) => {
                if !dir.starts_with('/') {
                    return Err(errors::invalid_parameter(format!(
                        "The hot-reload path must be absolute: {dir}"
                    )));
                }
                let sha = code_hash_of_path(dir);
                Ok((
                    CodeRef {
                        sha256: sha.clone(),
                        size: 0,
                        hot_reload: Some(dir.to_owned()),
                        image_uri: None,
                        resolved_image_uri: None,
                        layers: Vec::new(),
                    },
                    sha,
                ))
            }
            (Some(bucket), Some(key)) => {
                let Some(objects) = &self.inner.objects else {
                    return Err(errors::invalid_parameter(
                        "Error occurred while GetObject. S3 Error Code: NoSuchBucket. S3 Error Message: The specified bucket does not exist",
                    ));
                };
                let bytes = objects
                    .get_object(&ctx.account, bucket, key, version)
                    .await
                    .map_err(|e| {
                        let (code, message) = match e {
                            BusError::Object { code, message } => (code, message),
                            other => ("InternalError".to_owned(), other.to_string()),
                        };
                        errors::invalid_parameter(format!(
                            "Error occurred while GetObject. S3 Error Code: {code}. S3 Error Message: {message}"
                        ))
                    })?;
                self.inner.code.put(bytes).await.map_err(code_error)
            }
            _ => Err(errors::invalid_parameter(
                "Please provide a source for function code.",
            )),
        }
    }

    /// Serves `GET .../code-location/<sha>.zip`: the download behind `GetFunction`'s `Code.Location`.
    async fn download(&self, path: &str) -> Option<Response<Body>> {
        let sha = path
            .rsplit_once("/code-location/")?
            .1
            .strip_suffix(".zip")?;
        if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let bytes = self.inner.code.get(sha).await.ok()?;
        let mut response = Response::new(body::full(bytes.clone()));
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/zip"),
        );
        response
            .headers_mut()
            .insert(http::header::CONTENT_LENGTH, bytes.len().into());
        Some(response)
    }
}

/// A stand-in hash for hot-reload code (changes with the path, so versions differ).
fn code_hash_of_path(dir: &str) -> String {
    let (hex, _) = crate::code::digests(dir.as_bytes());
    hex
}

fn check_environment(env: Option<&shapes::Environment>) -> Result<(), ApiError> {
    let Some(vars) = env.and_then(|e| e.variables.as_ref()) else {
        return Ok(());
    };
    let reserved: Vec<&str> = vars
        .keys()
        .filter(|k| RESERVED_ENV.contains(&k.as_str()))
        .map(String::as_str)
        .collect();
    if !reserved.is_empty() {
        return Err(errors::invalid_parameter(format!(
            "Lambda was unable to configure your environment variables because the environment variables \
             you have provided contains reserved keys that are currently not supported for modification. \
             Reserved keys used in this request: {}",
            reserved.join(",")
        )));
    }
    let size: usize = serde_json::to_string(vars).map(|s| s.len()).unwrap_or(0);
    if size > 4096 {
        return Err(errors::invalid_parameter(format!(
            "Lambda was unable to configure your environment variables because the environment variables \
             you have provided exceeded the 4KB limit. String measured: {}",
            serde_json::to_string(vars).unwrap_or_default()
        )));
    }
    Ok(())
}

fn check_runtime(runtime: Option<&str>, creating: bool) -> Result<(), ApiError> {
    if let Some(refusal) = runtime.and_then(|r| runtimes::refusal(r, creating)) {
        return Err(errors::invalid_parameter(refusal));
    }
    Ok(())
}

fn check_revision(expected: Option<&str>, current: Option<&str>) -> Result<(), ApiError> {
    match expected {
        Some(e) if Some(e) != current => Err(errors::precondition_failed()),
        _ => Ok(()),
    }
}

fn new_revision() -> String {
    skyport_core::ids::uuid()
}

/// The configuration `$LATEST` starts with: the request's settings and AWS's defaults.
fn initial_config(
    ctx: &RequestContext,
    arn: &str,
    input: &shapes::CreateFunctionRequest,
    name: &str,
    code_sha256: String,
    code_size: u64,
) -> shapes::FunctionConfiguration {
    let package_type = input
        .package_type
        .clone()
        .unwrap_or_else(|| "Zip".to_owned());
    shapes::FunctionConfiguration {
        function_name: Some(name.to_owned()),
        function_arn: Some(arn.to_owned()),
        runtime: input.runtime.clone(),
        role: Some(input.role.clone()),
        handler: input.handler.clone(),
        code_size: Some(i64::try_from(code_size).unwrap_or(i64::MAX)),
        description: Some(input.description.clone().unwrap_or_default()),
        timeout: Some(input.timeout.unwrap_or(3)),
        memory_size: Some(input.memory_size.unwrap_or(128)),
        last_modified: Some(ids::last_modified_now()),
        code_sha256: Some(code_sha256),
        version: Some("$LATEST".to_owned()),
        environment: input
            .environment
            .as_ref()
            .map(|e| shapes::EnvironmentResponse {
                variables: e.variables.clone(),
                error: None,
            }),
        dead_letter_config: input.dead_letter_config.clone(),
        kms_key_arn: input.kms_key_arn.clone(),
        tracing_config: Some(shapes::TracingConfigResponse {
            mode: Some(
                input
                    .tracing_config
                    .as_ref()
                    .and_then(|t| t.mode.clone())
                    .unwrap_or_else(|| "PassThrough".to_owned()),
            ),
        }),
        revision_id: Some(new_revision()),
        state: Some("Pending".to_owned()),
        state_reason: Some("The function is being created.".to_owned()),
        state_reason_code: Some("Creating".to_owned()),
        package_type: Some(package_type),
        architectures: Some(
            input
                .architectures
                .clone()
                .unwrap_or_else(|| vec!["x86_64".to_owned()]),
        ),
        ephemeral_storage: Some(
            input
                .ephemeral_storage
                .clone()
                .unwrap_or(shapes::EphemeralStorage { size: 512 }),
        ),
        snap_start: Some(shapes::SnapStartResponse {
            apply_on: Some("None".to_owned()),
            optimization_status: Some("Off".to_owned()),
        }),
        runtime_version_config: input
            .runtime
            .as_ref()
            .map(|r| shapes::RuntimeVersionConfig {
                runtime_version_arn: Some(format!(
                    "arn:{}:lambda:{}::runtime:{}",
                    ctx.partition(),
                    ctx.region,
                    runtime_version_id(r)
                )),
                error: None,
            }),
        logging_config: Some(shapes::LoggingConfig {
            log_format: Some("Text".to_owned()),
            application_log_level: None,
            system_log_level: None,
            log_group: Some(
                input
                    .logging_config
                    .as_ref()
                    .and_then(|l| l.log_group.clone())
                    .unwrap_or_else(|| format!("/aws/lambda/{name}")),
            ),
        }),
        image_config_response: input
            .image_config
            .as_ref()
            .map(|c| shapes::ImageConfigResponse {
                image_config: Some(c.clone()),
                error: None,
            }),
        file_system_configs: input.file_system_configs.clone(),
        vpc_config: input
            .vpc_config
            .as_ref()
            .map(|v| shapes::VpcConfigResponse {
                subnet_ids: v.subnet_ids.clone(),
                security_group_ids: v.security_group_ids.clone(),
                ipv6_allowed_for_dual_stack: v.ipv6_allowed_for_dual_stack,
                vpc_id: Some(String::new()),
            }),
        ..Default::default()
    }
}

/// A stable runtime version id per runtime (AWS's are opaque hashes).
fn runtime_version_id(runtime: &str) -> String {
    let (hex, _) = crate::code::digests(runtime.as_bytes());
    hex
}

/// The configuration of a version as published from `$LATEST`.
fn published(
    latest: &shapes::FunctionConfiguration,
    number: u64,
    description: Option<String>,
) -> shapes::FunctionConfiguration {
    let mut config = latest.clone();
    let base = latest.function_arn.clone().unwrap_or_default();
    config.function_arn = Some(ids::qualified_arn(&base, &number.to_string()));
    config.version = Some(number.to_string());
    if let Some(d) = description {
        config.description = Some(d);
    }
    config.revision_id = Some(new_revision());
    config.last_update_status = Some("Successful".to_owned());
    config
}

fn marker_page<T: Clone>(
    items: &[(String, T)],
    marker: Option<&str>,
    max: Option<i32>,
) -> (Vec<T>, Option<String>) {
    let max = usize::try_from(max.unwrap_or(50).clamp(1, 10_000)).unwrap_or(50);
    let start = marker
        .and_then(|m| items.iter().position(|(k, _)| k.as_str() > m))
        .unwrap_or(if marker.is_some() { items.len() } else { 0 });
    let page: Vec<T> = items[start..]
        .iter()
        .take(max)
        .map(|(_, v)| v.clone())
        .collect();
    let next = (start + max < items.len()).then(|| items[start + max - 1].0.clone());
    (page, next)
}

/// Adds `statement` (whose `Sid` is `sid`) to a resource policy, refusing a `Sid` it already has.
fn add_statement(
    statements: &mut Vec<serde_json::Value>,
    sid: &str,
    statement: serde_json::Value,
) -> Result<(), ApiError> {
    if statements
        .iter()
        .any(|s| s.get("Sid").and_then(|v| v.as_str()) == Some(sid))
    {
        return Err(errors::conflict(format!(
            "The statement id ({sid}) provided already exists. Please provide a new statement id, or remove the existing statement."
        )));
    }
    statements.push(statement);
    Ok(())
}

/// Removes the statement `sid` from a resource policy, or AWS's not-found error.
fn remove_statement(statements: &mut Vec<serde_json::Value>, sid: &str) -> Result<(), ApiError> {
    let before = statements.len();
    statements.retain(|s| s.get("Sid").and_then(|v| v.as_str()) != Some(sid));
    if statements.len() == before {
        return Err(errors::not_found(format!(
            "Statement {sid} is not found in resource policy."
        )));
    }
    Ok(())
}

/// True when an `Allow` statement of a resource policy grants `action` (or `lambda:*`, `*`) on one of
/// `resources` to a principal `principal_ok` accepts (the `Principal` element as written).
fn policy_allows(
    statements: &[serde_json::Value],
    action: &str,
    resources: &[&str],
    principal_ok: impl Fn(&serde_json::Value) -> bool,
) -> bool {
    statements.iter().any(|s| {
        let granted = s.get("Action").and_then(|v| v.as_str());
        s.get("Effect").and_then(|v| v.as_str()) == Some("Allow")
            && s.get("Principal").is_some_and(&principal_ok)
            && (granted == Some(action) || matches!(granted, Some("lambda:*" | "*")))
            && s.get("Resource")
                .and_then(|v| v.as_str())
                .is_some_and(|r| resources.contains(&r))
    })
}

/// Of a function's policy statements, those on the function (`base`, its unqualified ARN) or on the
/// version or alias `qualifier` names.
pub(crate) fn statements_on(
    statements: Vec<serde_json::Value>,
    base: String,
    qualifier: Option<&str>,
) -> Vec<serde_json::Value> {
    let resource = match qualifier {
        Some(q) => ids::qualified_arn(&base, q),
        None => base,
    };
    statements
        .into_iter()
        .filter(|s| s.get("Resource").and_then(|v| v.as_str()) == Some(resource.as_str()))
        .collect()
}

/// The policy document of a function's statements.
pub(crate) fn policy_document(statements: &[serde_json::Value]) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Id": "default",
        "Statement": statements,
    })
    .to_string()
}

#[async_trait::async_trait]
impl Service for Lambda {
    fn info(&self) -> &'static ServiceInfo {
        &INFO
    }

    fn state_control(&self) -> Option<&dyn skyport_core::state::StateControl> {
        Some(self)
    }

    fn operations(&self) -> Option<OperationTable> {
        Some(OperationTable {
            implemented: OPERATIONS,
            all: || skyport_wire::endpoint::operation_names(MODEL()),
        })
    }

    async fn call(
        &self,
        ctx: &mut RequestContext,
        request: Request<Body>,
    ) -> Result<Response<Body>, AwsError> {
        // Function URLs: `<url-id>.lambda-url.<region>.on.aws` (or under localhost.localstack.cloud).
        if let Some(url_id) = crate::urls::url_id_of_host(&ctx.host) {
            return Ok(self.serve_url(ctx, &url_id, request).await);
        }
        if request.method() == http::Method::GET && request.uri().path().contains("/code-location/")
        {
            ctx.set_operation("DownloadCode");
            if let Some(response) = self.download(request.uri().path()).await {
                return Ok(response);
            }
        }
        // CreateFunction and UpdateFunctionCode take a 50 MB zip as base64 (AWS's limit: 69,905,067
        // bytes); Invoke refuses payloads above 6 MB itself.
        Endpoint::new(MODEL())
            .body_limit(69_905_067)
            .serve(self, ctx, request)
            .await
    }

    fn stopping(&self) {
        self.inner.engine.stopping();
    }

    async fn shutdown(&self) {
        self.inner.mappings.stop_all();
        self.inner.engine.shutdown().await;
    }
}

#[async_trait::async_trait]
impl Handler for Lambda {
    fn implemented(&self) -> &'static [&'static str] {
        OPERATIONS
    }

    async fn handle(
        &self,
        ctx: &mut RequestContext,
        operation: &'static Operation,
        input: Value,
    ) -> Result<Value, ApiError> {
        shapes::dispatch(self, ctx, operation, input).await
    }
}

#[async_trait::async_trait]
impl LambdaApi for Lambda {
    async fn create_function(
        &self,
        ctx: &mut RequestContext,
        input: shapes::CreateFunctionRequest,
    ) -> Result<shapes::FunctionConfiguration, ApiError> {
        let r = ids::parse(ctx, &input.function_name)?;
        if r.qualifier.is_some() {
            return Err(errors::invalid_parameter(
                "Unsupported parameter: qualifier. A function name cannot have a qualifier when creating the function.",
            ));
        }
        let package_type = input.package_type.as_deref().unwrap_or("Zip");
        if package_type == "Zip" && (input.runtime.is_none() || input.handler.is_none()) {
            return Err(errors::invalid_parameter(
                "Runtime and Handler are mandatory parameters for functions created with deployment packages.",
            ));
        }
        if package_type == "Image" && input.code.image_uri.is_none() {
            return Err(errors::invalid_parameter(
                "Please provide ImageUri when PackageType is Image.",
            ));
        }
        check_runtime(input.runtime.as_deref(), true)?;
        check_environment(input.environment.as_ref())?;
        if let Some(zip) = &input.code.zip_file
            && zip.len() > crate::code::MAX_ZIPPED
        {
            return Err(errors::request_too_large(
                "Request must be smaller than 69905067 bytes for the CreateFunction operation",
            ));
        }
        let arn = self.arn(ctx, &r);
        let exists = self
            .store()
            .get(FUNCTIONS, &record::key(&r.account, &r.region, &r.name))
            .map_err(store_error)?
            .is_some();
        if exists {
            return Err(errors::conflict(format!(
                "Function already exist: {}",
                r.name
            )));
        }
        let layers = input
            .layers
            .as_deref()
            .map(|arns| self.resolve_layers(arns))
            .transpose()?;
        let (mut code, sha_b64) = if package_type == "Image" {
            let uri = input.code.image_uri.clone().unwrap_or_default();
            let architecture = input
                .architectures
                .as_ref()
                .and_then(|a| a.first())
                .map_or("x86_64", String::as_str);
            self.image_code(ctx, &uri, architecture).await?
        } else {
            self.fetch_code(
                ctx,
                input.code.zip_file.clone(),
                input.code.s3_bucket.as_deref(),
                input.code.s3_key.as_deref(),
                input.code.s3_object_version.as_deref(),
            )
            .await?
        };
        let mut config = initial_config(ctx, &arn, &input, &r.name, sha_b64, code.size);
        if let Some(layers) = layers {
            config.layers = Some(layers.config);
            code.layers = layers.packages;
        }
        let mut function = Function {
            latest: Version { config, code },
            versions: BTreeMap::new(),
            next_version: 1,
            aliases: BTreeMap::new(),
            tags: input.tags.clone().unwrap_or_default(),
            statements: Vec::new(),
            policy_revision: new_revision(),
            reserved_concurrency: None,
            urls: BTreeMap::new(),
        };
        let mut response = function.latest.config.clone();
        if input.publish == Some(true) {
            let mut v = published(&function.latest.config, 1, None);
            v.state = function.latest.config.state.clone();
            function.versions.insert(
                1,
                Version {
                    config: v.clone(),
                    code: function.latest.code.clone(),
                },
            );
            function.next_version = 2;
            response = v;
        }
        let key = record::key(&r.account, &r.region, &r.name);
        let name = r.name.clone();
        let created = self
            .store()
            .write_async(move |w| {
                if w.get(FUNCTIONS, &key)?.is_some() {
                    return Ok(false);
                }
                function.write(w, &key)?;
                Ok(true)
            })
            .await
            .map_err(store_error)?;
        if !created {
            return Err(errors::conflict(format!("Function already exist: {name}")));
        }
        self.activate(ctx, &r, true);
        Ok(response)
    }

    async fn get_function(
        &self,
        ctx: &mut RequestContext,
        input: shapes::GetFunctionRequest,
    ) -> Result<shapes::GetFunctionResponse, ApiError> {
        let r = ids::parse(ctx, &input.function_name)?;
        let qualifier = input.qualifier.or(r.qualifier.clone());
        let f = self.load(ctx, &r)?;
        let (version, _) = f.version(qualifier.as_deref()).ok_or_else(|| {
            errors::function_not_found(&ids::qualified_arn(
                &self.arn(ctx, &r),
                qualifier.as_deref().unwrap_or("$LATEST"),
            ))
        })?;
        let image = version.config.package_type.as_deref() == Some("Image");
        let code = if image {
            shapes::FunctionCodeLocation {
                repository_type: Some("ECR".to_owned()),
                image_uri: version.code.image_uri.clone(),
                resolved_image_uri: version
                    .code
                    .resolved_image_uri
                    .clone()
                    .or(version.code.image_uri.clone()),
                ..Default::default()
            }
        } else {
            shapes::FunctionCodeLocation {
                repository_type: Some("S3".to_owned()),
                location: Some(format!(
                    "{}/2015-03-31/functions/{}/code-location/{}.zip",
                    ctx.endpoint_url(),
                    r.name,
                    version.code.sha256
                )),
                ..Default::default()
            }
        };
        Ok(shapes::GetFunctionResponse {
            configuration: Some(version.config.clone()),
            code: Some(code),
            tags: (!f.tags.is_empty()).then(|| f.tags.clone()),
            concurrency: f.reserved_concurrency.map(|c| shapes::Concurrency {
                reserved_concurrent_executions: Some(c),
            }),
            ..Default::default()
        })
    }

    async fn get_function_configuration(
        &self,
        ctx: &mut RequestContext,
        input: shapes::GetFunctionConfigurationRequest,
    ) -> Result<shapes::FunctionConfiguration, ApiError> {
        let r = ids::parse(ctx, &input.function_name)?;
        let qualifier = input.qualifier.or(r.qualifier.clone());
        let f = self.load(ctx, &r)?;
        let (version, _) = f.version(qualifier.as_deref()).ok_or_else(|| {
            errors::function_not_found(&ids::qualified_arn(
                &self.arn(ctx, &r),
                qualifier.as_deref().unwrap_or("$LATEST"),
            ))
        })?;
        Ok(version.config.clone())
    }

    async fn list_functions(
        &self,
        ctx: &mut RequestContext,
        input: shapes::ListFunctionsRequest,
    ) -> Result<shapes::ListFunctionsResponse, ApiError> {
        let prefix = record::prefix(&ctx.account, &ctx.region);
        let all_versions = input.function_version.as_deref() == Some("ALL");
        let functions = self
            .store()
            .read(|reader| {
                let mut out = Vec::new();
                for (key, bytes) in reader.scan_prefix(FUNCTIONS, &prefix, None, usize::MAX)? {
                    let f = Function::decode(&bytes)?;
                    let name = key[prefix.len()..].to_owned();
                    out.push((name.clone(), f.latest.config.clone()));
                    if all_versions {
                        for (n, v) in &f.versions {
                            out.push((format!("{name}:{n:010}"), v.config.clone()));
                        }
                    }
                }
                Ok(out)
            })
            .map_err(store_error)?;
        let (page, next) = marker_page(&functions, input.marker.as_deref(), input.max_items);
        Ok(shapes::ListFunctionsResponse {
            functions: Some(page),
            next_marker: next,
        })
    }

    async fn delete_function(
        &self,
        ctx: &mut RequestContext,
        input: shapes::DeleteFunctionRequest,
    ) -> Result<shapes::DeleteFunctionResponse, ApiError> {
        let r = ids::parse(ctx, &input.function_name)?;
        let qualifier = input.qualifier.or(r.qualifier.clone());
        let key = record::key(&r.account, &r.region, &r.name);
        let arn = self.arn(ctx, &r);
        match qualifier.as_deref() {
            None | Some("$LATEST") => {
                let missing = errors::function_not_found(&arn);
                let deleted = self
                    .store()
                    .write_freeing_async(move |w| {
                        // The function's URLs go with it.
                        if let Some(f) = Function::read_in(w, &key)? {
                            for url in f.urls.values() {
                                w.delete(crate::urls::URLS, &url.url_id)?;
                            }
                        }
                        w.delete(FUNCTIONS, &key)
                    })
                    .await
                    .map_err(store_error)?;
                if !deleted {
                    return Err(missing);
                }
                self.forget_invoke_configs(&r).await;
                self.inner.engine.retire_function(&arn).await;
            }
            Some(q) => {
                let number: u64 = q.parse().map_err(|_| {
                    errors::invalid_parameter("Deletion of aliases is not currently supported.")
                })?;
                let qualified = ids::qualified_arn(&arn, q);
                let q = q.to_owned();
                self.update(ctx, &r, move |f| {
                    if f.aliases.values().any(|a| a.function_version.as_deref() == Some(q.as_str())) {
                        return Err(errors::conflict(format!(
                            "Unable to delete version because the following aliases reference it: {:?}",
                            f.aliases
                                .iter()
                                .filter(|(_, a)| a.function_version.as_deref() == Some(q.as_str()))
                                .map(|(n, _)| n.clone())
                                .collect::<Vec<_>>()
                        )));
                    }
                    if f.versions.remove(&number).is_none() {
                        return Err(errors::function_not_found(&qualified));
                    }
                    Ok(())
                })
                .await?;
            }
        }
        Ok(shapes::DeleteFunctionResponse {
            status_code: Some(204),
        })
    }

    async fn update_function_code(
        &self,
        ctx: &mut RequestContext,
        input: shapes::UpdateFunctionCodeRequest,
    ) -> Result<shapes::FunctionConfiguration, ApiError> {
        let r = ids::parse(ctx, &input.function_name)?;
        let current = self.load(ctx, &r)?;
        check_runtime(current.latest.config.runtime.as_deref(), false)?;
        let image = current.latest.config.package_type.as_deref() == Some("Image");
        if image && input.image_uri.is_none() {
            return Err(errors::invalid_parameter(
                "Please provide ImageUri when updating a function with packageType Image.",
            ));
        }
        if !image && input.image_uri.is_some() {
            return Err(errors::invalid_parameter(
                "Please don't provide ImageUri when updating a function with packageType Zip.",
            ));
        }
        let (code, sha_b64) = if let Some(uri) = &input.image_uri {
            let architecture = input
                .architectures
                .as_ref()
                .or(current.latest.config.architectures.as_ref())
                .and_then(|a| a.first())
                .map_or("x86_64", String::as_str);
            self.image_code(ctx, uri, architecture).await?
        } else {
            self.fetch_code(
                ctx,
                input.zip_file.clone(),
                input.s3_bucket.as_deref(),
                input.s3_key.as_deref(),
                input.s3_object_version.as_deref(),
            )
            .await?
        };
        if input.dry_run == Some(true) {
            let mut config = current.latest.config.clone();
            config.code_sha256 = Some(sha_b64);
            config.code_size = Some(i64::try_from(code.size).unwrap_or(i64::MAX));
            return Ok(config);
        }
        let publish = input.publish == Some(true);
        let expected = input.revision_id.clone();
        let architectures = input.architectures.clone();
        let config = self
            .update(ctx, &r, move |f| {
                check_revision(expected.as_deref(), f.latest.config.revision_id.as_deref())?;
                let c = &mut f.latest.config;
                c.code_sha256 = Some(sha_b64);
                c.code_size = Some(i64::try_from(code.size).unwrap_or(i64::MAX));
                c.last_modified = Some(ids::last_modified_now());
                c.revision_id = Some(new_revision());
                c.last_update_status = Some("InProgress".to_owned());
                c.last_update_status_reason = Some("The function is being created.".to_owned());
                c.last_update_status_reason_code = Some("Creating".to_owned());
                if let Some(a) = architectures {
                    c.architectures = Some(a);
                }
                let layers = std::mem::take(&mut f.latest.code.layers);
                f.latest.code = code;
                f.latest.code.layers = layers;
                if publish {
                    let n = f.next_version;
                    let v = published(&f.latest.config, n, None);
                    f.versions.insert(
                        n,
                        Version {
                            config: v.clone(),
                            code: f.latest.code.clone(),
                        },
                    );
                    f.next_version += 1;
                    return Ok(v);
                }
                Ok(f.latest.config.clone())
            })
            .await?;
        self.activate(ctx, &r, false);
        Ok(config)
    }

    async fn update_function_configuration(
        &self,
        ctx: &mut RequestContext,
        input: shapes::UpdateFunctionConfigurationRequest,
    ) -> Result<shapes::FunctionConfiguration, ApiError> {
        let r = ids::parse(ctx, &input.function_name)?;
        check_runtime(input.runtime.as_deref(), false)?;
        check_environment(input.environment.as_ref())?;
        let layers = input
            .layers
            .as_deref()
            .map(|arns| self.resolve_layers(arns))
            .transpose()?;
        let config = self
            .update(ctx, &r, move |f| {
                check_revision(input.revision_id.as_deref(), f.latest.config.revision_id.as_deref())?;
                if f.latest.config.last_update_status.as_deref() == Some("InProgress") {
                    return Err(errors::conflict(format!(
                        "The operation cannot be performed at this time. An update is in progress for resource: {}",
                        f.latest.config.function_arn.clone().unwrap_or_default()
                    )));
                }
                let c = &mut f.latest.config;
                if let Some(v) = input.role {
                    c.role = Some(v);
                }
                if let Some(v) = input.handler {
                    c.handler = Some(v);
                }
                if let Some(v) = input.description {
                    c.description = Some(v);
                }
                if let Some(v) = input.timeout {
                    c.timeout = Some(v);
                }
                if let Some(v) = input.memory_size {
                    c.memory_size = Some(v);
                }
                if let Some(v) = input.runtime {
                    c.runtime = Some(v);
                }
                if let Some(e) = input.environment {
                    c.environment = Some(shapes::EnvironmentResponse {
                        variables: e.variables,
                        error: None,
                    });
                }
                if let Some(v) = input.dead_letter_config {
                    c.dead_letter_config = Some(v);
                }
                if let Some(v) = input.kms_key_arn {
                    c.kms_key_arn = Some(v);
                }
                if let Some(t) = input.tracing_config {
                    c.tracing_config = Some(shapes::TracingConfigResponse { mode: t.mode });
                }
                if let Some(layers) = layers {
                    c.layers = (!layers.config.is_empty()).then_some(layers.config);
                    f.latest.code.layers = layers.packages;
                }
                if let Some(v) = input.ephemeral_storage {
                    c.ephemeral_storage = Some(v);
                }
                if let Some(v) = input.image_config {
                    c.image_config_response = Some(shapes::ImageConfigResponse {
                        image_config: Some(v),
                        error: None,
                    });
                }
                if let Some(l) = input.logging_config {
                    let log_group = l
                        .log_group
                        .clone()
                        .or_else(|| c.logging_config.as_ref().and_then(|x| x.log_group.clone()));
                    c.logging_config = Some(shapes::LoggingConfig { log_group, ..l });
                }
                c.last_modified = Some(ids::last_modified_now());
                c.revision_id = Some(new_revision());
                c.last_update_status = Some("InProgress".to_owned());
                c.last_update_status_reason = Some("The function is being created.".to_owned());
                c.last_update_status_reason_code = Some("Creating".to_owned());
                Ok(c.clone())
            })
            .await?;
        self.activate(ctx, &r, false);
        Ok(config)
    }

    async fn publish_version(
        &self,
        ctx: &mut RequestContext,
        input: shapes::PublishVersionRequest,
    ) -> Result<shapes::FunctionConfiguration, ApiError> {
        let r = ids::parse(ctx, &input.function_name)?;
        self.update(ctx, &r, move |f| {
            check_revision(input.revision_id.as_deref(), f.latest.config.revision_id.as_deref())?;
            if let Some(sha) = &input.code_sha256
                && Some(sha) != f.latest.config.code_sha256.as_ref()
            {
                return Err(errors::invalid_parameter(format!(
                    "CodeSHA256 ({sha}) is different from current CodeSHA256 in $LATEST ({}). Please try again \
                     with the CodeSHA256 in $LATEST.",
                    f.latest.config.code_sha256.clone().unwrap_or_default()
                )));
            }
            if f.latest.config.last_update_status.as_deref() == Some("InProgress") {
                return Err(errors::conflict(format!(
                    "The operation cannot be performed at this time. An update is in progress for resource: {}",
                    f.latest.config.function_arn.clone().unwrap_or_default()
                )));
            }
            // Nothing changed since the last version: that version, as AWS does.
            if let Some((_, last)) = f.versions.iter().next_back()
                && last.code == f.latest.code
                && same_settings(&last.config, &f.latest.config)
                && input.description.as_ref().is_none_or(|d| Some(d) == last.config.description.as_ref())
            {
                return Ok(last.config.clone());
            }
            let n = f.next_version;
            let v = published(&f.latest.config, n, input.description);
            f.versions.insert(
                n,
                Version {
                    config: v.clone(),
                    code: f.latest.code.clone(),
                },
            );
            f.next_version += 1;
            Ok(v)
        })
        .await
    }

    async fn list_versions_by_function(
        &self,
        ctx: &mut RequestContext,
        input: shapes::ListVersionsByFunctionRequest,
    ) -> Result<shapes::ListVersionsByFunctionResponse, ApiError> {
        let r = ids::parse(ctx, &input.function_name)?;
        let f = self.load(ctx, &r)?;
        let mut items = vec![("$LATEST".to_owned(), f.latest.config.clone())];
        items.extend(
            f.versions
                .iter()
                .map(|(n, v)| (format!("{n:010}"), v.config.clone())),
        );
        // `$` sorts before digits, so `$LATEST` comes first as in AWS.
        let (page, next) = marker_page(&items, input.marker.as_deref(), input.max_items);
        Ok(shapes::ListVersionsByFunctionResponse {
            versions: Some(page),
            next_marker: next,
        })
    }

    async fn create_alias(
        &self,
        ctx: &mut RequestContext,
        input: shapes::CreateAliasRequest,
    ) -> Result<shapes::AliasConfiguration, ApiError> {
        let r = ids::parse(ctx, &input.function_name)?;
        let base = self.arn(ctx, &r);
        self.update(ctx, &r, move |f| {
            let alias_arn = ids::qualified_arn(&base, &input.name);
            if f.aliases.contains_key(&input.name) {
                return Err(errors::conflict(format!(
                    "Alias already exists: {alias_arn}"
                )));
            }
            check_alias_target(
                f,
                &base,
                &input.function_version,
                input.routing_config.as_ref(),
            )?;
            let alias = shapes::AliasConfiguration {
                alias_arn: Some(alias_arn),
                name: Some(input.name.clone()),
                function_version: Some(input.function_version),
                description: Some(input.description.unwrap_or_default()),
                routing_config: input.routing_config,
                revision_id: Some(new_revision()),
            };
            f.aliases.insert(input.name, alias.clone());
            Ok(alias)
        })
        .await
    }

    async fn get_alias(
        &self,
        ctx: &mut RequestContext,
        input: shapes::GetAliasRequest,
    ) -> Result<shapes::AliasConfiguration, ApiError> {
        let r = ids::parse(ctx, &input.function_name)?;
        let f = self.load(ctx, &r)?;
        f.aliases.get(&input.name).cloned().ok_or_else(|| {
            errors::not_found(format!(
                "Cannot find alias arn: {}",
                ids::qualified_arn(&self.arn(ctx, &r), &input.name)
            ))
        })
    }

    async fn list_aliases(
        &self,
        ctx: &mut RequestContext,
        input: shapes::ListAliasesRequest,
    ) -> Result<shapes::ListAliasesResponse, ApiError> {
        let r = ids::parse(ctx, &input.function_name)?;
        let f = self.load(ctx, &r)?;
        let items: Vec<(String, shapes::AliasConfiguration)> = f
            .aliases
            .iter()
            .filter(|(_, a)| {
                input
                    .function_version
                    .as_ref()
                    .is_none_or(|v| a.function_version.as_ref() == Some(v))
            })
            .map(|(n, a)| (n.clone(), a.clone()))
            .collect();
        let (page, next) = marker_page(&items, input.marker.as_deref(), input.max_items);
        Ok(shapes::ListAliasesResponse {
            aliases: Some(page),
            next_marker: next,
        })
    }

    async fn update_alias(
        &self,
        ctx: &mut RequestContext,
        input: shapes::UpdateAliasRequest,
    ) -> Result<shapes::AliasConfiguration, ApiError> {
        let r = ids::parse(ctx, &input.function_name)?;
        let base = self.arn(ctx, &r);
        self.update(ctx, &r, move |f| {
            let alias_arn = ids::qualified_arn(&base, &input.name);
            let Some(current) = f.aliases.get(&input.name).cloned() else {
                return Err(errors::not_found(format!(
                    "Cannot find alias arn: {alias_arn}"
                )));
            };
            check_revision(input.revision_id.as_deref(), current.revision_id.as_deref())?;
            let version = input
                .function_version
                .clone()
                .or(current.function_version.clone())
                .unwrap_or_default();
            let routing = input
                .routing_config
                .clone()
                .or(current.routing_config.clone());
            check_alias_target(f, &base, &version, routing.as_ref())?;
            let alias = shapes::AliasConfiguration {
                function_version: Some(version),
                description: input.description.or(current.description),
                routing_config: routing,
                revision_id: Some(new_revision()),
                ..current
            };
            f.aliases.insert(input.name, alias.clone());
            Ok(alias)
        })
        .await
    }

    async fn delete_alias(
        &self,
        ctx: &mut RequestContext,
        input: shapes::DeleteAliasRequest,
    ) -> Result<(), ApiError> {
        let r = ids::parse(ctx, &input.function_name)?;
        let url = self
            .update(ctx, &r, move |f| {
                f.aliases.remove(&input.name);
                // An alias's function URL goes with it.
                Ok(f.urls.remove(&input.name))
            })
            .await?;
        if let Some(url) = url {
            self.forget_url(&url.url_id).await?;
        }
        Ok(())
    }

    async fn tag_resource(
        &self,
        ctx: &mut RequestContext,
        input: shapes::TagResourceRequest,
    ) -> Result<(), ApiError> {
        let r = ids::parse(ctx, &input.resource)?;
        if input.tags.len() > 50 {
            return Err(errors::invalid_parameter(
                "Number of tags exceeds resource tag limit.",
            ));
        }
        self.update(ctx, &r, move |f| {
            f.tags.extend(input.tags);
            if f.tags.len() > 50 {
                return Err(errors::invalid_parameter(
                    "Number of tags exceeds resource tag limit.",
                ));
            }
            Ok(())
        })
        .await
    }

    async fn untag_resource(
        &self,
        ctx: &mut RequestContext,
        input: shapes::UntagResourceRequest,
    ) -> Result<(), ApiError> {
        let r = ids::parse(ctx, &input.resource)?;
        self.update(ctx, &r, move |f| {
            for k in &input.tag_keys {
                f.tags.remove(k);
            }
            Ok(())
        })
        .await
    }

    async fn list_tags(
        &self,
        ctx: &mut RequestContext,
        input: shapes::ListTagsRequest,
    ) -> Result<shapes::ListTagsResponse, ApiError> {
        let r = ids::parse(ctx, &input.resource)?;
        let f = self.load(ctx, &r)?;
        Ok(shapes::ListTagsResponse { tags: Some(f.tags) })
    }

    async fn add_permission(
        &self,
        ctx: &mut RequestContext,
        input: shapes::AddPermissionRequest,
    ) -> Result<shapes::AddPermissionResponse, ApiError> {
        let r = ids::parse(ctx, &input.function_name)?;
        let qualifier = input.qualifier.clone().or(r.qualifier.clone());
        let base = self.arn(ctx, &r);
        let resource = match &qualifier {
            Some(q) => ids::qualified_arn(&base, q),
            None => base.clone(),
        };
        let statement = permission_statement(&input, &resource);
        let text = statement.to_string();
        self.update(ctx, &r, move |f| {
            check_revision(
                input.revision_id.as_deref(),
                Some(f.policy_revision.as_str()),
            )?;
            if let Some(q) = &qualifier
                && f.version(Some(q)).is_none()
            {
                return Err(errors::function_not_found(&resource));
            }
            add_statement(&mut f.statements, &input.statement_id, statement)?;
            f.policy_revision = new_revision();
            Ok(())
        })
        .await?;
        Ok(shapes::AddPermissionResponse {
            statement: Some(text),
        })
    }

    async fn get_policy(
        &self,
        ctx: &mut RequestContext,
        input: shapes::GetPolicyRequest,
    ) -> Result<shapes::GetPolicyResponse, ApiError> {
        let r = ids::parse(ctx, &input.function_name)?;
        let f = self.load(ctx, &r)?;
        let qualifier = input.qualifier.or(r.qualifier.clone());
        let statements = statements_on(f.statements, self.arn(ctx, &r), qualifier.as_deref());
        if statements.is_empty() {
            return Err(errors::not_found(
                "The resource you requested does not exist.",
            ));
        }
        Ok(shapes::GetPolicyResponse {
            policy: Some(policy_document(&statements)),
            revision_id: Some(f.policy_revision),
        })
    }

    async fn remove_permission(
        &self,
        ctx: &mut RequestContext,
        input: shapes::RemovePermissionRequest,
    ) -> Result<(), ApiError> {
        let r = ids::parse(ctx, &input.function_name)?;
        self.update(ctx, &r, move |f| {
            check_revision(
                input.revision_id.as_deref(),
                Some(f.policy_revision.as_str()),
            )?;
            remove_statement(&mut f.statements, &input.statement_id)?;
            f.policy_revision = new_revision();
            Ok(())
        })
        .await
    }

    async fn put_function_concurrency(
        &self,
        ctx: &mut RequestContext,
        input: shapes::PutFunctionConcurrencyRequest,
    ) -> Result<shapes::Concurrency, ApiError> {
        let r = ids::parse(ctx, &input.function_name)?;
        let reserved_elsewhere = self.reserved_total(ctx, Some(&r.name))?;
        let wanted = input.reserved_concurrent_executions;
        if ACCOUNT_CONCURRENCY - reserved_elsewhere - wanted < UNRESERVED_MINIMUM {
            return Err(errors::invalid_parameter(format!(
                "Specified ReservedConcurrentExecutions for function decreases account's \
                 UnreservedConcurrentExecution below its minimum value of [{UNRESERVED_MINIMUM}]."
            )));
        }
        let arn = self.arn(ctx, &r);
        self.update(ctx, &r, move |f| {
            f.reserved_concurrency = Some(wanted);
            Ok(())
        })
        .await?;
        self.inner.engine.set_reserved(&arn, Some(wanted));
        Ok(shapes::Concurrency {
            reserved_concurrent_executions: Some(wanted),
        })
    }

    async fn get_function_concurrency(
        &self,
        ctx: &mut RequestContext,
        input: shapes::GetFunctionConcurrencyRequest,
    ) -> Result<shapes::GetFunctionConcurrencyResponse, ApiError> {
        let r = ids::parse(ctx, &input.function_name)?;
        let f = self.load(ctx, &r)?;
        Ok(shapes::GetFunctionConcurrencyResponse {
            reserved_concurrent_executions: f.reserved_concurrency,
        })
    }

    async fn delete_function_concurrency(
        &self,
        ctx: &mut RequestContext,
        input: shapes::DeleteFunctionConcurrencyRequest,
    ) -> Result<(), ApiError> {
        let r = ids::parse(ctx, &input.function_name)?;
        let arn = self.arn(ctx, &r);
        self.update(ctx, &r, |f| {
            f.reserved_concurrency = None;
            Ok(())
        })
        .await?;
        self.inner.engine.set_reserved(&arn, None);
        Ok(())
    }

    async fn get_account_settings(
        &self,
        ctx: &mut RequestContext,
        _input: shapes::GetAccountSettingsRequest,
    ) -> Result<shapes::GetAccountSettingsResponse, ApiError> {
        let prefix = record::prefix(&ctx.account, &ctx.region);
        let (count, code_size) = self
            .store()
            .read(|reader| {
                let mut count = 0i64;
                let mut size = 0i64;
                for (_, bytes) in reader.scan_prefix(FUNCTIONS, &prefix, None, usize::MAX)? {
                    let f = Function::decode(&bytes)?;
                    count += 1;
                    size += i64::try_from(f.latest.code.size).unwrap_or(0);
                    size += f
                        .versions
                        .values()
                        .map(|v| i64::try_from(v.code.size).unwrap_or(0))
                        .sum::<i64>();
                }
                Ok((count, size))
            })
            .map_err(store_error)?;
        let reserved = self.reserved_total(ctx, None)?;
        Ok(shapes::GetAccountSettingsResponse {
            account_limit: Some(shapes::AccountLimit {
                total_code_size: Some(TOTAL_CODE_SIZE),
                code_size_unzipped: Some(i64::try_from(crate::code::MAX_UNZIPPED).unwrap_or(0)),
                code_size_zipped: Some(i64::try_from(crate::code::MAX_ZIPPED).unwrap_or(0)),
                concurrent_executions: Some(ACCOUNT_CONCURRENCY),
                unreserved_concurrent_executions: Some(ACCOUNT_CONCURRENCY - reserved),
            }),
            account_usage: Some(shapes::AccountUsage {
                total_code_size: Some(code_size),
                function_count: Some(count),
            }),
        })
    }

    async fn create_event_source_mapping(
        &self,
        ctx: &mut RequestContext,
        input: shapes::CreateEventSourceMappingRequest,
    ) -> Result<shapes::EventSourceMappingConfiguration, ApiError> {
        self.esm_create(ctx, input).await
    }

    async fn get_event_source_mapping(
        &self,
        _ctx: &mut RequestContext,
        input: shapes::GetEventSourceMappingRequest,
    ) -> Result<shapes::EventSourceMappingConfiguration, ApiError> {
        self.inner.mappings.get(&input.uuid)
    }

    async fn list_event_source_mappings(
        &self,
        ctx: &mut RequestContext,
        input: shapes::ListEventSourceMappingsRequest,
    ) -> Result<shapes::ListEventSourceMappingsResponse, ApiError> {
        self.esm_list(ctx, input)
    }

    async fn update_event_source_mapping(
        &self,
        ctx: &mut RequestContext,
        input: shapes::UpdateEventSourceMappingRequest,
    ) -> Result<shapes::EventSourceMappingConfiguration, ApiError> {
        self.esm_update(ctx, input).await
    }

    async fn delete_event_source_mapping(
        &self,
        _ctx: &mut RequestContext,
        input: shapes::DeleteEventSourceMappingRequest,
    ) -> Result<shapes::EventSourceMappingConfiguration, ApiError> {
        self.inner.mappings.delete(&input.uuid).await
    }

    async fn put_function_event_invoke_config(
        &self,
        ctx: &mut RequestContext,
        input: shapes::PutFunctionEventInvokeConfigRequest,
    ) -> Result<shapes::FunctionEventInvokeConfig, ApiError> {
        self.invoke_config_put(
            ctx,
            &input.function_name,
            input.qualifier.as_deref(),
            triggers::ConfigChange {
                replace: true,
                maximum_retry_attempts: input.maximum_retry_attempts,
                maximum_event_age_in_seconds: input.maximum_event_age_in_seconds,
                destination_config: input.destination_config,
            },
        )
        .await
    }

    async fn update_function_event_invoke_config(
        &self,
        ctx: &mut RequestContext,
        input: shapes::UpdateFunctionEventInvokeConfigRequest,
    ) -> Result<shapes::FunctionEventInvokeConfig, ApiError> {
        self.invoke_config_put(
            ctx,
            &input.function_name,
            input.qualifier.as_deref(),
            triggers::ConfigChange {
                replace: false,
                maximum_retry_attempts: input.maximum_retry_attempts,
                maximum_event_age_in_seconds: input.maximum_event_age_in_seconds,
                destination_config: input.destination_config,
            },
        )
        .await
    }

    async fn get_function_event_invoke_config(
        &self,
        ctx: &mut RequestContext,
        input: shapes::GetFunctionEventInvokeConfigRequest,
    ) -> Result<shapes::FunctionEventInvokeConfig, ApiError> {
        self.invoke_config_get(ctx, &input.function_name, input.qualifier.as_deref())
    }

    async fn delete_function_event_invoke_config(
        &self,
        ctx: &mut RequestContext,
        input: shapes::DeleteFunctionEventInvokeConfigRequest,
    ) -> Result<(), ApiError> {
        self.invoke_config_delete(ctx, &input.function_name, input.qualifier.as_deref())
            .await
    }

    async fn list_function_event_invoke_configs(
        &self,
        ctx: &mut RequestContext,
        input: shapes::ListFunctionEventInvokeConfigsRequest,
    ) -> Result<shapes::ListFunctionEventInvokeConfigsResponse, ApiError> {
        self.invoke_config_list(ctx, input)
    }

    async fn publish_layer_version(
        &self,
        ctx: &mut RequestContext,
        input: shapes::PublishLayerVersionRequest,
    ) -> Result<shapes::PublishLayerVersionResponse, ApiError> {
        self.layers_publish(ctx, input).await
    }

    async fn get_layer_version(
        &self,
        ctx: &mut RequestContext,
        input: shapes::GetLayerVersionRequest,
    ) -> Result<shapes::GetLayerVersionResponse, ApiError> {
        self.layers_get(ctx, &input.layer_name, input.version_number)
    }

    async fn get_layer_version_by_arn(
        &self,
        ctx: &mut RequestContext,
        input: shapes::GetLayerVersionByArnRequest,
    ) -> Result<shapes::GetLayerVersionResponse, ApiError> {
        self.layers_get_by_arn(ctx, &input.arn)
    }

    async fn list_layer_versions(
        &self,
        ctx: &mut RequestContext,
        input: shapes::ListLayerVersionsRequest,
    ) -> Result<shapes::ListLayerVersionsResponse, ApiError> {
        self.layers_list_versions(ctx, &input)
    }

    async fn list_layers(
        &self,
        ctx: &mut RequestContext,
        input: shapes::ListLayersRequest,
    ) -> Result<shapes::ListLayersResponse, ApiError> {
        self.layers_list(ctx, &input)
    }

    async fn delete_layer_version(
        &self,
        ctx: &mut RequestContext,
        input: shapes::DeleteLayerVersionRequest,
    ) -> Result<(), ApiError> {
        self.layers_delete(ctx, &input.layer_name, input.version_number)
            .await
    }

    async fn add_layer_version_permission(
        &self,
        ctx: &mut RequestContext,
        input: shapes::AddLayerVersionPermissionRequest,
    ) -> Result<shapes::AddLayerVersionPermissionResponse, ApiError> {
        self.layers_add_permission(ctx, input).await
    }

    async fn get_layer_version_policy(
        &self,
        ctx: &mut RequestContext,
        input: shapes::GetLayerVersionPolicyRequest,
    ) -> Result<shapes::GetLayerVersionPolicyResponse, ApiError> {
        self.layers_get_policy(ctx, &input)
    }

    async fn remove_layer_version_permission(
        &self,
        ctx: &mut RequestContext,
        input: shapes::RemoveLayerVersionPermissionRequest,
    ) -> Result<(), ApiError> {
        self.layers_remove_permission(ctx, input).await
    }

    async fn create_function_url_config(
        &self,
        ctx: &mut RequestContext,
        input: shapes::CreateFunctionUrlConfigRequest,
    ) -> Result<shapes::CreateFunctionUrlConfigResponse, ApiError> {
        self.url_create(ctx, input).await
    }

    async fn get_function_url_config(
        &self,
        ctx: &mut RequestContext,
        input: shapes::GetFunctionUrlConfigRequest,
    ) -> Result<shapes::GetFunctionUrlConfigResponse, ApiError> {
        self.url_get(ctx, &input)
    }

    async fn update_function_url_config(
        &self,
        ctx: &mut RequestContext,
        input: shapes::UpdateFunctionUrlConfigRequest,
    ) -> Result<shapes::UpdateFunctionUrlConfigResponse, ApiError> {
        self.url_update(ctx, input).await
    }

    async fn delete_function_url_config(
        &self,
        ctx: &mut RequestContext,
        input: shapes::DeleteFunctionUrlConfigRequest,
    ) -> Result<(), ApiError> {
        self.url_delete(ctx, input).await
    }

    async fn list_function_url_configs(
        &self,
        ctx: &mut RequestContext,
        input: shapes::ListFunctionUrlConfigsRequest,
    ) -> Result<shapes::ListFunctionUrlConfigsResponse, ApiError> {
        self.url_list(ctx, &input)
    }

    async fn invoke(
        &self,
        ctx: &mut RequestContext,
        input: shapes::InvocationRequest,
    ) -> Result<shapes::InvocationResponse, ApiError> {
        let r = ids::parse(ctx, &input.function_name)?;
        let qualifier = input.qualifier.clone().or(r.qualifier.clone());
        let f = self.load(ctx, &r)?;
        let base = self.arn(ctx, &r);
        let target = crate::invoke::Target::resolve(&f, &base, qualifier.as_deref())?;
        let policy = if input.invocation_type.as_deref() == Some("Event") {
            self.async_policy(&r, qualifier.as_deref(), &target)?
        } else {
            crate::destinations::AsyncPolicy::default()
        };
        self.inner.engine.invoke(ctx, target, input, policy).await
    }
}

impl Lambda {
    /// The reserved concurrency of every function of the region except `except`.
    fn reserved_total(&self, ctx: &RequestContext, except: Option<&str>) -> Result<i32, ApiError> {
        let prefix = record::prefix(&ctx.account, &ctx.region);
        self.store()
            .read(|reader| {
                let mut total = 0;
                for (key, bytes) in reader.scan_prefix(FUNCTIONS, &prefix, None, usize::MAX)? {
                    if Some(&key[prefix.len()..]) == except {
                        continue;
                    }
                    total += Function::decode(&bytes)?.reserved_concurrency.unwrap_or(0);
                }
                Ok(total)
            })
            .map_err(store_error)
    }

    /// Moves a created or updated function to `Active`/`Successful` (or `Failed`) once its code and
    /// runtime are ready, in the background, as AWS does.
    fn activate(&self, ctx: &RequestContext, r: &FunctionRef, created: bool) {
        let lambda = self.clone();
        let ctx = ctx.clone();
        let r = r.clone();
        tokio::spawn(async move {
            let Ok(f) = lambda.load(&ctx, &r) else {
                return;
            };
            let readiness = lambda.inner.engine.prepare(&f.latest).await;
            let arn = lambda.arn(&ctx, &r);
            let _ = lambda
                .update(&ctx, &r, move |f| {
                    let c = &mut f.latest.config;
                    match &readiness {
                        Ok(()) => {
                            c.state = Some("Active".to_owned());
                            c.state_reason = None;
                            c.state_reason_code = None;
                            if !created || c.last_update_status.is_some() {
                                c.last_update_status = Some("Successful".to_owned());
                            }
                            c.last_update_status_reason = None;
                            c.last_update_status_reason_code = None;
                        }
                        Err((code, reason)) => {
                            if created {
                                c.state = Some("Failed".to_owned());
                                c.state_reason = Some(reason.clone());
                                c.state_reason_code = Some(code.clone());
                            } else {
                                c.last_update_status = Some("Failed".to_owned());
                                c.last_update_status_reason = Some(reason.clone());
                                c.last_update_status_reason_code = Some(code.clone());
                            }
                        }
                    }
                    for v in f.versions.values_mut() {
                        if v.config.state.as_deref() == Some("Pending") {
                            v.config.state = c.state.clone();
                            v.config.state_reason = c.state_reason.clone();
                            v.config.state_reason_code = c.state_reason_code.clone();
                        }
                    }
                    Ok(())
                })
                .await;
            // New code or settings: environments of `$LATEST` start afresh.
            lambda.inner.engine.retire_version(&arn, "$LATEST").await;
        });
    }
}

/// Whether two configurations differ only in what publishing changes.
fn same_settings(a: &shapes::FunctionConfiguration, b: &shapes::FunctionConfiguration) -> bool {
    let strip = |c: &shapes::FunctionConfiguration| {
        let mut c = c.clone();
        c.function_arn = None;
        c.version = None;
        c.revision_id = None;
        c.last_modified = None;
        c.description = None;
        c.state = None;
        c.state_reason = None;
        c.state_reason_code = None;
        c.last_update_status = None;
        c.last_update_status_reason = None;
        c.last_update_status_reason_code = None;
        c
    };
    strip(a) == strip(b)
}

fn check_alias_target(
    f: &Function,
    base: &str,
    version: &str,
    routing: Option<&shapes::AliasRoutingConfiguration>,
) -> Result<(), ApiError> {
    if version != "$LATEST"
        && f.version(Some(version))
            .is_none_or(|(_, alias)| alias.is_some())
    {
        return Err(errors::function_not_found(&ids::qualified_arn(
            base, version,
        )));
    }
    if let Some(weights) = routing.and_then(|r| r.additional_version_weights.as_ref()) {
        if weights.len() > 1 {
            return Err(errors::invalid_parameter(
                "Number of items in AdditionalVersionWeights cannot be greater than 1",
            ));
        }
        for (v, weight) in weights {
            if v == version {
                return Err(errors::invalid_parameter(
                    "Invalid function version in AdditionalVersionWeights. The primary version cannot be \
                     specified in AdditionalVersionWeights.",
                ));
            }
            if version == "$LATEST" {
                return Err(errors::invalid_parameter(
                    "$LATEST is not supported for an alias pointing to more than 1 version",
                ));
            }
            if !(0.0..=1.0).contains(weight) {
                return Err(errors::invalid_parameter(
                    "Weight must be between 0.0 and 1.0 (inclusive)",
                ));
            }
            if f.version(Some(v)).is_none() {
                return Err(errors::function_not_found(&ids::qualified_arn(base, v)));
            }
        }
    }
    Ok(())
}

/// The policy statement AWS writes for `AddPermission`.
fn permission_statement(input: &shapes::AddPermissionRequest, resource: &str) -> serde_json::Value {
    let principal = if input.principal == "*" {
        serde_json::json!("*")
    } else if input.principal.ends_with(".amazonaws.com") {
        serde_json::json!({"Service": input.principal})
    } else if input.principal.bytes().all(|b| b.is_ascii_digit()) && input.principal.len() == 12 {
        serde_json::json!({"AWS": format!("arn:aws:iam::{}:root", input.principal)})
    } else {
        serde_json::json!({"AWS": input.principal})
    };
    let mut conditions = serde_json::Map::new();
    if let Some(arn) = &input.source_arn {
        conditions.insert("ArnLike".into(), serde_json::json!({"AWS:SourceArn": arn}));
    }
    let mut equals = serde_json::Map::new();
    if let Some(account) = &input.source_account {
        equals.insert("AWS:SourceAccount".into(), account.clone().into());
    }
    if let Some(token) = &input.event_source_token {
        equals.insert("lambda:EventSourceToken".into(), token.clone().into());
    }
    if let Some(org) = &input.principal_org_id {
        equals.insert("aws:PrincipalOrgID".into(), org.clone().into());
    }
    if let Some(auth) = &input.function_url_auth_type {
        equals.insert("lambda:FunctionUrlAuthType".into(), auth.clone().into());
    }
    if !equals.is_empty() {
        conditions.insert("StringEquals".into(), serde_json::Value::Object(equals));
    }
    let action = if input.action.contains(':') {
        input.action.clone()
    } else {
        format!("lambda:{}", input.action)
    };
    let mut statement = serde_json::json!({
        "Sid": input.statement_id,
        "Effect": "Allow",
        "Principal": principal,
        "Action": action,
        "Resource": resource,
    });
    if !conditions.is_empty()
        && let Some(o) = statement.as_object_mut()
    {
        o.insert("Condition".into(), serde_json::Value::Object(conditions));
    }
    statement
}
