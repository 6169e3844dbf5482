//! STS's behaviour over the model's types: the wire layer (`skyport-wire`, driven by `models/sts.json`)
//! parses each query-protocol request, checks the model's constraints and writes the XML response; this
//! module holds what each operation does.

use base64::Engine;
use http::{Request, Response, StatusCode};
use skyport_core::{
    AwsError, Body, OperationTable, Protocol, RequestContext, Service, ServiceInfo, access_key,
    arn::{Arn, is_account_id},
    error::StorageCodes,
    store::{Store, StoreError},
};
use skyport_wire::{ApiError, Endpoint, Handler, Model, Operation, Timestamp, Value};

use crate::identity::{Credentials, Identity, IdentityStore, role_unique_id};
use crate::saml;
use crate::shapes::{self, StsApi};

skyport_wire::static_model!(MODEL, skyport_wire::embedded::STS);

const NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

static INFO: ServiceInfo = ServiceInfo {
    name: "sts",
    protocols: &[Protocol::Query],
    xml_namespace: NAMESPACE,
    json_error_prefix: "com.amazonaws.sts#",
};

/// The operations implemented; the model's others answer `NotImplemented`.
pub const OPERATIONS: &[&str] = &[
    "AssumeRole",
    "AssumeRoleWithSAML",
    "AssumeRoleWithWebIdentity",
    "GetAccessKeyInfo",
    "GetCallerIdentity",
    "GetFederationToken",
    "GetSessionToken",
];

/// The STS model (compiled on first use).
pub fn model() -> &'static Model {
    MODEL()
}

/// The STS service.
#[derive(Clone)]
pub struct Sts {
    identities: IdentityStore,
    keys: Option<std::sync::Arc<dyn skyport_core::bus::KeyDirectory>>,
}

impl std::fmt::Debug for Sts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sts").finish_non_exhaustive()
    }
}

impl Sts {
    /// STS keeping its identities in `store`.
    pub fn new(store: Store) -> Sts {
        Sts {
            identities: IdentityStore::new(store),
            keys: None,
        }
    }

    /// Answers for IAM users' long-term keys through `keys` (IAM's `CreateAccessKey` keys).
    pub fn with_key_directory(
        mut self,
        keys: std::sync::Arc<dyn skyport_core::bus::KeyDirectory>,
    ) -> Sts {
        self.keys = Some(keys);
        self
    }
}

fn store_error(e: StoreError) -> ApiError {
    AwsError::storage(&(&e).into(), StorageCodes::COMMON).into()
}

skyport_core::store_state_control!(Sts, this => this.identities.store());

impl Sts {
    /// The temporary credentials STS minted, as a directory of signing secrets (`ENFORCE_IAM=1`).
    pub fn credentials(&self) -> IdentityStore {
        self.identities.clone()
    }
}

#[async_trait::async_trait]
impl Service for Sts {
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
        Endpoint::new(MODEL())
            .body_limit(1 << 20)
            .serve(self, ctx, request)
            .await
    }
}

#[async_trait::async_trait]
impl Handler for Sts {
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

impl Sts {
    /// The identity of the caller: the one recorded for a Skyport-minted key, else the account root.
    fn caller(&self, ctx: &RequestContext) -> Result<Identity, ApiError> {
        if let Some(key) = &ctx.access_key
            && let Some(identity) = self.identities.lookup(key).map_err(store_error)?
        {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            if identity.expires.is_some_and(|e| e < now) {
                return Err(ApiError::with_status(
                    StatusCode::FORBIDDEN,
                    "ExpiredToken",
                    "The security token included in the request is expired",
                ));
            }
            return Ok(identity);
        }
        if let Some(key) = &ctx.access_key
            && let Some(principal) = self.keys.as_ref().and_then(|k| k.principal(key))
        {
            return Ok(Identity {
                account: principal.account,
                arn: principal.arn,
                user_id: principal.user_id,
                expires: None,
                session_policies: Vec::new(),
                federated_by: None,
            });
        }
        Ok(Identity::root(&ctx.account, ctx.partition()))
    }
}

#[async_trait::async_trait]
impl StsApi for Sts {
    async fn get_caller_identity(
        &self,
        ctx: &mut RequestContext,
        _input: shapes::GetCallerIdentityRequest,
    ) -> Result<shapes::GetCallerIdentityResponse, ApiError> {
        let identity = self.caller(ctx)?;
        Ok(shapes::GetCallerIdentityResponse {
            user_id: Some(identity.user_id),
            account: Some(identity.account),
            arn: Some(identity.arn),
        })
    }

    async fn assume_role(
        &self,
        _ctx: &mut RequestContext,
        input: shapes::AssumeRoleRequest,
    ) -> Result<shapes::AssumeRoleResponse, ApiError> {
        let role = parse_role_arn(&input.role_arn)?;
        let mut assumed = assumed_role(&role, &input.role_session_name);
        assumed.session_policies =
            session_policies(input.policy.as_ref(), input.policy_arns.as_ref());
        let duration = duration(input.duration_seconds, 3600);
        let credentials = self
            .identities
            .mint(assumed.clone(), duration)
            .await
            .map_err(store_error)?;
        Ok(shapes::AssumeRoleResponse {
            credentials: Some(wire_credentials(credentials)),
            assumed_role_user: Some(assumed_role_user(&assumed)),
            packed_policy_size: packed_policy_size(
                input.policy.as_deref(),
                input.policy_arns.as_ref().map_or(0, Vec::len),
                input.tags.as_ref().map_or(0, Vec::len),
            ),
            source_identity: input.source_identity,
            ..Default::default()
        })
    }

    async fn assume_role_with_web_identity(
        &self,
        _ctx: &mut RequestContext,
        input: shapes::AssumeRoleWithWebIdentityRequest,
    ) -> Result<shapes::AssumeRoleWithWebIdentityResponse, ApiError> {
        let claims = jwt_claims(&input.web_identity_token).ok_or_else(|| {
            shapes::errors::invalid_identity_token_exception(
                "The web identity token that was passed could not be validated by AWS. Get a new identity \
                 token from the identity provider and then retry the request.",
            )
        })?;
        let role = parse_role_arn(&input.role_arn)?;
        let mut assumed = assumed_role(&role, &input.role_session_name);
        assumed.session_policies =
            session_policies(input.policy.as_ref(), input.policy_arns.as_ref());
        let duration = duration(input.duration_seconds, 3600);
        let credentials = self
            .identities
            .mint(assumed.clone(), duration)
            .await
            .map_err(store_error)?;
        let subject = claims
            .get("sub")
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_owned();
        let audience = match claims.get("aud") {
            Some(serde_json::Value::String(a)) => a.clone(),
            Some(serde_json::Value::Array(a)) => {
                a.first().and_then(|v| v.as_str()).unwrap_or("").to_owned()
            }
            _ => String::new(),
        };
        let provider = input
            .provider_id
            .clone()
            .or_else(|| {
                claims
                    .get("iss")
                    .and_then(|v| v.as_str())
                    .map(|iss| iss.trim_start_matches("https://").to_owned())
            })
            .unwrap_or_default();
        Ok(shapes::AssumeRoleWithWebIdentityResponse {
            credentials: Some(wire_credentials(credentials)),
            subject_from_web_identity_token: Some(subject),
            assumed_role_user: Some(assumed_role_user(&assumed)),
            packed_policy_size: packed_policy_size(
                input.policy.as_deref(),
                input.policy_arns.as_ref().map_or(0, Vec::len),
                0,
            ),
            provider: Some(provider),
            audience: Some(audience),
            ..Default::default()
        })
    }

    async fn assume_role_with_saml(
        &self,
        _ctx: &mut RequestContext,
        input: shapes::AssumeRoleWithSAMLRequest,
    ) -> Result<shapes::AssumeRoleWithSAMLResponse, ApiError> {
        let role = parse_role_arn(&input.role_arn)?;
        let provider = Arn::parse(&input.principal_arn)
            .ok()
            .filter(|a| a.service == "iam" && a.resource.starts_with("saml-provider/"))
            .ok_or_else(|| {
                ApiError::with_status(
                    StatusCode::BAD_REQUEST,
                    "ValidationError",
                    format!("{} is invalid", input.principal_arn),
                )
            })?;
        let assertion = saml::Assertion::parse(&input.saml_assertion).ok_or_else(|| {
            shapes::errors::invalid_identity_token_exception(
                "Invalid base64 SAMLResponse (check that your SAML response is base64 encoded)",
            )
        })?;
        let now = std::time::SystemTime::now();
        let ends: Vec<std::time::SystemTime> = assertion
            .not_on_or_after
            .iter()
            .filter_map(|t| skyport_core::timefmt::parse_rfc3339(t))
            .collect();
        if ends.iter().any(|end| *end <= now) {
            return Err(shapes::errors::expired_token_exception(
                "Token must be redeemed within 5 minutes of issuance",
            ));
        }
        if !assertion.allows(&input.role_arn, &input.principal_arn) {
            return Err(ApiError::with_status(
                StatusCode::FORBIDDEN,
                "AccessDenied",
                "Not authorized to perform sts:AssumeRoleWithSAML",
            ));
        }
        let session = assertion
            .values(saml::SESSION_NAME)
            .first()
            .cloned()
            .filter(|s| {
                (2..=64).contains(&s.len())
                    && s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "_=,.@-".contains(c))
            })
            .ok_or_else(|| {
                shapes::errors::invalid_identity_token_exception(
                    "The SAML assertion has no valid RoleSessionName attribute",
                )
            })?;
        // The session lasts what was asked (an hour by default), no longer than the assertion's
        // SessionDuration attribute or its SessionNotOnOrAfter.
        let mut lasts = duration(input.duration_seconds, 3600);
        if let Some(limit) = assertion
            .values(saml::SESSION_DURATION)
            .first()
            .and_then(|d| d.trim().parse::<u64>().ok())
        {
            lasts = lasts.min(std::time::Duration::from_secs(limit));
        }
        if let Some(until) = ends.iter().filter_map(|e| e.duration_since(now).ok()).min() {
            lasts = lasts.min(until);
        }
        let mut assumed = assumed_role(&role, &session);
        assumed.session_policies =
            session_policies(input.policy.as_ref(), input.policy_arns.as_ref());
        let credentials = self
            .identities
            .mint(assumed.clone(), lasts)
            .await
            .map_err(store_error)?;
        let issuer = assertion.issuer.clone().unwrap_or_default();
        let provider_name = provider.resource.rsplit('/').next().unwrap_or_default();
        let qualifier = {
            use sha1::Digest;
            let digest =
                sha1::Sha1::digest(format!("{issuer}{}/{provider_name}", provider.account));
            base64::engine::general_purpose::STANDARD.encode(digest)
        };
        Ok(shapes::AssumeRoleWithSAMLResponse {
            credentials: Some(wire_credentials(credentials)),
            assumed_role_user: Some(assumed_role_user(&assumed)),
            packed_policy_size: packed_policy_size(
                input.policy.as_deref(),
                input.policy_arns.as_ref().map_or(0, Vec::len),
                0,
            ),
            subject: assertion.subject.clone(),
            subject_type: assertion.subject_type(),
            issuer: assertion.issuer.clone(),
            audience: assertion.recipient.clone(),
            name_qualifier: Some(qualifier),
            ..Default::default()
        })
    }

    async fn get_session_token(
        &self,
        ctx: &mut RequestContext,
        input: shapes::GetSessionTokenRequest,
    ) -> Result<shapes::GetSessionTokenResponse, ApiError> {
        let caller = self.caller(ctx)?;
        if caller.expires.is_some() {
            return Err(ApiError::with_status(
                StatusCode::FORBIDDEN,
                "AccessDenied",
                "Cannot call GetSessionToken with session credentials",
            ));
        }
        let credentials = self
            .identities
            .mint(caller, duration(input.duration_seconds, 43200))
            .await
            .map_err(store_error)?;
        Ok(shapes::GetSessionTokenResponse {
            credentials: Some(wire_credentials(credentials)),
            ..Default::default()
        })
    }

    async fn get_federation_token(
        &self,
        ctx: &mut RequestContext,
        input: shapes::GetFederationTokenRequest,
    ) -> Result<shapes::GetFederationTokenResponse, ApiError> {
        let caller = self.caller(ctx)?;
        if caller.expires.is_some() {
            return Err(ApiError::with_status(
                StatusCode::FORBIDDEN,
                "AccessDenied",
                "Cannot call GetFederationToken with session credentials",
            ));
        }
        // Sessions a root user obtains last at most an hour (a longer request gets an hour), others
        // up to 36 hours, 12 by default.
        let mut duration = duration(input.duration_seconds, 43200);
        if caller.arn.ends_with(":root") {
            duration = duration.min(std::time::Duration::from_secs(3600));
        }
        let partition = caller.arn.split(':').nth(1).unwrap_or("aws").to_owned();
        let federated = Identity {
            arn: format!(
                "arn:{partition}:sts::{}:federated-user/{}",
                caller.account, input.name
            ),
            user_id: format!("{}:{}", caller.account, input.name),
            account: caller.account,
            expires: None,
            session_policies: session_policies(input.policy.as_ref(), input.policy_arns.as_ref()),
            federated_by: Some(caller.arn.clone()),
        };
        let credentials = self
            .identities
            .mint(federated.clone(), duration)
            .await
            .map_err(store_error)?;
        Ok(shapes::GetFederationTokenResponse {
            credentials: Some(wire_credentials(credentials)),
            federated_user: Some(shapes::FederatedUser {
                federated_user_id: federated.user_id,
                arn: federated.arn,
            }),
            packed_policy_size: packed_policy_size(
                input.policy.as_deref(),
                input.policy_arns.as_ref().map_or(0, Vec::len),
                input.tags.as_ref().map_or(0, Vec::len),
            ),
            ..Default::default()
        })
    }

    async fn get_access_key_info(
        &self,
        ctx: &mut RequestContext,
        input: shapes::GetAccessKeyInfoRequest,
    ) -> Result<shapes::GetAccessKeyInfoResponse, ApiError> {
        let key = input.access_key_id;
        let account = match self.identities.lookup(&key).map_err(store_error)? {
            Some(identity) => identity.account,
            None if is_account_id(&key) => key,
            None => access_key::decode_account(&key).unwrap_or_else(|| ctx.account.clone()),
        };
        Ok(shapes::GetAccessKeyInfoResponse {
            account: Some(account),
        })
    }
}

#[async_trait::async_trait]
impl skyport_core::bus::CredentialIssuer for Sts {
    async fn assume_role(
        &self,
        role_arn: &str,
        session_name: &str,
        duration: std::time::Duration,
    ) -> Result<skyport_core::bus::SessionCredentials, skyport_core::bus::BusError> {
        let role = parse_role_arn(role_arn)
            .map_err(|e| skyport_core::bus::BusError::Rejected(e.message))?;
        let assumed = assumed_role(&role, session_name);
        let credentials = self
            .identities
            .mint(assumed, duration)
            .await
            .map_err(|e| skyport_core::bus::BusError::Internal(e.to_string()))?;
        Ok(skyport_core::bus::SessionCredentials {
            access_key_id: credentials.access_key_id,
            secret_access_key: credentials.secret_access_key,
            session_token: credentials.session_token,
            expiration: u64::try_from(Timestamp::from(credentials.expiration).secs).unwrap_or(0),
        })
    }
}

/// The requested duration (the model bounds it), or the operation's default.
fn duration(seconds: Option<i32>, default: u64) -> std::time::Duration {
    std::time::Duration::from_secs(
        seconds
            .and_then(|s| u64::try_from(s).ok())
            .unwrap_or(default),
    )
}

fn wire_credentials(c: Credentials) -> shapes::Credentials {
    shapes::Credentials {
        access_key_id: c.access_key_id,
        secret_access_key: c.secret_access_key,
        session_token: c.session_token,
        // STS writes whole seconds.
        expiration: Timestamp::from_secs(Timestamp::from(c.expiration).secs),
    }
}

fn assumed_role_user(identity: &Identity) -> shapes::AssumedRoleUser {
    shapes::AssumedRoleUser {
        assumed_role_id: identity.user_id.clone(),
        arn: identity.arn.clone(),
    }
}

fn parse_role_arn(text: &str) -> Result<Arn, ApiError> {
    let invalid = || {
        ApiError::with_status(
            StatusCode::BAD_REQUEST,
            "ValidationError",
            format!("{text} is invalid"),
        )
    };
    let arn = Arn::parse(text).map_err(|_| invalid())?;
    if arn.service != "iam" || !arn.resource.starts_with("role/") || !is_account_id(&arn.account) {
        return Err(invalid());
    }
    Ok(arn)
}

fn assumed_role(role: &Arn, session: &str) -> Identity {
    let role_name = role.resource.rsplit('/').next().unwrap_or(&role.resource);
    Identity {
        account: role.account.clone(),
        arn: format!(
            "arn:{}:sts::{}:assumed-role/{role_name}/{session}",
            role.partition, role.account
        ),
        user_id: format!("{}:{session}", role_unique_id(role)),
        expires: None,
        session_policies: Vec::new(),
        federated_by: None,
    }
}

/// The session policies of an `AssumeRole*` request: the inline document, then the managed ARNs.
fn session_policies(
    policy: Option<&String>,
    arns: Option<&Vec<shapes::PolicyDescriptorType>>,
) -> Vec<String> {
    policy
        .cloned()
        .into_iter()
        .chain(arns.into_iter().flatten().filter_map(|p| p.arn.clone()))
        .collect()
}

/// AWS's packed size of the session policies and tags, in percent of the limit; absent without any.
fn packed_policy_size(policy: Option<&str>, arns: usize, tags: usize) -> Option<i32> {
    let policy = policy.map_or(0, str::len);
    if policy == 0 && arns == 0 && tags == 0 {
        return None;
    }
    let used = policy + arns * 64 + tags * 32;
    Some(
        i32::try_from((used * 100) / 2048)
            .unwrap_or(i32::MAX)
            .max(1),
    )
}

/// Decodes the payload of a JWT (without verifying it: Skyport has no identity provider keys).
fn jwt_claims(token: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
    let mut parts = token.split('.');
    let (_header, payload, _signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        serde_json::Value::Object(map) => Some(map),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use skyport_core::body;

    async fn call(sts: &Sts, ctx: &mut RequestContext, form: &str) -> (StatusCode, String) {
        let request = Request::post("/")
            .body(body::full(form.to_owned()))
            .unwrap();
        let response = match sts.call(ctx, request).await {
            Ok(r) => r,
            Err(e) => e.to_response(
                Protocol::Query,
                &skyport_core::error::ErrorRender {
                    request_id: "r",
                    host_id: None,
                    service: Some(&INFO),
                    method: None,
                },
            ),
        };
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    fn sts() -> Sts {
        Sts::new(Store::in_memory().unwrap())
    }

    #[tokio::test]
    async fn caller_identity_of_the_root() {
        let mut ctx = RequestContext::new("sts", Protocol::Query);
        ctx.account = "123456789012".into();
        let (status, xml) = call(
            &sts(),
            &mut ctx,
            "Action=GetCallerIdentity&Version=2011-06-15",
        )
        .await;
        assert_eq!(status, 200);
        assert!(
            xml.contains("<Arn>arn:aws:iam::123456789012:root</Arn>"),
            "{xml}"
        );
        assert!(xml.contains("<Account>123456789012</Account>"));
        assert_eq!(ctx.operation.as_deref(), Some("GetCallerIdentity"));
    }

    #[tokio::test]
    async fn assume_role_then_identity() {
        let sts = sts();
        let mut ctx = RequestContext::new("sts", Protocol::Query);
        let (status, xml) = call(
            &sts,
            &mut ctx,
            "Action=AssumeRole&RoleArn=arn%3Aaws%3Aiam%3A%3A111122223333%3Arole%2Fteam%2Fdemo&RoleSessionName=s1",
        )
        .await;
        assert_eq!(status, 200, "{xml}");
        assert!(
            xml.contains("<Arn>arn:aws:sts::111122223333:assumed-role/demo/s1</Arn>"),
            "{xml}"
        );
        let key = xml
            .split("<AccessKeyId>")
            .nth(1)
            .unwrap()
            .split('<')
            .next()
            .unwrap()
            .to_owned();
        let mut ctx = RequestContext::new("sts", Protocol::Query);
        ctx.account = access_key::account_for_key(&key, false).unwrap();
        ctx.access_key = Some(key);
        let (_, xml) = call(&sts, &mut ctx, "Action=GetCallerIdentity").await;
        assert!(xml.contains("assumed-role/demo/s1"), "{xml}");
        assert!(xml.contains("<Account>111122223333</Account>"));
        let (status, xml) = call(&sts, &mut ctx, "Action=GetSessionToken").await;
        assert_eq!(status, 403, "{xml}");
    }

    #[tokio::test]
    async fn validation_errors_are_aws_shaped() {
        let mut ctx = RequestContext::new("sts", Protocol::Query);
        let (status, xml) = call(
            &sts(),
            &mut ctx,
            "Action=AssumeRole&RoleSessionName=a%21&DurationSeconds=10",
        )
        .await;
        assert_eq!(status, 400);
        assert!(xml.contains("<Code>ValidationError</Code>"));
        assert!(
            xml.contains("3 validation errors detected: Value null at &apos;roleArn&apos;"),
            "{xml}"
        );
        let (status, xml) = call(&sts(), &mut ctx, "Action=Nope").await;
        assert_eq!(status, 400);
        assert!(xml.contains("<Code>InvalidAction</Code>"));
        let (_, xml) = call(&sts(), &mut ctx, "Action=GetAccessKeyInfo&AccessKeyId=test").await;
        assert!(xml.contains("greater than or equal to 16"), "{xml}");
        let (_, xml) = call(
            &sts(),
            &mut ctx,
            "Action=GetAccessKeyInfo&AccessKeyId=ASIAY34FZKBOKMUTVV7A",
        )
        .await;
        assert!(xml.contains("<Account>609629065308</Account>"), "{xml}");
    }

    #[tokio::test]
    async fn web_identity() {
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(br#"{"sub":"user-1","aud":"my-app","iss":"https://idp.example.com"}"#);
        let token = format!("eyJhbGciOiJSUzI1NiJ9.{payload}.c2ln");
        let mut ctx = RequestContext::new("sts", Protocol::Query);
        let form = format!(
            "Action=AssumeRoleWithWebIdentity&RoleArn=arn:aws:iam::123456789012:role/web&RoleSessionName=w1&WebIdentityToken={token}"
        );
        let (status, xml) = call(&sts(), &mut ctx, &form).await;
        assert_eq!(status, 200, "{xml}");
        assert!(xml.contains("<SubjectFromWebIdentityToken>user-1</SubjectFromWebIdentityToken>"));
        assert!(xml.contains("<Audience>my-app</Audience>"));
        assert!(xml.contains("<Provider>idp.example.com</Provider>"));
        let (status, xml) = call(
            &sts(),
            &mut ctx,
            "Action=AssumeRoleWithWebIdentity&RoleArn=arn:aws:iam::123456789012:role/web&RoleSessionName=w1&WebIdentityToken=notajwt",
        )
        .await;
        assert_eq!(status, 400);
        assert!(xml.contains("InvalidIdentityToken"));
    }
}
