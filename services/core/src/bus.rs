//! The in-process message bus between services: how one service hands a message to another without
//! importing its crate. S3 event notifications and (later) SNS and EventBridge targets enqueue into SQS
//! through [`QueueSink`]; Lambda's event source mappings consume queues through [`QueueSource`] and
//! table streams through [`StreamSource`], and Lambda runs images of ECR's registry through
//! [`ImageSource`]. The binary wires the implementations into the services that need them.

use std::collections::BTreeMap;

/// One message attribute, as SQS models it (`String`, `Number` or `Binary`, optionally with a custom
/// suffix such as `String.url`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusAttribute {
    /// The data type, e.g. `String`, `Number`, `Binary.gzip`.
    pub data_type: String,
    /// The value of `String` and `Number` attributes.
    pub string_value: Option<String>,
    /// The value of `Binary` attributes.
    pub binary_value: Option<Vec<u8>>,
}

impl BusAttribute {
    /// A `String` attribute.
    pub fn string(value: impl Into<String>) -> BusAttribute {
        BusAttribute {
            data_type: "String".to_owned(),
            string_value: Some(value.into()),
            binary_value: None,
        }
    }
}

/// Message attributes by name.
pub type BusAttributes = BTreeMap<String, BusAttribute>;

/// Why a message could not be enqueued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BusError {
    /// No queue has this ARN.
    #[error("the queue {0} does not exist")]
    NoSuchQueue(String),
    /// The queue refused the message (too large, invalid characters, a FIFO queue without a group, ...).
    #[error("the queue refused the message: {0}")]
    Rejected(String),
    /// The queue failed to store the message.
    #[error("the queue could not store the message: {0}")]
    Internal(String),
    /// No resource of another kind (a topic, an event bus, a function) has this ARN or name.
    #[error("{0} does not exist")]
    NoSuchTarget(String),
    /// S3 could not give an object: its S3 error code (`NoSuchKey`, `NoSuchBucket`, ...) and message.
    #[error("{message}")]
    Object {
        /// The S3 error code.
        code: String,
        /// The S3 error message.
        message: String,
    },
}

/// A message for a queue, with the FIFO and delay settings a `SendMessage` may carry (SNS FIFO topics and
/// EventBridge `SqsParameters` pass a group; the rest leave them empty).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutgoingMessage {
    /// The body.
    pub body: String,
    /// Message attributes.
    pub attributes: BusAttributes,
    /// `MessageGroupId` (required by FIFO queues, ignored by standard ones).
    pub group_id: Option<String>,
    /// `MessageDeduplicationId` (FIFO queues without content-based deduplication need one).
    pub dedup_id: Option<String>,
    /// Per-message `DelaySeconds`.
    pub delay_seconds: Option<u64>,
}

/// What a queue answered for one accepted message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMessage {
    /// The SQS `MessageId`.
    pub message_id: String,
    /// The FIFO `SequenceNumber`.
    pub sequence_number: Option<String>,
}

/// Something that accepts messages for queues named by ARN (implemented by SQS).
#[async_trait::async_trait]
pub trait QueueSink: Send + Sync {
    /// Enqueues `message` into the queue `queue_arn` (`arn:aws:sqs:<region>:<account>:<name>`) with
    /// SQS's own validation (size, characters, FIFO group and deduplication). Returns once the message is
    /// stored (durably, with persistence), so the caller may acknowledge its own request.
    async fn send_message(
        &self,
        queue_arn: &str,
        message: OutgoingMessage,
    ) -> Result<SentMessage, BusError>;

    /// Enqueues `body` with `attributes` into a standard queue (no group, no delay).
    async fn send_to_queue(
        &self,
        queue_arn: &str,
        body: String,
        attributes: BusAttributes,
    ) -> Result<(), BusError> {
        let message = OutgoingMessage {
            body,
            attributes,
            ..OutgoingMessage::default()
        };
        self.send_message(queue_arn, message).await.map(|_| ())
    }

    /// True when `queue_arn` names an existing queue (for validating notification destinations).
    async fn queue_exists(&self, queue_arn: &str) -> bool {
        let _ = queue_arn;
        true
    }
}

/// One log line for CloudWatch Logs: when it happened (milliseconds since the epoch) and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// Milliseconds since the epoch.
    pub timestamp: i64,
    /// The message.
    pub message: String,
}

/// Where services write log lines (implemented by CloudWatch Logs): Lambda's function output and its
/// `START`/`END`/`REPORT` lines.
#[async_trait::async_trait]
pub trait LogSink: Send + Sync {
    /// Appends `lines` to the stream `stream` of the group `group` in `account`/`region`, creating the
    /// group and the stream when they do not exist (as Lambda's service role does).
    async fn append(
        &self,
        account: &str,
        region: &str,
        group: &str,
        stream: &str,
        lines: Vec<LogLine>,
    ) -> Result<(), BusError>;
}

/// Temporary credentials for a role session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionCredentials {
    /// The access key id (it encodes the role's account).
    pub access_key_id: String,
    /// The secret key.
    pub secret_access_key: String,
    /// The session token.
    pub session_token: String,
    /// When they expire, in seconds since the epoch.
    pub expiration: u64,
}

/// Issues credentials for a role session (implemented by STS): what Lambda hands a function as its
/// execution role's credentials, so the function's calls act in the role's account and
/// `GetCallerIdentity` answers with the `assumed-role` ARN.
#[async_trait::async_trait]
pub trait CredentialIssuer: Send + Sync {
    /// Credentials for `role_arn` in the session `session_name`, valid for `duration`.
    async fn assume_role(
        &self,
        role_arn: &str,
        session_name: &str,
        duration: std::time::Duration,
    ) -> Result<SessionCredentials, BusError>;
}

/// The principal behind a long-term access key (an IAM user's): its account, ARN and unique id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPrincipal {
    /// The 12-digit account.
    pub account: String,
    /// The principal's ARN (`arn:aws:iam::<account>:user/<path><name>`).
    pub arn: String,
    /// The principal's unique id (`AIDA...`).
    pub user_id: String,
}

/// Looks up who owns an access key (implemented by IAM for the keys `CreateAccessKey` issued), so STS
/// answers `GetCallerIdentity` with the user's ARN and signs sessions for it.
pub trait KeyDirectory: Send + Sync {
    /// The principal of `access_key_id`, if IAM issued it and it is active.
    fn principal(&self, access_key_id: &str) -> Option<KeyPrincipal>;
}

/// Who signed a request, once its signature has been verified (`ENFORCE_IAM=1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The 12-digit account.
    pub account: String,
    /// The caller's ARN, as `GetCallerIdentity` names it (`...:root`, `...:user/<path><name>`,
    /// `arn:aws:sts::<account>:assumed-role/<role>/<session>`, `...:federated-user/<name>`).
    pub arn: String,
    /// The unique id (`GetCallerIdentity`'s `UserId`).
    pub user_id: String,
    /// A role session's or federated user's session policies: policy documents, or the ARNs of
    /// managed policies.
    pub session_policies: Vec<String>,
    /// A federated user's federating user (or root), whose policies its session policies intersect.
    pub federated_by: Option<String>,
}

/// The secret of an access key and whom it belongs to, for verifying signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningSecret {
    /// The secret access key.
    pub secret: String,
    /// The session token temporary credentials must be presented with.
    pub session_token: Option<String>,
    /// When temporary credentials expire (seconds since the epoch).
    pub expires: Option<u64>,
    /// The principal the key acts as.
    pub principal: Principal,
}

/// Looks up the secret of an access key (implemented by IAM for user keys, by STS for the temporary
/// credentials it mints, and by the gateway for each account's root test credentials).
pub trait CredentialDirectory: Send + Sync + std::fmt::Debug {
    /// The secret and principal of `access_key_id`, if this directory knows the key (and it is active).
    fn signing_secret(&self, access_key_id: &str) -> Option<SigningSecret>;
}

/// Several directories asked in turn; the first that knows a key answers.
#[derive(Clone, Default)]
pub struct CredentialDirectories(pub Vec<std::sync::Arc<dyn CredentialDirectory>>);

impl CredentialDirectory for CredentialDirectories {
    fn signing_secret(&self, access_key_id: &str) -> Option<SigningSecret> {
        self.0.iter().find_map(|d| d.signing_secret(access_key_id))
    }
}

impl std::fmt::Debug for CredentialDirectories {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CredentialDirectories({})", self.0.len())
    }
}

/// The root test credentials of every account, as LocalStack accepts them: access key `test` (the
/// default account) or a 12-digit account id as the access key, with the secret `test`; plus any
/// fixed `id → secret` pairs (`SKYPORT_SIGV4_KEYS`), which act as the root of the account the router
/// gives their id (a 12-digit id or a Skyport-minted `LSIA`/`LKIA` id names it; else the default).
#[derive(Debug, Clone, Default)]
pub struct RootTestCredentials {
    /// Extra keys (id → secret).
    pub keys: std::collections::BTreeMap<String, String>,
    /// Only the extra keys: not `test` nor account ids (strict mode's fixed keys).
    pub only_keys: bool,
}

/// The secret of the root test credentials.
pub const ROOT_TEST_SECRET: &str = "test";

impl CredentialDirectory for RootTestCredentials {
    fn signing_secret(&self, access_key_id: &str) -> Option<SigningSecret> {
        let (account, secret) = if let Some(secret) = self.keys.get(access_key_id) {
            let account = crate::access_key::account_for_key(access_key_id, false)
                .unwrap_or_else(|| crate::DEFAULT_ACCOUNT.to_owned());
            (account, secret.clone())
        } else if self.only_keys {
            return None;
        } else if access_key_id == "test" {
            (
                crate::DEFAULT_ACCOUNT.to_owned(),
                ROOT_TEST_SECRET.to_owned(),
            )
        } else if crate::arn::is_account_id(access_key_id) {
            (access_key_id.to_owned(), ROOT_TEST_SECRET.to_owned())
        } else {
            return None;
        };
        Some(SigningSecret {
            secret,
            session_token: None,
            expires: None,
            principal: Principal {
                arn: format!("arn:aws:iam::{account}:root"),
                user_id: account.clone(),
                account,
                session_policies: Vec::new(),
                federated_by: None,
            },
        })
    }
}

/// One authorization asked of IAM (`ENFORCE_IAM=1`): may `principal` perform `action` on `resource`?
#[derive(Debug, Clone)]
pub struct AccessQuery<'a> {
    /// Who asks (verified by its signature).
    pub principal: &'a Principal,
    /// The IAM action, `service:Action`.
    pub action: &'a str,
    /// The resource ARN, or `*`.
    pub resource: &'a str,
    /// The account that owns the resource (the principal's when `None`).
    pub resource_account: Option<&'a str>,
    /// The resource's own policy (an S3 bucket policy), which can grant or deny too.
    pub resource_policy: Option<&'a str>,
    /// Global condition keys of the request (`aws:SourceIp`, `aws:SecureTransport`, ...).
    pub context: &'a [(&'static str, std::borrow::Cow<'a, str>)],
}

/// IAM's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessVerdict {
    /// Whether the request may go on (also for a denial soft mode only logs).
    pub allowed: bool,
    /// For a denial: AWS's message ("User: ... is not authorized to perform: ...").
    pub message: Option<String>,
}

/// A resource's own policy (an SQS queue policy, an SNS topic policy) and the account that owns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourcePolicyDoc {
    /// The policy document.
    pub policy: String,
    /// The owner's account.
    pub account: String,
}

/// Looks up the resource-based policies of a service's resources (implemented by SQS and SNS), for
/// IAM's evaluation of requests on them.
pub trait ResourcePolicySource: Send + Sync + std::fmt::Debug {
    /// The policy of the resource `arn`, if it exists and has one.
    fn resource_policy(&self, arn: &str) -> Option<ResourcePolicyDoc>;
}

/// Decides requests with AWS's policy evaluation logic (implemented by IAM).
pub trait Authorizer: Send + Sync + std::fmt::Debug {
    /// Evaluates one action on one resource.
    fn authorize(&self, query: &AccessQuery<'_>) -> AccessVerdict;
}

/// Reads objects from Skyport's S3 (implemented by S3): Lambda's `S3Bucket`/`S3Key` code and layers.
#[async_trait::async_trait]
pub trait ObjectSource: Send + Sync {
    /// The bytes of `bucket`/`key` (a version when given), as `account` sees them.
    async fn get_object(
        &self,
        account: &str,
        bucket: &str,
        key: &str,
        version: Option<&str>,
    ) -> Result<bytes::Bytes, BusError>;
}

/// What [`ListenerControl::serve_on`] managed to start on an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Served {
    /// The gateway answers HTTPS on port 443 there (real AWS endpoint URLs work).
    pub https_443: bool,
    /// The gateway answers on its edge port (4566) there.
    pub edge: bool,
    /// The DNS server answers on port 53 there (containers can use it as their resolver).
    pub dns: bool,
}

/// Makes Skyport's gateway and DNS answer on one more address (implemented by the binary): Lambda's
/// Docker executor, with Skyport on the host, asks for the gateway address of its containers' network.
#[async_trait::async_trait]
pub trait ListenerControl: Send + Sync {
    /// Starts the gateway (edge port and 443) and the DNS server on `ip`, once; what is served there.
    async fn serve_on(&self, ip: std::net::IpAddr) -> Served;
}

/// One message received from a queue through [`QueueSource`], with what Lambda's SQS event record
/// carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueMessage {
    /// `MessageId`.
    pub message_id: String,
    /// The receipt handle of this delivery.
    pub receipt_handle: String,
    /// The body.
    pub body: String,
    /// `MD5OfBody` (hex).
    pub md5_of_body: String,
    /// System attributes by name: `ApproximateReceiveCount`, `SentTimestamp`, `SenderId`,
    /// `ApproximateFirstReceiveTimestamp`, and for FIFO queues `MessageGroupId`,
    /// `MessageDeduplicationId`, `SequenceNumber`; `AWSTraceHeader` when the message has one.
    pub attributes: BTreeMap<String, String>,
    /// The message attributes.
    pub message_attributes: BusAttributes,
}

/// What a queue consumer needs to know about a queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueInfo {
    /// A FIFO queue.
    pub fifo: bool,
    /// The queue's `VisibilityTimeout`, in seconds.
    pub visibility_timeout: u64,
}

/// Consumes queues named by ARN (implemented by SQS): Lambda's event source mappings poll queues
/// through it, with SQS's own semantics (visibility timeouts, FIFO group order, redrive to the
/// dead-letter queue after `maxReceiveCount`).
#[async_trait::async_trait]
pub trait QueueSource: Send + Sync {
    /// The queue's settings, or [`BusError::NoSuchQueue`].
    async fn queue_info(&self, queue_arn: &str) -> Result<QueueInfo, BusError>;

    /// Receives up to `max` (1-10) messages, waiting up to `wait` for the first one (long polling),
    /// as `ReceiveMessage` does: messages past the redrive policy's `maxReceiveCount` move to the
    /// dead-letter queue instead.
    async fn receive(
        &self,
        queue_arn: &str,
        max: usize,
        wait: std::time::Duration,
    ) -> Result<Vec<QueueMessage>, BusError>;

    /// Deletes the deliveries named by `receipt_handles` (handles that name nothing are ignored).
    async fn delete(&self, queue_arn: &str, receipt_handles: &[String]) -> Result<(), BusError>;
}

/// Invokes Lambda functions asynchronously (implemented by Lambda): S3 event notifications.
#[async_trait::async_trait]
pub trait FunctionInvoker: Send + Sync {
    /// Queues an `Event` invocation of `function_arn` (qualified or not) with `payload`.
    async fn invoke_async(&self, function_arn: &str, payload: bytes::Bytes)
    -> Result<(), BusError>;

    /// True when the function exists and its resource policy lets `principal` (e.g.
    /// `s3.amazonaws.com`) call `lambda:InvokeFunction` on it.
    async fn allows_invoke(&self, function_arn: &str, principal: &str) -> bool;
}

/// A message for an SNS topic, as `Publish` takes it (EventBridge SNS targets publish through it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicMessage {
    /// `Message`.
    pub message: String,
    /// `Subject`.
    pub subject: Option<String>,
    /// `MessageAttributes` (SNS's types: `String`, `String.Array`, `Number`, `Binary`).
    pub attributes: BusAttributes,
    /// `MessageGroupId` (FIFO topics).
    pub group_id: Option<String>,
    /// `MessageDeduplicationId` (FIFO topics without content-based deduplication).
    pub dedup_id: Option<String>,
}

/// Publishes to SNS topics named by ARN (implemented by SNS): EventBridge's SNS targets.
#[async_trait::async_trait]
pub trait TopicPublisher: Send + Sync {
    /// Publishes `message` to `topic_arn` as `Publish` would, returning the SNS `MessageId`
    /// ([`BusError::NoSuchTarget`] when no topic has that ARN).
    async fn publish(&self, topic_arn: &str, message: TopicMessage) -> Result<String, BusError>;

    /// True when `topic_arn` names an existing topic.
    async fn topic_exists(&self, topic_arn: &str) -> bool {
        let _ = topic_arn;
        true
    }
}

/// An event for an EventBridge bus, as `PutEvents` takes one entry (S3's EventBridge notifications
/// put "Object Created" and the other S3 events on the account's `default` bus through it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BusEvent {
    /// The account whose bus receives the event.
    pub account: String,
    /// The region of that bus.
    pub region: String,
    /// `EventBusName` (a name or ARN; empty for `default`).
    pub bus: String,
    /// `Source`, e.g. `aws.s3`.
    pub source: String,
    /// `DetailType`, e.g. `Object Created`.
    pub detail_type: String,
    /// `Detail`: a JSON object, as text.
    pub detail: String,
    /// `Resources` (ARNs).
    pub resources: Vec<String>,
    /// `Time` in milliseconds since the epoch (now when `None`).
    pub time_ms: Option<i64>,
}

/// Accepts events for EventBridge buses (implemented by EventBridge).
#[async_trait::async_trait]
pub trait EventSink: Send + Sync {
    /// Puts `event` on its bus and routes it to the matching rules' targets; returns the event id.
    async fn put_event(&self, event: BusEvent) -> Result<String, BusError>;
}

/// Where a consumer starts reading a stream's shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamStart {
    /// The oldest record the shard still keeps (`TRIM_HORIZON`).
    TrimHorizon,
    /// After the newest record: only what is written from now on (`LATEST`).
    Latest,
}

/// One shard of a stream, as [`StreamSource::shards`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamShard {
    /// `ShardId`.
    pub shard_id: String,
    /// `ParentShardId`: a shard whose records come before this one's.
    pub parent_shard_id: Option<String>,
    /// The shard takes no more records (its stream was disabled, or its table deleted).
    pub closed: bool,
}

/// One stream record, ready for a function's event.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamEventRecord {
    /// Its sequence number (the `itemIdentifier` of a `ReportBatchItemFailures` response).
    pub sequence_number: String,
    /// When the change was made, in milliseconds since the epoch.
    pub created_ms: i64,
    /// The record as Lambda's event carries it: for DynamoDB `eventID`, `eventName`, `eventVersion`,
    /// `eventSource`, `awsRegion`, `dynamodb` (`Keys`, `NewImage`, `OldImage`, ...),
    /// `eventSourceARN`, and `userIdentity` for TTL deletions.
    pub record: serde_json::Value,
}

/// Records read from a shard, and where to read next.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamPage {
    /// The records, in order.
    pub records: Vec<StreamEventRecord>,
    /// The cursor after them; `None` once a closed shard has been read to its end.
    pub next: Option<String>,
}

/// Reads table streams named by ARN (implemented by DynamoDB Streams): Lambda's event source
/// mappings consume them through it, shard by shard, in order.
#[async_trait::async_trait]
pub trait StreamSource: Send + Sync {
    /// The shards of `stream_arn`, parents before children ([`BusError::NoSuchTarget`] when no
    /// stream has that ARN).
    async fn shards(&self, stream_arn: &str) -> Result<Vec<StreamShard>, BusError>;

    /// A cursor at `start` in the shard `shard_id` of `stream_arn`. Cursors do not expire (unlike
    /// shard iterators), so a consumer may keep one as its checkpoint.
    async fn cursor(
        &self,
        stream_arn: &str,
        shard_id: &str,
        start: StreamStart,
    ) -> Result<String, BusError>;

    /// Up to `max` records (and about 1 MB of them) from `cursor`, waiting up to `wait` for a first
    /// one. A cursor behind the trim horizon reads from the oldest record kept;
    /// [`BusError::NoSuchTarget`] when its shard is gone, [`BusError::Rejected`] when it is no cursor.
    async fn read(
        &self,
        cursor: &str,
        max: usize,
        wait: std::time::Duration,
    ) -> Result<StreamPage, BusError>;
}

/// An image of Skyport's container registry, as [`ImageSource::resolve`] finds it: where it lives, the
/// digest its reference names, and the image manifest a function of one architecture runs (for a
/// manifest list or OCI index, the entry of that platform).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedImage {
    /// The registry's account.
    pub account: String,
    /// The registry's region.
    pub region: String,
    /// The repository's name (`team/app`).
    pub repository: String,
    /// The repository's URI as ECR names it (`<account>.dkr.ecr.<region>.<host>/<name>`).
    pub repository_uri: String,
    /// `sha256:<hex>` of the manifest the reference names (a tag's, or the digest given).
    pub digest: String,
    /// `sha256:<hex>` of the image manifest to run: [`ResolvedImage::digest`] itself, or the entry of
    /// the function's platform when that names a manifest list or an index.
    pub manifest_digest: String,
    /// The bytes of the image manifest to run, as pushed.
    pub manifest: bytes::Bytes,
    /// Its media type.
    pub media_type: String,
    /// The config blob's digest.
    pub config: String,
    /// The layer blobs' digests, base layer first.
    pub layers: Vec<String>,
}

impl ResolvedImage {
    /// `<repository uri>@sha256:<hex>`: the image pinned to its digest (Lambda's `ResolvedImageUri`).
    pub fn pinned_uri(&self) -> String {
        format!("{}@{}", self.repository_uri, self.digest)
    }
}

/// Why an image reference could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    /// The reference names Skyport's registry but no image (no tag or digest, a malformed one).
    #[error("not a valid image reference: {0}")]
    Invalid(String),
    /// The repository, the tag or the digest does not exist.
    #[error("the image does not exist")]
    NotFound,
    /// An artifact that is not a container image, or an index without the function's platform.
    #[error("unsupported image: {0}")]
    Unsupported(String),
    /// The registry failed.
    #[error("{0}")]
    Internal(String),
}

/// A blob opened for reading: its size and its bytes.
pub struct BlobReader {
    /// The size in bytes.
    pub size: u64,
    /// The bytes, read from the start.
    pub reader: std::pin::Pin<Box<dyn tokio::io::AsyncRead + Send>>,
}

impl std::fmt::Debug for BlobReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobReader")
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

/// Container images of Skyport's own registry (implemented by ECR): Lambda resolves a function's
/// `ImageUri` through it and hands the Docker Engine the image's blobs, so nothing is pulled over the
/// network.
#[async_trait::async_trait]
pub trait ImageSource: Send + Sync {
    /// Resolves `uri` for a function of `architecture` (`x86_64` or `arm64`) in `account`/`region`
    /// (the account and region of a bare `127.0.0.1:<registry port>/...` URI). `Ok(None)` when the URI
    /// does not name Skyport's registry (a public registry's image, say).
    async fn resolve(
        &self,
        uri: &str,
        account: &str,
        region: &str,
        architecture: &str,
    ) -> Result<Option<ResolvedImage>, ImageError>;

    /// Opens the blob `digest` of `image`'s repository ([`ImageError::NotFound`] when the repository
    /// does not hold it).
    async fn open_blob(
        &self,
        image: &ResolvedImage,
        digest: &str,
    ) -> Result<BlobReader, ImageError>;
}
