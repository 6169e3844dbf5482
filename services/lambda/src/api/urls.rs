//! Function URLs: the control plane (Create/Get/Update/Delete/ListFunctionUrlConfigs, stored in the
//! function's record with an index from URL id to function) and the data plane: a request to
//! `https://<url-id>.lambda-url.<region>.on.aws/` (or the same under `localhost.localstack.cloud`)
//! checked against the URL's auth type and the function's policy, then invoked synchronously with the
//! payload format 2.0 event ([`crate::urls`]).

use bytes::Bytes;
use http::{Request, Response};
use skyport_core::store::StoreError;
use skyport_core::{Body, RequestContext, body};
use skyport_wire::{ApiError, persist};

use super::{Lambda, marker_page, store_error};
use crate::errors;
use crate::ids::{self, FunctionRef};
use crate::record::{self, Function};
use crate::shapes;
use crate::urls::{self, URLS, UrlConfig, UrlTarget};

/// The largest request body a function URL takes (the synchronous payload limit).
const MAX_BODY: usize = 6 * 1024 * 1024;

fn cors_to_json(cors: Option<shapes::Cors>) -> Result<Option<serde_json::Value>, ApiError> {
    cors.map(|c| persist::to_json(crate::model(), "Cors", c).map_err(|e| errors::service(e.0)))
        .transpose()
}

fn cors_of(config: &UrlConfig) -> Option<shapes::Cors> {
    config
        .cors
        .as_ref()
        .and_then(|c| persist::from_json(crate::model(), "Cors", c).ok())
}

fn url_not_found() -> ApiError {
    errors::not_found("The resource you requested does not exist.")
}

/// What a URL configuration looks like in the API.
struct View {
    url: String,
    function_arn: String,
    config: UrlConfig,
}

impl View {
    fn into_config(self) -> shapes::FunctionUrlConfig {
        let cors = cors_of(&self.config);
        shapes::FunctionUrlConfig {
            function_url: self.url,
            function_arn: self.function_arn,
            creation_time: self.config.created,
            last_modified_time: self.config.last_modified,
            cors,
            auth_type: self.config.auth_type,
            invoke_mode: Some(self.config.invoke_mode),
        }
    }
}

impl Lambda {
    fn view(&self, ctx: &RequestContext, r: &FunctionRef, qualifier: &str, c: &UrlConfig) -> View {
        let base = self.arn(ctx, r);
        View {
            url: format!("https://{}.lambda-url.{}.on.aws/", c.url_id, r.region),
            function_arn: if qualifier == "$LATEST" {
                base
            } else {
                ids::qualified_arn(&base, qualifier)
            },
            config: c.clone(),
        }
    }

    /// Removes the index entry of a URL id.
    pub(super) async fn forget_url(&self, url_id: &str) -> Result<(), ApiError> {
        let id = url_id.to_owned();
        self.store()
            .write_async(move |w| w.delete(URLS, &id).map(|_| ()))
            .await
            .map_err(store_error)
    }

    pub(super) async fn url_create(
        &self,
        ctx: &RequestContext,
        input: shapes::CreateFunctionUrlConfigRequest,
    ) -> Result<shapes::CreateFunctionUrlConfigResponse, ApiError> {
        let r = ids::parse(ctx, &input.function_name)?;
        let qualifier = input
            .qualifier
            .clone()
            .or(r.qualifier.clone())
            .unwrap_or_else(|| "$LATEST".to_owned());
        let base = self.arn(ctx, &r);
        let now = ids::url_time_now();
        let config = UrlConfig {
            url_id: urls::new_url_id(),
            auth_type: input.auth_type.clone(),
            invoke_mode: input
                .invoke_mode
                .clone()
                .unwrap_or_else(|| "BUFFERED".to_owned()),
            cors: cors_to_json(input.cors.clone())?,
            created: now.clone(),
            last_modified: now,
        };
        let key = record::key(&r.account, &r.region, &r.name);
        let target = UrlTarget {
            account: r.account.clone(),
            region: r.region.clone(),
            name: r.name.clone(),
            qualifier: qualifier.clone(),
        };
        let stored = config.clone();
        let q = qualifier.clone();
        let missing = errors::function_not_found(&base);
        let exists = errors::conflict(format!(
            "Failed to create function url config for [functionArn = {}]. Error message:  FunctionUrlConfig exists for this Lambda function",
            if qualifier == "$LATEST" {
                base.clone()
            } else {
                ids::qualified_arn(&base, &qualifier)
            }
        ));
        let no_alias = errors::function_not_found(&ids::qualified_arn(&base, &qualifier));
        self.store()
            .write_async(move |w| {
                let Some(mut f) = Function::read_in(w, &key)? else {
                    return Ok(Err(missing));
                };
                if q != "$LATEST" && !f.aliases.contains_key(&q) {
                    return Ok(Err(no_alias));
                }
                if f.urls.contains_key(&q) {
                    return Ok(Err(exists));
                }
                f.urls.insert(q, stored.clone());
                f.write(w, &key)?;
                w.put(URLS, &stored.url_id, &serde_json::to_vec(&target)?)?;
                Ok(Ok(()))
            })
            .await
            .map_err(store_error)??;
        let view = self.view(ctx, &r, &qualifier, &config);
        let cors = cors_of(&view.config);
        Ok(shapes::CreateFunctionUrlConfigResponse {
            function_url: view.url,
            function_arn: view.function_arn,
            auth_type: view.config.auth_type,
            cors,
            creation_time: view.config.created,
            invoke_mode: Some(view.config.invoke_mode),
        })
    }

    fn url_lookup(
        &self,
        ctx: &RequestContext,
        function_name: &str,
        qualifier: Option<&str>,
    ) -> Result<(FunctionRef, String, Function), ApiError> {
        let r = ids::parse(ctx, function_name)?;
        let qualifier = qualifier
            .map(str::to_owned)
            .or(r.qualifier.clone())
            .unwrap_or_else(|| "$LATEST".to_owned());
        let f = self.load(ctx, &r)?;
        Ok((r, qualifier, f))
    }

    pub(super) fn url_get(
        &self,
        ctx: &RequestContext,
        input: &shapes::GetFunctionUrlConfigRequest,
    ) -> Result<shapes::GetFunctionUrlConfigResponse, ApiError> {
        let (r, q, f) = self.url_lookup(ctx, &input.function_name, input.qualifier.as_deref())?;
        let c = f.urls.get(&q).ok_or_else(url_not_found)?;
        let v = self.view(ctx, &r, &q, c).into_config();
        Ok(shapes::GetFunctionUrlConfigResponse {
            function_url: v.function_url,
            function_arn: v.function_arn,
            auth_type: v.auth_type,
            cors: v.cors,
            creation_time: v.creation_time,
            last_modified_time: v.last_modified_time,
            invoke_mode: v.invoke_mode,
        })
    }

    pub(super) async fn url_update(
        &self,
        ctx: &RequestContext,
        input: shapes::UpdateFunctionUrlConfigRequest,
    ) -> Result<shapes::UpdateFunctionUrlConfigResponse, ApiError> {
        let (r, q, _) = self.url_lookup(ctx, &input.function_name, input.qualifier.as_deref())?;
        let cors = cors_to_json(input.cors.clone())?;
        let key = q.clone();
        let updated = self
            .update(ctx, &r, move |f| {
                let c = f.urls.get_mut(&key).ok_or_else(url_not_found)?;
                if let Some(auth) = input.auth_type {
                    c.auth_type = auth;
                }
                if let Some(mode) = input.invoke_mode {
                    c.invoke_mode = mode;
                }
                if cors.is_some() {
                    c.cors = cors;
                }
                c.last_modified = ids::url_time_now();
                Ok(c.clone())
            })
            .await?;
        let v = self.view(ctx, &r, &q, &updated).into_config();
        Ok(shapes::UpdateFunctionUrlConfigResponse {
            function_url: v.function_url,
            function_arn: v.function_arn,
            auth_type: v.auth_type,
            cors: v.cors,
            creation_time: v.creation_time,
            last_modified_time: v.last_modified_time,
            invoke_mode: v.invoke_mode,
        })
    }

    pub(super) async fn url_delete(
        &self,
        ctx: &RequestContext,
        input: shapes::DeleteFunctionUrlConfigRequest,
    ) -> Result<(), ApiError> {
        let (r, q, _) = self.url_lookup(ctx, &input.function_name, input.qualifier.as_deref())?;
        let removed = self
            .update(ctx, &r, move |f| {
                f.urls.remove(&q).ok_or_else(url_not_found)
            })
            .await?;
        self.forget_url(&removed.url_id).await
    }

    pub(super) fn url_list(
        &self,
        ctx: &RequestContext,
        input: &shapes::ListFunctionUrlConfigsRequest,
    ) -> Result<shapes::ListFunctionUrlConfigsResponse, ApiError> {
        let (r, _, f) = self.url_lookup(ctx, &input.function_name, None)?;
        let items: Vec<(String, shapes::FunctionUrlConfig)> = f
            .urls
            .iter()
            .map(|(q, c)| (q.clone(), self.view(ctx, &r, q, c).into_config()))
            .collect();
        let (page, next) = marker_page(&items, input.marker.as_deref(), input.max_items);
        Ok(shapes::ListFunctionUrlConfigsResponse {
            function_url_configs: page,
            next_marker: next,
        })
    }

    /// True when the function's policy lets anyone call its URL (auth type `NONE`): a statement allowing
    /// `lambda:InvokeFunctionUrl` to `*` on the function (or the URL's qualifier).
    fn url_public(&self, f: &Function, function_arn: &str, qualifier: &str) -> bool {
        let qualified = ids::qualified_arn(function_arn, qualifier);
        super::policy_allows(
            &f.statements,
            "lambda:InvokeFunctionUrl",
            &[function_arn, &qualified],
            |p| p.as_str() == Some("*") || p.get("AWS").and_then(|v| v.as_str()) == Some("*"),
        )
    }

    /// Serves a request to a function URL.
    pub(super) async fn serve_url(
        &self,
        ctx: &mut RequestContext,
        url_id: &str,
        request: Request<Body>,
    ) -> Response<Body> {
        ctx.set_operation("InvokeFunctionUrl");
        let response = self.url_response(ctx, url_id, request).await;
        let (parts, bytes) = response.into_parts();
        Response::from_parts(parts, body::full(bytes))
    }

    async fn url_response(
        &self,
        ctx: &mut RequestContext,
        url_id: &str,
        request: Request<Body>,
    ) -> Response<Bytes> {
        let target: Option<UrlTarget> = self
            .store()
            .get(URLS, url_id)
            .ok()
            .flatten()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok());
        let Some(target) = target else {
            return urls::forbidden();
        };
        let key = record::key(&target.account, &target.region, &target.name);
        let f = match self.store().read(|r| Function::read(r, &key)) {
            Ok(Some(f)) => f,
            Ok(None) | Err(StoreError::Codec(_)) => return urls::forbidden(),
            Err(_) => return urls::internal_error(),
        };
        let Some(config) = f.urls.get(&target.qualifier).cloned() else {
            return urls::forbidden();
        };
        let function_arn = ids::function_arn(
            ctx.partition(),
            &target.region,
            &target.account,
            &target.name,
        );
        let (parts, request_body) = request.into_parts();
        let signed = parts.headers.contains_key(http::header::AUTHORIZATION)
            || parts
                .uri
                .query()
                .is_some_and(|q| q.contains("X-Amz-Signature="));
        let allowed = match config.auth_type.as_str() {
            "AWS_IAM" => signed,
            _ => self.url_public(&f, &function_arn, &target.qualifier),
        };
        if !allowed {
            return urls::forbidden();
        }
        let cors = cors_of(&config);
        if parts.method == http::Method::OPTIONS
            && parts.headers.contains_key(http::header::ORIGIN)
            && parts
                .headers
                .contains_key(http::header::ACCESS_CONTROL_REQUEST_METHOD)
            && let Some(cors) = &cors
        {
            return urls::preflight(cors, &parts.headers);
        }
        let Ok(bytes) = body::collect_limited(request_body, MAX_BODY).await else {
            let mut response = Response::new(Bytes::from_static(
                br#"{"Message":"Request must be smaller than 6291456 bytes for the InvokeFunction operation"}"#,
            ));
            *response.status_mut() = http::StatusCode::PAYLOAD_TOO_LARGE;
            return response;
        };
        let domain = ctx
            .host
            .rsplit_once(':')
            .map_or(ctx.host.as_str(), |(h, _)| h)
            .to_owned();
        let now_ms = i64::try_from(
            ctx.received_at
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis())
                .unwrap_or_default(),
        )
        .unwrap_or_default();
        let event = urls::event(
            &parts.method,
            &parts.uri,
            parts.version,
            &parts.headers,
            &bytes,
            &urls::RequestInfo {
                account: &target.account,
                url_id,
                domain: &domain,
                source_ip: ctx.client.map(|c| c.ip().to_string()).unwrap_or_default(),
                request_id: &ctx.request_id,
                now_ms,
            },
        );
        let qualifier = (target.qualifier != "$LATEST").then(|| target.qualifier.clone());
        let resolved = crate::invoke::Target::resolve(&f, &function_arn, qualifier.as_deref());
        let Ok(resolved) = resolved else {
            return urls::forbidden();
        };
        let mut invoke_ctx = ctx.clone();
        target.account.clone_into(&mut invoke_ctx.account);
        target.region.clone_into(&mut invoke_ctx.region);
        let input = shapes::InvocationRequest {
            function_name: function_arn.clone(),
            payload: Some(Bytes::from(event.to_string())),
            qualifier,
            ..Default::default()
        };
        let outcome = self
            .inner
            .engine
            .invoke(
                &invoke_ctx,
                resolved,
                input,
                crate::destinations::AsyncPolicy::default(),
            )
            .await;
        let mut response = match outcome {
            Ok(out) if out.function_error.is_none() => {
                urls::response(out.payload.as_deref().unwrap_or(b"null"))
            }
            Ok(_) => urls::internal_error(),
            Err(e) if e.code == "TooManyRequestsException" => urls::throttled(),
            Err(_) => urls::internal_error(),
        };
        if let Some(cors) = &cors {
            urls::apply_cors(cors, &parts.headers, &mut response);
        }
        response
    }
}
