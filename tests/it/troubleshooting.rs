//! `docs/troubleshooting.md` is built from the errors the binary prints: each case below makes
//! one error happen (a config mistake, a refused credential, Graph refusing, a damaged state,
//! a receiver refusing, a shard or tenant mistake) and the page lists the last stderr line it
//! printed, with the exit status and when a user meets it. The test fails when the page and the
//! messages differ (`ENTRA_SOURCE_BLESS=1 cargo test --test it troubleshooting` rewrites it),
//! when a case exits 0, panics, or (for a config error) touches the network.

mod runtime;

use std::path::PathBuf;

use crate::command_line::{compare_or_bless, splice};
use crate::common::*;

/// One error as the page shows it.
pub(crate) struct Entry {
    group: &'static str,
    when: String,
    code: i32,
    message: String,
}

/// The config every config case edits: a working one.
fn base(h: &Harness) -> String {
    format!(
        "[tenant]\nid = \"{}\"\nclient_id = \"{}\"\nclient_secret_file = \"{}\"\nlogin_url = \"{g}\"\ngraph_url = \"{g}\"\n\n[state]\npath = \"{}\"\n\n[poll]\ninterval_seconds = 1\n\n[streams.directory_audits]\n\n[context]\nenabled = false\n",
        entra_simulator::TENANT_ID,
        entra_simulator::CLIENT_ID,
        h.secret_file.display(),
        h.state.display(),
        g = h.sim.base_url(),
    )
}

const TENANT: &str = "[tenant]\n";
const POLL: &str = "interval_seconds = 1\n";
const STREAMS: &str = "[streams.directory_audits]\n";
const CONTEXT: &str = "[context]\nenabled = false\n";
const END: &str = "";
/// The whole `[tenant]` table.
const TENANT_BLOCK: &str = "<the [tenant] table>";

/// Config mistakes: (when, edits of the working config: a text and what it becomes). `END`
/// appends. `{dir}` is the config's directory.
const CONFIG: &[(&str, &[(&str, &str)])] = &[
    ("The file is not TOML (here a table header without its `]`).", &[("[state]", "[state")]),
    ("A key is misspelt or in the wrong table.", &[(POLL, "intervall_seconds = 1\n")]),
    ("A value has the wrong type (a number in quotes).", &[(POLL, "interval_seconds = \"60\"\n")]),
    ("`late_arrival` is a number instead of a duration.", &[(POLL, "interval_seconds = 1\nlate_arrival = 1200\n")]),
    ("There is no `[tenant]` or `[[tenants]]`.", &[(TENANT_BLOCK, "")]),
    ("Both `[tenant]` and `[[tenants]]` are present.", &[(END, "[[tenants]]\nid = \"contoso.onmicrosoft.com\"\nclient_id = \"5d8e7c6b-1a2b-4c3d-8e9f-0a1b2c3d4e5f\"\nclient_secret_env = \"X\"\n")]),
    ("`tenant.id` is missing.", &[("id = \"8f1b6c2e-4f5a-4c3d-9e2b-7a6d5c4b3a21\"\n", "")]),
    ("`tenant.id` is `common` or `organizations`.", &[("id = \"8f1b6c2e-4f5a-4c3d-9e2b-7a6d5c4b3a21\"", "id = \"common\"")]),
    ("`tenant.id` is neither a GUID nor a domain.", &[("id = \"8f1b6c2e-4f5a-4c3d-9e2b-7a6d5c4b3a21\"", "id = \"Contoso Ltd\"")]),
    ("`client_id` is missing.", &[("client_id = \"5d8e7c6b-1a2b-4c3d-8e9f-0a1b2c3d4e5f\"\n", "")]),
    ("No credential is set.", &[("client_secret_file", "# client_secret_file")]),
    ("Two credentials are set.", &[(TENANT, "[tenant]\nclient_secret_env = \"ENTRA_CLIENT_SECRET\"\n")]),
    ("A PFX password is given for a PEM certificate, or for no certificate.", &[(TENANT, "[tenant]\ncertificate_password_env = \"PFX_PASSWORD\"\n")]),
    ("`certificate_signature` is given without a certificate.", &[(TENANT, "[tenant]\ncertificate_signature = \"rs256\"\n")]),
    ("`managed_identity_endpoint` is given without `managed_identity = true`.", &[(TENANT, "[tenant]\nmanaged_identity_endpoint = \"http://127.0.0.1:9/token\"\n")]),
    ("`cloud` is not one of the four.", &[(TENANT, "[tenant]\ncloud = \"germany\"\n")]),
    ("An identity-protection stream is enabled for a tenant in the China cloud.", &[(TENANT, "[tenant]\ncloud = \"china\"\n"), (STREAMS, "[streams.risky_users]\n")]),
    ("An agent-identity stream is enabled for a national-cloud tenant.", &[(TENANT, "[tenant]\ncloud = \"usgov\"\n"), (STREAMS, "[streams.risky_agents]\n")]),
    ("A URL is plain `http://` to a host other than this one.", &[("graph_url = \"http://127.0.0.1", "graph_url = \"http://graph.example.com\"\n# \"")]),
    ("A URL's scheme is not `https`.", &[("graph_url = \"http://127.0.0.1", "graph_url = \"ftp://graph.example.com\"\n# \"")]),
    ("A URL does not parse.", &[("graph_url = \"http://127.0.0.1", "graph_url = \"graph dot example\"\n# \"")]),
    ("The same tenant is listed twice in `[[tenants]]`.", &[("[tenant]\nid", "[[tenants]]\nid = \"8f1b6c2e-4f5a-4c3d-9e2b-7a6d5c4b3a21\"\nclient_id = \"5d8e7c6b-1a2b-4c3d-8e9f-0a1b2c3d4e5f\"\nclient_secret_env = \"X\"\n\n[[tenants]]\nid")]),
    ("`interval_seconds` is 0 or more than 7 days.", &[(POLL, "interval_seconds = 0\n")]),
    ("`request_attempts` is outside 1 to 20.", &[(POLL, "interval_seconds = 1\nrequest_attempts = 50\n")]),
    ("`initial_lookback` reaches past Graph's 30 days.", &[(POLL, "interval_seconds = 1\ninitial_lookback = \"60d\"\n")]),
    ("`initial_lookback` is zero.", &[(POLL, "interval_seconds = 1\ninitial_lookback = \"0m\"\n")]),
    ("A duration has no unit.", &[(POLL, "interval_seconds = 1\nlate_arrival = \"20\"\n")]),
    ("A `late_arrival` age is longer than 7 days.", &[(POLL, "interval_seconds = 1\nlate_arrival = \"30d\"\n")]),
    ("A `late_arrival` age is zero.", &[(POLL, "interval_seconds = 1\nlate_arrival = [\"0m\", \"20m\"]\n")]),
    ("A `late_arrival` age is listed twice.", &[(POLL, "interval_seconds = 1\nlate_arrival = [\"5m\", \"5m\"]\n")]),
    ("`late_arrival` lists no age, or more than four.", &[(POLL, "interval_seconds = 1\nlate_arrival = []\n")]),
    ("`tail_check` is shorter than twice the last sweep, or than an hour.", &[(POLL, "interval_seconds = 1\ntail_check = \"30m\"\n")]),
    ("Every stream is disabled or absent.", &[(STREAMS, "[streams.directory_audits]\nenabled = false\n")]),
    ("A sign-in key is set on another stream.", &[(STREAMS, "[streams.directory_audits]\nfilter = \"risky\"\n")]),
    ("The sign-in `filter` is not `all`, `risky` or `failures`.", &[(STREAMS, "[streams.sign_ins]\nfilter = \"interactive\"\n")]),
    ("The sign-in `api_version` is not `beta` or `v1.0`.", &[(STREAMS, "[streams.sign_ins]\napi_version = \"v2\"\n")]),
    ("Sign-in `event_types` are given with `api_version = \"v1.0\"`.", &[(STREAMS, "[streams.sign_ins]\napi_version = \"v1.0\"\nevent_types = [\"nonInteractiveUser\"]\n")]),
    ("Sign-in `event_types` is empty.", &[(STREAMS, "[streams.sign_ins]\nevent_types = []\n")]),
    ("A shaping policy is neither `full` nor `summarize`.", &[(STREAMS, "[streams.sign_ins]\n[streams.sign_ins.shaping]\ninteractiveUser = \"drop\"\n")]),
    ("A sign-in type is summarized that the stream does not read.", &[(STREAMS, "[streams.sign_ins]\n[streams.sign_ins.shaping]\nservicePrincipal = \"summarize\"\n")]),
    ("Shaping is set with `api_version = \"v1.0\"`.", &[(STREAMS, "[streams.sign_ins]\napi_version = \"v1.0\"\n[streams.sign_ins.shaping]\ninteractiveUser = \"summarize\"\n")]),
    ("The shaping `window` or `new_horizon` is out of range.", &[(STREAMS, "[streams.sign_ins]\n[streams.sign_ins.shaping]\nwindow = \"2h\"\n")]),
    ("A `[[tenant.hubs]]` table has no `namespace`.", &[(END, "[[tenant.hubs]]\nhubs = [\"insights-logs-auditlogs\"]\n")]),
    ("A hub `namespace` is written as a URL.", &[(END, "[[tenant.hubs]]\nnamespace = \"sb://contoso.servicebus.windows.net/\"\nhubs = [\"insights-logs-auditlogs\"]\n")]),
    ("A hub table lists no hubs.", &[(END, "[[tenant.hubs]]\nnamespace = \"contoso.servicebus.windows.net\"\n")]),
    ("A hub is listed twice.", &[(END, "[[tenant.hubs]]\nnamespace = \"contoso.servicebus.windows.net\"\nhubs = [\"insights-logs-auditlogs\", \"insights-logs-auditlogs\"]\n")]),
    ("`authentication = \"none\"` on a namespace that is not this host.", &[(END, "[[tenant.hubs]]\nnamespace = \"contoso.servicebus.windows.net\"\nhubs = [\"insights-logs-auditlogs\"]\nauthentication = \"none\"\n")]),
    ("A hub has both `connection_string_env` and `connection_string_file`.", &[(END, "[[tenant.hubs]]\nnamespace = \"contoso.servicebus.windows.net\"\nhubs = [\"insights-logs-auditlogs\"]\nconnection_string_env = \"EH\"\nconnection_string_file = \"/run/secrets/eh\"\n")]),
    ("A hub's `start` is neither `earliest`, `latest` nor a time.", &[(END, "[[tenant.hubs]]\nnamespace = \"contoso.servicebus.windows.net\"\nhubs = [\"insights-logs-auditlogs\"]\nstart = \"yesterday\"\n")]),
    ("`audit = true` on a stream of a tenant without a hub.", &[(STREAMS, "[streams.directory_audits]\naudit = true\n")]),
    ("`audit = true` on a stream no diagnostic setting exports.", &[(STREAMS, "[streams.users]\naudit = true\n")]),
    ("An auditor is given more than one `late_arrival` age.", &[(STREAMS, "[streams.directory_audits]\naudit = true\nlate_arrival = [\"1h\", \"2h\"]\n")]),
    ("`output.format` is not one of the five.", &[(END, "[output]\nformat = \"splunk\"\n")]),
    ("A config still sets the removed `native_profile`.", &[(END, "[output]\nnative_profile = \"full\"\n")]),
    ("`keep_null_columns` is set with a format other than `log_analytics`.", &[(END, "[output]\nkeep_null_columns = true\n")]),
    ("Two destinations are set (`path`, `otlp_endpoint`, `http_endpoint`).", &[(END, "[output]\npath = \"{dir}/events.ndjson\"\nhttp_endpoint = \"http://127.0.0.1:8080/\"\n")]),
    ("An `otlp_*` key is set without `otlp_endpoint`.", &[(END, "[output]\notlp_batch_records = 100\n")]),
    ("An `http_*` key is set without `http_endpoint`.", &[(END, "[output]\nhttp_timeout_seconds = 10\n")]),
    ("A timeout is 0.", &[(END, "[output]\nhttp_endpoint = \"http://127.0.0.1:8080/\"\nhttp_timeout_seconds = 0\n")]),
    ("`otlp_batch_records` is 0.", &[(END, "[output]\notlp_endpoint = \"http://127.0.0.1:4318\"\notlp_batch_records = 0\n")]),
    ("A give-up time is longer than 7 days.", &[(END, "[output]\nhttp_endpoint = \"http://127.0.0.1:8080/\"\nhttp_give_up_after = \"30d\"\n")]),
    ("A rotation key is set without `path`.", &[(END, "[output]\nrotate_keep = 3\n")]),
    ("`rotate_keep` is 0.", &[(END, "[output]\npath = \"{dir}/events.ndjson\"\nrotate_keep = 0\n")]),
    ("`rotate_size_bytes` is below `max_line_bytes`.", &[(END, "[output]\npath = \"{dir}/events.ndjson\"\nrotate_size_bytes = 1000\n")]),
    ("`max_line_bytes` is below 4096.", &[(END, "[output]\nmax_line_bytes = 100\n")]),
    ("`metrics.listen` is not an address and port.", &[(END, "[metrics]\nlisten = \"9464\"\n")]),
    ("Directory context is asked for with one of Microsoft's shapes.", &[(CONTEXT, "[context]\nenabled = true\n[output]\nformat = \"azure_monitor\"\n")]),
    ("`context.refresh` is out of range.", &[(CONTEXT, "[context]\nenabled = true\nrefresh = \"2d\"\n")]),
    ("A throttle budget is 0.", &[(END, "[throttle]\nreports_requests_per_10s = 0\n")]),
    ("`tls.ca_file` cannot be read.", &[(END, "[tls]\nca_file = \"{dir}/missing-ca.pem\"\n")]),
    ("`tls.ca_file` holds no PEM certificate.", &[(END, "[tls]\nca_file = \"{dir}/secret\"\n")]),
    ("An `[[apps]]` entry has no name.", &[(END, "[[apps]]\nclient_id = \"5d8e7c6b-1a2b-4c3d-8e9f-0a1b2c3d4e5f\"\nclient_secret_env = \"X\"\n")]),
    ("Two `[[apps]]` entries have the same name.", &[(END, "[[apps]]\nname = \"a\"\nclient_id = \"5d8e7c6b-1a2b-4c3d-8e9f-0a1b2c3d4e5f\"\nclient_secret_env = \"X\"\n[[apps]]\nname = \"a\"\nclient_id = \"6d8e7c6b-1a2b-4c3d-8e9f-0a1b2c3d4e5f\"\nclient_secret_env = \"Y\"\n")]),
    ("An `[[apps]]` entry has no `client_id`.", &[(END, "[[apps]]\nname = \"a\"\nclient_secret_env = \"X\"\n")]),
    ("Two `[[apps]]` entries are the same app registration.", &[(END, "[[apps]]\nname = \"a\"\nclient_id = \"5d8e7c6b-1a2b-4c3d-8e9f-0a1b2c3d4e5f\"\nclient_secret_env = \"X\"\n[[apps]]\nname = \"b\"\nclient_id = \"5d8e7c6b-1a2b-4c3d-8e9f-0a1b2c3d4e5f\"\nclient_secret_env = \"Y\"\n")]),
    ("An app's `reports_requests_per_10s` is 0.", &[(END, "[[apps]]\nname = \"a\"\nclient_id = \"5d8e7c6b-1a2b-4c3d-8e9f-0a1b2c3d4e5f\"\nclient_secret_env = \"X\"\nreports_requests_per_10s = 0\n")]),
    ("A tenant names an app no `[[apps]]` entry has.", &[(TENANT, "[tenant]\napp = \"collector\"\n")]),
    ("The secret's environment variable is not set.", &[("client_secret_file = ", "client_secret_env = \"ENTRA_SOURCE_UNSET_SECRET\"\n# ")]),
    ("The secret file cannot be read.", &[("client_secret_file = \"", "client_secret_file = \"{dir}/missing\"\n# \"")]),
    ("The certificate file cannot be read.", &[("client_secret_file = \"", "certificate_file = \"{dir}/missing.pem\"\n# \"")]),
    ("The certificate file holds no certificate and key.", &[("client_secret_file = \"", "certificate_file = \"{dir}/secret\"\n# \"")]),
];

/// The page's text for a message as printed on stderr: without the log line's time, level and
/// trailing fields; the test's directories, the simulator's address, request ids, process ids
/// and times written as a deployment's would be; `also` replaced as given.
pub(crate) fn normalize(h: &Harness, line: &str, also: &[(String, &str)]) -> String {
    let mut t = line.trim();
    // "2026-12-05T07:12:45.804703Z ERROR message exit_status=1"
    if t.starts_with(|c: char| c.is_ascii_digit()) {
        if let Some((_, rest)) = t.split_once(' ') {
            t = rest.trim_start();
        }
    }
    for level in ["ERROR ", "WARN ", "INFO "] {
        t = t.strip_prefix(level).unwrap_or(t);
    }
    if let Some((message, field)) = t.rsplit_once(" exit_status=") {
        if field.chars().all(|c| c.is_ascii_digit()) {
            t = message;
        }
    }
    let mut t = t
        .replace(&h.dir.path().display().to_string(), "/etc/entra-source")
        .replace(&h.sim.base_url(), "http://127.0.0.1:8080");
    for (from, to) in also {
        t = t.replace(from.as_str(), to);
    }
    t = replace_after(
        &t,
        &format!("{}/.tmp", std::env::temp_dir().display()),
        6,
        "",
    );
    t = t.replace(
        &format!("{}/.tmp", std::env::temp_dir().display()),
        "/etc/entra-source",
    );
    for id in [
        "request-id ",
        "\"request-id\":\"",
        "\"client-request-id\":\"",
    ] {
        t = replace_after(&t, id, 36, "00000000-0000-0000-0000-000000000000");
    }
    t = replace_digits_after(&t, "pid ", "4242");
    // How many attempts fit in a give-up time depends on the machine.
    t = replace_digits_after(&t, "for 1s (", "3");
    times(&t)
}

/// `text` with the `n` characters after each `prefix` replaced by `with`.
fn replace_after(text: &str, prefix: &str, n: usize, with: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(prefix) {
        out.push_str(&rest[..at + prefix.len()]);
        rest = &rest[at + prefix.len()..];
        let cut = rest.char_indices().nth(n).map_or(rest.len(), |(i, _)| i);
        out.push_str(with);
        rest = &rest[cut..];
    }
    out.push_str(rest);
    out
}

/// `text` with the digits after each `prefix` replaced by `with`.
fn replace_digits_after(text: &str, prefix: &str, with: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(prefix) {
        out.push_str(&rest[..at + prefix.len()]);
        rest = &rest[at + prefix.len()..];
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        if digits > 0 {
            out.push_str(with);
        }
        rest = &rest[digits..];
    }
    out.push_str(rest);
    out
}

/// RFC 3339 times in a message, written as one fixed time.
fn times(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    while i < b.len() {
        let date = i + 13 <= b.len()
            && b[i..i + 4].iter().all(u8::is_ascii_digit)
            && b[i + 4] == b'-'
            && b[i + 10] == b'T'
            && (b[i + 13..].starts_with(b":") || b[i + 13..].starts_with(b"%3A"));
        if date {
            let mut j = i + 11;
            while j < b.len() {
                if b[j].is_ascii_digit() || b"+-:.Z".contains(&b[j]) {
                    j += 1;
                } else if b[j..].starts_with(b"%3A") {
                    j += 3;
                } else {
                    break;
                }
            }
            out.push_str("2026-12-05T09:00:00Z");
            i = j;
        } else {
            let c = text[i..].chars().next().unwrap_or(' ');
            out.push(c);
            i += c.len_utf8().max(1);
        }
    }
    out
}

async fn config_cases() -> Vec<Entry> {
    let h = Harness::new("").await;
    let good = base(&h);
    let before = h.sim.requests().len();
    let mut out = Vec::new();
    for (when, edits) in CONFIG {
        let mut text = good.clone();
        for (from, to) in *edits {
            let to = to.replace("{dir}", &h.dir.path().display().to_string());
            let from = if *from == TENANT_BLOCK {
                text[..text.find("\n\n").unwrap() + 2].to_string()
            } else {
                from.to_string()
            };
            text = if from.is_empty() {
                format!("{text}\n{to}")
            } else {
                assert!(
                    text.contains(&from),
                    "{when}: {from:?} is not in the config"
                );
                text.replacen(&from, &to, 1)
            };
        }
        std::fs::write(&h.config, text).unwrap();
        let r = h.run_once().await;
        assert_eq!(r.code, Some(2), "{when}: {}", r.stderr);
        assert!(!r.stderr.contains("panicked"), "{when}: {}", r.stderr);
        assert!(r.stdout.is_empty(), "{when}");
        out.push(Entry {
            group: "Configuration",
            when: when.to_string(),
            code: 2,
            message: normalize(&h, r.last_stderr_line(), &[]),
        });
    }
    assert_eq!(
        h.sim.requests().len(),
        before,
        "a config error made a request"
    );
    out
}

fn render(entries: &[Entry]) -> String {
    let mut out = String::new();
    let mut group = "";
    for e in entries {
        if e.group != group {
            group = e.group;
            out.push_str(&format!("\n## {group}\n"));
        }
        out.push_str(&format!(
            "\n**{}** Exit {}.\n\n```text\n{}\n```\n",
            e.when, e.code, e.message
        ));
    }
    out.push('\n');
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_troubleshooting_page_lists_every_error_the_tests_produce() {
    let mut entries = config_cases().await;
    entries.extend(runtime::cases().await);
    let mut seen = std::collections::HashSet::new();
    for e in &entries {
        assert!(!e.message.is_empty(), "{}: no message", e.when);
        assert!(
            seen.insert(e.message.clone()),
            "two cases print the same message, {:?}: keep one",
            e.message
        );
    }
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/troubleshooting.md");
    let doc = std::fs::read_to_string(&path).unwrap();
    compare_or_bless(
        &path,
        &splice(&doc, "errors", &render(&entries)),
        "troubleshooting",
    );
}
