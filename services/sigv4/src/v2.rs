//! AWS Signature Version 2, as S3 still accepts it: `Authorization: AWS <key>:<signature>` and presigned
//! URLs with `AWSAccessKeyId`, `Signature` and `Expires` (what boto3's `generate_presigned_url` makes by
//! default). The signature is base64 HMAC-SHA1 over the method, `Content-MD5`, `Content-Type`, the date
//! (`Expires` for presigned URLs; empty when `x-amz-date` is sent), the `x-amz-*` headers and the
//! canonical resource (`/<bucket>/<key>` plus the sub-resources and response overrides of the query).

use base64::Engine;
use http::request::Parts;
use sha1::{Digest, Sha1};

use crate::SigError;

/// Query parameters that are part of the canonical resource, in the order S3 sorts them.
const SUB_RESOURCES: &[&str] = &[
    "acl",
    "cors",
    "delete",
    "lifecycle",
    "location",
    "logging",
    "notification",
    "partNumber",
    "policy",
    "requestPayment",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
    "restore",
    "tagging",
    "torrent",
    "uploadId",
    "uploads",
    "versionId",
    "versioning",
    "versions",
    "website",
];

/// A SigV2 signature as read from a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureV2 {
    /// The access key id.
    pub access_key: String,
    /// The base64 signature.
    pub signature: String,
    /// `Expires` of a presigned URL (seconds since the epoch).
    pub expires: Option<i64>,
    /// The session token (`x-amz-security-token` header or query parameter).
    pub session_token: Option<String>,
}

/// The SigV2 signature of `parts`, `None` when it has none. A presigned URL whose `Expires` is not a
/// number is [`SigError::QueryParameters`].
pub fn parse_v2(parts: &Parts) -> Result<Option<SignatureV2>, SigError> {
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(auth) = header("authorization") {
        let Some(rest) = auth.trim().strip_prefix("AWS ") else {
            return Ok(None);
        };
        let (key, signature) = rest
            .trim()
            .rsplit_once(':')
            .ok_or(SigError::MalformedHeader)?;
        return Ok(Some(SignatureV2 {
            access_key: key.to_owned(),
            signature: signature.to_owned(),
            expires: None,
            session_token: header("x-amz-security-token").map(str::to_owned),
        }));
    }
    let Some(query) = parts.uri.query() else {
        return Ok(None);
    };
    let (mut key, mut signature, mut expires, mut token) = (None, None, None, None);
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        match k.as_ref() {
            "AWSAccessKeyId" => key = Some(v.into_owned()),
            "Signature" => signature = Some(v.into_owned()),
            "Expires" => expires = Some(v.into_owned()),
            "x-amz-security-token" => token = Some(v.into_owned()),
            _ => {}
        }
    }
    let (Some(access_key), Some(signature)) = (key, signature) else {
        return Ok(None);
    };
    let expires = match expires {
        Some(e) => Some(e.trim().parse::<i64>().map_err(|_| {
            SigError::QueryParameters("Invalid date (should be seconds since epoch)".to_owned())
        })?),
        None => None,
    };
    Ok(Some(SignatureV2 {
        access_key,
        signature,
        expires,
        session_token: token.or_else(|| header("x-amz-security-token").map(str::to_owned)),
    }))
}

impl SignatureV2 {
    /// The string to sign of `parts`; `bucket` is the bucket named by a virtual-hosted-style Host.
    pub fn string_to_sign(&self, parts: &Parts, bucket: Option<&str>) -> String {
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .trim()
        };
        let date = match self.expires {
            Some(expires) => expires.to_string(),
            None if parts.headers.contains_key("x-amz-date") => String::new(),
            None => header("date").to_owned(),
        };
        let mut amz: Vec<(String, String)> = Vec::new();
        for (name, value) in &parts.headers {
            let name = name.as_str();
            if !name.starts_with("x-amz-") {
                continue;
            }
            let value = String::from_utf8_lossy(value.as_bytes()).trim().to_owned();
            match amz.iter_mut().find(|(n, _)| n == name) {
                Some((_, v)) => {
                    v.push(',');
                    v.push_str(&value);
                }
                None => amz.push((name.to_owned(), value)),
            }
        }
        amz.sort();
        let mut out = format!(
            "{}\n{}\n{}\n{date}\n",
            parts.method,
            header("content-md5"),
            header("content-type")
        );
        for (name, value) in amz {
            out.push_str(&name);
            out.push(':');
            out.push_str(&value);
            out.push('\n');
        }
        if let Some(bucket) = bucket {
            out.push('/');
            out.push_str(bucket);
        }
        out.push_str(parts.uri.path());
        let mut subs: Vec<(String, Option<String>)> = parts
            .uri
            .query()
            .map(|q| {
                form_urlencoded::parse(q.as_bytes())
                    .filter(|(k, _)| SUB_RESOURCES.contains(&k.as_ref()))
                    .map(|(k, v)| (k.into_owned(), (!v.is_empty()).then(|| v.into_owned())))
                    .collect()
            })
            .unwrap_or_default();
        subs.sort();
        for (i, (k, v)) in subs.iter().enumerate() {
            out.push(if i == 0 { '?' } else { '&' });
            out.push_str(k);
            if let Some(v) = v {
                out.push('=');
                out.push_str(v);
            }
        }
        out
    }

    /// Compares the signature with the one `secret` gives.
    pub fn verify(
        &self,
        parts: &Parts,
        secret: &str,
        bucket: Option<&str>,
    ) -> Result<(), SigError> {
        let string_to_sign = self.string_to_sign(parts, bucket);
        let expected = sign(secret, &string_to_sign);
        if !crate::constant_time_eq(expected.as_bytes(), self.signature.as_bytes()) {
            return Err(SigError::Mismatch {
                string_to_sign,
                canonical_request: String::new(),
            });
        }
        Ok(())
    }
}

/// Base64 HMAC-SHA1 of `string_to_sign` with `secret`.
pub fn sign(secret: &str, string_to_sign: &str) -> String {
    let key = secret.as_bytes();
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..20].copy_from_slice(&Sha1::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha1::new();
    inner.update(block.map(|b| b ^ 0x36));
    inner.update(string_to_sign.as_bytes());
    let mut outer = Sha1::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    base64::engine::general_purpose::STANDARD.encode(outer.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_documentation_examples() {
        // The "Object GET" and "Object PUT" examples of S3's SigV2 documentation.
        let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        let get = http::Request::builder()
            .method("GET")
            .uri("/photos/puppy.jpg")
            .header("host", "awsexamplebucket1.us-west-1.s3.amazonaws.com")
            .header("date", "Tue, 27 Mar 2007 19:36:42 +0000")
            .header(
                "authorization",
                "AWS AKIAIOSFODNN7EXAMPLE:qgk2+6Sv9/oM7G3qLEjTH1a1l1g=",
            )
            .body(())
            .unwrap()
            .into_parts()
            .0;
        let sig = parse_v2(&get).unwrap().unwrap();
        assert_eq!(sig.access_key, "AKIAIOSFODNN7EXAMPLE");
        assert_eq!(
            sig.string_to_sign(&get, Some("awsexamplebucket1")),
            "GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/awsexamplebucket1/photos/puppy.jpg"
        );
        sig.verify(&get, secret, Some("awsexamplebucket1")).unwrap();
        assert!(
            sig.verify(&get, "other", Some("awsexamplebucket1"))
                .is_err()
        );

        // A presigned URL: Expires in place of the date, sub-resources in the resource.
        let url = http::Request::builder()
            .method("GET")
            .uri("/b/k?AWSAccessKeyId=AK&Expires=1175139620&Signature=x&versionId=3&response-content-type=text%2Fplain")
            .body(())
            .unwrap()
            .into_parts()
            .0;
        let sig = parse_v2(&url).unwrap().unwrap();
        assert_eq!(sig.expires, Some(1_175_139_620));
        assert_eq!(
            sig.string_to_sign(&url, None),
            "GET\n\n\n1175139620\n/b/k?response-content-type=text/plain&versionId=3"
        );
        let bad = http::Request::builder()
            .uri("/b/k?AWSAccessKeyId=AK&Expires=soon&Signature=x")
            .body(())
            .unwrap()
            .into_parts()
            .0;
        assert!(matches!(parse_v2(&bad), Err(SigError::QueryParameters(_))));
    }
}
