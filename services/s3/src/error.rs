//! The one S3 error type and its mapping to [`AwsError`] (status, code, message and the REST-XML extra
//! fields real S3 sends: `BucketName`, `Key`, `Resource`, `Condition`, ...). HEAD errors carry no body; the
//! proxy's renderer drops it for HEAD requests.

use http::StatusCode;
use skyport_core::AwsError;
use skyport_core::error::{StorageCodes, StorageFailure};
use skyport_core::store::StoreError;

/// Everything an S3 operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum S3Error {
    #[error("The specified bucket does not exist")]
    NoSuchBucket { bucket: String },
    #[error("The specified key does not exist.")]
    NoSuchKey {
        key: String,
        delete_marker: Option<String>,
    },
    #[error("The specified version does not exist.")]
    NoSuchVersion { key: String, version: String },
    #[error(
        "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed."
    )]
    NoSuchUpload { upload_id: String },
    #[error("Your previous request to create the named bucket succeeded and you already own it.")]
    BucketAlreadyOwnedByYou { bucket: String },
    #[error(
        "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again."
    )]
    BucketAlreadyExists { bucket: String },
    #[error("{0}")]
    MalformedPolicy(String),
    #[error("{message}")]
    CorsForbidden { message: &'static str },
    #[error("The storage class you specified is not valid")]
    InvalidStorageClass,
    #[error("{0}")]
    InvalidTag(String),
    /// S3's generic `BadRequest` (tag counts).
    #[error("{0}")]
    BadRequest(String),
    #[error("The bucket does not allow ACLs")]
    AclNotSupported,
    #[error("Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting")]
    AclWithBucketOwnerEnforced,
    #[error(
        "The XML you provided was not well-formed or did not validate against our published schema"
    )]
    MalformedAcl,
    /// A grant to an e-mail address (no account of Skyport's has one).
    #[error("The e-mail address you provided does not match any account on record.")]
    UnresolvableGrantByEmail,
    #[error("{message}")]
    InvalidLoggingTarget {
        message: &'static str,
        target: String,
    },
    #[error("Cross S3 location logging not allowed. ")]
    CrossLocationLogging {
        source_region: String,
        target_region: String,
    },
    /// A read or lock change addressing a delete marker by version id.
    #[error("The specified method is not allowed against this resource.")]
    DeleteMarkerMethod {
        method: &'static str,
        version: String,
        last_modified: String,
    },
    #[error("The requested partnumber is not satisfiable")]
    InvalidPartNumber,
    #[error("The body of your POST request is not well-formed multipart/form-data.")]
    MalformedPostRequest,
    #[error("{0}")]
    PolicyDenied(String),
    /// A read of an archived object's data, or a restore of an object that is not archived.
    #[error("{message}")]
    InvalidObjectState {
        message: &'static str,
        storage_class: String,
    },
    /// An S3 Select request S3 refuses (`ParseUnexpectedToken`, `CastFailed`, ...): 400 with the code.
    #[error("{message}")]
    Select { code: &'static str, message: String },
    /// A POST upload's policy that is not a valid policy document.
    #[error("{0}")]
    InvalidPolicyDocument(String),
    #[error("Your proposed upload is smaller than the minimum allowed size")]
    EntityTooSmallPost { size: u64, min: u64 },
    #[error(
        "The request signature we calculated does not match the signature you provided. Check your key and signing method."
    )]
    ChunkSignature,
    #[error("{}", if *.versioned {
        "The bucket you tried to delete is not empty. You must delete all versions in the bucket."
    } else {
        "The bucket you tried to delete is not empty"
    })]
    BucketNotEmpty { bucket: String, versioned: bool },
    #[error("The specified bucket is not valid.")]
    InvalidBucketName { bucket: String },
    #[error("The specified location-constraint is not valid")]
    InvalidLocationConstraint { constraint: String },
    #[error(
        "The unspecified location constraint is incompatible for the region specific endpoint this request was sent to."
    )]
    IllegalLocationConstraint { constraint: String },
    #[error("The requested range is not satisfiable")]
    InvalidRange { range: String, size: u64 },
    #[error("At least one of the pre-conditions you specified did not hold")]
    PreconditionFailed { condition: &'static str },
    /// 304: not an error body, just the status and the validators.
    #[error("Not Modified")]
    NotModified { etag: String, last_modified: String },
    #[error(
        "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag."
    )]
    InvalidPart {
        upload_id: String,
        part: u32,
        etag: String,
    },
    #[error("The list of parts was not in ascending order. Parts must be ordered by part number.")]
    InvalidPartOrder { upload_id: String },
    #[error("Your proposed upload is smaller than the minimum allowed size")]
    EntityTooSmall { size: u64, part: u32, etag: String },
    #[error("Your proposed upload exceeds the maximum allowed size")]
    EntityTooLarge { size: u64 },
    #[error("The Content-MD5 you specified did not match what we received.")]
    BadDigest {
        expected: String,
        calculated: String,
    },
    #[error("The Content-MD5 you specified was invalid.")]
    InvalidDigest { content_md5: String },
    #[error("The {algorithm} you specified did not match the calculated checksum.")]
    ChecksumMismatch { algorithm: &'static str },
    #[error("{message}")]
    InvalidRequest { message: String },
    #[error("{message}")]
    InvalidArgument {
        message: String,
        name: String,
        /// `None`: S3 sends no `ArgumentValue`.
        value: Option<String>,
    },
    #[error(
        "The XML you provided was not well-formed or did not validate against our published schema"
    )]
    MalformedXml,
    #[error("The specified method is not allowed against this resource.")]
    MethodNotAllowed {
        method: String,
        resource: &'static str,
    },
    #[error("{message}")]
    NotImplemented { message: String },
    #[error("{message}")]
    NoSuchConfiguration {
        code: &'static str,
        message: &'static str,
        bucket: String,
    },
    #[error("The TagSet does not exist")]
    NoSuchTagSet { bucket: String },
    #[error("You did not provide the number of bytes specified by the Content-Length HTTP header.")]
    IncompleteBody,
    #[error("Your key is too long")]
    KeyTooLong { size: usize },
    #[error("The provided 'x-amz-content-sha256' header does not match what was computed.")]
    ContentSha256Mismatch { client: String, computed: String },
    #[error("You must provide the Content-Length HTTP header.")]
    MissingContentLength,
    #[error("Object Lock configuration does not exist for this bucket")]
    ObjectLockConfigurationNotFound { bucket: String },
    #[error("The specified object does not have a ObjectLock configuration")]
    NoSuchObjectLockConfiguration,
    #[error("Access Denied because object protected by object lock.")]
    ObjectLocked,
    #[error("{message}")]
    InvalidBucketState { message: String },
    #[error("{0}")]
    Internal(String),
    #[error("{}", .0.detail)]
    Storage(StorageFailure),
}

impl From<StoreError> for S3Error {
    fn from(e: StoreError) -> S3Error {
        S3Error::Storage((&e).into())
    }
}

impl From<std::io::Error> for S3Error {
    fn from(e: std::io::Error) -> S3Error {
        S3Error::Storage((&e).into())
    }
}

impl S3Error {
    /// Shortcut for `InvalidArgument` with its `ArgumentName`/`ArgumentValue` fields.
    pub fn argument(message: impl Into<String>, name: &str, value: &str) -> S3Error {
        S3Error::InvalidArgument {
            message: message.into(),
            name: name.to_owned(),
            value: Some(value.to_owned()),
        }
    }

    /// `InvalidArgument` with its `ArgumentName` only (S3 leaves the value out of some, such as an
    /// incorrect continuation token).
    pub fn argument_named(message: impl Into<String>, name: &str) -> S3Error {
        S3Error::InvalidArgument {
            message: message.into(),
            name: name.to_owned(),
            value: None,
        }
    }

    /// Shortcut for `InvalidRequest`.
    pub fn request(message: impl Into<String>) -> S3Error {
        S3Error::InvalidRequest {
            message: message.into(),
        }
    }

    /// The wire error, the one place S3 errors become AWS errors.
    pub fn into_aws(self) -> AwsError {
        let message = self.to_string();
        let e =
            |status: StatusCode, code: &'static str| AwsError::new(status, code, message.clone());
        match self {
            S3Error::NoSuchBucket { bucket } => {
                e(StatusCode::NOT_FOUND, "NoSuchBucket").with_field("BucketName", bucket)
            }
            S3Error::NoSuchKey { key, delete_marker } => {
                let mut err = e(StatusCode::NOT_FOUND, "NoSuchKey").with_field("Key", key);
                if let Some(version) = delete_marker {
                    err = err
                        .with_header(hname("x-amz-delete-marker"), hval("true"))
                        .with_header(hname("x-amz-version-id"), hval(&version));
                }
                err
            }
            S3Error::NoSuchVersion { key, version } => e(StatusCode::NOT_FOUND, "NoSuchVersion")
                .with_field("Key", key)
                .with_field("VersionId", version),
            S3Error::NoSuchUpload { upload_id } => {
                e(StatusCode::NOT_FOUND, "NoSuchUpload").with_field("UploadId", upload_id)
            }
            S3Error::BucketAlreadyOwnedByYou { bucket } => {
                e(StatusCode::CONFLICT, "BucketAlreadyOwnedByYou").with_field("BucketName", bucket)
            }
            S3Error::BucketAlreadyExists { bucket } => {
                e(StatusCode::CONFLICT, "BucketAlreadyExists").with_field("BucketName", bucket)
            }
            S3Error::MalformedPolicy(_) => e(StatusCode::BAD_REQUEST, "MalformedPolicy"),
            S3Error::CorsForbidden { .. } => e(StatusCode::FORBIDDEN, "AccessForbidden")
                .with_field("Method", "OPTIONS")
                .with_field("ResourceType", "OBJECT"),
            S3Error::InvalidStorageClass => e(StatusCode::BAD_REQUEST, "InvalidStorageClass"),
            S3Error::InvalidTag(_) => e(StatusCode::BAD_REQUEST, "InvalidTag"),
            S3Error::BadRequest(_) => e(StatusCode::BAD_REQUEST, "BadRequest"),
            S3Error::AclNotSupported => e(StatusCode::BAD_REQUEST, "AccessControlListNotSupported"),
            S3Error::AclWithBucketOwnerEnforced => e(
                StatusCode::BAD_REQUEST,
                "InvalidBucketAclWithObjectOwnership",
            ),
            S3Error::MalformedAcl => e(StatusCode::BAD_REQUEST, "MalformedACLError"),
            S3Error::UnresolvableGrantByEmail => {
                e(StatusCode::BAD_REQUEST, "UnresolvableGrantByEmailAddress")
            }
            S3Error::InvalidLoggingTarget { target, .. } => {
                e(StatusCode::BAD_REQUEST, "InvalidTargetBucketForLogging")
                    .with_field("TargetBucket", target)
            }
            S3Error::CrossLocationLogging {
                source_region,
                target_region,
            } => e(StatusCode::FORBIDDEN, "CrossLocationLoggingProhibitted")
                .with_field("TargetBucketLocation", target_region)
                .with_field("SourceBucketLocation", source_region),
            S3Error::DeleteMarkerMethod {
                method,
                version,
                last_modified,
            } => e(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed")
                .with_field("Method", method)
                .with_field("ResourceType", "DeleteMarker")
                .with_header(hname("x-amz-delete-marker"), hval("true"))
                .with_header(hname("x-amz-version-id"), hval(&version))
                .with_header(http::header::LAST_MODIFIED, hval(&last_modified))
                .with_header(http::header::ALLOW, hval("DELETE")),
            S3Error::InvalidPartNumber => e(StatusCode::RANGE_NOT_SATISFIABLE, "InvalidPartNumber"),
            S3Error::MalformedPostRequest => e(StatusCode::BAD_REQUEST, "MalformedPOSTRequest"),
            S3Error::PolicyDenied(_) => e(StatusCode::FORBIDDEN, "AccessDenied"),
            S3Error::InvalidObjectState { storage_class, .. } => {
                e(StatusCode::FORBIDDEN, "InvalidObjectState")
                    .with_field("StorageClass", storage_class)
            }
            S3Error::Select { code, .. } => e(StatusCode::BAD_REQUEST, code),
            S3Error::InvalidPolicyDocument(_) => {
                e(StatusCode::BAD_REQUEST, "InvalidPolicyDocument")
            }
            S3Error::EntityTooSmallPost { size, min } => {
                e(StatusCode::BAD_REQUEST, "EntityTooSmall")
                    .with_field("ProposedSize", size.to_string())
                    .with_field("MinSizeAllowed", min.to_string())
            }
            S3Error::ChunkSignature => e(StatusCode::FORBIDDEN, "SignatureDoesNotMatch"),
            S3Error::BucketNotEmpty { bucket, .. } => {
                e(StatusCode::CONFLICT, "BucketNotEmpty").with_field("BucketName", bucket)
            }
            S3Error::InvalidBucketName { bucket } => {
                e(StatusCode::BAD_REQUEST, "InvalidBucketName").with_field("BucketName", bucket)
            }
            S3Error::InvalidLocationConstraint { constraint } => {
                e(StatusCode::BAD_REQUEST, "InvalidLocationConstraint")
                    .with_field("LocationConstraint", constraint)
            }
            S3Error::IllegalLocationConstraint { constraint } => AwsError::new(
                StatusCode::BAD_REQUEST,
                "IllegalLocationConstraintException",
                if constraint.is_empty() {
                    message
                } else {
                    format!(
                        "The {constraint} location constraint is incompatible for the region specific endpoint this request was sent to."
                    )
                },
            ),
            S3Error::InvalidRange { range, size } => {
                e(StatusCode::RANGE_NOT_SATISFIABLE, "InvalidRange")
                    .with_field("RangeRequested", range)
                    .with_field("ActualObjectSize", size.to_string())
                    .with_header(hname("content-range"), hval(&format!("bytes */{size}")))
            }
            S3Error::PreconditionFailed { condition } => {
                e(StatusCode::PRECONDITION_FAILED, "PreconditionFailed")
                    .with_field("Condition", condition)
            }
            S3Error::NotModified {
                etag,
                last_modified,
            } => AwsError::new(StatusCode::NOT_MODIFIED, "NotModified", "Not Modified")
                .with_header(http::header::ETAG, hval(&etag))
                .with_header(http::header::LAST_MODIFIED, hval(&last_modified)),
            S3Error::InvalidPart {
                upload_id,
                part,
                etag,
            } => e(StatusCode::BAD_REQUEST, "InvalidPart")
                .with_field("UploadId", upload_id)
                .with_field("PartNumber", part.to_string())
                .with_field("ETag", etag),
            S3Error::InvalidPartOrder { upload_id } => {
                e(StatusCode::BAD_REQUEST, "InvalidPartOrder").with_field("UploadId", upload_id)
            }
            S3Error::EntityTooSmall { size, part, etag } => {
                e(StatusCode::BAD_REQUEST, "EntityTooSmall")
                    .with_field("ProposedSize", size.to_string())
                    .with_field("MinSizeAllowed", "5242880")
                    .with_field("PartNumber", part.to_string())
                    .with_field("ETag", etag)
            }
            S3Error::EntityTooLarge { size } => e(StatusCode::BAD_REQUEST, "EntityTooLarge")
                .with_field("ProposedSize", size.to_string())
                .with_field("MaxSizeAllowed", "5368709120"),
            S3Error::BadDigest {
                expected,
                calculated,
            } => e(StatusCode::BAD_REQUEST, "BadDigest")
                .with_field("ExpectedDigest", expected)
                .with_field("CalculatedDigest", calculated),
            S3Error::InvalidDigest { content_md5 } => {
                e(StatusCode::BAD_REQUEST, "InvalidDigest").with_field("Content-MD5", content_md5)
            }
            S3Error::ChecksumMismatch { .. } => e(StatusCode::BAD_REQUEST, "BadDigest"),
            S3Error::InvalidRequest { .. } => e(StatusCode::BAD_REQUEST, "InvalidRequest"),
            S3Error::InvalidArgument { name, value, .. } => {
                let err = e(StatusCode::BAD_REQUEST, "InvalidArgument");
                match value {
                    _ if name.is_empty() => err,
                    Some(value) => err
                        .with_field("ArgumentName", name)
                        .with_field("ArgumentValue", value),
                    None => err.with_field("ArgumentName", name),
                }
            }
            S3Error::MalformedXml => e(StatusCode::BAD_REQUEST, "MalformedXML"),
            S3Error::MethodNotAllowed { method, resource } => {
                e(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed")
                    .with_field("Method", method)
                    .with_field("ResourceType", resource)
            }
            S3Error::NotImplemented { .. } => e(StatusCode::NOT_IMPLEMENTED, "NotImplemented"),
            S3Error::NoSuchConfiguration { code, bucket, .. } => {
                e(StatusCode::NOT_FOUND, code).with_field("BucketName", bucket)
            }
            S3Error::NoSuchTagSet { bucket } => {
                e(StatusCode::NOT_FOUND, "NoSuchTagSet").with_field("BucketName", bucket)
            }
            S3Error::IncompleteBody => e(StatusCode::BAD_REQUEST, "IncompleteBody"),
            S3Error::KeyTooLong { size } => e(StatusCode::BAD_REQUEST, "KeyTooLongError")
                .with_field("MaxSizeAllowed", "1024")
                .with_field("Size", size.to_string()),
            S3Error::ContentSha256Mismatch { client, computed } => {
                e(StatusCode::BAD_REQUEST, "XAmzContentSHA256Mismatch")
                    .with_field("ClientComputedContentSHA256", client)
                    .with_field("S3ComputedContentSHA256", computed)
            }
            S3Error::MissingContentLength => AwsError::new(
                StatusCode::LENGTH_REQUIRED,
                "MissingContentLength",
                "You must provide the Content-Length HTTP header.",
            ),
            S3Error::ObjectLockConfigurationNotFound { bucket } => e(
                StatusCode::NOT_FOUND,
                "ObjectLockConfigurationNotFoundError",
            )
            .with_field("BucketName", bucket),
            S3Error::NoSuchObjectLockConfiguration => {
                e(StatusCode::NOT_FOUND, "NoSuchObjectLockConfiguration")
            }
            S3Error::ObjectLocked => e(StatusCode::FORBIDDEN, "AccessDenied"),
            S3Error::InvalidBucketState { .. } => e(StatusCode::CONFLICT, "InvalidBucketState"),
            S3Error::Storage(failure) => AwsError::storage(&failure, StorageCodes::S3),
            S3Error::Internal(m) => {
                tracing::warn!("s3 internal error: {m}");
                AwsError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalError",
                    "We encountered an internal error. Please try again.",
                )
            }
        }
    }
}

fn hname(name: &'static str) -> http::HeaderName {
    http::HeaderName::from_static(name)
}

fn hval(value: &str) -> http::HeaderValue {
    http::HeaderValue::from_str(value).unwrap_or(http::HeaderValue::from_static(""))
}

/// Result alias for S3 operations.
pub type S3Result<T> = Result<T, S3Error>;
