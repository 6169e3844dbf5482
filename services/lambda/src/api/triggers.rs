//! Lambda's side of what triggers functions: the event source mapping and asynchronous invocation
//! settings operations (over [`crate::esm`] and [`crate::destinations`]), and [`Handle`], through
//! which pollers, destinations and other services (S3 notifications) invoke functions without
//! keeping Lambda alive.

use std::sync::{Arc, Weak};

use bytes::Bytes;
use skyport_core::RequestContext;
use skyport_core::bus::{
    BusError, FunctionInvoker, QueueSink, QueueSource, StreamSource, TopicPublisher,
};
use skyport_wire::{ApiError, Timestamp};

use super::{Inner, Lambda};
use crate::destinations::{self, AsyncPolicy};
use crate::errors;
use crate::esm::{BatchInvoker, FunctionTarget};
use crate::ids::{self, FunctionRef};
use crate::invoke::Target;
use crate::record::Function;
use crate::shapes;

/// A weak handle on Lambda: invokes functions for pollers, destinations and other services, and hands
/// IAM the functions' resource-based policies.
pub struct Handle(Weak<Inner>);

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("lambda::Handle")
    }
}

impl skyport_core::bus::ResourcePolicySource for Handle {
    /// The function policy's statements on `arn` (the function, or the version or alias it names),
    /// as `GetPolicy` returns them.
    fn resource_policy(&self, arn: &str) -> Option<skyport_core::bus::ResourcePolicyDoc> {
        let lambda = self.lambda().ok()?;
        let (account, region) = arn_scope(arn);
        let ctx = internal_context(&account, &region);
        let r = ids::parse(&ctx, arn).ok()?;
        let f = lambda.load(&ctx, &r).ok()?;
        let statements =
            super::statements_on(f.statements, lambda.arn(&ctx, &r), r.qualifier.as_deref());
        (!statements.is_empty()).then(|| skyport_core::bus::ResourcePolicyDoc {
            policy: super::policy_document(&statements),
            account,
        })
    }
}

impl Handle {
    fn lambda(&self) -> Result<Lambda, ApiError> {
        self.0
            .upgrade()
            .map(|inner| Lambda { inner })
            .ok_or_else(|| errors::service("Lambda is shutting down"))
    }
}

/// A context for an invocation Lambda makes itself.
fn internal_context(account: &str, region: &str) -> RequestContext {
    let mut ctx = RequestContext::new("lambda", skyport_core::Protocol::RestJson);
    account.clone_into(&mut ctx.account);
    region.clone_into(&mut ctx.region);
    ctx
}

/// The account and region of a function ARN (`arn:aws:lambda:<region>:<account>:function:...`).
fn arn_scope(arn: &str) -> (String, String) {
    let parts: Vec<&str> = arn.split(':').collect();
    match parts.as_slice() {
        [_, _, _, region, account, ..] => ((*account).to_owned(), (*region).to_owned()),
        _ => (
            skyport_core::DEFAULT_ACCOUNT.to_owned(),
            skyport_core::DEFAULT_REGION.to_owned(),
        ),
    }
}

#[async_trait::async_trait]
impl BatchInvoker for Handle {
    async fn invoke_batch(
        &self,
        account: &str,
        region: &str,
        function_arn: &str,
        payload: Bytes,
    ) -> Result<shapes::InvocationResponse, ApiError> {
        let lambda = self.lambda()?;
        let ctx = internal_context(account, region);
        let input = shapes::InvocationRequest {
            function_name: function_arn.to_owned(),
            invocation_type: Some("RequestResponse".to_owned()),
            payload: Some(payload),
            ..Default::default()
        };
        lambda.invoke_internal(&ctx, input).await
    }
}

#[async_trait::async_trait]
impl destinations::EventInvoker for Handle {
    async fn invoke_event(&self, function_arn: &str, payload: Bytes) -> Result<(), ApiError> {
        let lambda = self.lambda()?;
        let (account, region) = arn_scope(function_arn);
        let ctx = internal_context(&account, &region);
        let input = shapes::InvocationRequest {
            function_name: function_arn.to_owned(),
            invocation_type: Some("Event".to_owned()),
            payload: Some(payload),
            ..Default::default()
        };
        lambda.invoke_internal(&ctx, input).await.map(|_| ())
    }
}

#[async_trait::async_trait]
impl FunctionInvoker for Handle {
    async fn invoke_async(&self, function_arn: &str, payload: Bytes) -> Result<(), BusError> {
        destinations::EventInvoker::invoke_event(self, function_arn, payload)
            .await
            .map_err(|e| BusError::Rejected(e.message))
    }

    async fn allows_invoke(&self, function_arn: &str, principal: &str) -> bool {
        let Ok(lambda) = self.lambda() else {
            return false;
        };
        let (account, region) = arn_scope(function_arn);
        let ctx = internal_context(&account, &region);
        let Ok(r) = ids::parse(&ctx, function_arn) else {
            return false;
        };
        let Ok(f) = lambda.load(&ctx, &r) else {
            return false;
        };
        let base = lambda.arn(&ctx, &r);
        let resource = match &r.qualifier {
            Some(q) => ids::qualified_arn(&base, q),
            None => base,
        };
        super::policy_allows(&f.statements, "lambda:InvokeFunction", &[&resource], |p| {
            let service = p.get("Service").unwrap_or(p).as_str();
            service == Some(principal) || service == Some("*")
        })
    }
}

/// What Put/UpdateFunctionEventInvokeConfig change.
pub struct ConfigChange {
    /// Put replaces the whole configuration; Update changes what it names.
    pub replace: bool,
    /// `MaximumRetryAttempts`.
    pub maximum_retry_attempts: Option<i32>,
    /// `MaximumEventAgeInSeconds`.
    pub maximum_event_age_in_seconds: Option<i32>,
    /// `DestinationConfig`.
    pub destination_config: Option<shapes::DestinationConfig>,
}

impl Lambda {
    /// A handle for pollers, destinations and other services.
    pub fn handle(&self) -> Arc<Handle> {
        Arc::new(Handle(Arc::downgrade(&self.inner)))
    }

    /// Connects Lambda to SQS: destinations and dead-letter queues go to `sink`, event source
    /// mappings poll `source`; then starts the pollers of the stored mappings.
    pub fn connect_queues(&self, sink: Arc<dyn QueueSink>, source: Arc<dyn QueueSource>) {
        let handle = self.handle();
        self.inner.deliverer.set_queues(sink);
        self.inner.deliverer.set_functions(handle.clone());
        self.inner.mappings.connect(source, handle);
        self.inner.mappings.resume();
    }

    /// Connects Lambda to DynamoDB Streams: stream event source mappings read `source`. Call it
    /// before [`Lambda::connect_queues`], which starts the pollers of the stored mappings.
    pub fn connect_streams(&self, source: Arc<dyn StreamSource>) {
        self.inner.mappings.connect_streams(source, self.handle());
    }

    /// Connects Lambda to SNS: destinations (of asynchronous invocations, and of stream mappings'
    /// discarded batches) may be topics.
    pub fn connect_topics(&self, topics: Arc<dyn TopicPublisher>) {
        self.inner.deliverer.set_topics(topics);
    }

    /// An invocation Lambda makes itself (pollers, destinations, other services).
    async fn invoke_internal(
        &self,
        ctx: &RequestContext,
        input: shapes::InvocationRequest,
    ) -> Result<shapes::InvocationResponse, ApiError> {
        let r = ids::parse(ctx, &input.function_name)?;
        let f = self.load(ctx, &r)?;
        let base = self.arn(ctx, &r);
        let target = Target::resolve(&f, &base, r.qualifier.as_deref())?;
        let policy = if input.invocation_type.as_deref() == Some("Event") {
            self.async_policy(&r, r.qualifier.as_deref(), &target)?
        } else {
            AsyncPolicy::default()
        };
        self.inner.engine.invoke(ctx, target, input, policy).await
    }

    /// The asynchronous settings an `Event` invocation of `r` (as `qualifier`) runs with.
    pub(super) fn async_policy(
        &self,
        r: &FunctionRef,
        qualifier: Option<&str>,
        target: &Target,
    ) -> Result<AsyncPolicy, ApiError> {
        let key = destinations::key(
            &r.account,
            &r.region,
            &r.name,
            qualifier.unwrap_or("$LATEST"),
        );
        let config = destinations::load(&self.inner.store, &key)?;
        let dead_letter = target
            .record
            .config
            .dead_letter_config
            .as_ref()
            .and_then(|d| d.target_arn.clone());
        Ok(AsyncPolicy::of(config.as_ref(), dead_letter))
    }

    /// Removes the asynchronous settings of a deleted function.
    pub(super) async fn forget_invoke_configs(&self, r: &FunctionRef) {
        let prefix = destinations::key(&r.account, &r.region, &r.name, "");
        let keys = self
            .inner
            .store
            .read(|reader| reader.scan_prefix(destinations::TABLE, &prefix, None, usize::MAX))
            .unwrap_or_default();
        for (key, _) in keys {
            let _ = destinations::remove(&self.inner.store, key).await;
        }
    }

    /// The function a mapping names, with its timeout.
    fn mapping_target(
        &self,
        ctx: &RequestContext,
        function_name: &str,
    ) -> Result<FunctionTarget, ApiError> {
        let r = ids::parse(ctx, function_name)?;
        let f = self.load(ctx, &r)?;
        let base = self.arn(ctx, &r);
        let arn = match &r.qualifier {
            Some(q) => ids::qualified_arn(&base, q),
            None => base,
        };
        let (version, _) = f
            .version(r.qualifier.as_deref())
            .ok_or_else(|| errors::function_not_found(&arn))?;
        Ok(FunctionTarget {
            arn,
            timeout: version.config.timeout.unwrap_or(3),
        })
    }

    pub(super) async fn esm_create(
        &self,
        ctx: &RequestContext,
        input: shapes::CreateEventSourceMappingRequest,
    ) -> Result<shapes::EventSourceMappingConfiguration, ApiError> {
        let function = self.mapping_target(ctx, &input.function_name)?;
        self.inner
            .mappings
            .create(&ctx.account, &ctx.region, ctx.partition(), input, function)
            .await
    }

    pub(super) fn esm_list(
        &self,
        ctx: &RequestContext,
        input: shapes::ListEventSourceMappingsRequest,
    ) -> Result<shapes::ListEventSourceMappingsResponse, ApiError> {
        let function_arn = match &input.function_name {
            Some(name) => {
                let r = ids::parse(ctx, name)?;
                let base = self.arn(ctx, &r);
                Some(match &r.qualifier {
                    Some(q) => ids::qualified_arn(&base, q),
                    None => base,
                })
            }
            None => None,
        };
        let (page, next) = self.inner.mappings.list(
            &ctx.account,
            &ctx.region,
            input.event_source_arn.as_deref(),
            function_arn.as_deref(),
            input.marker.as_deref(),
            input.max_items,
        )?;
        Ok(shapes::ListEventSourceMappingsResponse {
            event_source_mappings: Some(page),
            next_marker: next,
        })
    }

    pub(super) async fn esm_update(
        &self,
        ctx: &RequestContext,
        input: shapes::UpdateEventSourceMappingRequest,
    ) -> Result<shapes::EventSourceMappingConfiguration, ApiError> {
        let function = match &input.function_name {
            Some(name) => Some(self.mapping_target(ctx, name)?),
            None => None,
        };
        self.inner.mappings.update(input, function).await
    }

    /// The function and qualifier asynchronous settings are kept for, and their store key.
    fn invoke_config_key(
        &self,
        ctx: &RequestContext,
        function_name: &str,
        qualifier: Option<&str>,
    ) -> Result<(Function, String, String), ApiError> {
        let r = ids::parse(ctx, function_name)?;
        let f = self.load(ctx, &r)?;
        let qualifier = qualifier
            .map(str::to_owned)
            .or(r.qualifier.clone())
            .unwrap_or_else(|| "$LATEST".to_owned());
        let arn = ids::qualified_arn(&self.arn(ctx, &r), &qualifier);
        if f.version(Some(&qualifier)).is_none() {
            return Err(errors::function_not_found(&arn));
        }
        let key = destinations::key(&r.account, &r.region, &r.name, &qualifier);
        Ok((f, key, arn))
    }

    pub(super) async fn invoke_config_put(
        &self,
        ctx: &RequestContext,
        function_name: &str,
        qualifier: Option<&str>,
        change: ConfigChange,
    ) -> Result<shapes::FunctionEventInvokeConfig, ApiError> {
        let (_, key, arn) = self.invoke_config_key(ctx, function_name, qualifier)?;
        destinations::check_destinations(change.destination_config.as_ref())?;
        let current = destinations::load(&self.inner.store, &key)?;
        let mut config = match (change.replace, current) {
            (false, None) => {
                return Err(errors::not_found(format!(
                    "The function {arn} doesn't have an EventInvokeConfig"
                )));
            }
            (false, Some(c)) => c,
            (true, _) => shapes::FunctionEventInvokeConfig::default(),
        };
        if change.replace || change.maximum_retry_attempts.is_some() {
            config.maximum_retry_attempts = change.maximum_retry_attempts;
        }
        if change.replace || change.maximum_event_age_in_seconds.is_some() {
            config.maximum_event_age_in_seconds = change.maximum_event_age_in_seconds;
        }
        if change.replace || change.destination_config.is_some() {
            config.destination_config = Some(change.destination_config.unwrap_or(
                shapes::DestinationConfig {
                    on_success: Some(shapes::OnSuccess::default()),
                    on_failure: Some(shapes::OnFailure::default()),
                },
            ));
        }
        config.function_arn = Some(arn);
        config.last_modified = Some(Timestamp::now());
        destinations::save(&self.inner.store, key, config.clone()).await?;
        Ok(config)
    }

    pub(super) fn invoke_config_get(
        &self,
        ctx: &RequestContext,
        function_name: &str,
        qualifier: Option<&str>,
    ) -> Result<shapes::FunctionEventInvokeConfig, ApiError> {
        let (_, key, arn) = self.invoke_config_key(ctx, function_name, qualifier)?;
        destinations::load(&self.inner.store, &key)?.ok_or_else(|| {
            errors::not_found(format!(
                "The function {arn} doesn't have an EventInvokeConfig"
            ))
        })
    }

    pub(super) async fn invoke_config_delete(
        &self,
        ctx: &RequestContext,
        function_name: &str,
        qualifier: Option<&str>,
    ) -> Result<(), ApiError> {
        let (_, key, arn) = self.invoke_config_key(ctx, function_name, qualifier)?;
        if !destinations::remove(&self.inner.store, key).await? {
            return Err(errors::not_found(format!(
                "The function {arn} doesn't have an EventInvokeConfig"
            )));
        }
        Ok(())
    }

    pub(super) fn invoke_config_list(
        &self,
        ctx: &RequestContext,
        input: shapes::ListFunctionEventInvokeConfigsRequest,
    ) -> Result<shapes::ListFunctionEventInvokeConfigsResponse, ApiError> {
        let r = ids::parse(ctx, &input.function_name)?;
        self.load(ctx, &r)?;
        let prefix = destinations::key(&r.account, &r.region, &r.name, "");
        let all = destinations::list(&self.inner.store, &prefix)?;
        let max = usize::try_from(input.max_items.unwrap_or(50).clamp(1, 50)).unwrap_or(50);
        let start = input
            .marker
            .as_deref()
            .and_then(|m| m.parse::<usize>().ok())
            .unwrap_or(0)
            .min(all.len());
        let page: Vec<_> = all[start..].iter().take(max).cloned().collect();
        let next = (start + max < all.len()).then(|| (start + max).to_string());
        Ok(shapes::ListFunctionEventInvokeConfigsResponse {
            function_event_invoke_configs: Some(page),
            next_marker: next,
        })
    }
}
