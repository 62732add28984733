use super::*;
use crate::auth::{Credential, Secret};

fn load_str(text: &str) -> Result<Config, ConfigError> {
    let path = Path::new("/etc/entra-source/config.toml");
    Config::validate(path, parse_raw(path, text)?, &|_| None)
}

const MINIMAL: &str = r#"
[tenant]
id = "contoso.onmicrosoft.com"
client_id = "00000000-0000-0000-0000-000000000000"
client_secret = "s3cret"
[streams.directory_audits]
"#;

#[test]
fn defaults_follow_the_contract() {
    let c = load_str(MINIMAL).unwrap();
    assert_eq!(c.interval, Duration::from_secs(300));
    assert_eq!(
        c.state_path,
        PathBuf::from("/etc/entra-source/config.toml.state.json")
    );
    let t = &c.tenants[0];
    assert_eq!(t.login_url.as_str(), "https://login.microsoftonline.com/");
    assert_eq!(t.graph_url.as_str(), "https://graph.microsoft.com/");
    assert_eq!(t.streams.len(), 1);
    assert_eq!(
        *t.streams[0].sweeps.last().unwrap(),
        Duration::from_secs(1200)
    );
    assert_eq!(t.streams[0].initial_lookback, Duration::from_secs(3600));
}

#[test]
fn output_formats_and_otlp_endpoint() {
    let with = |output: &str| load_str(&format!("{MINIMAL}[output]\n{output}\n"));
    assert_eq!(
        with("format = \"ecs\"").unwrap().format,
        crate::format::Format::Ecs
    );
    assert_eq!(
        with("format = \"ocsf\"").unwrap().format,
        crate::format::Format::Ocsf
    );
    let e = with("format = \"cef\"").unwrap_err().to_string();
    assert!(e.contains("output.format") && e.contains("\"ocsf\""), "{e}");
    for f in crate::format::Format::all() {
        let c = with(&format!("format = \"{}\"", f.name())).unwrap();
        assert_eq!(c.format, f);
        assert!(!c.keep_null_columns);
    }
    // `native_profile` is gone: a config that sets it is told what replaced it.
    let e = with("native_profile = \"full\"").unwrap_err().to_string();
    assert!(
        e.contains("output.native_profile") && e.contains("format = \"log_analytics\""),
        "{e}"
    );
    let e = with("native_profile = \"lean\"").unwrap_err().to_string();
    assert!(e.contains("remove native_profile"), "{e}");
    assert!(
        with("format = \"log_analytics\"\nkeep_null_columns = true")
            .unwrap()
            .keep_null_columns
    );
    let e = with("keep_null_columns = true").unwrap_err().to_string();
    assert!(e.contains("Log Analytics rows only"), "{e}");
    for (endpoint, url) in [
        ("http://127.0.0.1:4318", "http://127.0.0.1:4318/v1/logs"),
        (
            "https://otel.example.com:4318/",
            "https://otel.example.com:4318/v1/logs",
        ),
        (
            "https://otel.example.com/v1/logs",
            "https://otel.example.com/v1/logs",
        ),
    ] {
        let c = with(&format!("otlp_endpoint = \"{endpoint}\"")).unwrap();
        match c.output_target {
            OutputTarget::Otlp {
                url: u,
                batch_records,
                ..
            } => {
                assert_eq!(u.as_str(), url);
                assert_eq!(batch_records, 500);
            }
            other => panic!("{other:?}"),
        }
    }
    let e = with("otlp_endpoint = \"http://collector:4318\"")
        .unwrap_err()
        .to_string();
    assert!(e.contains("loopback"), "{e}");
    let e = with("otlp_batch_records = 10").unwrap_err().to_string();
    assert!(e.contains("only with output.otlp_endpoint"), "{e}");
}

#[test]
fn unknown_key_suggests_the_nearest() {
    let text = MINIMAL.replace(
        "[streams.directory_audits]",
        "[poll]\nintervl_seconds = 5\n[streams.directory_audits]",
    );
    let err = load_str(&text).unwrap_err().to_string();
    assert!(err.contains("unknown key `intervl_seconds`"), "{err}");
    assert!(err.contains("did you mean `interval_seconds`?"), "{err}");
}

#[test]
fn a_wrong_type_names_the_line() {
    let text = MINIMAL.replace("[streams", "[poll]\ninterval_seconds = \"5\"\n[streams");
    let err = load_str(&text).unwrap_err().to_string();
    assert!(err.contains("`interval_seconds = \"5\"`"), "{err}");
}

#[test]
fn clouds_set_both_hosts() {
    for (cloud, login, graph) in [
        (
            "global",
            "https://login.microsoftonline.com/",
            "https://graph.microsoft.com/",
        ),
        (
            "usgov",
            "https://login.microsoftonline.us/",
            "https://graph.microsoft.us/",
        ),
        (
            "usgov-dod",
            "https://login.microsoftonline.us/",
            "https://dod-graph.microsoft.us/",
        ),
        (
            "china",
            "https://login.chinacloudapi.cn/",
            "https://microsoftgraph.chinacloudapi.cn/",
        ),
    ] {
        let text = MINIMAL.replace("[streams", &format!("cloud = \"{cloud}\"\n[streams"));
        let t = &load_str(&text).unwrap().tenants[0];
        assert_eq!(
            (t.login_url.as_str(), t.graph_url.as_str()),
            (login, graph),
            "{cloud}"
        );
        // The token scope is the cloud's Graph root + /.default.
        let tokens = crate::auth::TokenProvider::new(
            reqwest::Client::new(),
            &t.login_url,
            &t.graph_url,
            &t.id,
            &t.client_id,
            Credential::Secret {
                secret: Secret::new("s".into()),
                file: None,
            },
        );
        assert_eq!(tokens.scope(), format!("{}.default", graph), "{cloud}");
    }
    let err = load_str(&MINIMAL.replace("[streams", "cloud = \"azure\"\n[streams")).unwrap_err();
    assert!(err.to_string().contains("\"usgov-dod\""), "{err}");
}

#[test]
fn plain_http_only_to_loopback() {
    assert!(validate_url("k", "http://127.0.0.1:8080").is_ok());
    assert!(validate_url("k", "http://[::1]:8080").is_ok());
    assert!(validate_url("k", "http://localhost:1").is_ok());
    let err = validate_url("k", "http://graph.example.com")
        .unwrap_err()
        .to_string();
    assert!(err.contains("loopback"), "{err}");
}

/// `late_arrival = "100000d"` was accepted and the next poll walked 100,001 one-day windows.
#[test]
fn absurd_durations_are_refused_naming_the_key_written() {
    for (table, key, value, needle) in [
        ("poll", "late_arrival", "\"100000d\"", "7d"),
        ("poll", "late_arrival", "\"8d\"", "7d"),
        (
            "streams.directory_audits",
            "late_arrival",
            "\"99999999h\"",
            "7d",
        ),
        ("poll", "initial_lookback", "\"1000000000d\"", "30 days"),
        ("poll", "initial_lookback", "\"0s\"", "more than zero"),
        (
            "poll",
            "interval_seconds",
            "9223372036854775807",
            "at most 604800",
        ),
        ("poll", "interval_seconds", "-5", "at least 1"),
        (
            "poll",
            "late_arrival",
            "\"99999999999999999999d\"",
            "too large",
        ),
    ] {
        let text = if table == "poll" {
            MINIMAL.replace(
                "[streams.directory_audits]",
                &format!("[poll]\n{key} = {value}\n[streams.directory_audits]"),
            )
        } else {
            format!("{MINIMAL}{key} = {value}\n")
        };
        let err = load_str(&text).unwrap_err().to_string();
        assert!(err.contains(&format!("`{table}.{key}`")), "{err}");
        assert!(err.contains(needle), "{err}");
    }
    let ok = MINIMAL.replace(
        "[streams.directory_audits]",
        "[poll]\nlate_arrival = \"7d\"\ninterval_seconds = 604800\n[streams.directory_audits]",
    );
    assert!(load_str(&ok).is_ok());
}

/// A `[poll] initial_lookback` error named `streams.directory_audits.initial_lookback`.
#[test]
fn a_poll_value_error_names_the_poll_key() {
    let text = MINIMAL.replace(
        "[streams.directory_audits]",
        "[poll]\ninitial_lookback = \"31d\"\n[streams.directory_audits]",
    );
    let err = load_str(&text).unwrap_err().to_string();
    assert!(err.contains("`poll.initial_lookback`"), "{err}");
    assert!(!err.contains("streams."), "{err}");
}

/// "expected i64" read badly.
#[test]
fn type_errors_use_words_not_rust_types() {
    let text = MINIMAL.replace(
        "[streams.directory_audits]",
        "[poll]\ninterval_seconds = \"300\"\n[streams.directory_audits]",
    );
    let err = load_str(&text).unwrap_err().to_string();
    assert!(err.contains("a whole number (without quotes)"), "{err}");
    assert!(!err.contains("i64"), "{err}");
}

#[test]
fn lookback_is_capped_at_thirty_days() {
    let text = MINIMAL.replace(
        "[streams.directory_audits]",
        "[poll]\ninitial_lookback = \"31d\"\n[streams.directory_audits]",
    );
    let err = load_str(&text).unwrap_err().to_string();
    assert!(err.contains("30 days"), "{err}");
    let ok = text.replace("31d", "30d");
    assert!(load_str(&ok).is_ok());
}

#[test]
fn per_stream_late_arrival_overrides_poll() {
    let text = MINIMAL.replace(
        "[streams.directory_audits]",
        "[poll]\nlate_arrival = \"5m\"\n[streams.directory_audits]\nlate_arrival = \"1h\"",
    );
    assert_eq!(
        *load_str(&text).unwrap().tenants[0].streams[0]
            .sweeps
            .last()
            .unwrap(),
        Duration::from_secs(3600)
    );
}

#[test]
fn several_tenants_each_with_their_own_streams() {
    let text = r#"
[[tenants]]
id = "contoso.onmicrosoft.com"
client_id = "a"
client_secret = "s"
[[tenants]]
id = "fabrikam.onmicrosoft.com"
client_id = "b"
client_secret = "s"
cloud = "usgov"
[tenants.streams.directory_audits]
late_arrival = "1h"
[streams.directory_audits]
"#;
    let c = load_str(text).unwrap();
    assert_eq!(c.tenants.len(), 2);
    assert_eq!(
        *c.tenants[0].streams[0].sweeps.last().unwrap(),
        Duration::from_secs(1200)
    );
    assert_eq!(
        *c.tenants[1].streams[0].sweeps.last().unwrap(),
        Duration::from_secs(3600)
    );
    assert_eq!(
        c.tenants[1].graph_url.as_str(),
        "https://graph.microsoft.us/"
    );
    let both = format!(
        "{}\n{text}",
        MINIMAL.replace("[streams.directory_audits]\n", "")
    );
    let err = load_str(&both).unwrap_err().to_string();
    assert!(err.contains("not both"), "{err}");
}

#[test]
fn sign_in_options() {
    let t = |extra: &str| {
        MINIMAL.replace(
            "[streams.directory_audits]",
            &format!("[streams.sign_ins]\n{extra}"),
        )
    };
    let c = load_str(&t("")).unwrap();
    assert_eq!(c.tenants[0].streams[0].sign_ins, SignInOptions::default());
    let c = load_str(&t(
        "filter = \"risky\"\nevent_types = [\"interactiveUser\", \"nonInteractiveUser\"]",
    ))
    .unwrap();
    let o = &c.tenants[0].streams[0].sign_ins;
    assert_eq!(
        (o.filter, o.beta, o.event_types.len()),
        (SignInFilter::Risky, true, 2)
    );
    let err = load_str(&t(
        "api_version = \"v1.0\"\nevent_types = [\"servicePrincipal\"]",
    ))
    .unwrap_err()
    .to_string();
    assert!(err.contains("set api_version = \"beta\""), "{err}");
    let err = load_str(&t("filter = \"risk\"")).unwrap_err().to_string();
    assert!(err.contains("\"risky\""), "{err}");
    let disabled = MINIMAL.replace(
        "[streams.directory_audits]",
        "[streams.directory_audits]\n[streams.sign_ins]\nenabled = false",
    );
    assert_eq!(load_str(&disabled).unwrap().tenants[0].streams.len(), 1);
}

#[test]
fn identity_protection_is_refused_in_china() {
    let text = MINIMAL.replace(
        "[streams",
        "cloud = \"china\"\n[streams.risky_users]\n[streams",
    );
    let err = load_str(&text).unwrap_err().to_string();
    assert!(err.contains("not offered in the china cloud"), "{err}");
}

#[test]
fn missing_tenant_id_names_the_key() {
    let text = MINIMAL.replace("id = \"contoso.onmicrosoft.com\"\n", "");
    let err = load_str(&text).unwrap_err().to_string();
    assert!(err.contains("`tenant.id` is missing"), "{err}");
}

/// Validation read secret files, variables and certificates, hence a second loader with a
/// placeholder credential for the `state` commands. It now reads nothing; `resolve` does.
#[test]
fn validation_reads_no_file_and_no_variable_and_resolve_names_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("absent");
    for (credential, key) in [
        (
            "client_secret_env = \"ENTRA_SOURCE_TEST_NEVER_SET\"".to_string(),
            "tenant.client_secret_env",
        ),
        (
            format!("client_secret_file = \"{}\"", missing.display()),
            "tenant.client_secret_file",
        ),
        (
            format!("certificate_file = \"{}\"", missing.display()),
            "tenant.certificate_file",
        ),
    ] {
        let text = MINIMAL.replace("client_secret = \"s3cret\"", &credential);
        let c = load_str(&text).unwrap_or_else(|e| panic!("{credential}: {e}"));
        let err = c.resolve().unwrap_err().to_string();
        assert!(err.contains(&format!("`{key}`")), "{err}");
    }
    let text = MINIMAL.replace(
        "[streams.directory_audits]",
        &format!(
            "[tls]\nca_file = \"{}\"\n[streams.directory_audits]",
            missing.display()
        ),
    );
    let c = load_str(&text).unwrap();
    let err = c.resolve().unwrap_err().to_string();
    assert!(err.contains("tls.ca_file"), "{err}");
    // The inline secret resolves to itself.
    let c = load_str(MINIMAL).unwrap();
    assert!(matches!(
        &c.resolve().unwrap().credentials[0],
        Credential::Secret { secret, .. } if secret.expose() == "s3cret"
    ));
}

/// Microsoft's export and Log Analytics rows have no place for directory context: it is not
/// fetched for them, and asking for it is refused with the fix.
#[test]
fn context_is_off_for_microsofts_shapes() {
    let with = |extra: &str| load_str(&format!("{MINIMAL}{extra}"));
    assert!(with("").unwrap().context.is_some());
    for f in ["azure_monitor", "log_analytics"] {
        let c = with(&format!("[output]\nformat = \"{f}\"\n")).unwrap();
        assert!(c.context.is_none(), "{f}");
        let e = with(&format!(
            "[output]\nformat = \"{f}\"\n[context]\nenabled = true\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("context.enabled") && e.contains("no place"),
            "{e}"
        );
    }
}

#[test]
fn sign_in_shaping_is_full_unless_asked_and_its_keys_are_checked() {
    let base = MINIMAL.replace("[streams.directory_audits]", "[streams.sign_ins]\nevent_types = [\"interactiveUser\", \"servicePrincipal\", \"managedIdentity\"]");
    let c = load_str(&base).unwrap();
    assert_eq!(
        c.tenants[0].streams[0].sign_ins.shaping,
        crate::streams::settings::Shaping::default()
    );
    assert!(c.tenants[0].streams[0]
        .sign_ins
        .shaping
        .summarize
        .is_empty());

    let c = load_str(&format!(
        "{base}[streams.sign_ins.shaping]\nservicePrincipal = \"summarize\"\nmanagedIdentity = \"summarize\"\ninteractiveUser = \"full\"\nwindow = \"5m\"\n"
    ))
    .unwrap();
    let s = &c.tenants[0].streams[0].sign_ins.shaping;
    assert_eq!(s.summarize, ["servicePrincipal", "managedIdentity"]);
    assert_eq!(s.window, Duration::from_secs(300));

    for (extra, needle) in [
        ("servicePrincipal = \"drop\"", "shaping.servicePrincipal"),
        ("window = \"2h\"", "shaping.window"),
        ("new_horizon = \"90d\"", "shaping.new_horizon"),
        ("new_horizon = \"12h\"", "shaping.new_horizon"),
        (
            "nonInteractiveUser = \"summarize\"",
            "not in event_types: add it to event_types",
        ),
        (
            "service_principal = \"summarize\"",
            "did you mean `servicePrincipal`",
        ),
    ] {
        let e = load_str(&format!("{base}[streams.sign_ins.shaping]\n{extra}\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains(needle), "{extra}: {e}");
    }
    let v1 = MINIMAL.replace(
        "[streams.directory_audits]",
        "[streams.sign_ins]\napi_version = \"v1.0\"\n[streams.sign_ins.shaping]\ninteractiveUser = \"summarize\"\n",
    );
    let e = load_str(&v1).unwrap_err().to_string();
    assert!(e.contains("set api_version = \"beta\""), "{e}");
    let e = load_str(&format!(
        "{MINIMAL}[streams.directory_audits.shaping]\nservicePrincipal = \"summarize\"\n"
    ));
    assert!(e.is_err());
}
