//! Amazon Resource Names: parsing, formatting and the partition a region belongs to.

use std::fmt;

/// A parsed ARN: `arn:<partition>:<service>:<region>:<account>:<resource>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arn {
    /// `aws`, `aws-cn`, `aws-us-gov`, ...
    pub partition: String,
    /// The service namespace, e.g. `iam`, `sqs`.
    pub service: String,
    /// The region, empty for global services.
    pub region: String,
    /// The 12-digit account id, empty for some resources (S3 buckets).
    pub account: String,
    /// Everything after the fifth colon, e.g. `role/demo` or `my-queue`.
    pub resource: String,
}

/// Why a string is not an ARN.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a valid ARN")]
pub struct ArnError(pub String);

impl Arn {
    /// Builds an ARN in the partition of `region`.
    pub fn new(service: &str, region: &str, account: &str, resource: &str) -> Arn {
        Arn {
            partition: partition_for_region(region).to_owned(),
            service: service.to_owned(),
            region: region.to_owned(),
            account: account.to_owned(),
            resource: resource.to_owned(),
        }
    }

    /// Parses `text` as an ARN.
    pub fn parse(text: &str) -> Result<Arn, ArnError> {
        let mut parts = text.splitn(6, ':');
        let err = || ArnError(text.to_owned());
        if parts.next() != Some("arn") {
            return Err(err());
        }
        let partition = parts.next().ok_or_else(err)?;
        let service = parts.next().ok_or_else(err)?;
        let region = parts.next().ok_or_else(err)?;
        let account = parts.next().ok_or_else(err)?;
        let resource = parts.next().ok_or_else(err)?;
        if partition.is_empty() || service.is_empty() || resource.is_empty() {
            return Err(err());
        }
        Ok(Arn {
            partition: partition.to_owned(),
            service: service.to_owned(),
            region: region.to_owned(),
            account: account.to_owned(),
            resource: resource.to_owned(),
        })
    }
}

impl fmt::Display for Arn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "arn:{}:{}:{}:{}:{}",
            self.partition, self.service, self.region, self.account, self.resource
        )
    }
}

/// The partition a region belongs to.
pub fn partition_for_region(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else if region.starts_with("us-isob-") {
        "aws-iso-b"
    } else if region.starts_with("us-iso-") {
        "aws-iso"
    } else if region.starts_with("eusc-") {
        "aws-eusc"
    } else {
        "aws"
    }
}

/// True when `text` is a 12-digit account id.
pub fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

/// True when `text` looks like an AWS region name (`us-east-1`, `eu-central-2`, `us-gov-west-1`, ...).
pub fn is_region(text: &str) -> bool {
    // Three or four non-empty parts of lower-case letters and digits, the first only letters, the last
    // only digits (`us-east-1`, `us-gov-west-1`); checked without collecting the parts.
    let mut count = 0;
    let mut last = "";
    for part in text.split('-') {
        count += 1;
        if count > 4
            || part.is_empty()
            || !part
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            || (count == 1 && !part.bytes().all(|b| b.is_ascii_lowercase()))
        {
            return false;
        }
        last = part;
    }
    count >= 3 && last.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let arn = Arn::parse("arn:aws:iam::123456789012:role/path/demo").unwrap();
        assert_eq!(arn.account, "123456789012");
        assert_eq!(arn.resource, "role/path/demo");
        assert_eq!(arn.to_string(), "arn:aws:iam::123456789012:role/path/demo");
        assert!(Arn::parse("arn:aws:iam").is_err());
        assert!(Arn::parse("nope").is_err());
        assert_eq!(Arn::new("sqs", "cn-north-1", "1", "q").partition, "aws-cn");
    }

    #[test]
    fn regions() {
        for ok in [
            "us-east-1",
            "eu-central-2",
            "us-gov-west-1",
            "ap-southeast-5",
            "il-central-1",
            "a-b-c-1",
            "cn-north-1",
        ] {
            assert!(is_region(ok), "{ok}");
        }
        for bad in [
            "us-east",
            "useast1",
            "US-EAST-1",
            "s3",
            "localhost",
            "us-east-1a",
            "a-b-c-d-1",
            "1us-east-1",
            "us--1",
            "us-east-1-",
            "-us-east-1",
            "us-east-x",
            "",
        ] {
            assert!(!is_region(bad), "{bad}");
        }
    }
}
