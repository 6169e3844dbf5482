//! S3 over HTTPS with the official `aws-sdk-s3` crate, virtual-hosted style against the real AWS
//! endpoint name `https://s3.us-east-1.amazonaws.com:<port>`: every bucket host
//! (`<bucket>.s3.us-east-1.amazonaws.com`) gets a certificate minted by the local CA, which is the
//! client's only extra root. A test resolver answers 127.0.0.1 for those names only, so no real DNS
//! query leaves the process.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};

use aws_credential_types::Credentials;
use aws_sdk_s3::config::{BehaviorVersion, Region};
use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::dns::{DnsFuture, ResolveDns, ResolveDnsError};
use common::{Options, Skyport};

/// 127.0.0.1 for `s3.us-east-1.amazonaws.com` and its bucket hosts; an error for anything else.
/// Records every name asked for.
#[derive(Debug, Clone, Default)]
struct S3Loopback(Arc<Mutex<Vec<String>>>);

impl ResolveDns for S3Loopback {
    fn resolve_dns<'a>(&'a self, name: &'a str) -> DnsFuture<'a> {
        let zone = "s3.us-east-1.amazonaws.com";
        self.0.lock().unwrap().push(name.to_owned());
        if name == zone || name.ends_with(&format!(".{zone}")) {
            DnsFuture::ready(Ok(vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]))
        } else {
            DnsFuture::ready(Err(ResolveDnsError::new(format!(
                "the test resolver does not know {name}"
            ))))
        }
    }
}

#[tokio::test]
async fn s3_sdk_virtual_hosted_over_https_with_minted_bucket_certificates() {
    let skyport = Skyport::start_with(Options::default().listen("127.0.0.1:0"));
    let ca_pem = std::fs::read(skyport.state_dir.join("certs/ca.pem")).unwrap();
    let resolver = S3Loopback::default();
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
        .tls_context(
            TlsContext::builder()
                .with_trust_store(TrustStore::default().with_pem_certificate(ca_pem))
                .build()
                .unwrap(),
        )
        .build_with_resolver(resolver.clone());
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(format!(
            "https://s3.us-east-1.amazonaws.com:{}",
            skyport.port()
        ))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .http_client(http_client)
        .build();
    let s3 = aws_sdk_s3::Client::from_conf(config);

    for bucket in ["tls-alpha", "tls-beta"] {
        s3.create_bucket().bucket(bucket).send().await.unwrap();
        s3.put_object()
            .bucket(bucket)
            .key("dir/hello.txt")
            .body(ByteStream::from_static(b"hello over TLS"))
            .send()
            .await
            .unwrap();
        let got = s3
            .get_object()
            .bucket(bucket)
            .key("dir/hello.txt")
            .send()
            .await
            .unwrap();
        let body = got.body.collect().await.unwrap().into_bytes();
        assert_eq!(&body[..], b"hello over TLS");
        let listed = s3.list_objects_v2().bucket(bucket).send().await.unwrap();
        let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
        assert_eq!(keys, ["dir/hello.txt"]);
    }
    let buckets = s3.list_buckets().send().await.unwrap();
    let names: Vec<&str> = buckets.buckets().iter().filter_map(|b| b.name()).collect();
    assert!(
        names.contains(&"tls-alpha") && names.contains(&"tls-beta"),
        "{names:?}"
    );
    // The SDK connected to the bucket hosts (virtual-hosted style), so each TLS handshake asked for a
    // bucket name and got a certificate for `*.s3.us-east-1.amazonaws.com`.
    let asked = resolver.0.lock().unwrap().clone();
    for host in [
        "tls-alpha.s3.us-east-1.amazonaws.com",
        "tls-beta.s3.us-east-1.amazonaws.com",
        "s3.us-east-1.amazonaws.com",
    ] {
        assert!(asked.iter().any(|n| n == host), "{host} not in {asked:?}");
    }
    assert!(skyport.wait_for_log("s3.PutObject => 200", std::time::Duration::from_secs(5)));
}
