//! Amazon SNS over the model's types: the wire layer (`skyport-wire`, driven by `models/sns.json`)
//! parses each query-protocol request, checks the model's constraints and writes the XML response;
//! each `SnsApi` method forwards to the module of its topic: `topics`, `subscriptions`, `publish`.

use skyport_core::state::{SnapshotWriter, Staged, StateControl, StateError};
use std::sync::{Arc, RwLock};

use http::{Request, Response};
use skyport_core::store::{Store, StoreError};
use skyport_core::{
    AwsError, Body, OperationTable, Protocol, RequestContext, Service, ServiceInfo,
};
use skyport_wire::{ApiError, Endpoint, Handler, Model, Operation, Value};

use crate::delivery::{Deliverer, Links};
use crate::publish::Dedup;
use crate::shapes::{self, SnsApi, errors};
use crate::sign::{KEYS, KeySigner, RsaKey, SIGNING_KEY, StoredKey};
use crate::state::SnsState;

skyport_wire::static_model!(MODEL, skyport_wire::embedded::SNS);

static INFO: ServiceInfo = ServiceInfo {
    name: "sns",
    protocols: &[Protocol::Query],
    xml_namespace: "http://sns.amazonaws.com/doc/2010-03-31/",
    json_error_prefix: "",
};

/// The operations implemented; the model's others answer `NotImplemented`.
pub const OPERATIONS: &[&str] = &[
    "ConfirmSubscription",
    "CreateTopic",
    "DeleteTopic",
    "GetSubscriptionAttributes",
    "GetTopicAttributes",
    "ListSubscriptions",
    "ListSubscriptionsByTopic",
    "ListTagsForResource",
    "ListTopics",
    "Publish",
    "PublishBatch",
    "SetSubscriptionAttributes",
    "SetTopicAttributes",
    "Subscribe",
    "TagResource",
    "Unsubscribe",
    "UntagResource",
];

/// The Amazon SNS model (compiled on first use).
pub fn model() -> &'static Model {
    MODEL()
}

/// Options of the service.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Milliseconds one second of an HTTP(S) retry policy lasts (1000; tests shorten it).
    pub retry_second_ms: u64,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            retry_second_ms: 1000,
        }
    }
}

/// The Amazon SNS service.
#[derive(Debug, Clone)]
pub struct Sns {
    pub(crate) state: SnsState,
    pub(crate) deliverer: Arc<Deliverer>,
    pub(crate) dedup: Arc<Dedup>,
    /// The message-signing key and its certificate, once ready.
    signer: Arc<RwLock<Option<Arc<KeySigner>>>>,
}

impl skyport_core::bus::ResourcePolicySource for Sns {
    fn resource_policy(&self, arn: &str) -> Option<skyport_core::bus::ResourcePolicyDoc> {
        let topic = self.state.topic(arn)?;
        let policy = topic.attributes.get("Policy")?.clone();
        Some(skyport_core::bus::ResourcePolicyDoc {
            policy,
            account: topic.account,
        })
    }
}

impl Sns {
    /// Amazon SNS keeping its state in `store` (needs a Tokio runtime: it starts its delivery worker).
    pub fn new(store: Store, options: Options) -> Result<Sns, StoreError> {
        Ok(Sns {
            state: SnsState::open(store)?,
            deliverer: Arc::new(Deliverer::start(options.retry_second_ms)),
            dedup: Arc::new(Dedup::default()),
            signer: Arc::new(RwLock::new(None)),
        })
    }

    /// Signs every message from now on: loads the RSA key from the store (or makes one and keeps it)
    /// and has `certify` (Skyport's CA) issue its certificate from the key's DER SubjectPublicKeyInfo,
    /// in the background; deliveries wait for it.
    pub fn enable_signing<F>(&self, certify: F)
    where
        F: FnOnce(&[u8]) -> Result<String, String> + Send + 'static,
    {
        let store = self.store().clone();
        let deliverer = self.deliverer.clone();
        let slot = self.signer.clone();
        // The key (2048-bit RSA: a costly generation without persistence) is made on first need.
        self.links().expect_signer(Box::new(move || {
            drop(tokio::task::spawn_blocking(move || {
                let key = match load_or_create_key(&store) {
                    Ok(key) => key,
                    Err(e) => {
                        tracing::error!("SNS signing key: {e}");
                        return;
                    }
                };
                match certify(&key.spki_der()) {
                    Ok(pem) => {
                        let signer = Arc::new(KeySigner::new(key, pem));
                        *slot.write().unwrap_or_else(|e| e.into_inner()) = Some(signer.clone());
                        deliverer.links().set_signer(signer);
                    }
                    Err(e) => tracing::error!("SNS signing certificate: {e}"),
                }
            }));
        }));
    }

    /// The signing certificate (PEM) when `path` is its URL's path.
    fn certificate_at(&self, path: &str) -> Option<String> {
        let guard = self.signer.read().unwrap_or_else(|e| e.into_inner());
        guard
            .as_ref()
            .filter(|s| s.cert_path() == path)
            .map(|s| s.cert_pem().to_owned())
    }

    /// The state store.
    pub fn store(&self) -> &Store {
        self.state.store()
    }

    /// The delivery links: SQS, Lambda, the signer, and the recorded (unsent) messages.
    pub fn links(&self) -> &Links {
        self.deliverer.links()
    }
}

/// Reset and import replace the store, then the topics and subscriptions in memory are read from it
/// again; FIFO deduplication is forgotten.
#[async_trait::async_trait]
impl StateControl for Sns {
    async fn reset(&self) -> Result<(), StateError> {
        skyport_core::state::reset_store(self.state.store()).await?;
        self.reloaded()
    }

    async fn export(&self, out: &mut SnapshotWriter<'_>) -> Result<(), StateError> {
        out.store(self.state.store(), &[]).await
    }

    async fn import(&self, mut staged: Staged) -> Result<(), StateError> {
        staged.replace_store_async(self.state.store()).await?;
        self.reloaded()
    }
}

impl Sns {
    fn reloaded(&self) -> Result<(), StateError> {
        self.dedup.clear();
        self.state.reload()?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl Service for Sns {
    fn info(&self) -> &'static ServiceInfo {
        &INFO
    }

    fn state_control(&self) -> Option<&dyn StateControl> {
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
        if request.uri().path().starts_with(crate::inspect::PREFIX) {
            let query = request.uri().query().unwrap_or_default();
            return Ok(crate::inspect::serve(
                self,
                request.method(),
                request.uri().path(),
                query,
            ));
        }
        // The signing certificate, at the `SigningCertURL` messages carry.
        if request.method() == http::Method::GET
            && request
                .uri()
                .path()
                .starts_with("/SimpleNotificationService-")
        {
            self.links().start_signer();
            let mut pem = self.certificate_at(request.uri().path());
            // A certificate asked for before anything was delivered since the start: wait for the key.
            for _ in 0..100 {
                if pem.is_some() || self.signer.read().map(|s| s.is_some()).unwrap_or(true) {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                pem = self.certificate_at(request.uri().path());
            }
            let (status, body) = match pem {
                Some(pem) => (http::StatusCode::OK, pem),
                None => (http::StatusCode::NOT_FOUND, String::new()),
            };
            let mut response = Response::new(skyport_core::body::full(body));
            *response.status_mut() = status;
            response.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/x-x509-ca-cert"),
            );
            return Ok(response);
        }
        Endpoint::new(MODEL())
            .body_limit(2 << 20)
            .serve(self, ctx, request)
            .await
    }
}

#[async_trait::async_trait]
impl Handler for Sns {
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

/// The stored signing key, or a new one (stored).
fn load_or_create_key(store: &Store) -> Result<RsaKey, String> {
    if let Some(stored) = store
        .get_json::<StoredKey>(KEYS, SIGNING_KEY)
        .map_err(|e| e.to_string())?
    {
        return RsaKey::from_stored(&stored).map_err(|e| e.to_string());
    }
    let key = RsaKey::generate().map_err(|e| e.to_string())?;
    store
        .write(|w| w.put_json(KEYS, SIGNING_KEY, &key.to_stored()))
        .map_err(|e| e.to_string())?;
    Ok(key)
}

/// The store failed.
pub(crate) fn store_error(e: StoreError) -> ApiError {
    errors::internal_error_exception(format!("Internal error: {e}"))
}

/// `InvalidParameter` with `Invalid parameter: <what>`.
pub(crate) fn invalid(what: impl std::fmt::Display) -> ApiError {
    errors::invalid_parameter_exception(format!("Invalid parameter: {what}"))
}

/// `NotFound`: `Topic does not exist`.
pub(crate) fn no_topic() -> ApiError {
    errors::not_found_exception("Topic does not exist")
}

#[async_trait::async_trait]
impl SnsApi for Sns {
    async fn create_topic(
        &self,
        ctx: &mut RequestContext,
        input: shapes::CreateTopicInput,
    ) -> Result<shapes::CreateTopicResponse, ApiError> {
        self.create_topic_op(ctx, input)
    }

    async fn delete_topic(
        &self,
        _ctx: &mut RequestContext,
        input: shapes::DeleteTopicInput,
    ) -> Result<(), ApiError> {
        self.delete_topic_op(&input.topic_arn)
    }

    async fn list_topics(
        &self,
        ctx: &mut RequestContext,
        input: shapes::ListTopicsInput,
    ) -> Result<shapes::ListTopicsResponse, ApiError> {
        self.list_topics_op(ctx, input.next_token.as_deref())
    }

    async fn get_topic_attributes(
        &self,
        _ctx: &mut RequestContext,
        input: shapes::GetTopicAttributesInput,
    ) -> Result<shapes::GetTopicAttributesResponse, ApiError> {
        self.get_topic_attributes_op(&input.topic_arn)
    }

    async fn set_topic_attributes(
        &self,
        _ctx: &mut RequestContext,
        input: shapes::SetTopicAttributesInput,
    ) -> Result<(), ApiError> {
        self.set_topic_attributes_op(input)
    }

    async fn tag_resource(
        &self,
        _ctx: &mut RequestContext,
        input: shapes::TagResourceRequest,
    ) -> Result<shapes::TagResourceResponse, ApiError> {
        self.tag_resource_op(input)
    }

    async fn untag_resource(
        &self,
        _ctx: &mut RequestContext,
        input: shapes::UntagResourceRequest,
    ) -> Result<shapes::UntagResourceResponse, ApiError> {
        self.untag_resource_op(input)
    }

    async fn list_tags_for_resource(
        &self,
        _ctx: &mut RequestContext,
        input: shapes::ListTagsForResourceRequest,
    ) -> Result<shapes::ListTagsForResourceResponse, ApiError> {
        self.list_tags_op(&input.resource_arn)
    }

    async fn subscribe(
        &self,
        ctx: &mut RequestContext,
        input: shapes::SubscribeInput,
    ) -> Result<shapes::SubscribeResponse, ApiError> {
        self.subscribe_op(ctx, input)
    }

    async fn confirm_subscription(
        &self,
        _ctx: &mut RequestContext,
        input: shapes::ConfirmSubscriptionInput,
    ) -> Result<shapes::ConfirmSubscriptionResponse, ApiError> {
        self.confirm_subscription_op(input)
    }

    async fn unsubscribe(
        &self,
        _ctx: &mut RequestContext,
        input: shapes::UnsubscribeInput,
    ) -> Result<(), ApiError> {
        self.unsubscribe_op(&input.subscription_arn)
    }

    async fn list_subscriptions(
        &self,
        ctx: &mut RequestContext,
        input: shapes::ListSubscriptionsInput,
    ) -> Result<shapes::ListSubscriptionsResponse, ApiError> {
        let (subscriptions, next_token) =
            self.list_subscriptions_op(ctx, None, input.next_token.as_deref())?;
        Ok(shapes::ListSubscriptionsResponse {
            subscriptions: Some(subscriptions),
            next_token,
        })
    }

    async fn list_subscriptions_by_topic(
        &self,
        ctx: &mut RequestContext,
        input: shapes::ListSubscriptionsByTopicInput,
    ) -> Result<shapes::ListSubscriptionsByTopicResponse, ApiError> {
        let (subscriptions, next_token) =
            self.list_subscriptions_op(ctx, Some(&input.topic_arn), input.next_token.as_deref())?;
        Ok(shapes::ListSubscriptionsByTopicResponse {
            subscriptions: Some(subscriptions),
            next_token,
        })
    }

    async fn get_subscription_attributes(
        &self,
        _ctx: &mut RequestContext,
        input: shapes::GetSubscriptionAttributesInput,
    ) -> Result<shapes::GetSubscriptionAttributesResponse, ApiError> {
        self.get_subscription_attributes_op(&input.subscription_arn)
    }

    async fn set_subscription_attributes(
        &self,
        _ctx: &mut RequestContext,
        input: shapes::SetSubscriptionAttributesInput,
    ) -> Result<(), ApiError> {
        self.set_subscription_attributes_op(input)
    }

    async fn publish(
        &self,
        ctx: &mut RequestContext,
        input: shapes::PublishInput,
    ) -> Result<shapes::PublishResponse, ApiError> {
        self.publish_op(ctx, input)
    }

    async fn publish_batch(
        &self,
        ctx: &mut RequestContext,
        input: shapes::PublishBatchInput,
    ) -> Result<shapes::PublishBatchResponse, ApiError> {
        self.publish_batch_op(ctx, input)
    }
}
