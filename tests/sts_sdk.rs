//! STS through the official `aws-sdk-sts` Rust crate against the real binary.

mod common;

use aws_credential_types::Credentials;
use aws_sdk_sts::config::{BehaviorVersion, Region};
use common::{Options, Skyport};

async fn client(
    endpoint: &str,
    key: &str,
    secret: &str,
    token: Option<&str>,
) -> aws_sdk_sts::Client {
    let creds = Credentials::new(key, secret, token.map(str::to_owned), None, "test");
    let config = aws_sdk_sts::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("eu-west-1"))
        .endpoint_url(endpoint)
        .credentials_provider(creds)
        .build();
    aws_sdk_sts::Client::from_conf(config)
}

#[tokio::test]
async fn get_caller_identity_uses_the_account_of_the_access_key() {
    let skyport = Skyport::start();
    let sts = client(&skyport.endpoint(), "123456789012", "x", None).await;
    let me = sts.get_caller_identity().send().await.unwrap();
    assert_eq!(me.account(), Some("123456789012"));
    assert_eq!(me.arn(), Some("arn:aws:iam::123456789012:root"));

    let sts = client(&skyport.endpoint(), "test", "test", None).await;
    let me = sts.get_caller_identity().send().await.unwrap();
    assert_eq!(me.account(), Some("000000000000"));

    // IPv6 listener too.
    if let Some(v6) = skyport.v6_endpoint() {
        let sts = client(&v6, "111111111111", "x", None).await;
        assert_eq!(
            sts.get_caller_identity().send().await.unwrap().account(),
            Some("111111111111")
        );
    }
    assert!(
        skyport.wait_for_log(
            "sts.GetCallerIdentity => 200",
            std::time::Duration::from_secs(5)
        ),
        "{}",
        skyport.log()
    );
}

#[tokio::test]
async fn assumed_role_credentials_act_in_the_role_account() {
    let skyport = Skyport::start();
    let sts = client(&skyport.endpoint(), "test", "test", None).await;
    let out = sts
        .assume_role()
        .role_arn("arn:aws:iam::222233334444:role/deployer")
        .role_session_name("ci-run")
        .duration_seconds(900)
        .send()
        .await
        .unwrap();
    let user = out.assumed_role_user().unwrap();
    assert_eq!(
        user.arn(),
        "arn:aws:sts::222233334444:assumed-role/deployer/ci-run"
    );
    assert!(
        user.assumed_role_id().starts_with("AROA") && user.assumed_role_id().ends_with(":ci-run")
    );
    let c = out.credentials().unwrap();
    let role = client(
        &skyport.endpoint(),
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token()),
    )
    .await;
    let me = role.get_caller_identity().send().await.unwrap();
    assert_eq!(me.account(), Some("222233334444"));
    assert_eq!(
        me.arn(),
        Some("arn:aws:sts::222233334444:assumed-role/deployer/ci-run")
    );

    let info = sts
        .get_access_key_info()
        .access_key_id(c.access_key_id())
        .send()
        .await
        .unwrap();
    assert_eq!(info.account(), Some("222233334444"));

    // GetSessionToken with session credentials is refused, as in AWS.
    let err = role.get_session_token().send().await.unwrap_err();
    assert_eq!(err.into_service_error().meta().code(), Some("AccessDenied"));

    let session = sts
        .get_session_token()
        .duration_seconds(900)
        .send()
        .await
        .unwrap();
    assert!(
        session
            .credentials()
            .unwrap()
            .access_key_id()
            .starts_with("LSIA")
    );
}

#[tokio::test]
async fn validation_errors_reach_the_sdk_with_aws_codes() {
    let skyport = Skyport::start();
    let sts = client(&skyport.endpoint(), "test", "test", None).await;
    let err = sts
        .assume_role()
        .role_arn("arn:aws:iam::222233334444:role/deployer")
        .role_session_name("x")
        .send()
        .await
        .unwrap_err();
    let err = err.into_service_error();
    assert_eq!(err.meta().code(), Some("ValidationError"));
    assert!(err.meta().message().unwrap().contains("roleSessionName"));

    let err = sts
        .assume_role_with_web_identity()
        .role_arn("arn:aws:iam::222233334444:role/web")
        .role_session_name("web")
        .web_identity_token("not-a-jwt")
        .send()
        .await
        .unwrap_err();
    assert!(
        err.into_service_error()
            .is_invalid_identity_token_exception()
    );
}

#[tokio::test]
async fn assumed_roles_survive_a_restart_with_persistence() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options::default()
        .env("PERSISTENCE", "1")
        .state_dir(dir.path());
    let (key, secret, token) = {
        let skyport = Skyport::start_with(options.clone());
        let sts = client(&skyport.endpoint(), "test", "test", None).await;
        let out = sts
            .assume_role()
            .role_arn("arn:aws:iam::555566667777:role/app")
            .role_session_name("s1")
            .send()
            .await
            .unwrap();
        let c = out.credentials().unwrap().clone();
        (
            c.access_key_id().to_owned(),
            c.secret_access_key().to_owned(),
            c.session_token().to_owned(),
        )
        // Dropped here: killed with SIGKILL, no graceful shutdown.
    };
    let skyport = Skyport::start_with(options);
    let role = client(&skyport.endpoint(), &key, &secret, Some(&token)).await;
    let me = role.get_caller_identity().send().await.unwrap();
    assert_eq!(
        me.arn(),
        Some("arn:aws:sts::555566667777:assumed-role/app/s1")
    );
    assert!(dir.path().join("state/sts/meta.redb").exists());
}

/// GetFederationToken: a federated user's credentials (an hour at most for a root caller), which
/// GetCallerIdentity then reports; session credentials may not call it; the name is validated.
#[tokio::test]
async fn federation_tokens_name_a_federated_user() {
    let skyport = Skyport::start();
    let sts = client(&skyport.endpoint(), "123456789012", "x", None).await;
    let before = std::time::SystemTime::now();
    let out = sts
        .get_federation_token()
        .name("Bob")
        .duration_seconds(7200)
        .policy(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#)
        .send()
        .await
        .unwrap();
    let user = out.federated_user().unwrap();
    assert_eq!(user.arn(), "arn:aws:sts::123456789012:federated-user/Bob");
    assert_eq!(user.federated_user_id(), "123456789012:Bob");
    let creds = out.credentials().unwrap();
    // A root caller's session lasts an hour, whatever was asked.
    let expires = std::time::UNIX_EPOCH
        + std::time::Duration::from_secs(u64::try_from(creds.expiration().secs()).unwrap());
    let lasts = expires.duration_since(before).unwrap().as_secs();
    assert!((3590..=3610).contains(&lasts), "{lasts}");
    let federated = client(
        &skyport.endpoint(),
        creds.access_key_id(),
        creds.secret_access_key(),
        Some(creds.session_token()),
    )
    .await;
    let me = federated.get_caller_identity().send().await.unwrap();
    assert_eq!(
        me.arn(),
        Some("arn:aws:sts::123456789012:federated-user/Bob")
    );
    assert_eq!(me.user_id(), Some("123456789012:Bob"));
    assert_eq!(me.account(), Some("123456789012"));
    let err = federated
        .get_federation_token()
        .name("Again")
        .send()
        .await
        .expect_err("session credentials");
    let e = err.as_service_error().unwrap();
    assert_eq!(
        aws_sdk_sts::error::ProvideErrorMetadata::code(e),
        Some("AccessDenied")
    );
    let err = sts
        .get_federation_token()
        .name("x")
        .send()
        .await
        .expect_err("name too short");
    assert_eq!(
        aws_sdk_sts::error::ProvideErrorMetadata::code(err.as_service_error().unwrap()),
        Some("ValidationError")
    );
}

/// A SAML response as an IdP posts it, for `role`/`provider`, valid until `not_after`.
fn saml_response(role: &str, provider: &str, not_after: &str) -> String {
    use base64::Engine;
    let xml = format!(
        r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">
  <saml:Issuer>https://idp.example.com/saml</saml:Issuer>
  <saml:Assertion>
    <saml:Issuer>https://idp.example.com/saml</saml:Issuer>
    <saml:Subject>
      <saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:transient">alice@example.com</saml:NameID>
      <saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">
        <saml:SubjectConfirmationData NotOnOrAfter="{not_after}" Recipient="https://signin.aws.amazon.com/saml"/>
      </saml:SubjectConfirmation>
    </saml:Subject>
    <saml:AttributeStatement>
      <saml:Attribute Name="https://aws.amazon.com/SAML/Attributes/Role">
        <saml:AttributeValue>{provider},{role}</saml:AttributeValue>
      </saml:Attribute>
      <saml:Attribute Name="https://aws.amazon.com/SAML/Attributes/RoleSessionName">
        <saml:AttributeValue>alice</saml:AttributeValue>
      </saml:Attribute>
      <saml:Attribute Name="https://aws.amazon.com/SAML/Attributes/SessionDuration">
        <saml:AttributeValue>1800</saml:AttributeValue>
      </saml:Attribute>
    </saml:AttributeStatement>
  </saml:Assertion>
</samlp:Response>"#
    );
    base64::engine::general_purpose::STANDARD.encode(xml)
}

/// AssumeRoleWithSAML: the assertion's role, session name, subject, issuer and audience; the session
/// capped by `SessionDuration`; AWS's errors for another role, an expired assertion and garbage.
#[tokio::test]
async fn saml_assertions_assume_their_role() {
    let skyport = Skyport::start();
    let sts = client(&skyport.endpoint(), "test", "test", None).await;
    let role = "arn:aws:iam::123456789012:role/Dev";
    let provider = "arn:aws:iam::123456789012:saml-provider/Idp";
    let assertion = saml_response(role, provider, "2099-01-01T00:00:00Z");
    let before = std::time::SystemTime::now();
    let out = sts
        .assume_role_with_saml()
        .role_arn(role)
        .principal_arn(provider)
        .saml_assertion(&assertion)
        .duration_seconds(3600)
        .send()
        .await
        .unwrap();
    assert_eq!(
        out.assumed_role_user().map(|u| u.arn()),
        Some("arn:aws:sts::123456789012:assumed-role/Dev/alice")
    );
    assert_eq!(out.subject(), Some("alice@example.com"));
    assert_eq!(out.subject_type(), Some("transient"));
    assert_eq!(out.issuer(), Some("https://idp.example.com/saml"));
    assert_eq!(out.audience(), Some("https://signin.aws.amazon.com/saml"));
    assert_eq!(out.name_qualifier().map(str::len), Some(28));
    let creds = out.credentials().unwrap();
    let expires = std::time::UNIX_EPOCH
        + std::time::Duration::from_secs(u64::try_from(creds.expiration().secs()).unwrap());
    let lasts = expires.duration_since(before).unwrap().as_secs();
    assert!(
        (1790..=1810).contains(&lasts),
        "SessionDuration caps it: {lasts}"
    );
    let me = client(
        &skyport.endpoint(),
        creds.access_key_id(),
        creds.secret_access_key(),
        Some(creds.session_token()),
    )
    .await
    .get_caller_identity()
    .send()
    .await
    .unwrap();
    assert_eq!(
        me.arn(),
        Some("arn:aws:sts::123456789012:assumed-role/Dev/alice")
    );

    let code = |e: &aws_sdk_sts::error::SdkError<_, _>| {
        aws_sdk_sts::error::ProvideErrorMetadata::code(
            e.as_service_error().expect("a service error"),
        )
        .map(str::to_owned)
    };
    let err = sts
        .assume_role_with_saml()
        .role_arn("arn:aws:iam::123456789012:role/Admin")
        .principal_arn(provider)
        .saml_assertion(&assertion)
        .send()
        .await
        .expect_err("a role the assertion does not name");
    assert_eq!(code(&err).as_deref(), Some("AccessDenied"));
    let err = sts
        .assume_role_with_saml()
        .role_arn(role)
        .principal_arn(provider)
        .saml_assertion(saml_response(role, provider, "2001-01-01T00:00:00Z"))
        .send()
        .await
        .expect_err("expired");
    assert_eq!(code(&err).as_deref(), Some("ExpiredTokenException"));
    let err = sts
        .assume_role_with_saml()
        .role_arn(role)
        .principal_arn(provider)
        .saml_assertion("bm90IHhtbA==")
        .send()
        .await
        .expect_err("not an assertion");
    assert_eq!(code(&err).as_deref(), Some("InvalidIdentityToken"));
}
