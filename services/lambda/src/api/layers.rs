//! The layer operations (PublishLayerVersion, Get/List/DeleteLayerVersion, ListLayers and the layer
//! version permissions) over [`crate::layers`], and how a function's `Layers` are resolved: each ARN
//! must name an existing version, at most five, one version per layer, and the packages are extracted
//! in order into `/opt` by the executors.

use skyport_core::RequestContext;
use skyport_wire::ApiError;

use super::{Lambda, check_revision, new_revision, store_error};
use crate::errors;
use crate::ids;
use crate::layers::{self, LAYERS, Layer, LayerRef, LayerVersion};
use crate::shapes;

/// A function's layers, resolved: what `FunctionConfiguration.Layers` reports, and the packages.
pub struct Resolved {
    /// `Layers` of the configuration.
    pub config: Vec<shapes::Layer>,
    /// The packages' SHA-256 (hex), in order.
    pub packages: Vec<String>,
}

fn not_found() -> ApiError {
    errors::not_found("The resource you requested does not exist.")
}

fn name_ref(ctx: &RequestContext, text: &str) -> Result<LayerRef, ApiError> {
    layers::parse_name(text, &ctx.account, &ctx.region).ok_or_else(|| {
        errors::invalid_parameter(format!(
            "1 validation error detected: Value '{text}' at 'layerName' failed to satisfy constraint: \
             Member must satisfy regular expression pattern: (arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\\d{{12}}:layer:[a-zA-Z0-9-_]+)|[a-zA-Z0-9-_]+"
        ))
    })
}

fn list_item(partition: &str, l: &LayerRef, v: &LayerVersion) -> shapes::LayerVersionsListItem {
    shapes::LayerVersionsListItem {
        layer_version_arn: Some(l.version_arn(partition, v.version)),
        version: Some(v.version),
        description: Some(v.description.clone()),
        created_date: Some(v.created.clone()),
        compatible_architectures: (!v.compatible_architectures.is_empty())
            .then(|| v.compatible_architectures.clone()),
        compatible_runtimes: (!v.compatible_runtimes.is_empty())
            .then(|| v.compatible_runtimes.clone()),
        license_info: v.license_info.clone(),
    }
}

fn matches(v: &LayerVersion, runtime: Option<&str>, architecture: Option<&str>) -> bool {
    runtime.is_none_or(|r| v.compatible_runtimes.iter().any(|c| c == r))
        && architecture.is_none_or(|a| v.compatible_architectures.iter().any(|c| c == a))
}

fn layer_statement(
    input: &shapes::AddLayerVersionPermissionRequest,
    partition: &str,
    resource: &str,
) -> serde_json::Value {
    let principal = if input.principal == "*" {
        serde_json::Value::String("*".to_owned())
    } else if input.principal.starts_with("arn:") {
        serde_json::json!({ "AWS": input.principal })
    } else {
        serde_json::json!({ "AWS": format!("arn:{partition}:iam::{}:root", input.principal) })
    };
    let mut statement = serde_json::json!({
        "Sid": input.statement_id,
        "Effect": "Allow",
        "Principal": principal,
        "Action": input.action,
        "Resource": resource,
    });
    if let Some(org) = &input.organization_id {
        statement["Condition"] =
            serde_json::json!({ "StringEquals": { "aws:PrincipalOrgID": org } });
    }
    statement
}

impl Lambda {
    fn layer(&self, l: &LayerRef) -> Result<Option<Layer>, ApiError> {
        let key = l.key();
        self.store()
            .read(|r| Layer::read(r, &key))
            .map_err(store_error)
    }

    fn layer_version(&self, l: &LayerRef, version: i64) -> Result<LayerVersion, ApiError> {
        self.layer(l)?
            .and_then(|layer| layer.versions.get(&version).cloned())
            .ok_or_else(not_found)
    }

    /// Runs `change` on the layer `l` (created empty when missing) in one write transaction.
    async fn update_layer<T: Send + 'static>(
        &self,
        l: &LayerRef,
        change: impl FnOnce(&mut Layer) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let key = l.key();
        self.store()
            .write_async(move |w| {
                let mut layer = Layer::read_in(w, &key)?.unwrap_or_default();
                match change(&mut layer) {
                    Ok(out) => {
                        layer.write(w, &key)?;
                        Ok(Ok(out))
                    }
                    Err(e) => Ok(Err(e)),
                }
            })
            .await
            .map_err(store_error)?
    }

    fn layer_response(
        &self,
        ctx: &RequestContext,
        l: &LayerRef,
        v: &LayerVersion,
    ) -> shapes::GetLayerVersionResponse {
        let item = list_item(ctx.partition(), l, v);
        shapes::GetLayerVersionResponse {
            content: Some(shapes::LayerVersionContentOutput {
                location: Some(format!(
                    "{}/2018-10-31/layers/{}/versions/{}/code-location/{}.zip",
                    ctx.endpoint_url(),
                    l.name,
                    v.version,
                    v.sha256
                )),
                code_sha256: Some(v.sha256_b64.clone()),
                code_size: Some(i64::try_from(v.size).unwrap_or(i64::MAX)),
                ..Default::default()
            }),
            layer_arn: Some(l.arn(ctx.partition())),
            layer_version_arn: item.layer_version_arn,
            description: item.description,
            created_date: item.created_date,
            version: item.version,
            compatible_architectures: item.compatible_architectures,
            compatible_runtimes: item.compatible_runtimes,
            license_info: item.license_info,
        }
    }

    /// Resolves a function's `Layers` as CreateFunction and UpdateFunctionConfiguration do.
    pub(super) fn resolve_layers(&self, arns: &[String]) -> Result<Resolved, ApiError> {
        if arns.len() > layers::MAX_FUNCTION_LAYERS {
            return Err(errors::invalid_parameter(format!(
                "Cannot reference more than {} layers.",
                layers::MAX_FUNCTION_LAYERS
            )));
        }
        let mut resolved = Resolved {
            config: Vec::with_capacity(arns.len()),
            packages: Vec::with_capacity(arns.len()),
        };
        let mut seen: Vec<(String, &str)> = Vec::new();
        for arn in arns {
            let missing =
                || errors::invalid_parameter(format!("Layer version {arn} does not exist."));
            let (l, version) = layers::parse_version_arn(arn).ok_or_else(missing)?;
            if let Some((_, other)) = seen.iter().find(|(key, _)| *key == l.key()) {
                return Err(errors::invalid_parameter(format!(
                    "Two different versions of the same layer are not allowed to be referenced in the same function. {other} and {arn} have the same layer name."
                )));
            }
            seen.push((l.key(), arn));
            let v = self.layer_version(&l, version).map_err(|_| missing())?;
            resolved.config.push(shapes::Layer {
                arn: Some(arn.clone()),
                code_size: Some(i64::try_from(v.size).unwrap_or(i64::MAX)),
                ..Default::default()
            });
            resolved.packages.push(v.sha256);
        }
        Ok(resolved)
    }

    pub(super) async fn layers_publish(
        &self,
        ctx: &RequestContext,
        input: shapes::PublishLayerVersionRequest,
    ) -> Result<shapes::PublishLayerVersionResponse, ApiError> {
        let l = name_ref(ctx, &input.layer_name)?;
        let content = &input.content;
        if content.zip_file.is_none() && content.s3_bucket.is_some() != content.s3_key.is_some() {
            return Err(errors::invalid_parameter(
                "Please provide both S3Bucket and S3Key, or ZipFile.",
            ));
        }
        let (code, sha_b64) = self
            .fetch_code(
                ctx,
                content.zip_file.clone(),
                content.s3_bucket.as_deref(),
                content.s3_key.as_deref(),
                content.s3_object_version.as_deref(),
            )
            .await?;
        if code.hot_reload.is_some() {
            return Err(errors::invalid_parameter(
                "Layers take a zip archive (ZipFile or an S3 object); hot reloading applies to function code.",
            ));
        }
        let mut version = LayerVersion {
            version: 0,
            description: input.description.clone().unwrap_or_default(),
            created: ids::last_modified_now(),
            compatible_runtimes: input.compatible_runtimes.clone().unwrap_or_default(),
            compatible_architectures: input.compatible_architectures.clone().unwrap_or_default(),
            license_info: input.license_info.clone(),
            sha256: code.sha256,
            sha256_b64: sha_b64,
            size: code.size,
            statements: Vec::new(),
            policy_revision: new_revision(),
        };
        let stored = self
            .update_layer(&l, move |layer| {
                layer.next_version = layer.next_version.max(1);
                version.version = layer.next_version;
                layer.next_version += 1;
                layer.versions.insert(version.version, version.clone());
                Ok(version)
            })
            .await?;
        let r = self.layer_response(ctx, &l, &stored);
        Ok(shapes::PublishLayerVersionResponse {
            content: r.content,
            layer_arn: r.layer_arn,
            layer_version_arn: r.layer_version_arn,
            description: r.description,
            created_date: r.created_date,
            version: r.version,
            compatible_architectures: r.compatible_architectures,
            compatible_runtimes: r.compatible_runtimes,
            license_info: r.license_info,
        })
    }

    pub(super) fn layers_get(
        &self,
        ctx: &RequestContext,
        name: &str,
        version: i64,
    ) -> Result<shapes::GetLayerVersionResponse, ApiError> {
        let l = name_ref(ctx, name)?;
        let v = self.layer_version(&l, version)?;
        Ok(self.layer_response(ctx, &l, &v))
    }

    pub(super) fn layers_get_by_arn(
        &self,
        ctx: &RequestContext,
        arn: &str,
    ) -> Result<shapes::GetLayerVersionResponse, ApiError> {
        let (l, version) = layers::parse_version_arn(arn).ok_or_else(not_found)?;
        let v = self.layer_version(&l, version)?;
        Ok(self.layer_response(ctx, &l, &v))
    }

    pub(super) fn layers_list_versions(
        &self,
        ctx: &RequestContext,
        input: &shapes::ListLayerVersionsRequest,
    ) -> Result<shapes::ListLayerVersionsResponse, ApiError> {
        let l = name_ref(ctx, &input.layer_name)?;
        let layer = self.layer(&l)?.unwrap_or_default();
        // Newest first, as Lambda lists them; the marker is the last version number returned.
        let items: Vec<(String, shapes::LayerVersionsListItem)> = layer
            .versions
            .values()
            .rev()
            .filter(|v| {
                matches(
                    v,
                    input.compatible_runtime.as_deref(),
                    input.compatible_architecture.as_deref(),
                )
            })
            .map(|v| {
                (
                    format!("{:020}", i64::MAX - v.version),
                    list_item(ctx.partition(), &l, v),
                )
            })
            .collect();
        let (page, next) = super::marker_page(&items, input.marker.as_deref(), input.max_items);
        Ok(shapes::ListLayerVersionsResponse {
            next_marker: next,
            layer_versions: Some(page),
        })
    }

    pub(super) fn layers_list(
        &self,
        ctx: &RequestContext,
        input: &shapes::ListLayersRequest,
    ) -> Result<shapes::ListLayersResponse, ApiError> {
        let prefix = format!("{}/{}/", ctx.account, ctx.region);
        let records = self
            .store()
            .read(|r| {
                r.scan_prefix(LAYERS, &prefix, None, usize::MAX)?
                    .into_iter()
                    .map(|(key, bytes)| Ok((key, serde_json::from_slice::<Layer>(&bytes)?)))
                    .collect::<Result<Vec<_>, skyport_core::store::StoreError>>()
            })
            .map_err(store_error)?;
        let items: Vec<(String, shapes::LayersListItem)> = records
            .into_iter()
            .filter_map(|(key, layer)| {
                let name = key.strip_prefix(&prefix)?.to_owned();
                let latest = layer.versions.values().rev().find(|v| {
                    matches(
                        v,
                        input.compatible_runtime.as_deref(),
                        input.compatible_architecture.as_deref(),
                    )
                })?;
                let l = LayerRef {
                    account: ctx.account.clone(),
                    region: ctx.region.clone(),
                    name: name.clone(),
                };
                let item = shapes::LayersListItem {
                    layer_name: Some(name.clone()),
                    layer_arn: Some(l.arn(ctx.partition())),
                    latest_matching_version: Some(list_item(ctx.partition(), &l, latest)),
                };
                Some((name, item))
            })
            .collect();
        let (page, next) = super::marker_page(&items, input.marker.as_deref(), input.max_items);
        Ok(shapes::ListLayersResponse {
            next_marker: next,
            layers: Some(page),
        })
    }

    /// DeleteLayerVersion: idempotent, as on AWS (a missing version is not an error). Functions that
    /// use the version keep their copy of it.
    pub(super) async fn layers_delete(
        &self,
        ctx: &RequestContext,
        name: &str,
        version: i64,
    ) -> Result<(), ApiError> {
        let l = name_ref(ctx, name)?;
        if self.layer(&l)?.is_none() {
            return Ok(());
        }
        self.update_layer(&l, move |layer| {
            layer.versions.remove(&version);
            Ok(())
        })
        .await
    }

    pub(super) async fn layers_add_permission(
        &self,
        ctx: &RequestContext,
        input: shapes::AddLayerVersionPermissionRequest,
    ) -> Result<shapes::AddLayerVersionPermissionResponse, ApiError> {
        let l = name_ref(ctx, &input.layer_name)?;
        self.layer_version(&l, input.version_number)?;
        let resource = l.version_arn(ctx.partition(), input.version_number);
        let statement = layer_statement(&input, ctx.partition(), &resource);
        let text = statement.to_string();
        let revision = self
            .update_layer(&l, move |layer| {
                let v = layer
                    .versions
                    .get_mut(&input.version_number)
                    .ok_or_else(not_found)?;
                check_revision(
                    input.revision_id.as_deref(),
                    Some(v.policy_revision.as_str()),
                )?;
                super::add_statement(&mut v.statements, &input.statement_id, statement)?;
                v.policy_revision = new_revision();
                Ok(v.policy_revision.clone())
            })
            .await?;
        Ok(shapes::AddLayerVersionPermissionResponse {
            statement: Some(text),
            revision_id: Some(revision),
        })
    }

    pub(super) fn layers_get_policy(
        &self,
        ctx: &RequestContext,
        input: &shapes::GetLayerVersionPolicyRequest,
    ) -> Result<shapes::GetLayerVersionPolicyResponse, ApiError> {
        let l = name_ref(ctx, &input.layer_name)?;
        let v = self.layer_version(&l, input.version_number)?;
        if v.statements.is_empty() {
            return Err(errors::not_found(
                "No policy is associated with the given resource.",
            ));
        }
        Ok(shapes::GetLayerVersionPolicyResponse {
            policy: Some(super::policy_document(&v.statements)),
            revision_id: Some(v.policy_revision),
        })
    }

    pub(super) async fn layers_remove_permission(
        &self,
        ctx: &RequestContext,
        input: shapes::RemoveLayerVersionPermissionRequest,
    ) -> Result<(), ApiError> {
        let l = name_ref(ctx, &input.layer_name)?;
        self.layer_version(&l, input.version_number)?;
        self.update_layer(&l, move |layer| {
            let v = layer
                .versions
                .get_mut(&input.version_number)
                .ok_or_else(not_found)?;
            check_revision(
                input.revision_id.as_deref(),
                Some(v.policy_revision.as_str()),
            )?;
            super::remove_statement(&mut v.statements, &input.statement_id)?;
            v.policy_revision = new_revision();
            Ok(())
        })
        .await
    }
}
