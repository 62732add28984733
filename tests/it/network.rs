//! Corporate networks: a TLS-inspecting proxy's CA in `[tls] ca_file`, a TLS failure that names
//! the host, the certificate problem and the fix, and `HTTPS_PROXY` / `NO_PROXY`.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use crate::common::*;
use entra_simulator::Simulator;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// A CA (as a TLS-inspecting proxy has) and a server certificate for 127.0.0.1 it signed.
fn ca_and_server() -> (String, String, String) {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Contoso TLS Inspection CA");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let params =
        CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    let cert = params.signed_by(&server_key, &ca).unwrap();
    (ca.pem(), cert.pem(), server_key.serialize_pem())
}

async fn tls_harness() -> (Harness, String) {
    let (ca, cert, key) = ca_and_server();
    let sim = Simulator::start_tls(&cert, &key).await.unwrap();
    assert!(sim.base_url().starts_with("https://127.0.0.1:"));
    (Harness::with(sim, ""), ca)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_certificate_is_named_and_ca_file_fixes_it() {
    let (h, ca) = tls_harness().await;
    let ids = h.audits(15, between_minutes_ago(10, 1));
    let r = h.run_once().await;
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    let last = r.last_stderr_line();
    assert!(last.contains("TLS to 127.0.0.1 failed"), "{last}");
    assert!(last.contains("UnknownIssuer"), "{last}");
    assert!(last.contains("[tls] ca_file"), "{last}");

    let ca_file = h.dir.path().join("inspection-ca.pem");
    std::fs::write(&ca_file, &ca).unwrap();
    h.write_streams(&format!(
        "[tls]\nca_file = \"{}\"\n\n[streams.directory_audits]\n",
        ca_file.display()
    ));
    let r = h.run_once().await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(
        event_ids(&r.events()).into_iter().collect::<HashSet<_>>(),
        ids.into_iter().collect()
    );

    // A ca_file that holds no certificate is a config error.
    std::fs::write(&ca_file, "not a certificate").unwrap();
    let r = h.run_once().await;
    assert_eq!(r.code, Some(2));
    assert!(r.last_stderr_line().contains("tls.ca_file"), "{}", r.stderr);
}

/// A minimal HTTP CONNECT proxy on loopback that records the targets it tunnels to.
async fn connect_proxy() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let log = log.clone();
            tokio::spawn(async move {
                let mut client = BufReader::new(client);
                let mut line = String::new();
                client.read_line(&mut line).await.unwrap();
                let target = line.split_whitespace().nth(1).unwrap_or("").to_string();
                loop {
                    let mut header = String::new();
                    client.read_line(&mut header).await.unwrap();
                    if header.trim().is_empty() {
                        break;
                    }
                }
                log.lock().unwrap().push(target.clone());
                let mut upstream = tokio::net::TcpStream::connect(&target).await.unwrap();
                let mut client = client.into_inner();
                client
                    .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .await
                    .unwrap();
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            });
        }
    });
    (format!("http://{addr}"), seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_proxy_and_no_proxy_are_honoured() {
    let (h, ca) = tls_harness().await;
    let ca_file = h.dir.path().join("inspection-ca.pem");
    std::fs::write(&ca_file, &ca).unwrap();
    h.write_streams(&format!(
        "[tls]\nca_file = \"{}\"\n\n[streams.directory_audits]\n",
        ca_file.display()
    ));
    let (proxy, seen) = connect_proxy().await;
    let first = h.audits(8, between_minutes_ago(10, 1));
    let mut cmd = h.command(&["run", "--config", h.config.to_str().unwrap(), "--once"]);
    cmd.env("HTTPS_PROXY", &proxy)
        .env_remove("NO_PROXY")
        .env_remove("no_proxy");
    let r = finish(cmd.spawn().unwrap()).await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(
        event_ids(&r.events()).into_iter().collect::<HashSet<_>>(),
        first.into_iter().collect()
    );
    let target = h.sim.base_url().trim_start_matches("https://").to_string();
    assert!(
        !seen.lock().unwrap().is_empty() && seen.lock().unwrap().iter().all(|t| *t == target),
        "{:?}",
        seen.lock().unwrap()
    );

    let tunnels = seen.lock().unwrap().len();
    let second = h.audits(
        3,
        entra_simulator::Spread::Between(seconds_ago(30), seconds_ago(2)),
    );
    h.settle();
    let mut cmd = h.command(&["run", "--config", h.config.to_str().unwrap(), "--once"]);
    cmd.env("HTTPS_PROXY", &proxy).env("NO_PROXY", "127.0.0.1");
    let r = finish(cmd.spawn().unwrap()).await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(second.iter().all(|id| event_ids(&r.events()).contains(id)));
    assert_eq!(
        seen.lock().unwrap().len(),
        tunnels,
        "NO_PROXY was not honoured"
    );
}

/// With the login host or Graph unreachable, the last stderr line of a failed `--once` ended
/// in "retrying" and named no cause. It now names the URL, the likely causes and the keys.
#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_login_or_graph_host_is_named_with_its_likely_causes() {
    let h = Harness::new("").await;
    h.audits(5, between_minutes_ago(30, 1));
    h.write_config(&format!(
        "{FAST}[poll]\ninterval_seconds = 1\nrequest_attempts = 2\n\n[streams.directory_audits]\n"
    ));
    let text = std::fs::read_to_string(&h.config).unwrap();
    let base = h.sim.base_url();
    let dead = format!("http://127.0.0.1:{}", free_port());
    h.sim.accept_graph(&dead);
    for (key, needle) in [("login_url", "login_url"), ("graph_url", "graph_url")] {
        let line = format!("{key} = \"{base}\"");
        assert!(text.contains(&line), "{text}");
        std::fs::write(
            &h.config,
            text.replace(&line, &format!("{key} = \"{dead}\"")),
        )
        .unwrap();
        let r = h.run_once().await;
        r.fails_with(
            1,
            &[
                &dead.replace("http://", ""),
                "DNS",
                "proxy",
                "firewall",
                needle,
            ],
        );
        assert!(
            !r.last_stderr_line().trim_end().ends_with("retrying"),
            "{}",
            r.stderr
        );
        assert!(r.events().is_empty());
    }
}
