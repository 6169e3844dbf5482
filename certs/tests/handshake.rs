//! Real TLS handshakes (tokio-rustls client ↔ the Skyport server config) with a client that trusts only
//! the local CA: which names verify, which do not, ALPN, TLS versions, and custom certificates.

mod common;

use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

use common::{
    cert_error, client_config, client_config_versions, fixture, fixture_with, handshake,
    handshake_tcp, sans,
};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use skyport_certs::{CertChoice, CustomCert};

const IN_POLICY: &[&str] = &[
    "s3.amazonaws.com",
    "s3.us-east-1.amazonaws.com",
    "s3.dualstack.eu-west-1.amazonaws.com",
    "bucket.s3.us-east-1.amazonaws.com",
    "my.dotted.bucket.s3.amazonaws.com",
    "sqs.ap-south-2.localhost.localstack.cloud",
    "sts.amazonaws.com.cn",
    "sts.api.aws",
    "localhost.localstack.cloud",
    "localhost",
];

#[tokio::test]
async fn in_policy_names_verify_against_only_the_local_ca() {
    let f = fixture();
    let client = client_config(&[f.ca.cert_der().clone()], &[b"h2", b"http/1.1"]);
    for name in IN_POLICY {
        let seen = handshake(f.server.clone(), client.clone(), name)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            seen.alpn.as_deref(),
            Some(&b"h2"[..]),
            "{name}: h2 negotiated"
        );
        assert_eq!(seen.chain.len(), 2, "{name}: leaf + CA sent");
        assert_eq!(
            &seen.chain[1],
            f.ca.cert_der(),
            "{name}: CA is the second certificate"
        );
    }
}

#[tokio::test]
async fn leaf_sans_are_wildcard_parent_or_exact() {
    let f = fixture();
    let client = client_config(&[f.ca.cert_der().clone()], &[]);
    let cases = [
        (
            "bucket.s3.us-east-1.amazonaws.com",
            "*.s3.us-east-1.amazonaws.com",
        ),
        ("s3.us-east-1.amazonaws.com", "*.us-east-1.amazonaws.com"),
        ("s3.amazonaws.com", "s3.amazonaws.com"),
        (
            "my.dotted.bucket.s3.amazonaws.com",
            "my.dotted.bucket.s3.amazonaws.com",
        ),
        (
            "sqs.ap-south-2.localhost.localstack.cloud",
            "*.ap-south-2.localhost.localstack.cloud",
        ),
    ];
    for (name, san) in cases {
        let seen = handshake(f.server.clone(), client.clone(), name)
            .await
            .unwrap();
        assert_eq!(sans(&seen.chain[0]), vec![san.to_string()], "{name}");
    }
}

#[tokio::test]
async fn http11_only_clients_get_http11_and_no_alpn_clients_get_none() {
    let f = fixture();
    let roots = [f.ca.cert_der().clone()];
    let seen = handshake(
        f.server.clone(),
        client_config(&roots, &[b"http/1.1"]),
        "s3.amazonaws.com",
    )
    .await
    .unwrap();
    assert_eq!(seen.alpn.as_deref(), Some(&b"http/1.1"[..]));
    let seen = handshake(
        f.server.clone(),
        client_config(&roots, &[]),
        "s3.amazonaws.com",
    )
    .await
    .unwrap();
    assert_eq!(seen.alpn, None);
}

#[tokio::test]
async fn tls12_and_tls13_both_work() {
    let f = fixture();
    let roots = [f.ca.cert_der().clone()];
    let v12 = client_config_versions(&roots, &[b"h2"], &[&rustls::version::TLS12]);
    let seen = handshake(f.server.clone(), v12, "sqs.us-west-2.amazonaws.com")
        .await
        .unwrap();
    assert_eq!(seen.version, Some(rustls::ProtocolVersion::TLSv1_2));
    assert_eq!(seen.alpn.as_deref(), Some(&b"h2"[..]));
    let v13 = client_config_versions(&roots, &[], &[&rustls::version::TLS13]);
    let seen = handshake(f.server.clone(), v13, "sqs.us-west-2.amazonaws.com")
        .await
        .unwrap();
    assert_eq!(seen.version, Some(rustls::ProtocolVersion::TLSv1_3));
}

#[tokio::test]
async fn ip_connections_without_sni_get_the_default_certificate_over_loopback_tcp() {
    let f = fixture();
    let client = client_config(&[f.ca.cert_der().clone()], &[b"h2"]);
    let seen = handshake_tcp(
        f.server.clone(),
        client.clone(),
        "127.0.0.1".parse().unwrap(),
        "127.0.0.1",
    )
    .await
    .unwrap();
    let names = sans(&seen.chain[0]);
    for want in [
        "localhost.localstack.cloud",
        "*.localhost.localstack.cloud",
        "localhost",
        "127.0.0.1",
        "::1",
    ] {
        assert!(
            names.contains(&want.to_string()),
            "default cert lacks {want}: {names:?}"
        );
    }
    assert_eq!(seen.alpn.as_deref(), Some(&b"h2"[..]));
    // IPv6 loopback may be absent in some sandboxes; when it is there, ::1 verifies too.
    let v6: IpAddr = "::1".parse().unwrap();
    if std::net::TcpListener::bind((v6, 0)).is_ok() {
        handshake_tcp(f.server.clone(), client, v6, "::1")
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn default_certificate_covers_caller_listen_addresses() {
    let f = fixture_with(|c| c.default_ips.push("10.1.2.3".parse().unwrap()));
    let client = client_config(&[f.ca.cert_der().clone()], &[]);
    // The handshake runs in memory; only the verified name is 10.1.2.3 (no SNI is sent for an IP).
    let seen = handshake(f.server.clone(), client, "10.1.2.3")
        .await
        .unwrap();
    assert!(sans(&seen.chain[0]).contains(&"10.1.2.3".to_string()));
}

#[tokio::test]
async fn names_outside_the_policy_get_the_default_certificate_and_fail_verification() {
    let f = fixture();
    let client = client_config(&[f.ca.cert_der().clone()], &[]);
    for name in [
        "example.com",
        "amazonaws.com.evil.com",
        "evilamazonaws.com",
        "www.google.com",
        "localstack.cloud",
    ] {
        assert_eq!(f.resolver.choose(Some(name)), CertChoice::Default, "{name}");
        let err = handshake(f.server.clone(), client.clone(), name)
            .await
            .expect_err(name);
        let cert_err =
            cert_error(&err).unwrap_or_else(|| panic!("{name}: not a certificate error: {err}"));
        assert!(
            matches!(
                cert_err,
                rustls::CertificateError::NotValidForName
                    | rustls::CertificateError::NotValidForNameContext { .. }
            ),
            "{name}: {cert_err:?}"
        );
    }
    assert_eq!(f.resolver.cached_len(), 0, "nothing was minted for them");
}

#[tokio::test]
async fn a_client_without_the_local_ca_rejects_minted_certificates() {
    let f = fixture();
    // Trusts some other root only (a fresh self-signed CA), as a default system bundle would.
    let other_key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let other = params.self_signed(&other_key).unwrap();
    let client = client_config(&[other.der().clone()], &[]);
    let err = handshake(f.server.clone(), client, "s3.amazonaws.com")
        .await
        .unwrap_err();
    assert_eq!(
        cert_error(&err),
        Some(rustls::CertificateError::UnknownIssuer)
    );
}

/// A user CA plus a leaf for `*.example.test`, `example.test` and `sts.amazonaws.com`.
fn user_pki() -> (rcgen::Certificate, String) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "User CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let leaf_params = CertificateParams::new(vec![
        "*.example.test".to_string(),
        "example.test".to_string(),
        "sts.amazonaws.com".to_string(),
    ])
    .unwrap();
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();
    // LocalStack's layout: key first, then the chain.
    let pem = format!(
        "{}{}{}",
        leaf_key.serialize_pem(),
        leaf.pem(),
        ca_cert.pem()
    );
    (ca_cert, pem)
}

#[tokio::test]
async fn custom_certificate_is_served_for_its_names_and_never_written() {
    let (user_ca, pem) = user_pki();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("server.test.pem");
    std::fs::write(&path, &pem).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
    let before = std::fs::metadata(&path).unwrap().modified().unwrap();

    let custom = CustomCert::load(&path).unwrap();
    let f = fixture_with(|c| c.custom.push(custom));
    let trusts_user_ca = client_config(&[user_ca.der().clone()], &[b"h2"]);
    let trusts_local_ca = client_config(&[f.ca.cert_der().clone()], &[]);

    for name in ["api.example.test", "example.test", "sts.amazonaws.com"] {
        assert_eq!(
            f.resolver.choose(Some(name)),
            CertChoice::Custom(0),
            "{name}"
        );
        let seen = handshake(f.server.clone(), trusts_user_ca.clone(), name)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(seen.chain.len(), 2, "the custom chain is sent whole");
        assert_eq!(seen.alpn.as_deref(), Some(&b"h2"[..]));
    }
    // Not covered by it: two labels below a one-label wildcard, and other AWS names (minted by our CA).
    let err = handshake(f.server.clone(), trusts_user_ca.clone(), "a.b.example.test")
        .await
        .unwrap_err();
    assert!(cert_error(&err).is_some(), "{err}");
    handshake(f.server.clone(), trusts_local_ca, "s3.amazonaws.com")
        .await
        .unwrap();
    assert!(
        handshake(f.server.clone(), trusts_user_ca, "s3.amazonaws.com")
            .await
            .is_err()
    );

    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        pem,
        "content untouched"
    );
    assert_eq!(
        std::fs::metadata(&path).unwrap().modified().unwrap(),
        before,
        "mtime untouched"
    );
    let siblings: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(siblings.len(), 1, "no .key/.crt files split out next to it");
}

/// Runs openssl with `args` in `dir`, panicking if it fails.
fn openssl(dir: &std::path::Path, args: &[&str]) {
    let out = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn custom_certificate_keys_in_pkcs8_sec1_and_rsa_forms_load_and_serve() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A user CA (made with rcgen) signs leaves whose keys openssl writes in the three PEM key forms.
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "User CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    std::fs::write(d.join("uca.pem"), ca_cert.pem()).unwrap();
    std::fs::write(d.join("uca.key"), ca_key.serialize_pem()).unwrap();
    openssl(d, &["genrsa", "-traditional", "-out", "rsa.key", "2048"]);
    openssl(
        d,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "sec1.key",
        ],
    );
    openssl(
        d,
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            "pkcs8.key",
        ],
    );
    for (key, marker, host) in [
        ("rsa.key", "BEGIN RSA PRIVATE KEY", "rsa.example.test"),
        ("sec1.key", "BEGIN EC PRIVATE KEY", "sec1.example.test"),
        ("pkcs8.key", "BEGIN PRIVATE KEY", "pkcs8.example.test"),
    ] {
        let key_pem = std::fs::read_to_string(d.join(key)).unwrap();
        assert!(key_pem.contains(marker), "{key} is in the expected form");
        std::fs::write(
            d.join("ext.cnf"),
            format!("subjectAltName=DNS:{host}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"),
        )
        .unwrap();
        let (csr, crt) = (format!("{key}.csr"), format!("{key}.crt"));
        openssl(
            d,
            &[
                "req",
                "-new",
                "-key",
                key,
                "-subj",
                "/CN=custom",
                "-out",
                &csr,
            ],
        );
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "uca.pem",
                "-CAkey",
                "uca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                "ext.cnf",
                "-out",
                &crt,
            ],
        );
        let crt_pem = std::fs::read_to_string(d.join(&crt)).unwrap();
        let path = d.join(format!("{key}.pem"));
        std::fs::write(&path, format!("{key_pem}{crt_pem}{}", ca_cert.pem())).unwrap();
        let custom = CustomCert::load(&path).unwrap();
        assert_eq!(custom.dns_names(), [host.to_string()]);
        let f = fixture_with(|c| c.custom.push(custom));
        let client = client_config(&[ca_cert.der().clone()], &[b"h2"]);
        let seen = handshake(f.server.clone(), client, host)
            .await
            .unwrap_or_else(|e| panic!("{key}: {e}"));
        assert_eq!(seen.alpn.as_deref(), Some(&b"h2"[..]));
        let _: Arc<rustls::sign::CertifiedKey> = f.resolver.resolve_name(Some(host));
    }
}
