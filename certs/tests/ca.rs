//! The CA on disk (reuse, rotation by deletion, permissions, damaged files, changed constraints) and its
//! name constraints as enforced by real verifiers (rustls/webpki and the openssl CLI).

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use common::{cert_error, client_config, fixture, handshake};
use rcgen::{CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, SanType};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use skyport_certs::{
    CaOrigin, CertAuthority, CertChoice, CertError, NameConstraintsPolicy, ResolverConfig,
    SniResolver,
};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn defaults() -> NameConstraintsPolicy {
    NameConstraintsPolicy::skyport_default(None, &[])
}

#[test]
fn restart_reuses_the_ca_and_files_have_tight_modes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("state").join("certs");
    let first = CertAuthority::load_or_create(&dir, "box", &defaults()).unwrap();
    assert_eq!(first.origin(), CaOrigin::Created);
    assert_eq!(mode(&dir), 0o755);
    assert_eq!(mode(&dir.join("ca.key")), 0o600);
    assert_eq!(mode(&dir.join("ca.pem")), 0o644);
    assert_eq!(first.cert_path().unwrap(), dir.join("ca.pem"));
    assert_eq!(
        std::fs::read_to_string(dir.join("ca.pem")).unwrap(),
        first.cert_pem()
    );

    let second = CertAuthority::load_or_create(&dir, "box", &defaults()).unwrap();
    assert_eq!(second.origin(), CaOrigin::Loaded);
    assert_eq!(
        second.cert_der(),
        first.cert_der(),
        "same CA after a restart"
    );
    // A leaf minted by the reloaded CA verifies against the first one's certificate.
    let resolver = Arc::new(
        SniResolver::new(
            Arc::new(second),
            ResolverConfig::skyport_default(None, true, &[]),
        )
        .unwrap(),
    );
    let leaf = resolver.mint_uncached("s3.amazonaws.com").unwrap();
    assert_eq!(leaf.certified.cert[1], *first.cert_der());
}

#[test]
fn ca_subject_names_skyport_and_the_host() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = CertAuthority::load_or_create(tmp.path(), "build-box-7", &defaults()).unwrap();
    let (_, x509) = x509_parser::parse_x509_certificate(ca.cert_der()).unwrap();
    let subject = x509.subject().to_string();
    assert!(
        subject.contains("CN=Skyport Local CA (build-box-7)"),
        "{subject}"
    );
    assert!(subject.contains("O=Skyport"), "{subject}");
    assert_eq!(x509.issuer(), x509.subject(), "self-signed");
    let bc = x509.basic_constraints().unwrap().unwrap();
    assert!(bc.critical && bc.value.ca);
    assert_eq!(bc.value.path_len_constraint, Some(0));
    let life = x509.validity().not_after.timestamp() - x509.validity().not_before.timestamp();
    assert!(life >= 10 * 365 * 86400, "ten years: {life}");
    assert_eq!(
        x509.public_key().algorithm.algorithm.to_id_string(),
        "1.2.840.10045.2.1",
        "EC key"
    );
}

#[test]
fn deleting_the_files_makes_a_new_ca() {
    let tmp = tempfile::tempdir().unwrap();
    let first = CertAuthority::load_or_create(tmp.path(), "box", &defaults()).unwrap();
    std::fs::remove_file(tmp.path().join("ca.pem")).unwrap();
    std::fs::remove_file(tmp.path().join("ca.key")).unwrap();
    let second = CertAuthority::load_or_create(tmp.path(), "box", &defaults()).unwrap();
    assert_eq!(second.origin(), CaOrigin::Created);
    assert_ne!(second.cert_der(), first.cert_der());
    // Deleting only one of the two also rotates (a lone cert or key is useless).
    std::fs::remove_file(tmp.path().join("ca.key")).unwrap();
    let third = CertAuthority::load_or_create(tmp.path(), "box", &defaults()).unwrap();
    assert_eq!(third.origin(), CaOrigin::Created);
    assert_ne!(third.cert_der(), second.cert_der());
    assert_eq!(mode(&tmp.path().join("ca.key")), 0o600);
}

#[test]
fn loose_permissions_are_tightened_on_load() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("certs");
    CertAuthority::load_or_create(&dir, "box", &defaults()).unwrap();
    std::fs::set_permissions(dir.join("ca.key"), std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let ca = CertAuthority::load_or_create(&dir, "box", &defaults()).unwrap();
    assert_eq!(ca.origin(), CaOrigin::Loaded);
    assert_eq!(mode(&dir.join("ca.key")), 0o600);
    assert_eq!(mode(&dir), 0o755);
}

#[test]
fn damaged_files_are_an_error_and_are_left_alone() {
    let tmp = tempfile::tempdir().unwrap();
    CertAuthority::load_or_create(tmp.path(), "box", &defaults()).unwrap();
    let key_path = tmp.path().join("ca.key");
    std::fs::write(&key_path, "not a key").unwrap();
    let err = CertAuthority::load_or_create(tmp.path(), "box", &defaults()).unwrap_err();
    assert!(matches!(err, CertError::CorruptCa { .. }), "{err}");
    assert!(
        err.to_string().contains("delete ca.pem and ca.key"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(&key_path).unwrap(),
        "not a key",
        "not overwritten"
    );

    // A key that does not belong to the certificate.
    std::fs::write(&key_path, KeyPair::generate().unwrap().serialize_pem()).unwrap();
    let err = CertAuthority::load_or_create(tmp.path(), "box", &defaults()).unwrap_err();
    assert!(err.to_string().contains("does not belong"), "{err}");

    // A certificate file without a certificate.
    std::fs::write(tmp.path().join("ca.pem"), "garbage").unwrap();
    let err = CertAuthority::load_or_create(tmp.path(), "box", &defaults()).unwrap_err();
    assert!(err.to_string().contains("no PEM certificate"), "{err}");
}

#[test]
fn changed_constraints_keep_the_ca_and_do_not_mint_uncovered_names() {
    let tmp = tempfile::tempdir().unwrap();
    let first = CertAuthority::load_or_create(tmp.path(), "box", &defaults()).unwrap();
    // LOCALSTACK_HOST now names a host the existing CA does not permit, and a public listen address.
    let wanted = NameConstraintsPolicy::skyport_default(
        Some("dev.example.org:4566"),
        &["203.0.113.9".parse().unwrap()],
    );
    let again = CertAuthority::load_or_create(tmp.path(), "box", &wanted).unwrap();
    assert_eq!(
        again.cert_der(),
        first.cert_der(),
        "kept, so existing clients keep working"
    );
    assert_eq!(
        again.uncovered(),
        ["DNS:dev.example.org", "IP:203.0.113.9/32"]
    );
    assert!(!again.permits_dns("sqs.dev.example.org"));

    let resolver = SniResolver::new(
        Arc::new(again),
        ResolverConfig::skyport_default(
            Some("dev.example.org:4566"),
            true,
            &["203.0.113.9".parse().unwrap()],
        ),
    )
    .unwrap();
    assert_eq!(
        resolver.choose(Some("sqs.dev.example.org")),
        CertChoice::Default
    );
    assert!(
        !resolver
            .default_dns_names()
            .contains(&"dev.example.org".to_string())
    );

    // After rotation (deleting the files) the new CA covers the new name.
    std::fs::remove_file(tmp.path().join("ca.pem")).unwrap();
    std::fs::remove_file(tmp.path().join("ca.key")).unwrap();
    let rotated = CertAuthority::load_or_create(tmp.path(), "box", &wanted).unwrap();
    assert!(rotated.uncovered().is_empty());
    assert!(rotated.permits_dns("sqs.dev.example.org"));
    assert!(rotated.permits_ip("203.0.113.9".parse().unwrap()));
}

#[test]
fn minted_leaf_has_the_expected_extensions() {
    let f = fixture();
    let leaf = f
        .resolver
        .mint_uncached("bucket.s3.us-east-1.amazonaws.com")
        .unwrap();
    let (_, x509) = x509_parser::parse_x509_certificate(&leaf.certified.cert[0]).unwrap();
    let (_, ca) = x509_parser::parse_x509_certificate(f.ca.cert_der()).unwrap();
    assert!(!x509.is_ca());
    let bc = x509.basic_constraints().unwrap().unwrap();
    assert!(!bc.value.ca);
    let ku = x509.key_usage().unwrap().unwrap();
    assert!(ku.value.digital_signature() && !ku.value.key_cert_sign());
    let eku = x509.extended_key_usage().unwrap().unwrap();
    assert!(eku.value.server_auth && !eku.value.client_auth);
    let aki = match x509
        .get_extension_unique(&x509_parser::oid_registry::OID_X509_EXT_AUTHORITY_KEY_IDENTIFIER)
    {
        Ok(Some(ext)) => match ext.parsed_extension() {
            x509_parser::extensions::ParsedExtension::AuthorityKeyIdentifier(aki) => {
                aki.key_identifier.clone().unwrap().0.to_vec()
            }
            other => panic!("{other:?}"),
        },
        other => panic!("no AKI: {other:?}"),
    };
    let ski = match ca
        .get_extension_unique(&x509_parser::oid_registry::OID_X509_EXT_SUBJECT_KEY_IDENTIFIER)
    {
        Ok(Some(ext)) => match ext.parsed_extension() {
            x509_parser::extensions::ParsedExtension::SubjectKeyIdentifier(ski) => ski.0.to_vec(),
            other => panic!("{other:?}"),
        },
        other => panic!("no SKI: {other:?}"),
    };
    assert_eq!(aki, ski, "AKI names the CA's key");
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let nb = x509.validity().not_before.timestamp();
    let na = x509.validity().not_after.timestamp();
    assert!(nb < now - 1800, "backdated for clock skew");
    assert!((na - now - 30 * 86400).abs() < 120, "about 30 days");
    assert_eq!(
        x509.public_key().algorithm.algorithm.to_id_string(),
        "1.2.840.10045.2.1",
        "EC key"
    );
}

/// Signs a leaf for `sans` with the CA key read from disk: what an attacker holding a leaked key can do.
fn forge_leaf(ca_dir: &Path, sans: &[SanType]) -> (CertificateDer<'static>, String, KeyPair) {
    let ca_pem = std::fs::read_to_string(ca_dir.join("ca.pem")).unwrap();
    let ca_key =
        KeyPair::from_pem(&std::fs::read_to_string(ca_dir.join("ca.key")).unwrap()).unwrap();
    let issuer = Issuer::from_ca_cert_pem(&ca_pem, ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::default();
    params.subject_alt_names = sans.to_vec();
    params.distinguished_name = rcgen::DistinguishedName::new();
    if let Some(SanType::DnsName(first)) = sans.first() {
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, first.as_str());
    }
    params.is_ca = IsCa::ExplicitNoCa;
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    params.not_before = time::OffsetDateTime::now_utc() - Duration::from_secs(3600);
    params.not_after = time::OffsetDateTime::now_utc() + Duration::from_secs(86400);
    let cert = params.signed_by(&key, &issuer).unwrap();
    (cert.der().clone(), cert.pem(), key)
}

#[tokio::test]
async fn rustls_rejects_a_leaf_outside_the_name_constraints_even_when_signed_by_the_ca_key() {
    let f = fixture();
    let ca_dir = f.ca.dir().unwrap().to_path_buf();
    let forged = [
        (
            vec![SanType::DnsName("www.google.com".try_into().unwrap())],
            "www.google.com",
        ),
        (
            vec![SanType::IpAddress("8.8.8.8".parse().unwrap())],
            "8.8.8.8",
        ),
    ];
    for (sans, name) in forged {
        let (der, _, key) = forge_leaf(&ca_dir, &sans);
        // Serve it with a plain rustls server and connect with a client that trusts only our CA.
        let server = rustls::ServerConfig::builder_with_provider(skyport_certs::crypto_provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![der, f.ca.cert_der().clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )
            .unwrap();
        let client = client_config(&[f.ca.cert_der().clone()], &[]);
        let err = handshake(Arc::new(server), client, name).await.unwrap_err();
        let cert_err = cert_error(&err).unwrap_or_else(|| panic!("{name}: {err}"));
        assert!(
            format!("{cert_err:?}").contains("NameConstraintViolation"),
            "{name}: {cert_err:?}"
        );
    }
    // Control: the same forging path for an in-policy name verifies, so the rejection above is the
    // constraint and nothing else.
    let (der, _, key) = forge_leaf(
        &ca_dir,
        &[SanType::DnsName("s3.amazonaws.com".try_into().unwrap())],
    );
    let server = rustls::ServerConfig::builder_with_provider(skyport_certs::crypto_provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![der, f.ca.cert_der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .unwrap();
    handshake(
        Arc::new(server),
        client_config(&[f.ca.cert_der().clone()], &[]),
        "s3.amazonaws.com",
    )
    .await
    .unwrap();
}

fn openssl_verify(dir: &Path, extra: &[&str]) -> (bool, String) {
    let out = Command::new("openssl")
        .arg("verify")
        .args(["-CAfile", "ca.pem", "-purpose", "sslserver"])
        .args(extra)
        .arg("leaf.pem")
        .current_dir(dir)
        .output()
        .expect("the openssl CLI is installed");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn openssl_rejects_a_forged_leaf_and_accepts_minted_ones() {
    let f = fixture();
    let ca_dir = f.ca.dir().unwrap().to_path_buf();
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("ca.pem"), f.ca.cert_pem()).unwrap();

    let (_, forged_pem, _) = forge_leaf(
        &ca_dir,
        &[SanType::DnsName("www.google.com".try_into().unwrap())],
    );
    std::fs::write(work.path().join("leaf.pem"), forged_pem).unwrap();
    let (ok, text) = openssl_verify(work.path(), &[]);
    assert!(
        !ok,
        "openssl accepted a leaf outside the constraints: {text}"
    );
    assert!(
        text.contains("subtree violation") || text.contains("name constraint"),
        "{text}"
    );

    for name in [
        "bucket.s3.us-east-1.amazonaws.com",
        "my.dotted.bucket.s3.amazonaws.com",
        "sqs.ap-south-2.localhost.localstack.cloud",
    ] {
        let leaf = f.resolver.mint_uncached(name).unwrap();
        std::fs::write(work.path().join("leaf.pem"), &leaf.cert_pem).unwrap();
        let (ok, text) = openssl_verify(work.path(), &["-verify_hostname", name]);
        assert!(ok, "{name}: {text}");
        assert!(text.contains("leaf.pem: OK"), "{text}");
    }
    // The default certificate verifies for 127.0.0.1.
    let default = f.resolver.default_cert();
    let pem = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        base64_lines(&default.cert[0])
    );
    std::fs::write(work.path().join("leaf.pem"), pem).unwrap();
    let (ok, text) = openssl_verify(work.path(), &["-verify_ip", "127.0.0.1"]);
    assert!(ok, "{text}");
}

/// Standard base64, 64 characters a line (enough for PEM in a test).
fn base64_lines(der: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in der.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out.as_bytes()
        .chunks(64)
        .map(|l| String::from_utf8(l.to_vec()).unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}
