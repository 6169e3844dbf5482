//! What each ECR API operation does, over the model's types: repositories and their settings and
//! policies, images, layer uploads, authorization tokens, tags.

use base64::Engine;
use skyport_core::RequestContext;
use skyport_wire::{ApiError, Timestamp};

use crate::api::{Ecr, PutFailure, no_repo, store_error};
use crate::blobs::BlobError;
use crate::lifecycle;
use crate::manifest::ManifestError;
use crate::shapes::{self, EcrApi, errors};
use crate::state::{self, ImageRec, PutError, RepoRec};

/// The part size InitiateLayerUpload suggests.
const PART_SIZE: i64 = 10 * 1024 * 1024;
/// Most tags on a repository.
const MAX_TAGS: usize = 50;

fn registry(ctx: &RequestContext, registry_id: Option<&str>) -> String {
    registry_id.unwrap_or(&ctx.account).to_owned()
}

fn invalid(message: impl Into<String>) -> ApiError {
    errors::invalid_parameter_exception(message)
}

fn page_token(after: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(after)
}

fn after_token(token: Option<&str>) -> Result<Option<String>, ApiError> {
    token
        .map(|t| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(t)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| invalid("Invalid parameter at 'nextToken' failed to satisfy constraint: 'Invalid NextToken'"))
        })
        .transpose()
}

/// One page of `items`, in `key` order, after the token's key.
fn page<T>(
    mut items: Vec<T>,
    key: impl Fn(&T) -> String,
    token: Option<&str>,
    max: Option<i32>,
    default_max: usize,
) -> Result<(Vec<T>, Option<String>), ApiError> {
    let after = after_token(token)?;
    let max = max.map_or(default_max, |m| usize::try_from(m).unwrap_or(default_max));
    items.sort_by_cached_key(&key);
    let mut out: Vec<T> = items
        .into_iter()
        .filter(|i| after.as_deref().is_none_or(|a| key(i).as_str() > a))
        .collect();
    let next = (out.len() > max).then(|| page_token(&key(&out[max - 1])));
    out.truncate(max);
    Ok((out, next))
}

fn image_id(digest: &str, tag: Option<&str>) -> shapes::ImageIdentifier {
    shapes::ImageIdentifier {
        image_digest: Some(digest.to_owned()),
        image_tag: tag.map(str::to_owned),
    }
}

fn describe_id(id: &shapes::ImageIdentifier) -> String {
    format!(
        "{{imageDigest:'{}', imageTag:'{}'}}",
        id.image_digest.as_deref().unwrap_or("null"),
        id.image_tag.as_deref().unwrap_or("null")
    )
}

/// Resolves an image id in `repo`: the image, or the failure code and reason of the Batch operations.
fn resolve(
    ecr: &Ecr,
    repo: &str,
    id: &shapes::ImageIdentifier,
) -> Result<Result<ImageRec, (&'static str, String)>, ApiError> {
    let digest = match (&id.image_digest, &id.image_tag) {
        (None, None) => {
            return Ok(Err((
                "MissingDigestAndTag",
                "Invalid request parameters: both tag and digest cannot be null".to_owned(),
            )));
        }
        (Some(d), _) if crate::blobs::parse_digest(d).is_err() => {
            return Ok(Err((
                "InvalidImageDigest",
                "Invalid request parameters: image digest should satisfy the regex '[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+'"
                    .to_owned(),
            )));
        }
        (Some(d), _) => d.clone(),
        (None, Some(tag)) => match state::tagged(ecr.store(), repo, tag).map_err(store_error)? {
            Some(d) => d,
            None => {
                return Ok(Err((
                    "ImageNotFound",
                    "Requested image not found".to_owned(),
                )));
            }
        },
    };
    let Some(image) = state::image(ecr.store(), repo, &digest).map_err(store_error)? else {
        return Ok(Err((
            "ImageNotFound",
            "Requested image not found".to_owned(),
        )));
    };
    if let Some(tag) = &id.image_tag
        && !image.tags.iter().any(|t| t == tag)
    {
        return Ok(Err((
            "ImageTagDoesNotMatchDigest",
            format!("Invalid request parameters: given tag '{tag}' does not match the digest"),
        )));
    }
    Ok(Ok(image))
}

fn failure(id: &shapes::ImageIdentifier, code: &str, reason: String) -> shapes::ImageFailure {
    shapes::ImageFailure {
        image_id: Some(id.clone()),
        failure_code: Some(code.to_owned()),
        failure_reason: Some(reason),
    }
}

fn tag_status_keeps(status: Option<&str>, image: &ImageRec) -> bool {
    match status {
        Some("TAGGED") => !image.tags.is_empty(),
        Some("UNTAGGED") => image.tags.is_empty(),
        _ => true,
    }
}

fn put_error(repo: &RepoRec, tag: Option<&str>, digest: &str, e: PutFailure) -> ApiError {
    match e {
        PutFailure::Manifest(ManifestError::Invalid(m)) => invalid(format!(
            "Invalid parameter at 'imageManifest' failed to satisfy constraint: '{m}'"
        )),
        PutFailure::Manifest(ManifestError::Unsupported(t)) => {
            errors::unsupported_image_type_exception(format!(
                "Invalid parameter at 'ImageManifest' failed to satisfy constraint: 'Invalid JSON syntax' or unsupported media type {t}"
            ))
        }
        PutFailure::Put(PutError::NoRepository) => no_repo(&repo.account, &repo.name),
        PutFailure::Put(PutError::TagImmutable(tag)) => {
            errors::image_tag_already_exists_exception(format!(
                "The image tag '{tag}' already exists in the '{}' repository and cannot be overwritten because the repository is immutable.",
                repo.name
            ))
        }
        PutFailure::Put(PutError::Exists) => errors::image_already_exists_exception(format!(
            "Image with digest '{digest}' and tag '{}' already exists in the repository with name '{}' in registry with id '{}'",
            tag.unwrap_or("null"),
            repo.name,
            repo.account
        )),
        PutFailure::Put(PutError::BlobUnknown(blob)) => {
            errors::layers_not_found_exception(format!(
                "Layers with digests '[{blob}]' required for pushing image into repository with name '{}' in the registry with id '{}' do not exist",
                repo.name, repo.account
            ))
        }
        PutFailure::Put(PutError::ManifestUnknown(m)) => {
            errors::referenced_images_not_found_exception(format!(
                "Manifests with digests '[{m}]' required for pushing image into repository with name '{}' in the registry with id '{}' do not exist",
                repo.name, repo.account
            ))
        }
        PutFailure::Put(PutError::Store(e)) => store_error(e),
    }
}

fn parse_repo_arn(arn: &str) -> Option<(String, String, String)> {
    let rest = arn.strip_prefix("arn:aws:ecr:")?;
    let mut parts = rest.splitn(3, ':');
    let region = parts.next()?.to_owned();
    let account = parts.next()?.to_owned();
    let name = parts.next()?.strip_prefix("repository/")?.to_owned();
    Some((account, region, name))
}

impl Ecr {
    fn arn_repo(&self, arn: &str) -> Result<RepoRec, ApiError> {
        let (account, region, name) = parse_repo_arn(arn).ok_or_else(|| {
            invalid(
                "Invalid parameter at 'resourceArn' failed to satisfy constraint: 'Invalid ARN'",
            )
        })?;
        self.repo(&account, &region, &name)
    }

    async fn save_repo(&self, rec: RepoRec) -> Result<(), ApiError> {
        self.store()
            .write_async(move |w| w.put_json(state::REPOS, &rec.key(), &rec))
            .await
            .map_err(store_error)
    }

    async fn delete_images(
        &self,
        repo: &str,
        targets: Vec<(String, Option<String>)>,
    ) -> Result<(), ApiError> {
        let key = repo.to_owned();
        let freed = self
            .store()
            .write_freeing_async(move |w| {
                let mut freed = Vec::new();
                for (digest, tag) in &targets {
                    if let Some((_, gone)) = state::delete_image(w, &key, digest, tag.as_deref())? {
                        freed.extend(gone);
                    }
                }
                Ok(freed)
            })
            .await
            .map_err(store_error)?;
        self.inner.blobs.remove(&freed);
        Ok(())
    }
}

fn blob_error(e: BlobError, upload: &str, repo: &RepoRec) -> ApiError {
    match e {
        BlobError::UploadUnknown => errors::upload_not_found_exception(format!(
            "Upload with upload id '{upload}' does not exist in the repository with name '{}' in the registry with id '{}'",
            repo.name, repo.account
        )),
        BlobError::RangeInvalid { size } => errors::invalid_layer_part_exception(format!(
            "The part's first byte must be {size}, the last byte received"
        )),
        BlobError::DigestMalformed(d) => invalid(format!(
            "Invalid parameter at 'layerDigest' failed to satisfy constraint: 'invalid digest {d}'"
        )),
        BlobError::DigestMismatch { claimed, actual } => errors::invalid_layer_exception(format!(
            "The layer digest {claimed} does not match the uploaded content's digest {actual}"
        )),
        BlobError::SizeInvalid { .. } => errors::invalid_layer_part_exception(e.to_string()),
        BlobError::Body(_) | BlobError::Io(_) => errors::server_exception(e.to_string()),
    }
}

#[async_trait::async_trait]
impl EcrApi for Ecr {
    async fn create_repository(
        &self,
        ctx: &mut RequestContext,
        input: shapes::CreateRepositoryRequest,
    ) -> Result<shapes::CreateRepositoryResponse, ApiError> {
        let account = registry(ctx, input.registry_id.as_deref());
        let tags = input.tags.unwrap_or_default();
        if tags.len() > MAX_TAGS {
            return Err(errors::too_many_tags_exception(
                "A repository can have at most 50 tags",
            ));
        }
        let encryption = input
            .encryption_configuration
            .map(|e| (e.encryption_type, e.kms_key))
            .unwrap_or_else(|| ("AES256".to_owned(), None));
        if encryption.0 == "AES256" && encryption.1.is_some() {
            return Err(invalid(
                "Invalid parameter at 'encryptionConfiguration' failed to satisfy constraint: 'kmsKey can only be specified when encryptionType is KMS'",
            ));
        }
        let rec = RepoRec {
            account: account.clone(),
            region: ctx.region.clone(),
            name: input.repository_name.clone(),
            created_ms: state::now_ms(),
            tag_mutability: input
                .image_tag_mutability
                .unwrap_or_else(|| "MUTABLE".to_owned()),
            mutability_exclusions: input
                .image_tag_mutability_exclusion_filters
                .unwrap_or_default()
                .into_iter()
                .map(|f| (f.filter_type, f.filter))
                .collect(),
            scan_on_push: input
                .image_scanning_configuration
                .and_then(|c| c.scan_on_push)
                .unwrap_or(false),
            encryption,
            tags: tags.into_iter().map(|t| (t.key, t.value)).collect(),
            policy: None,
            lifecycle: None,
            lifecycle_evaluated_ms: None,
        };
        let key = rec.key();
        let stored = rec.clone();
        let created = self
            .store()
            .write_async(move |w| {
                if w.get(state::REPOS, &key)?.is_some() {
                    return Ok(false);
                }
                w.put_json(state::REPOS, &key, &stored)?;
                Ok(true)
            })
            .await
            .map_err(store_error)?;
        if !created {
            return Err(errors::repository_already_exists_exception(format!(
                "The repository with name '{}' already exists in the registry with id '{account}'",
                rec.name
            )));
        }
        self.registry_port();
        Ok(shapes::CreateRepositoryResponse {
            repository: Some(self.repository_shape(&rec)),
        })
    }

    async fn describe_repositories(
        &self,
        ctx: &mut RequestContext,
        input: shapes::DescribeRepositoriesRequest,
    ) -> Result<shapes::DescribeRepositoriesResponse, ApiError> {
        let account = registry(ctx, input.registry_id.as_deref());
        let repos = match &input.repository_names {
            Some(names) => {
                if input.max_results.is_some() || input.next_token.is_some() {
                    return Err(invalid(
                        "Invalid parameter: nextToken and maxResults cannot be used with repositoryNames",
                    ));
                }
                names
                    .iter()
                    .map(|n| self.repo(&account, &ctx.region, n))
                    .collect::<Result<Vec<_>, _>>()?
            }
            None => state::repos(self.store(), &account, &ctx.region).map_err(store_error)?,
        };
        let (repos, next_token) = page(
            repos,
            |r| r.name.clone(),
            input.next_token.as_deref(),
            input.max_results,
            1000,
        )?;
        Ok(shapes::DescribeRepositoriesResponse {
            repositories: Some(repos.iter().map(|r| self.repository_shape(r)).collect()),
            next_token,
        })
    }

    async fn delete_repository(
        &self,
        ctx: &mut RequestContext,
        input: shapes::DeleteRepositoryRequest,
    ) -> Result<shapes::DeleteRepositoryResponse, ApiError> {
        let account = registry(ctx, input.registry_id.as_deref());
        let rec = self.repo(&account, &ctx.region, &input.repository_name)?;
        let key = rec.key();
        let contents = state::contents(self.store(), &key).map_err(store_error)?;
        if !contents.0.is_empty() && !input.force.unwrap_or(false) {
            return Err(errors::repository_not_empty_exception(format!(
                "The repository with name '{}' in registry with id '{account}' cannot be deleted because it still contains images",
                rec.name
            )));
        }
        let freed = self
            .store()
            .write_freeing_async(move |w| state::delete_repo(w, &key, &contents))
            .await
            .map_err(store_error)?;
        self.inner.blobs.remove(&freed);
        Ok(shapes::DeleteRepositoryResponse {
            repository: Some(self.repository_shape(&rec)),
        })
    }

    async fn put_image_tag_mutability(
        &self,
        ctx: &mut RequestContext,
        input: shapes::PutImageTagMutabilityRequest,
    ) -> Result<shapes::PutImageTagMutabilityResponse, ApiError> {
        let account = registry(ctx, input.registry_id.as_deref());
        let mut rec = self.repo(&account, &ctx.region, &input.repository_name)?;
        rec.tag_mutability = input.image_tag_mutability.clone();
        rec.mutability_exclusions = input
            .image_tag_mutability_exclusion_filters
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|f| (f.filter_type, f.filter))
            .collect();
        self.save_repo(rec).await?;
        Ok(shapes::PutImageTagMutabilityResponse {
            registry_id: Some(account),
            repository_name: Some(input.repository_name),
            image_tag_mutability: Some(input.image_tag_mutability),
            image_tag_mutability_exclusion_filters: input.image_tag_mutability_exclusion_filters,
        })
    }

    async fn put_image_scanning_configuration(
        &self,
        ctx: &mut RequestContext,
        input: shapes::PutImageScanningConfigurationRequest,
    ) -> Result<shapes::PutImageScanningConfigurationResponse, ApiError> {
        let account = registry(ctx, input.registry_id.as_deref());
        let mut rec = self.repo(&account, &ctx.region, &input.repository_name)?;
        rec.scan_on_push = input
            .image_scanning_configuration
            .scan_on_push
            .unwrap_or(false);
        self.save_repo(rec.clone()).await?;
        Ok(shapes::PutImageScanningConfigurationResponse {
            registry_id: Some(account),
            repository_name: Some(rec.name),
            image_scanning_configuration: Some(shapes::ImageScanningConfiguration {
                scan_on_push: Some(rec.scan_on_push),
            }),
        })
    }

    async fn put_lifecycle_policy(
        &self,
        ctx: &mut RequestContext,
        input: shapes::PutLifecyclePolicyRequest,
    ) -> Result<shapes::PutLifecyclePolicyResponse, ApiError> {
        let account = registry(ctx, input.registry_id.as_deref());
        let mut rec = self.repo(&account, &ctx.region, &input.repository_name)?;
        lifecycle::parse(&input.lifecycle_policy_text).map_err(|why| {
            invalid(format!(
                "Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: 'Lifecycle policy validation failure: {why}'"
            ))
        })?;
        rec.lifecycle = Some(input.lifecycle_policy_text.clone());
        self.save_repo(rec.clone()).await?;
        self.run_lifecycle(&rec).await;
        Ok(shapes::PutLifecyclePolicyResponse {
            registry_id: Some(account),
            repository_name: Some(rec.name),
            lifecycle_policy_text: Some(input.lifecycle_policy_text),
        })
    }

    async fn get_lifecycle_policy(
        &self,
        ctx: &mut RequestContext,
        input: shapes::GetLifecyclePolicyRequest,
    ) -> Result<shapes::GetLifecyclePolicyResponse, ApiError> {
        let account = registry(ctx, input.registry_id.as_deref());
        let rec = self.repo(&account, &ctx.region, &input.repository_name)?;
        let text = rec.lifecycle.clone().ok_or_else(|| no_lifecycle(&rec))?;
        Ok(shapes::GetLifecyclePolicyResponse {
            registry_id: Some(account),
            repository_name: Some(rec.name),
            lifecycle_policy_text: Some(text),
            last_evaluated_at: rec.lifecycle_evaluated_ms.map(Timestamp::from_millis),
        })
    }

    async fn delete_lifecycle_policy(
        &self,
        ctx: &mut RequestContext,
        input: shapes::DeleteLifecyclePolicyRequest,
    ) -> Result<shapes::DeleteLifecyclePolicyResponse, ApiError> {
        let account = registry(ctx, input.registry_id.as_deref());
        let mut rec = self.repo(&account, &ctx.region, &input.repository_name)?;
        let text = rec.lifecycle.take().ok_or_else(|| no_lifecycle(&rec))?;
        let evaluated = rec.lifecycle_evaluated_ms.take();
        self.save_repo(rec.clone()).await?;
        Ok(shapes::DeleteLifecyclePolicyResponse {
            registry_id: Some(account),
            repository_name: Some(rec.name),
            lifecycle_policy_text: Some(text),
            last_evaluated_at: evaluated.map(Timestamp::from_millis),
        })
    }

    async fn set_repository_policy(
        &self,
        ctx: &mut RequestContext,
        input: shapes::SetRepositoryPolicyRequest,
    ) -> Result<shapes::SetRepositoryPolicyResponse, ApiError> {
        let account = registry(ctx, input.registry_id.as_deref());
        let mut rec = self.repo(&account, &ctx.region, &input.repository_name)?;
        let valid = serde_json::from_str::<serde_json::Value>(&input.policy_text)
            .ok()
            .is_some_and(|v| v.get("Statement").is_some());
        if !valid {
            return Err(invalid(
                "Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Invalid repository policy provided'",
            ));
        }
        rec.policy = Some(input.policy_text.clone());
        self.save_repo(rec.clone()).await?;
        Ok(shapes::SetRepositoryPolicyResponse {
            registry_id: Some(account),
            repository_name: Some(rec.name),
            policy_text: Some(input.policy_text),
        })
    }

    async fn get_repository_policy(
        &self,
        ctx: &mut RequestContext,
        input: shapes::GetRepositoryPolicyRequest,
    ) -> Result<shapes::GetRepositoryPolicyResponse, ApiError> {
        let account = registry(ctx, input.registry_id.as_deref());
        let rec = self.repo(&account, &ctx.region, &input.repository_name)?;
        let text = rec.policy.clone().ok_or_else(|| no_policy(&rec))?;
        Ok(shapes::GetRepositoryPolicyResponse {
            registry_id: Some(account),
            repository_name: Some(rec.name),
            policy_text: Some(text),
        })
    }

    async fn delete_repository_policy(
        &self,
        ctx: &mut RequestContext,
        input: shapes::DeleteRepositoryPolicyRequest,
    ) -> Result<shapes::DeleteRepositoryPolicyResponse, ApiError> {
        let account = registry(ctx, input.registry_id.as_deref());
        let mut rec = self.repo(&account, &ctx.region, &input.repository_name)?;
        let text = rec.policy.take().ok_or_else(|| no_policy(&rec))?;
        self.save_repo(rec.clone()).await?;
        Ok(shapes::DeleteRepositoryPolicyResponse {
            registry_id: Some(account),
            repository_name: Some(rec.name),
            policy_text: Some(text),
        })
    }

    async fn tag_resource(
        &self,
        _ctx: &mut RequestContext,
        input: shapes::TagResourceRequest,
    ) -> Result<shapes::TagResourceResponse, ApiError> {
        let mut rec = self.arn_repo(&input.resource_arn)?;
        for tag in input.tags {
            match rec.tags.iter_mut().find(|(k, _)| *k == tag.key) {
                Some(existing) => existing.1 = tag.value,
                None => rec.tags.push((tag.key, tag.value)),
            }
        }
        if rec.tags.len() > MAX_TAGS {
            return Err(errors::too_many_tags_exception(
                "A repository can have at most 50 tags",
            ));
        }
        self.save_repo(rec).await?;
        Ok(shapes::TagResourceResponse {})
    }

    async fn untag_resource(
        &self,
        _ctx: &mut RequestContext,
        input: shapes::UntagResourceRequest,
    ) -> Result<shapes::UntagResourceResponse, ApiError> {
        let mut rec = self.arn_repo(&input.resource_arn)?;
        rec.tags.retain(|(k, _)| !input.tag_keys.contains(k));
        self.save_repo(rec).await?;
        Ok(shapes::UntagResourceResponse {})
    }

    async fn list_tags_for_resource(
        &self,
        _ctx: &mut RequestContext,
        input: shapes::ListTagsForResourceRequest,
    ) -> Result<shapes::ListTagsForResourceResponse, ApiError> {
        let rec = self.arn_repo(&input.resource_arn)?;
        Ok(shapes::ListTagsForResourceResponse {
            tags: Some(
                rec.tags
                    .into_iter()
                    .map(|(key, value)| shapes::Tag { key, value })
                    .collect(),
            ),
        })
    }

    async fn list_images(
        &self,
        ctx: &mut RequestContext,
        input: shapes::ListImagesRequest,
    ) -> Result<shapes::ListImagesResponse, ApiError> {
        let account = registry(ctx, input.registry_id.as_deref());
        let rec = self.repo(&account, &ctx.region, &input.repository_name)?;
        self.run_lifecycle(&rec).await;
        let status = input.filter.as_ref().and_then(|f| f.tag_status.as_deref());
        let mut ids = Vec::new();
        for image in state::images(self.store(), &rec.key()).map_err(store_error)? {
            if !tag_status_keeps(status, &image) {
                continue;
            }
            if image.tags.is_empty() {
                ids.push(image_id(&image.digest, None));
            }
            for tag in &image.tags {
                ids.push(image_id(&image.digest, Some(tag)));
            }
        }
        let key = |i: &shapes::ImageIdentifier| {
            format!(
                "{}:{}",
                i.image_digest.as_deref().unwrap_or(""),
                i.image_tag.as_deref().unwrap_or("")
            )
        };
        let (ids, next_token) = page(
            ids,
            key,
            input.next_token.as_deref(),
            input.max_results,
            1000,
        )?;
        Ok(shapes::ListImagesResponse {
            image_ids: Some(ids),
            next_token,
        })
    }

    async fn describe_images(
        &self,
        ctx: &mut RequestContext,
        input: shapes::DescribeImagesRequest,
    ) -> Result<shapes::DescribeImagesResponse, ApiError> {
        let account = registry(ctx, input.registry_id.as_deref());
        let rec = self.repo(&account, &ctx.region, &input.repository_name)?;
        self.run_lifecycle(&rec).await;
        let key = rec.key();
        let images = match &input.image_ids {
            Some(ids) => {
                if input.max_results.is_some() || input.next_token.is_some() {
                    return Err(invalid(
                        "Invalid parameter: nextToken and maxResults cannot be used with imageIds",
                    ));
                }
                let mut found = Vec::new();
                for id in ids {
                    match resolve(self, &key, id)? {
                        Ok(image) => found.push(image),
                        Err(("ImageNotFound", _)) => {
                            return Err(errors::image_not_found_exception(format!(
                                "The image with imageId {} does not exist within the repository with name '{}' in the registry with id '{account}'",
                                describe_id(id),
                                rec.name
                            )));
                        }
                        Err((_, reason)) => return Err(invalid(reason)),
                    }
                }
                found
            }
            None => state::images(self.store(), &key).map_err(store_error)?,
        };
        let status = input.filter.as_ref().and_then(|f| f.tag_status.as_deref());
        let images: Vec<ImageRec> = images
            .into_iter()
            .filter(|i| tag_status_keeps(status, i))
            .collect();
        let (images, next_token) = page(
            images,
            |i| i.digest.clone(),
            input.next_token.as_deref(),
            input.max_results,
            1000,
        )?;
        let details = images
            .into_iter()
            .map(|i| shapes::ImageDetail {
                registry_id: Some(account.clone()),
                repository_name: Some(rec.name.clone()),
                image_digest: Some(i.digest),
                image_tags: (!i.tags.is_empty()).then_some(i.tags),
                image_size_in_bytes: Some(i64::try_from(i.size).unwrap_or(i64::MAX)),
                image_pushed_at: Some(Timestamp::from_millis(i.pushed_ms)),
                image_manifest_media_type: Some(i.media_type),
                artifact_media_type: i.artifact_media_type,
                last_recorded_pull_time: i.pulled_ms.map(Timestamp::from_millis),
                subject_manifest_digest: i.subject,
                image_status: Some("ACTIVE".to_owned()),
                ..Default::default()
            })
            .collect();
        Ok(shapes::DescribeImagesResponse {
            image_details: Some(details),
            next_token,
        })
    }

    async fn batch_get_image(
        &self,
        ctx: &mut RequestContext,
        input: shapes::BatchGetImageRequest,
    ) -> Result<shapes::BatchGetImageResponse, ApiError> {
        let account = registry(ctx, input.registry_id.as_deref());
        let rec = self.repo(&account, &ctx.region, &input.repository_name)?;
        let key = rec.key();
        let mut images = Vec::new();
        let mut failures = Vec::new();
        for id in &input.image_ids {
            let image = match resolve(self, &key, id)? {
                Ok(image) => image,
                Err((code, reason)) => {
                    failures.push(failure(id, code, reason));
                    continue;
                }
            };
            if let Some(accepted) = &input.accepted_media_types
                && !accepted.contains(&image.media_type)
            {
                failures.push(failure(
                    id,
                    "UnsupportedImageType",
                    format!("Manifest media type {} is not accepted", image.media_type),
                ));
                continue;
            }
            let bytes = self
                .store()
                .get(state::MANIFESTS, &state::item_key(&key, &image.digest))
                .map_err(store_error)?
                .unwrap_or_default();
            images.push(shapes::Image {
                registry_id: Some(account.clone()),
                repository_name: Some(rec.name.clone()),
                image_id: Some(image_id(&image.digest, id.image_tag.as_deref())),
                image_manifest: Some(String::from_utf8_lossy(&bytes).into_owned()),
                image_manifest_media_type: Some(image.media_type),
            });
        }
        Ok(shapes::BatchGetImageResponse {
            images: Some(images),
            failures: Some(failures),
        })
    }

    async fn batch_delete_image(
        &self,
        ctx: &mut RequestContext,
        input: shapes::BatchDeleteImageRequest,
    ) -> Result<shapes::BatchDeleteImageResponse, ApiError> {
        let account = registry(ctx, input.registry_id.as_deref());
        let rec = self.repo(&account, &ctx.region, &input.repository_name)?;
        let key = rec.key();
        let mut deleted = Vec::new();
        let mut failures = Vec::new();
        let mut targets = Vec::new();
        for id in &input.image_ids {
            match resolve(self, &key, id)? {
                Ok(image) => {
                    targets.push((image.digest.clone(), id.image_tag.clone()));
                    match &id.image_tag {
                        Some(tag) => deleted.push(image_id(&image.digest, Some(tag))),
                        None if image.tags.is_empty() => {
                            deleted.push(image_id(&image.digest, None))
                        }
                        None => deleted
                            .extend(image.tags.iter().map(|t| image_id(&image.digest, Some(t)))),
                    }
                }
                Err((code, reason)) => failures.push(failure(id, code, reason)),
            }
        }
        self.delete_images(&key, targets).await?;
        Ok(shapes::BatchDeleteImageResponse {
            image_ids: Some(deleted),
            failures: Some(failures),
        })
    }

    async fn put_image(
        &self,
        ctx: &mut RequestContext,
        input: shapes::PutImageRequest,
    ) -> Result<shapes::PutImageResponse, ApiError> {
        let account = registry(ctx, input.registry_id.as_deref());
        let rec = self.repo(&account, &ctx.region, &input.repository_name)?;
        let bytes = bytes::Bytes::from(input.image_manifest.clone().into_bytes());
        let digest = crate::blobs::digest_of(&bytes);
        if let Some(claimed) = &input.image_digest
            && *claimed != digest
        {
            return Err(errors::image_digest_does_not_match_exception(format!(
                "Provided digest {claimed} does not match the digest of the image manifest {digest}"
            )));
        }
        let image = self
            .put_manifest(
                &rec,
                bytes,
                input.image_manifest_media_type.as_deref(),
                input.image_tag.clone(),
                true,
            )
            .await
            .map_err(|e| put_error(&rec, input.image_tag.as_deref(), &digest, e))?;
        Ok(shapes::PutImageResponse {
            image: Some(shapes::Image {
                registry_id: Some(account),
                repository_name: Some(rec.name),
                image_id: Some(image_id(&image.digest, input.image_tag.as_deref())),
                image_manifest: Some(input.image_manifest),
                image_manifest_media_type: Some(image.media_type),
            }),
        })
    }

    async fn get_authorization_token(
        &self,
        ctx: &mut RequestContext,
        input: shapes::GetAuthorizationTokenRequest,
    ) -> Result<shapes::GetAuthorizationTokenResponse, ApiError> {
        let signer = self.signer()?;
        self.registry_port();
        let expires = state::now_ms() / 1000 + crate::token::VALIDITY_SECS;
        let accounts = input
            .registry_ids
            .unwrap_or_else(|| vec![ctx.account.clone()]);
        let data = accounts
            .iter()
            .map(|account| shapes::AuthorizationData {
                authorization_token: Some(signer.token(account, &ctx.region, expires)),
                expires_at: Some(Timestamp::from_secs(expires)),
                proxy_endpoint: Some(format!(
                    "http://{}",
                    self.registry_host(account, &ctx.region)
                )),
            })
            .collect();
        Ok(shapes::GetAuthorizationTokenResponse {
            authorization_data: Some(data),
        })
    }

    async fn describe_registry(
        &self,
        ctx: &mut RequestContext,
        _input: shapes::DescribeRegistryRequest,
    ) -> Result<shapes::DescribeRegistryResponse, ApiError> {
        Ok(shapes::DescribeRegistryResponse {
            registry_id: Some(ctx.account.clone()),
            replication_configuration: Some(shapes::ReplicationConfiguration { rules: Vec::new() }),
        })
    }

    async fn batch_check_layer_availability(
        &self,
        ctx: &mut RequestContext,
        input: shapes::BatchCheckLayerAvailabilityRequest,
    ) -> Result<shapes::BatchCheckLayerAvailabilityResponse, ApiError> {
        let account = registry(ctx, input.registry_id.as_deref());
        let rec = self.repo(&account, &ctx.region, &input.repository_name)?;
        let key = rec.key();
        let mut layers = Vec::new();
        let mut failures = Vec::new();
        for digest in input.layer_digests {
            if crate::blobs::parse_digest(&digest).is_err() {
                failures.push(shapes::LayerFailure {
                    layer_digest: Some(digest),
                    failure_code: Some("InvalidLayerDigest".to_owned()),
                    failure_reason: Some("Invalid layer digest".to_owned()),
                });
                continue;
            }
            match state::linked_blob(self.store(), &key, &digest).map_err(store_error)? {
                Some(size) => layers.push(shapes::Layer {
                    layer_digest: Some(digest),
                    layer_availability: Some("AVAILABLE".to_owned()),
                    layer_size: Some(i64::try_from(size).unwrap_or(i64::MAX)),
                    media_type: Some(
                        "application/vnd.docker.image.rootfs.diff.tar.gzip".to_owned(),
                    ),
                }),
                None => failures.push(shapes::LayerFailure {
                    layer_digest: Some(digest),
                    failure_code: Some("MissingLayerDigest".to_owned()),
                    failure_reason: Some("Could not find layer".to_owned()),
                }),
            }
        }
        Ok(shapes::BatchCheckLayerAvailabilityResponse {
            layers: Some(layers),
            failures: Some(failures),
        })
    }

    async fn get_download_url_for_layer(
        &self,
        ctx: &mut RequestContext,
        input: shapes::GetDownloadUrlForLayerRequest,
    ) -> Result<shapes::GetDownloadUrlForLayerResponse, ApiError> {
        let account = registry(ctx, input.registry_id.as_deref());
        let rec = self.repo(&account, &ctx.region, &input.repository_name)?;
        if crate::blobs::parse_digest(&input.layer_digest).is_err()
            || state::linked_blob(self.store(), &rec.key(), &input.layer_digest)
                .map_err(store_error)?
                .is_none()
        {
            return Err(errors::layers_not_found_exception(format!(
                "The layer with digest '{}' does not exist in the repository with name '{}' in the registry with id '{account}'",
                input.layer_digest, rec.name
            )));
        }
        let expires = state::now_ms() / 1000 + 3600;
        let token = self.signer()?.token(&account, &ctx.region, expires);
        Ok(shapes::GetDownloadUrlForLayerResponse {
            download_url: Some(format!(
                "http://{}/v2/{}/blobs/{}?token={}",
                self.registry_host(&account, &ctx.region),
                rec.name,
                input.layer_digest,
                percent_encoding::utf8_percent_encode(&token, percent_encoding::NON_ALPHANUMERIC)
            )),
            layer_digest: Some(input.layer_digest),
        })
    }

    async fn initiate_layer_upload(
        &self,
        ctx: &mut RequestContext,
        input: shapes::InitiateLayerUploadRequest,
    ) -> Result<shapes::InitiateLayerUploadResponse, ApiError> {
        let account = registry(ctx, input.registry_id.as_deref());
        let rec = self.repo(&account, &ctx.region, &input.repository_name)?;
        let id = self
            .inner
            .blobs
            .start(&rec.key())
            .await
            .map_err(|e| errors::server_exception(e.to_string()))?;
        Ok(shapes::InitiateLayerUploadResponse {
            upload_id: Some(id),
            part_size: Some(PART_SIZE),
        })
    }

    async fn upload_layer_part(
        &self,
        ctx: &mut RequestContext,
        input: shapes::UploadLayerPartRequest,
    ) -> Result<shapes::UploadLayerPartResponse, ApiError> {
        let account = registry(ctx, input.registry_id.as_deref());
        let rec = self.repo(&account, &ctx.region, &input.repository_name)?;
        let first = u64::try_from(input.part_first_byte)
            .map_err(|_| invalid("partFirstByte must not be negative"))?;
        let len = input.layer_part_blob.len() as i64;
        if input.part_last_byte - input.part_first_byte + 1 != len {
            return Err(errors::invalid_layer_part_exception(format!(
                "The part's byte range {}-{} does not match its {len} bytes",
                input.part_first_byte, input.part_last_byte
            )));
        }
        let size = self
            .inner
            .blobs
            .append_bytes(&input.upload_id, &rec.key(), input.layer_part_blob, first)
            .await
            .map_err(|e| blob_error(e, &input.upload_id, &rec))?;
        Ok(shapes::UploadLayerPartResponse {
            registry_id: Some(account),
            repository_name: Some(rec.name),
            upload_id: Some(input.upload_id),
            last_byte_received: Some(i64::try_from(size).unwrap_or(i64::MAX) - 1),
        })
    }

    async fn complete_layer_upload(
        &self,
        ctx: &mut RequestContext,
        input: shapes::CompleteLayerUploadRequest,
    ) -> Result<shapes::CompleteLayerUploadResponse, ApiError> {
        let account = registry(ctx, input.registry_id.as_deref());
        let rec = self.repo(&account, &ctx.region, &input.repository_name)?;
        let key = rec.key();
        let [digest] = input.layer_digests.as_slice() else {
            return Err(invalid(
                "Invalid parameter at 'layerDigests' failed to satisfy constraint: 'exactly one digest'",
            ));
        };
        let blobs = &self.inner.blobs;
        if matches!(blobs.progress(&input.upload_id, &key), Ok(0)) {
            let _ = blobs.cancel(&input.upload_id, &key);
            return Err(errors::empty_upload_exception(format!(
                "The upload with id '{}' contains no data",
                input.upload_id
            )));
        }
        if state::linked_blob(self.store(), &key, digest)
            .map_err(store_error)?
            .is_some()
        {
            let _ = blobs.cancel(&input.upload_id, &key);
            return Err(errors::layer_already_exists_exception(format!(
                "The layer with digest '{digest}' already exists in the repository with name '{}' in the registry with id '{account}'",
                rec.name
            )));
        }
        let size = blobs
            .finish(&input.upload_id, &key, digest)
            .await
            .map_err(|e| blob_error(e, &input.upload_id, &rec))?;
        self.commit_blob(&key, digest, size)
            .await
            .map_err(store_error)?;
        Ok(shapes::CompleteLayerUploadResponse {
            registry_id: Some(account),
            repository_name: Some(rec.name),
            upload_id: Some(input.upload_id),
            layer_digest: Some(digest.clone()),
        })
    }
}

impl Ecr {
    /// Records a finished blob as linked to `repo`.
    pub(crate) async fn commit_blob(
        &self,
        repo: &str,
        digest: &str,
        size: u64,
    ) -> Result<(), skyport_core::store::StoreError> {
        let (repo, digest) = (repo.to_owned(), digest.to_owned());
        self.store()
            .write_async(move |w| state::link(w, &repo, &digest, size))
            .await?;
        self.inner
            .uploads
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }
}

fn no_lifecycle(rec: &RepoRec) -> ApiError {
    errors::lifecycle_policy_not_found_exception(format!(
        "Lifecycle policy does not exist for the repository with name '{}' in the registry with id '{}'",
        rec.name, rec.account
    ))
}

fn no_policy(rec: &RepoRec) -> ApiError {
    errors::repository_policy_not_found_exception(format!(
        "Repository policy does not exist for the repository with name '{}' in the registry with id '{}'",
        rec.name, rec.account
    ))
}
