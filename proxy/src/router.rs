//! Which AWS service and wire protocol a request is for, decided from its head alone (a form body is read
//! only in the `Action` step, and only by the dispatcher).
//!
//! The order follows ARCHITECTURE.md: data-plane hosts (function URLs, S3 websites) → SigV4 credential
//! scope (`Authorization` header or presigned `X-Amz-Credential`) → `X-Amz-Target` prefix → path patterns
//! (SQS queue URLs, Lambda's `/2015-03-31/functions`) → host prefix (`sqs.<region>.…`, `<bucket>.s3.…`) →
//! query-protocol `Action` → S3 fallbacks. Region comes from the credential scope, else the host, else
//! `us-east-1`; the account from the access key (see `skyport_core::access_key`), else `000000000000`.

use http::{HeaderMap, HeaderName, Method, header, request::Parts};
use skyport_core::{
    Protocol,
    access_key::account_for_key,
    arn::{is_account_id, is_region},
    host::{HostDomains, HostInfo, analyze},
};

use crate::catalog::{self, ServiceDef};

static X_AMZ_TARGET: HeaderName = HeaderName::from_static("x-amz-target");

/// What the router needs to know about the deployment.
#[derive(Debug, Clone)]
pub struct RouterConfig {
    /// The domains Skyport's hostnames live under.
    pub domains: HostDomains,
    /// Decode the account from real `AKIA`/`ASIA` keys too (`PARITY_AWS_ACCESS_KEY_ID=1`).
    pub parity_access_keys: bool,
}

/// The SigV4 (or SigV2) credential a request was signed with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    /// The access key id.
    pub access_key: String,
    /// The region of the scope (`None` for SigV2 and SigV4a).
    pub region: Option<String>,
    /// The signing name of the scope (`None` for SigV2).
    pub service: Option<String>,
}

/// Which rule decided the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// `<id>.lambda-url.…`, `<bucket>.s3-website.…`.
    DataPlaneHost,
    /// The SigV4 credential scope.
    CredentialScope,
    /// The `X-Amz-Target` header.
    Target,
    /// A path pattern.
    Path,
    /// The Host header.
    HostPrefix,
    /// The query-protocol `Action`.
    Action,
    /// The S3 fallbacks.
    S3Fallback,
    /// Nothing matched.
    None,
}

/// The router's decision for one request.
#[derive(Debug, Clone)]
pub struct Route {
    /// The recognised service, if any.
    pub service: Option<&'static ServiceDef>,
    /// The service name the client signed for, also when Skyport does not know it.
    pub signing_name: Option<String>,
    /// The wire protocol.
    pub protocol: Protocol,
    /// The operation when the head names it (`X-Amz-Target`, query `Action`).
    pub operation: Option<String>,
    /// The credential, if the request is signed.
    pub credential: Option<Credential>,
    /// What the Host header says.
    pub host: HostInfo,
    /// Which rule decided.
    pub rule: Rule,
    /// A malformed `Authorization` header (the reason).
    pub auth_problem: Option<String>,
    /// An `X-Amz-Target` whose prefix no known service uses.
    pub unknown_target: Option<String>,
    /// The service is not decided yet: the dispatcher must read the form body and call
    /// [`Route::resolve_action`].
    pub needs_form_action: bool,
}

impl Route {
    /// The account the request acts in.
    pub fn account(&self, config: &RouterConfig) -> String {
        self.credential
            .as_ref()
            .and_then(|c| account_for_key(&c.access_key, config.parity_access_keys))
            .unwrap_or_else(|| skyport_core::DEFAULT_ACCOUNT.to_owned())
    }

    /// The region the request acts in.
    pub fn region(&self) -> String {
        self.credential
            .as_ref()
            .and_then(|c| c.region.as_deref())
            .filter(|r| is_region(r))
            .or(self.host.region.as_deref())
            .unwrap_or(skyport_core::DEFAULT_REGION)
            .to_owned()
    }

    /// Sends a request the router could not place, or placed only by the S3 fallbacks (any path looks
    /// like a bucket), to the service `id` (a port-range route pinned to one service); a request it
    /// placed by a stronger rule keeps its service.
    pub fn pin(&mut self, id: &str) {
        if self.service.is_some() && self.rule != Rule::S3Fallback {
            return;
        }
        if let Some(def) = catalog::by_id(id) {
            self.service = Some(def);
            self.unknown_target = None;
            if !def.protocols.contains(&self.protocol)
                && let Some(protocol) = def.protocols.first()
            {
                self.protocol = *protocol;
            }
        }
    }

    /// Completes a route that needed the form body's `Action`.
    pub fn resolve_action(&mut self, action: Option<&str>) {
        self.needs_form_action = false;
        if let Some(action) = action {
            self.operation = Some(action.to_owned());
            if self.service.is_none()
                && let Some(def) = catalog::by_action(action)
            {
                self.service = Some(def);
                self.rule = Rule::Action;
            }
        }
        if let Some(def) = self.service
            && def.protocols.contains(&Protocol::Query)
        {
            self.protocol = Protocol::Query;
        }
    }
}

/// Classifies a request head.
pub fn classify(parts: &Parts, config: &RouterConfig) -> Route {
    let headers = &parts.headers;
    let path = parts.uri.path();
    let query = parts.uri.query().unwrap_or("");
    let host_header = header_str(headers, &header::HOST)
        .or_else(|| parts.uri.authority().map(|a| a.as_str()))
        .unwrap_or("");
    let host = analyze(host_header, &config.domains);
    let (credential, auth_problem) = credential(headers, query);
    let target = header_str(headers, &X_AMZ_TARGET).map(str::trim);
    let content_type = header_str(headers, &header::CONTENT_TYPE).unwrap_or("");
    let is_json = content_type.starts_with("application/x-amz-json");

    let mut route = Route {
        service: None,
        signing_name: credential.as_ref().and_then(|c| c.service.clone()),
        protocol: Protocol::RestXml,
        operation: None,
        credential,
        host,
        rule: Rule::None,
        auth_problem,
        unknown_target: None,
        needs_form_action: false,
    };

    let (target_def, target_op) = match target {
        Some(t) => {
            let (prefix, op) = t.rsplit_once('.').unwrap_or((t, ""));
            let def = catalog::by_target_prefix(prefix);
            if def.is_none() {
                route.unknown_target = Some(t.to_owned());
            }
            (def, (!op.is_empty()).then(|| op.to_owned()))
        }
        None => (None, None),
    };
    route.operation = target_op;

    let decided = data_plane(&route.host)
        .map(|d| (d, Rule::DataPlaneHost))
        .or_else(|| by_credential(&route, path, target_def).map(|d| (d, Rule::CredentialScope)))
        .or_else(|| target_def.map(|d| (d, Rule::Target)))
        .or_else(|| by_path(path).map(|d| (d, Rule::Path)))
        .or_else(|| {
            route
                .host
                .endpoint_prefix
                .as_deref()
                .and_then(catalog::by_endpoint_prefix)
                .map(|d| (d, Rule::HostPrefix))
        });

    let query_action = query_param(query, "Action");
    match decided {
        Some((def, rule)) => {
            route.service = Some(def);
            route.rule = rule;
        }
        None => {
            if let Some(action) = query_action.as_deref().and_then(catalog::by_action) {
                route.service = Some(action);
                route.rule = Rule::Action;
            } else if is_form_post(parts) && target.is_none() {
                route.needs_form_action = true;
            } else if target.is_none() && s3_fallback(parts, path, query, headers) {
                route.service = catalog::by_id("s3");
                route.rule = Rule::S3Fallback;
            }
        }
    }

    if route.operation.is_none() {
        route.operation = query_action;
    }
    route.protocol = match route.service {
        Some(def) => choose_protocol(
            def,
            target.is_some() || is_json,
            is_form_post(parts) || route.rule == Rule::Action,
        ),
        None => guess_protocol(target.is_some(), is_json, content_type, &route),
    };
    route
}

fn choose_protocol(def: &ServiceDef, json_signals: bool, query_signals: bool) -> Protocol {
    if def.protocols.len() == 1 {
        return def.protocols[0];
    }
    let json = def.protocols.iter().copied().find(|p| p.is_aws_json());
    let query = def
        .protocols
        .iter()
        .copied()
        .find(|p| matches!(p, Protocol::Query | Protocol::Ec2));
    match (json, query) {
        (Some(json), _) if json_signals => json,
        (_, Some(query)) if query_signals => query,
        (Some(json), Some(query)) => {
            if json_signals {
                json
            } else {
                query
            }
        }
        _ => def.protocols[0],
    }
}

fn guess_protocol(has_target: bool, is_json: bool, content_type: &str, route: &Route) -> Protocol {
    if content_type.starts_with("application/x-amz-json-1.0") {
        Protocol::Json10
    } else if has_target || is_json {
        Protocol::Json11
    } else if route.needs_form_action || route.operation.is_some() {
        Protocol::Query
    } else if content_type.contains("json") {
        Protocol::RestJson
    } else {
        Protocol::RestXml
    }
}

fn data_plane(host: &HostInfo) -> Option<&'static ServiceDef> {
    match host.endpoint_prefix.as_deref()? {
        "lambda-url" if host.resource_id.is_some() => catalog::by_id("lambda"),
        "execute-api" if host.resource_id.is_some() => catalog::by_id("apigateway"),
        "s3-website" => catalog::by_id("s3"),
        _ => None,
    }
}

fn by_credential(
    route: &Route,
    path: &str,
    target: Option<&'static ServiceDef>,
) -> Option<&'static ServiceDef> {
    let name = route.credential.as_ref()?.service.as_deref()?;
    // Signing names shared by several services, split by path the way the SDKs do.
    if name == "s3" && path.starts_with("/v20180820") {
        return None;
    }
    // DynamoDB Streams signs as `dynamodb`: its target prefix or host (`streams.dynamodb.<region>`,
    // whose first label is the prefix) tells them apart.
    if name == "dynamodb"
        && (target.is_some_and(|t| t.id == "dynamodbstreams")
            || route.host.endpoint_prefix.as_deref() == Some("streams"))
    {
        return catalog::by_id("dynamodbstreams");
    }
    catalog::by_signing_name(name)
}

fn by_path(path: &str) -> Option<&'static ServiceDef> {
    let mut segments = path.trim_start_matches('/').split('/');
    let first = segments.next().unwrap_or("");
    let second = segments.next();
    if is_account_id(first) && second.is_some_and(|q| !q.is_empty()) && segments.next().is_none() {
        return catalog::by_id("sqs");
    }
    if first == "queue" && second.is_some_and(is_region) {
        return catalog::by_id("sqs");
    }
    // LocalStack's SNS inspection endpoints (`/_aws/sns/sms-messages`, ...) and SQS's message peek
    // (`/_aws/sqs/messages`).
    if first == "_aws" && second == Some("sns") {
        return catalog::by_id("sns");
    }
    if first == "_aws" && second == Some("sqs") {
        return catalog::by_id("sqs");
    }
    let lambda_resources = [
        "functions",
        "layers",
        "tags",
        "event-source-mappings",
        "account-settings",
        "code-signing-configs",
    ];
    if is_api_date(first) && second.is_some_and(|s| lambda_resources.contains(&s)) {
        return catalog::by_id("lambda");
    }
    None
}

fn is_api_date(segment: &str) -> bool {
    let b = segment.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

fn is_form_post(parts: &Parts) -> bool {
    parts.method == Method::POST
        && header_str(&parts.headers, &header::CONTENT_TYPE)
            .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"))
}

fn s3_fallback(parts: &Parts, path: &str, query: &str, headers: &HeaderMap) -> bool {
    let presigned = [
        "X-Amz-Algorithm=",
        "X-Amz-Signature=",
        "AWSAccessKeyId=",
        "Signature=",
    ]
    .iter()
    .any(|p| query.split('&').any(|kv| kv.starts_with(p)));
    let sigv2 = header_str(headers, &header::AUTHORIZATION).is_some_and(|a| a.starts_with("AWS "));
    let non_root = path.len() > 1;
    presigned
        || sigv2
        || (non_root
            && matches!(
                parts.method,
                Method::GET
                    | Method::HEAD
                    | Method::PUT
                    | Method::DELETE
                    | Method::POST
                    | Method::OPTIONS
            ))
}

// Typed header names: a `&str` name is parsed and validated on every lookup.
fn header_str<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The first value of `name` in a query string, percent-decoded.
pub fn query_param(query: &str, name: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Extracts the credential from the `Authorization` header or presign query parameters. Returns the
/// reason when an `Authorization` header claims SigV4 but cannot be parsed.
fn credential(headers: &HeaderMap, query: &str) -> (Option<Credential>, Option<String>) {
    if let Some(auth) = headers.get(header::AUTHORIZATION) {
        let Ok(auth) = auth.to_str() else {
            return (
                None,
                Some("the Authorization header is not valid ASCII".to_owned()),
            );
        };
        let auth = auth.trim();
        if let Some(rest) = auth.strip_prefix("AWS4-") {
            let scope = rest
                .split([',', ' '])
                .filter_map(|p| p.trim().strip_prefix("Credential="))
                .next();
            return match scope.and_then(parse_scope) {
                Some(c) => (Some(c), None),
                None => (
                    None,
                    Some(format!(
                        "Authorization header requires 'Credential' parameter with a scope of the form \
                         <key>/<date>/<region>/<service>/aws4_request. Authorization={auth}"
                    )),
                ),
            };
        }
        if let Some(rest) = auth.strip_prefix("AWS ") {
            let key = rest.split(':').next().unwrap_or("").trim();
            if !key.is_empty() {
                return (
                    Some(Credential {
                        access_key: key.to_owned(),
                        region: None,
                        service: None,
                    }),
                    None,
                );
            }
            return (
                None,
                Some("the AWS (SigV2) Authorization header has no access key".to_owned()),
            );
        }
    }
    if let Some(scope) = query_param(query, "X-Amz-Credential") {
        return (parse_scope(&scope), None);
    }
    if let Some(key) = query_param(query, "AWSAccessKeyId") {
        return (
            Some(Credential {
                access_key: key,
                region: None,
                service: None,
            }),
            None,
        );
    }
    (None, None)
}

fn parse_scope(scope: &str) -> Option<Credential> {
    // `<key>/<date>/<region>/<service>/aws4_request`, or SigV4a's `<key>/<date>/<service>/aws4_request`
    // (no region); split without collecting, as this runs for every signed request.
    let mut parts = scope.split('/');
    let key = parts.next()?;
    let _date = parts.next()?;
    let third = parts.next()?;
    let fourth = parts.next()?;
    let (region, service) = match (parts.next(), parts.next()) {
        (Some("aws4_request"), None) => (Some(third), fourth),
        (None, _) if fourth == "aws4_request" => (None, third),
        _ => return None,
    };
    if key.is_empty() || service.is_empty() {
        return None;
    }
    Some(Credential {
        access_key: key.to_owned(),
        region: region.map(str::to_owned),
        service: Some(service.to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_scopes() {
        let c = parse_scope("AKID/20261204/us-east-1/sts/aws4_request").unwrap();
        assert_eq!(c.access_key, "AKID");
        assert_eq!(c.region.as_deref(), Some("us-east-1"));
        assert_eq!(c.service.as_deref(), Some("sts"));
        // SigV4a: no region.
        let c = parse_scope("AKID/20261204/s3/aws4_request").unwrap();
        assert_eq!((c.region, c.service.as_deref()), (None, Some("s3")));
        for bad in [
            "AKID/20261204/us-east-1/sts/aws4_request/x",
            "AKID/20261204/us-east-1/sts/other",
            "AKID/20261204/aws4_request",
            "AKID/20261204/us-east-1/sts",
            "/20261204/us-east-1/sts/aws4_request",
            "AKID/20261204/us-east-1//aws4_request",
            "AKID/20261204//aws4_request",
            "",
        ] {
            assert_eq!(parse_scope(bad), None, "{bad}");
        }
        // An empty region stays (the route's region check drops it later).
        let c = parse_scope("AKID/20261204//sts/aws4_request").unwrap();
        assert_eq!(c.region.as_deref(), Some(""));
    }
}
