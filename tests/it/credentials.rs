//! Credentials beyond a static secret: a secret file rotated while the connector runs.

use std::collections::HashSet;

use crate::common::*;
use entra_simulator::Spread;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_secret_file_is_picked_up_without_a_restart() {
    let h = Harness::new("").await;
    let before = h.audits(30, between_minutes_ago(10, 1));
    let mut child = h.spawn_run();
    let mut lines = stdout_lines(&mut child);
    let mut got = Vec::new();
    read_lines(&mut lines, 30, &mut got).await;

    // The secret is rotated in Entra and by the secret manager; the old token is revoked.
    let rotated = "rotated~Secret.Value-9876543210";
    h.sim.set_secret(rotated);
    h.sim.expire_tokens();
    std::fs::write(&h.secret_file, format!("{rotated}\n")).unwrap();
    let after = h.audits(12, Spread::Between(seconds_ago(20), seconds_ago(2)));
    h.settle();
    read_lines(&mut lines, 42, &mut got).await;
    assert!(
        child.try_wait().unwrap().is_none(),
        "the rotation ended the process"
    );
    child.kill().await.unwrap();
    let mut stderr = String::new();
    tokio::io::AsyncReadExt::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr)
        .await
        .unwrap();
    assert!(
        stderr.contains("client_secret_file holds a new secret"),
        "{stderr}"
    );
    assert!(!stderr.contains(rotated));
    let ids: HashSet<String> = event_ids(&parse_lines(&got.join("\n")))
        .into_iter()
        .collect();
    let expected: HashSet<String> = before.into_iter().chain(after).collect();
    assert_eq!(ids, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_secret_whose_file_was_not_rotated_fails_with_the_fix() {
    let h = Harness::new("").await;
    h.audits(5, between_minutes_ago(10, 1));
    h.sim.set_secret_expired(true);
    let r = h.run_once().await;
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(r.events().is_empty());
    let last = r.last_stderr_line();
    assert!(last.contains("AADSTS7000222"), "{last}");
    assert!(last.contains("read again and is unchanged"), "{last}");
}

/// A config whose `[tenant]` credential lines are `credential` (no client secret).
fn config_with(h: &Harness, credential: &str) -> String {
    format!(
        "{FAST}[tenant]\nid = \"{}\"\n{credential}\nlogin_url = \"{base}\"\ngraph_url = \"{base}\"\n\n[state]\npath = \"{}\"\n\n[streams.directory_audits]\n",
        entra_simulator::TENANT_ID,
        h.state.display(),
        base = h.sim.base_url(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_federated_token_file_is_read_again_for_every_token() {
    let h = Harness::new("").await;
    let token_file = h.dir.path().join("azure-identity-token");
    std::fs::write(
        &token_file,
        h.sim.federated_token("first", chrono::Duration::hours(1)),
    )
    .unwrap();
    std::fs::write(
        &h.config,
        config_with(
            &h,
            &format!(
                "client_id = \"{}\"\nfederated_token_file = \"{}\"",
                entra_simulator::CLIENT_ID,
                token_file.display()
            ),
        ),
    )
    .unwrap();
    let first = h.audits(20, between_minutes_ago(10, 1));
    let r = h.run_once().await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(
        event_ids(&r.events()).into_iter().collect::<HashSet<_>>(),
        first.into_iter().collect()
    );
    // The kubelet rotates the file; the next token request presents the new one.
    std::fs::write(
        &token_file,
        h.sim.federated_token("second", chrono::Duration::hours(1)),
    )
    .unwrap();
    h.audits(3, Spread::Between(seconds_ago(20), seconds_ago(2)));
    h.settle();
    let r = h.run_once().await;
    assert_eq!(r.events().len(), 3, "{}", r.stderr);
    assert_eq!(
        h.sim.federated_assertions(),
        vec!["first".to_string(), "second".to_string()]
    );
    // An expired projection: the token endpoint's AADSTS700024, explained.
    std::fs::write(
        &token_file,
        h.sim
            .federated_token("stale", -chrono::Duration::minutes(5)),
    )
    .unwrap();
    let r = h.run_once().await;
    r.fails_with(1, &["AADSTS700024", "federated_token_file"]);
    assert!(!r.stderr.contains(
        &h.sim
            .federated_token("stale", -chrono::Duration::minutes(5))[..40]
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aks_workload_identity_environment_needs_no_credential_keys() {
    let h = Harness::new("").await;
    let token_file = h.dir.path().join("azure-identity-token");
    std::fs::write(
        &token_file,
        h.sim.federated_token("aks", chrono::Duration::hours(1)),
    )
    .unwrap();
    // [tenant] holds only the simulator's addresses: id, client id and token file come from the
    // variables the AKS webhook injects.
    std::fs::write(
        &h.config,
        format!(
            "{FAST}[tenant]\nlogin_url = \"{base}\"\ngraph_url = \"{base}\"\n\n[state]\npath = \"{}\"\n\n[streams.directory_audits]\n",
            h.state.display(),
            base = h.sim.base_url()
        ),
    )
    .unwrap();
    let ids = h.audits(7, between_minutes_ago(10, 1));
    let mut cmd = h.command(&["run", "--config", h.config.to_str().unwrap(), "--once"]);
    cmd.env("AZURE_TENANT_ID", entra_simulator::TENANT_ID)
        .env("AZURE_CLIENT_ID", entra_simulator::CLIENT_ID)
        .env("AZURE_FEDERATED_TOKEN_FILE", &token_file);
    let r = finish(cmd.spawn().unwrap()).await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(
        event_ids(&r.events()).into_iter().collect::<HashSet<_>>(),
        ids.into_iter().collect()
    );
    assert_eq!(h.sim.federated_assertions(), vec!["aks".to_string()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn managed_identity_via_imds_and_app_service() {
    use entra_simulator::{
        APP_SERVICE_IDENTITY_PATH, IDENTITY_HEADER, IMDS_IDENTITY_PATH, MANAGED_IDENTITY_CLIENT_ID,
    };
    let h = Harness::new("").await;
    // IMDS (the endpoint overridden to the simulator), a user-assigned identity.
    std::fs::write(
        &h.config,
        config_with(&h, &format!(
            "client_id = \"{MANAGED_IDENTITY_CLIENT_ID}\"\nmanaged_identity = true\nmanaged_identity_endpoint = \"{}{IMDS_IDENTITY_PATH}\"",
            h.sim.base_url()
        )),
    )
    .unwrap();
    let first = h.audits(9, between_minutes_ago(10, 1));
    let r = h.run_once().await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(
        event_ids(&r.events()).into_iter().collect::<HashSet<_>>(),
        first.into_iter().collect()
    );
    let mi: Vec<_> = h
        .sim
        .requests()
        .into_iter()
        .filter(|q| q.path == IMDS_IDENTITY_PATH)
        .collect();
    assert_eq!(mi.len(), 1);
    assert_eq!(mi[0].status, 200);
    assert_eq!(
        mi[0].param("client_id").as_deref(),
        Some(MANAGED_IDENTITY_CLIENT_ID)
    );

    // App Service: IDENTITY_ENDPOINT + IDENTITY_HEADER from the environment, system-assigned.
    std::fs::write(&h.config, config_with(&h, "managed_identity = true")).unwrap();
    let second = h.audits(4, Spread::Between(seconds_ago(20), seconds_ago(2)));
    h.settle();
    let mut cmd = h.command(&["run", "--config", h.config.to_str().unwrap(), "--once"]);
    cmd.env(
        "IDENTITY_ENDPOINT",
        format!("{}{APP_SERVICE_IDENTITY_PATH}", h.sim.base_url()),
    )
    .env("IDENTITY_HEADER", IDENTITY_HEADER);
    let r = finish(cmd.spawn().unwrap()).await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(
        event_ids(&r.events()).into_iter().collect::<HashSet<_>>(),
        second.into_iter().collect()
    );
    assert!(!r.stderr.contains(IDENTITY_HEADER));

    // A wrong user-assigned identity: the endpoint's refusal, explained.
    std::fs::write(
        &h.config,
        config_with(&h, &format!(
            "client_id = \"00000000-1111-2222-3333-444444444444\"\nmanaged_identity = true\nmanaged_identity_endpoint = \"{}{IMDS_IDENTITY_PATH}\"",
            h.sim.base_url()
        )),
    )
    .unwrap();
    let r = h.run_once().await;
    r.fails_with(1, &["managed identity endpoint", "Identity not found"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credential_config_errors_name_the_keys() {
    let h = Harness::new("").await;
    for (credential, needle) in [
        ("client_id = \"x\"\nclient_secret = \"s\"\nmanaged_identity = true", "set exactly one credential"),
        ("client_id = \"x\"\nmanaged_identity_endpoint = \"http://127.0.0.1:1/\"", "only with managed_identity = true"),
        ("managed_identity = true\nmanaged_identity_endpoint = \"http://identity.example.com/token\"", "169.254.169.254"),
        ("client_id = \"x\"\ncertificate_file = \"cert.pem\"\ncertificate_password_env = \"P\"", "only to a .pfx or .p12"),
    ] {
        std::fs::write(&h.config, config_with(&h, credential)).unwrap();
        let r = h.run_once().await;
        assert_eq!(r.code, Some(2), "{credential}: {}", r.stderr);
        assert!(r.last_stderr_line().contains(needle), "{credential}: {}", r.stderr);
    }
}

/// An RSA key and a self-signed certificate for it, as `openssl req -x509` would make: (cert
/// PEM, private key PEM, public key PEM).
/// A test-only key of `testdata/keys/` in `form` (`key`: PKCS#8, `rsa`: PKCS#1, `pub`: the
/// public key).
fn test_key(name: &str, form: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("testdata/keys/test-only-{name}.{form}.pem"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A self-signed certificate for test key `name`: (certificate, PKCS#8 key, public key).
fn rsa_certificate(name: &str) -> (String, String, String) {
    let key_pem = test_key(name, "key");
    let signer = rcgen::KeyPair::from_pem_and_sign_algo(&key_pem, &rcgen::PKCS_RSA_SHA256).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["entra-source".to_string()])
        .unwrap()
        .self_signed(&signer)
        .unwrap();
    (cert.pem(), key_pem, test_key(name, "pub"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_credentials_ps256_by_default_rs256_as_an_option_and_wrong_ones_explained() {
    let h = Harness::new("").await;
    let (cert, key, public) = rsa_certificate("a");
    h.sim.register_certificate(&cert, &public).unwrap();
    let cert_file = h.dir.path().join("entra-source.pem");
    std::fs::write(&cert_file, format!("{cert}{key}")).unwrap();
    let with = |extra: &str| {
        config_with(
            &h,
            &format!(
                "client_id = \"{}\"\ncertificate_file = \"{}\"\n{extra}",
                entra_simulator::CLIENT_ID,
                cert_file.display()
            ),
        )
    };
    std::fs::write(&h.config, with("")).unwrap();
    let first = h.audits(6, between_minutes_ago(10, 1));
    let r = h.run_once().await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(
        event_ids(&r.events()).into_iter().collect::<HashSet<_>>(),
        first.into_iter().collect()
    );

    std::fs::write(&h.config, with("certificate_signature = \"rs256\"")).unwrap();
    let second = h.audits(2, Spread::Between(seconds_ago(20), seconds_ago(2)));
    h.settle();
    let r = h.run_once().await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(
        event_ids(&r.events()).into_iter().collect::<HashSet<_>>(),
        second.into_iter().collect()
    );
    assert!(!r.stderr.contains("PRIVATE KEY"));

    // The key in PKCS#1 form (`RSA PRIVATE KEY`, as `openssl genrsa` writes it).
    let pkcs1 = test_key("a", "rsa");
    assert!(pkcs1.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
    std::fs::write(&cert_file, format!("{cert}{pkcs1}")).unwrap();
    std::fs::write(&h.config, with("")).unwrap();
    let third = h.audits(2, Spread::Between(seconds_ago(20), seconds_ago(2)));
    h.settle();
    let r = h.run_once().await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(
        event_ids(&r.events()).into_iter().collect::<HashSet<_>>(),
        third.into_iter().collect()
    );

    // A certificate the app registration does not know.
    let (other, other_key, _) = rsa_certificate("b");
    std::fs::write(&cert_file, format!("{other}{other_key}")).unwrap();
    std::fs::write(&h.config, with("")).unwrap();
    let r = h.run_once().await;
    r.fails_with(1, &["AADSTS700027", "upload the certificate"]);
    // The registered certificate with another key: the signature does not verify.
    std::fs::write(&cert_file, format!("{cert}{other_key}")).unwrap();
    let r = h.run_once().await;
    r.fails_with(1, &["AADSTS700027"]);
    // A file without a key: a config error that says what to do.
    std::fs::write(&cert_file, &cert).unwrap();
    let r = h.run_once().await;
    r.fails_with(2, &["no unencrypted PRIVATE KEY"]);

    // The same certificate as a PFX with its password in an environment variable.
    let pfx_file = h.dir.path().join("entra-source.pfx");
    std::fs::write(&pfx_file, pfx(&cert, &key, "pfx-pass")).unwrap();
    std::fs::write(
        &h.config,
        with("certificate_password_env = \"ENTRA_PFX_PASSWORD\"")
            .replace("entra-source.pem", "entra-source.pfx"),
    )
    .unwrap();
    let third = h.audits(3, Spread::Between(seconds_ago(10), seconds_ago(1)));
    h.settle();
    let mut cmd = h.command(&["run", "--config", h.config.to_str().unwrap(), "--once"]);
    cmd.env("ENTRA_PFX_PASSWORD", "pfx-pass");
    let r = finish(cmd.spawn().unwrap()).await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(third.iter().all(|id| event_ids(&r.events()).contains(id)));
    assert!(!r.stderr.contains("pfx-pass"));
    let mut cmd = h.command(&["run", "--config", h.config.to_str().unwrap(), "--once"]);
    cmd.env("ENTRA_PFX_PASSWORD", "wrong");
    let r = finish(cmd.spawn().unwrap()).await;
    assert_eq!(r.code, Some(2));
    assert!(
        r.last_stderr_line()
            .contains("cannot be opened with that password"),
        "{}",
        r.stderr
    );
}

/// A PKCS#12 file holding the key and certificate, as `openssl pkcs12 -export` makes one.
fn pfx(cert_pem: &str, key_pem: &str, password: &str) -> Vec<u8> {
    use p12_keystore::{Certificate, KeyStore, KeyStoreEntry, PrivateKey, PrivateKeyChain};
    let cert = Certificate::from_der(pem::parse(cert_pem).unwrap().contents()).unwrap();
    let key = PrivateKey::from_der(pem::parse(key_pem).unwrap().contents()).unwrap();
    let mut store = KeyStore::new();
    store.add_entry(
        "entra-source",
        KeyStoreEntry::PrivateKeyChain(PrivateKeyChain::new(vec![1u8, 2, 3, 4], key, [cert])),
    );
    store.writer(password).write().unwrap()
}
