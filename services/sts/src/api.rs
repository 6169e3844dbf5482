//! STS on the wire: query-protocol request parsing, validation with AWS's messages, and XML responses.

use std::time::Duration;

use base64::Engine;
use http::{Request, Response, StatusCode};
use skyport_core::{
    AwsError, Body, Protocol, RequestContext, Service, ServiceInfo, access_key,
    arn::{Arn, is_account_id},
    body,
    error::StorageCodes,
    protocol::{Params, xml_response},
    store::{Store, StoreError},
    timefmt,
    xml::XmlWriter,
};

use crate::identity::{Credentials, Identity, IdentityStore, role_unique_id};

const NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

static INFO: ServiceInfo = ServiceInfo {
    name: "sts",
    protocols: &[Protocol::Query],
    xml_namespace: NAMESPACE,
    json_error_prefix: "com.amazonaws.sts#",
};

/// The STS service.
#[derive(Debug, Clone)]
pub struct Sts {
    identities: IdentityStore,
}

impl Sts {
    /// STS keeping its identities in `store`.
    pub fn new(store: Store) -> Sts {
        Sts {
            identities: IdentityStore::new(store),
        }
    }
}

fn store_error(e: StoreError) -> AwsError {
    AwsError::storage(&(&e).into(), StorageCodes::COMMON)
}

#[async_trait::async_trait]
impl Service for Sts {
    fn info(&self) -> &'static ServiceInfo {
        &INFO
    }

    async fn call(
        &self,
        ctx: &mut RequestContext,
        request: Request<Body>,
    ) -> Result<Response<Body>, AwsError> {
        let (parts, request_body) = request.into_parts();
        let form = body::collect_limited(request_body, 1 << 20).await?;
        let params = Params::from_query_and_form(parts.uri.query(), &form);
        let Some(action) = params.get("Action") else {
            return Err(AwsError::bad_request("MissingAction", "Missing Action"));
        };
        ctx.set_operation(action);
        match ctx.operation.as_deref().unwrap_or_default() {
            "GetCallerIdentity" => self.get_caller_identity(ctx),
            "AssumeRole" => self.assume_role(ctx, &params).await,
            "AssumeRoleWithWebIdentity" => self.assume_role_with_web_identity(ctx, &params).await,
            "GetSessionToken" => self.get_session_token(ctx, &params).await,
            "GetAccessKeyInfo" => self.get_access_key_info(ctx, &params),
            other => Err(AwsError::bad_request(
                "InvalidAction",
                format!("Could not find operation {other} for version 2011-06-15"),
            )),
        }
    }
}

impl Sts {
    /// The identity of the caller: the one recorded for a Skyport-minted key, else the account root.
    fn caller(&self, ctx: &RequestContext) -> Result<Identity, AwsError> {
        if let Some(key) = &ctx.access_key
            && let Some(identity) = self.identities.lookup(key).map_err(store_error)?
        {
            {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0);
                if identity.expires.is_some_and(|e| e < now) {
                    return Err(AwsError::new(
                        StatusCode::FORBIDDEN,
                        "ExpiredToken",
                        "The security token included in the request is expired",
                    ));
                }
                return Ok(identity);
            }
        }
        Ok(Identity::root(&ctx.account, ctx.partition()))
    }

    fn get_caller_identity(&self, ctx: &RequestContext) -> Result<Response<Body>, AwsError> {
        let identity = self.caller(ctx)?;
        Ok(respond("GetCallerIdentity", ctx, |w| {
            w.leaf("UserId", &identity.user_id)
                .leaf("Account", &identity.account)
                .leaf("Arn", &identity.arn);
        }))
    }

    async fn assume_role(
        &self,
        ctx: &RequestContext,
        params: &Params,
    ) -> Result<Response<Body>, AwsError> {
        let mut v = Validator::default();
        let role_arn = v.required(params, "RoleArn", "roleArn", 20, 2048);
        let session = v.required(params, "RoleSessionName", "roleSessionName", 2, 64);
        v.pattern(
            session.as_deref(),
            "roleSessionName",
            is_session_char,
            "[\\w+=,.@-]*",
        );
        let duration = v.duration(params, 900, 43200, 3600);
        v.optional_len(params, "Policy", "policy", 1, 2048);
        v.optional_len(params, "ExternalId", "externalId", 2, 1224);
        v.optional_len(params, "SerialNumber", "serialNumber", 9, 256);
        v.optional_len(params, "SourceIdentity", "sourceIdentity", 2, 64);
        if params.struct_list("Tags").len() > 50 {
            v.error("Value at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50".into());
        }
        v.finish()?;
        let (role_arn, session) = (role_arn.unwrap_or_default(), session.unwrap_or_default());
        let role = parse_role_arn(&role_arn)?;
        let assumed = assumed_role(&role, &session);
        let credentials = self
            .identities
            .mint(assumed.clone(), duration)
            .await
            .map_err(store_error)?;
        let packed = packed_policy_size(params);
        Ok(respond("AssumeRole", ctx, |w| {
            write_assumed_role_user(w, &assumed);
            write_credentials(w, &credentials);
            if let Some(size) = packed {
                w.leaf("PackedPolicySize", &size.to_string());
            }
            w.opt_leaf("SourceIdentity", params.get("SourceIdentity"));
        }))
    }

    async fn assume_role_with_web_identity(
        &self,
        ctx: &RequestContext,
        params: &Params,
    ) -> Result<Response<Body>, AwsError> {
        let mut v = Validator::default();
        let role_arn = v.required(params, "RoleArn", "roleArn", 20, 2048);
        let session = v.required(params, "RoleSessionName", "roleSessionName", 2, 64);
        v.pattern(
            session.as_deref(),
            "roleSessionName",
            is_session_char,
            "[\\w+=,.@-]*",
        );
        let token = v.required(params, "WebIdentityToken", "webIdentityToken", 4, 20000);
        let duration = v.duration(params, 900, 43200, 3600);
        v.optional_len(params, "ProviderId", "providerId", 4, 2048);
        v.optional_len(params, "Policy", "policy", 1, 2048);
        v.finish()?;
        let claims = jwt_claims(&token.unwrap_or_default()).ok_or_else(|| {
            AwsError::bad_request(
                "InvalidIdentityToken",
                "The web identity token that was passed could not be validated by AWS. Get a new identity \
                 token from the identity provider and then retry the request.",
            )
        })?;
        let (role_arn, session) = (role_arn.unwrap_or_default(), session.unwrap_or_default());
        let role = parse_role_arn(&role_arn)?;
        let assumed = assumed_role(&role, &session);
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
        let provider = params
            .get("ProviderId")
            .map(str::to_owned)
            .or_else(|| {
                claims
                    .get("iss")
                    .and_then(|v| v.as_str())
                    .map(|iss| iss.trim_start_matches("https://").to_owned())
            })
            .unwrap_or_default();
        Ok(respond("AssumeRoleWithWebIdentity", ctx, |w| {
            w.leaf("SubjectFromWebIdentityToken", &subject);
            w.leaf("Audience", &audience);
            write_assumed_role_user(w, &assumed);
            write_credentials(w, &credentials);
            w.leaf("Provider", &provider);
            if let Some(size) = packed_policy_size(params) {
                w.leaf("PackedPolicySize", &size.to_string());
            }
        }))
    }

    async fn get_session_token(
        &self,
        ctx: &RequestContext,
        params: &Params,
    ) -> Result<Response<Body>, AwsError> {
        let mut v = Validator::default();
        let duration = v.duration(params, 900, 129600, 43200);
        v.optional_len(params, "SerialNumber", "serialNumber", 9, 256);
        v.optional_len(params, "TokenCode", "tokenCode", 6, 6);
        v.finish()?;
        let caller = self.caller(ctx)?;
        if caller.expires.is_some() {
            return Err(AwsError::new(
                StatusCode::FORBIDDEN,
                "AccessDenied",
                "Cannot call GetSessionToken with session credentials",
            ));
        }
        let credentials = self
            .identities
            .mint(caller, duration)
            .await
            .map_err(store_error)?;
        Ok(respond("GetSessionToken", ctx, |w| {
            write_credentials(w, &credentials)
        }))
    }

    fn get_access_key_info(
        &self,
        ctx: &RequestContext,
        params: &Params,
    ) -> Result<Response<Body>, AwsError> {
        let mut v = Validator::default();
        let key = v.required(params, "AccessKeyId", "accessKeyId", 16, 128);
        v.pattern(
            key.as_deref(),
            "accessKeyId",
            |c| c.is_ascii_alphanumeric(),
            "[\\w]*",
        );
        v.finish()?;
        let key = key.unwrap_or_default();
        let account = match self.identities.lookup(&key).map_err(store_error)? {
            Some(identity) => identity.account,
            None if is_account_id(&key) => key,
            None => access_key::decode_account(&key).unwrap_or_else(|| ctx.account.clone()),
        };
        Ok(respond("GetAccessKeyInfo", ctx, |w| {
            w.leaf("Account", &account);
        }))
    }
}

fn respond(
    operation: &str,
    ctx: &RequestContext,
    result: impl FnOnce(&mut XmlWriter),
) -> Response<Body> {
    let mut w = XmlWriter::new();
    // `<Op>Response` and `<Op>Result` in one buffer (this runs for every request).
    let mut tags = String::with_capacity(2 * operation.len() + 14);
    tags.push_str(operation);
    tags.push_str("Response");
    tags.push_str(operation);
    tags.push_str("Result");
    let (response_tag, result_tag) = tags.split_at(operation.len() + "Response".len());
    w.start_ns(response_tag, NAMESPACE).start(result_tag);
    result(&mut w);
    w.end(result_tag)
        .start("ResponseMetadata")
        .leaf("RequestId", &ctx.request_id)
        .end("ResponseMetadata")
        .end(response_tag);
    xml_response(Protocol::Query, StatusCode::OK, w.finish())
}

fn write_credentials(w: &mut XmlWriter, c: &Credentials) {
    w.start("Credentials")
        .leaf("AccessKeyId", &c.access_key_id)
        .leaf("SecretAccessKey", &c.secret_access_key)
        .leaf("SessionToken", &c.session_token)
        .leaf("Expiration", &timefmt::iso8601_seconds(c.expiration))
        .end("Credentials");
}

fn write_assumed_role_user(w: &mut XmlWriter, identity: &Identity) {
    w.start("AssumedRoleUser")
        .leaf("AssumedRoleId", &identity.user_id)
        .leaf("Arn", &identity.arn)
        .end("AssumedRoleUser");
}

fn parse_role_arn(text: &str) -> Result<Arn, AwsError> {
    let arn = Arn::parse(text).map_err(|_| AwsError::validation(format!("{text} is invalid")))?;
    if arn.service != "iam" || !arn.resource.starts_with("role/") || !is_account_id(&arn.account) {
        return Err(AwsError::validation(format!("{text} is invalid")));
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
    }
}

fn packed_policy_size(params: &Params) -> Option<u32> {
    let policy = params.get("Policy").map(str::len).unwrap_or(0);
    let arns = params.struct_list("PolicyArns").len();
    let tags = params.struct_list("Tags").len();
    if policy == 0 && arns == 0 && tags == 0 {
        return None;
    }
    let used = policy + arns * 64 + tags * 32;
    Some(((used * 100) / 2048).max(1) as u32)
}

fn is_session_char(c: char) -> bool {
    c.is_alphanumeric() || "_+=,.@-".contains(c)
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

/// Collects constraint violations and reports them the way AWS does:
/// `N validation error(s) detected: Value 'x' at 'member' failed to satisfy constraint: ...; ...`.
#[derive(Default)]
struct Validator {
    errors: Vec<String>,
}

impl Validator {
    fn error(&mut self, message: String) {
        self.errors.push(message);
    }

    fn required(
        &mut self,
        params: &Params,
        name: &str,
        member: &str,
        min: usize,
        max: usize,
    ) -> Option<String> {
        match params.get(name) {
            None => {
                self.error(format!(
                    "Value null at '{member}' failed to satisfy constraint: Member must not be null"
                ));
                None
            }
            Some(value) => {
                self.length(value, member, min, max);
                Some(value.to_owned())
            }
        }
    }

    fn optional_len(&mut self, params: &Params, name: &str, member: &str, min: usize, max: usize) {
        if let Some(value) = params.get(name) {
            self.length(value, member, min, max);
        }
    }

    fn length(&mut self, value: &str, member: &str, min: usize, max: usize) {
        let len = value.chars().count();
        if len < min {
            self.error(format!(
                "Value '{value}' at '{member}' failed to satisfy constraint: Member must have length greater than or equal to {min}"
            ));
        } else if len > max {
            self.error(format!(
                "Value '{value}' at '{member}' failed to satisfy constraint: Member must have length less than or equal to {max}"
            ));
        }
    }

    fn pattern(
        &mut self,
        value: Option<&str>,
        member: &str,
        ok: impl Fn(char) -> bool,
        pattern: &str,
    ) {
        if let Some(value) = value
            && !value.chars().all(ok)
        {
            {
                self.error(format!(
                    "Value '{value}' at '{member}' failed to satisfy constraint: Member must satisfy regular expression pattern: {pattern}"
                ));
            }
        }
    }

    fn duration(&mut self, params: &Params, min: u64, max: u64, default: u64) -> Duration {
        let Some(text) = params.get("DurationSeconds") else {
            return Duration::from_secs(default);
        };
        match text.parse::<u64>() {
            Ok(secs) if secs < min => self.error(format!(
                "Value '{secs}' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to {min}"
            )),
            Ok(secs) if secs > max => self.error(format!(
                "Value '{secs}' at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to {max}"
            )),
            Ok(secs) => return Duration::from_secs(secs),
            Err(_) => self.error(format!(
                "Value '{text}' at 'durationSeconds' failed to satisfy constraint: Member must be an integer"
            )),
        }
        Duration::from_secs(default)
    }

    fn finish(self) -> Result<(), AwsError> {
        match self.errors.len() {
            0 => Ok(()),
            1 => Err(AwsError::validation(format!(
                "1 validation error detected: {}",
                self.errors[0]
            ))),
            n => Err(AwsError::validation(format!(
                "{n} validation errors detected: {}",
                self.errors.join("; ")
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

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
