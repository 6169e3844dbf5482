//! S3 as the object source of other services ([`ObjectSource`]): Lambda reads `S3Bucket`/`S3Key`
//! deployment packages (and layers) from here, as AWS Lambda reads them from S3.

use bytes::Bytes;
use skyport_core::bus::{BusError, ObjectSource};

use crate::S3;
use crate::error::S3Error;

/// The largest object another service reads whole: Lambda's limit on an unzipped deployment package.
const LIMIT: u64 = 250 * 1024 * 1024;

#[async_trait::async_trait]
impl ObjectSource for S3 {
    async fn get_object(
        &self,
        _account: &str,
        bucket: &str,
        key: &str,
        version: Option<&str>,
    ) -> Result<Bytes, BusError> {
        let object = |e: S3Error| {
            let aws = e.into_aws();
            BusError::Object {
                code: aws.code.into_owned(),
                message: aws.message,
            }
        };
        self.bucket(bucket).map_err(object)?;
        let v = self.read_version(bucket, key, version).map_err(object)?;
        if v.size > LIMIT {
            return Err(BusError::Object {
                code: "EntityTooLarge".to_owned(),
                message: format!(
                    "The object is {} bytes, above the {LIMIT} bytes read whole",
                    v.size
                ),
            });
        }
        let body = self.blobs.read(&v.segments, 0, v.size);
        skyport_core::body::collect_limited(body, LIMIT as usize)
            .await
            .map_err(|e| BusError::Internal(e.to_string()))
    }
}
