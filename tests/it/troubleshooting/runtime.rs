//! The errors met after start-up: credentials, Graph, the state, the output, shards, tenants
//! and the directory cache, each made to happen against the simulator.

use super::{normalize, Entry};
use crate::common::*;
use entra_simulator::{Fault, Resource, CLIENT_ID, TENANT_ID};

struct Cases {
    out: Vec<Entry>,
    /// Run-time values (free ports) and how the page writes them.
    also: Vec<(String, &'static str)>,
}

impl Cases {
    /// Records the last stderr line of `r`, which must exit with `code`.
    fn add(&mut self, h: &Harness, group: &'static str, when: &str, code: i32, r: &RunResult) {
        assert_eq!(r.code, Some(code), "{when}: {}", r.stderr);
        assert!(!r.stderr.contains("panicked"), "{when}: {}", r.stderr);
        self.out.push(Entry {
            group,
            when: when.to_string(),
            code,
            message: normalize(h, r.last_stderr_line(), &self.also),
        });
    }
}

async fn fresh() -> Harness {
    let h = Harness::new("").await;
    h.audits(5, between_minutes_ago(30, 1));
    h
}

fn edit(h: &Harness, from: &str, to: &str) {
    let text = std::fs::read_to_string(&h.config).unwrap();
    assert!(text.contains(from), "{from:?} not in the config");
    std::fs::write(&h.config, text.replacen(from, to, 1)).unwrap();
}

async fn credentials(c: &mut Cases) {
    let g = "Credentials and the login host";
    let h = fresh().await;
    std::fs::write(&h.secret_file, "not-the-secret").unwrap();
    let r = h.run_once().await;
    c.add(
        &h,
        g,
        "The client secret is wrong (or is the Secret ID, not its Value).",
        1,
        &r,
    );
    std::fs::write(&h.secret_file, entra_simulator::CLIENT_SECRET).unwrap();
    h.sim.set_secret_expired(true);
    let r = h.run_once().await;
    c.add(&h, g, "The client secret has expired.", 1, &r);
    h.sim.set_secret_expired(false);
    let good = std::fs::read_to_string(&h.config).unwrap();
    std::fs::write(
        &h.config,
        good.replace(TENANT_ID, "fabrikam.onmicrosoft.com"),
    )
    .unwrap();
    let r = h.run_once().await;
    c.add(
        &h,
        g,
        "The tenant does not exist in this cloud (a typo, or the wrong `cloud`).",
        1,
        &r,
    );
    std::fs::write(
        &h.config,
        good.replace(CLIENT_ID, "11111111-1111-1111-1111-111111111111"),
    )
    .unwrap();
    let r = h.run_once().await;
    c.add(
        &h,
        g,
        "The app is not registered (or not consented) in the tenant.",
        1,
        &r,
    );
    let login = format!("login_url = \"{}\"", h.sim.base_url());
    let port = free_port();
    c.also.push((format!("127.0.0.1:{port}"), "127.0.0.1:8443"));
    std::fs::write(
        &h.config,
        good.replacen(
            &login,
            &format!("login_url = \"http://127.0.0.1:{port}\""),
            1,
        )
        .replace(
            "interval_seconds = 1",
            "interval_seconds = 1\nrequest_attempts = 1",
        ),
    )
    .unwrap();
    let r = h.run_once().await;
    c.add(
        &h,
        g,
        "The login host does not answer (DNS, a firewall, a proxy).",
        1,
        &r,
    );
}

async fn graph(c: &mut Cases) {
    let g = "Graph";
    let h = fresh().await;
    h.sim.set_roles(&roles_without("AuditLog.Read.All"));
    let r = h.run_once().await;
    c.add(
        &h,
        g,
        "The app lacks a stream's application permission, or admin consent for it.",
        1,
        &r,
    );
    h.sim.set_roles(&entra_simulator::ALL_ROLES);

    let h = fresh().await;
    h.write_streams("[streams.sign_ins]\n");
    h.sim.set_licences(&[]);
    let r = h.run_once().await;
    c.add(
        &h,
        g,
        "The tenant lacks the licence a stream needs (sign-ins: Entra ID P1).",
        1,
        &r,
    );

    let h = fresh().await;
    h.sim
        .refuse_filter(Resource::DirectoryAudits, "activityDateTime");
    let r = h.run_once().await;
    c.add(&h, g, "Graph refuses the query (a 400).", 1, &r);

    let h = fresh().await;
    edit(
        &h,
        "interval_seconds = 1",
        "interval_seconds = 1\nrequest_attempts = 2",
    );
    h.sim.push_faults((0..4).map(|_| Fault::Unavailable {
        retry_after: Some("0.1".into()),
    }));
    let r = h.run_once().await;
    c.add(
        &h,
        g,
        "Graph keeps failing (5xx, 429, timeouts) past `request_attempts`.",
        1,
        &r,
    );

    let h = fresh().await;
    h.sim.push_faults([Fault::MalformedPage]);
    let r = h.run_once().await;
    c.add(&h, g, "Graph sends a page that is not valid JSON.", 1, &r);

    let h = fresh().await;
    h.sim.push_faults((0..4).map(|_| Fault::TokenExpired));
    let r = h.run_once().await;
    c.add(
        &h,
        g,
        "Graph refuses fresh tokens (a token for another cloud).",
        1,
        &r,
    );
}

async fn state(c: &mut Cases) {
    let g = "The state file";
    let h = fresh().await;
    std::fs::write(&h.state, b"\x00\x01binary").unwrap();
    let r = h.run_once().await;
    c.add(&h, g, "The state file is damaged.", 1, &r);
    std::fs::write(&h.state, br#"{"version":99,"tenants":{}}"#).unwrap();
    let r = h.run_once().await;
    c.add(
        &h,
        g,
        "The state file was written by a newer entra-source.",
        1,
        &r,
    );
    std::fs::remove_file(&h.state).unwrap();

    let mut first = h.spawn_run();
    let mut lines = stdout_lines(&mut first);
    read_lines(&mut lines, 5, &mut Vec::new()).await;
    let r = h.run_once().await;
    c.add(
        &h,
        g,
        "Another entra-source process holds the state file.",
        1,
        &r,
    );
    let config = h.config.to_str().unwrap();
    let r = h
        .run_args(&[
            "state",
            "reset",
            "--config",
            config,
            "--stream",
            "directory_audits",
        ])
        .await;
    c.add(
        &h,
        g,
        "`state reset` (or `import`, `export --remove`) runs while a run holds the lock.",
        1,
        &r,
    );
    first.kill().await.unwrap();

    let h = fresh().await;
    edit(
        &h,
        &format!("path = \"{}\"", h.state.display()),
        "path = \"/nonexistent/dir/state.json\"",
    );
    let r = h.run_once().await;
    c.add(
        &h,
        g,
        "The state file's directory is missing or not writable.",
        1,
        &r,
    );
}

async fn output(c: &mut Cases) {
    let g = "Output";
    let h = fresh().await;
    edit(
        &h,
        "[streams.directory_audits]",
        &format!(
            "[output]\nhttp_endpoint = \"{}/push\"\n\n[streams.directory_audits]",
            h.sim.base_url()
        ),
    );
    let r = h.run_once().await;
    c.add(
        &h,
        g,
        "The HTTP receiver refuses the push (an answer other than 2xx, 413, 429 or 5xx; here 401).",
        1,
        &r,
    );

    let h = fresh().await;
    let port = free_port();
    c.also.push((format!("127.0.0.1:{port}"), "127.0.0.1:8080"));
    edit(&h, "[streams.directory_audits]", &format!("[output]\nhttp_endpoint = \"http://127.0.0.1:{port}/\"\nhttp_give_up_after = \"1s\"\n\n[streams.directory_audits]"));
    let r = h.run_once().await;
    c.add(
        &h,
        g,
        "The HTTP receiver is down for longer than `http_give_up_after`.",
        1,
        &r,
    );

    let h = fresh().await;
    edit(
        &h,
        "[streams.directory_audits]",
        &format!(
            "[output]\notlp_endpoint = \"{}/collector\"\n\n[streams.directory_audits]",
            h.sim.base_url()
        ),
    );
    let r = h.run_once().await;
    c.add(
        &h,
        g,
        "The OpenTelemetry Collector refuses the export.",
        1,
        &r,
    );

    let h = fresh().await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    c.also.push((addr.to_string(), "127.0.0.1:9464"));
    edit(
        &h,
        "[streams.directory_audits]",
        &format!("[metrics]\nlisten = \"{addr}\"\n\n[streams.directory_audits]"),
    );
    let r = h.run_once().await;
    c.add(
        &h,
        g,
        "`metrics.listen` is an address another process already uses.",
        1,
        &r,
    );
    drop(taken);
}

async fn shards(c: &mut Cases) {
    let g = "Shards";
    let h = fresh().await;
    let config = h.config.to_str().unwrap();
    for (when, args) in [
        ("`--shard` is not INDEX/COUNT.", &["--shard", "three"][..]),
        ("`--shard` INDEX is not below COUNT.", &["--shard", "3/3"]),
        (
            "`--shard-from-hostname` without a shard count.",
            &["--shard-from-hostname"],
        ),
        (
            "The shard count is not a number.",
            &["--shard-from-hostname", "--shard-count", "x"],
        ),
    ] {
        let mut argv = vec!["run", "--config", config, "--once"];
        argv.extend_from_slice(args);
        let r = h.run_args(&argv).await;
        c.add(&h, g, when, 2, &r);
    }
    let mut cmd = h.command(&[
        "run",
        "--config",
        config,
        "--once",
        "--shard-from-hostname",
        "--shard-count",
        "3",
    ]);
    cmd.env("HOSTNAME", "collector");
    let r = finish(cmd.spawn().unwrap()).await;
    c.add(
        &h,
        g,
        "`--shard-from-hostname` on a host whose name does not end in -<ordinal>.",
        2,
        &r,
    );
}

async fn tenants(c: &mut Cases) {
    let g = "Tenants and the state tools";
    let h = fresh().await;
    assert_eq!(h.run_once().await.code, Some(0));
    let config = h.config.to_str().unwrap();
    let file = h.dir.path().join("moved.json");
    let out = file.to_str().unwrap();
    crate::mistakes::export_remove(&h, &file).await;
    let r = h.run_once().await;
    c.add(
        &h,
        g,
        "A tenant exported with `--remove` is still in this host's config.",
        1,
        &r,
    );
    let r = h
        .run_args(&["state", "import", "--config", config, out])
        .await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let r = h
        .run_args(&["state", "import", "--config", config, out])
        .await;
    c.add(
        &h,
        g,
        "`state import` of a tenant the store already has.",
        2,
        &r,
    );
    let r = h
        .run_args(&[
            "state",
            "reset",
            "--config",
            config,
            "--stream",
            "directory_audits",
            "--since",
            "2020-01-01T00:00:00Z",
        ])
        .await;
    c.add(
        &h,
        g,
        "`state reset --since` before what Graph keeps.",
        2,
        &r,
    );
    let r = h
        .run_args(&["state", "reset", "--config", config, "--stream", "audits"])
        .await;
    c.add(&h, g, "`state reset --stream` names no stream.", 2, &r);

    let other = fresh().await;
    other.write_streams("[streams.directory_audits]\n");
    let text = std::fs::read_to_string(&other.config).unwrap();
    std::fs::write(
        &other.config,
        text.replace(TENANT_ID, "0a1b2c3d-0000-4000-8000-000000000001"),
    )
    .unwrap();
    let r = other
        .run_args(&[
            "state",
            "import",
            "--config",
            other.config.to_str().unwrap(),
            out,
        ])
        .await;
    c.add(
        &other,
        g,
        "`state import` of a tenant the config does not name.",
        2,
        &r,
    );

    let h = fresh().await;
    h.sim.accept_tenant("contoso.onmicrosoft.com");
    let base = std::fs::read_to_string(&h.config).unwrap();
    let tenant = &base[..base.find("\n\n").unwrap()];
    let second = tenant
        .replacen("[tenant]", "[[tenants]]", 1)
        .replace(TENANT_ID, "contoso.onmicrosoft.com");
    let rest = &base[base.find("\n\n").unwrap()..];
    std::fs::write(
        &h.config,
        format!(
            "{}\n\n{second}\n{rest}",
            tenant.replacen("[tenant]", "[[tenants]]", 1)
        ),
    )
    .unwrap();
    let r = h.run_once().await;
    c.add(
        &h,
        g,
        "One tenant is listed twice, by GUID and by domain (or under two apps).",
        1,
        &r,
    );
}

async fn context(c: &mut Cases) {
    let g = "Directory context";
    let h = fresh().await;
    edit(
        &h,
        "[context]\nenabled = false",
        "[context]\nenabled = true",
    );
    let cache = format!("{}.context-{TENANT_ID}.redb", h.state.display());
    std::fs::create_dir_all(&cache).unwrap();
    let r = h.run_once().await;
    c.add(
        &h,
        g,
        "The directory cache beside the state file cannot be opened.",
        1,
        &r,
    );
}

pub(crate) async fn cases() -> Vec<Entry> {
    let mut c = Cases {
        out: Vec::new(),
        also: Vec::new(),
    };
    credentials(&mut c).await;
    graph(&mut c).await;
    state(&mut c).await;
    output(&mut c).await;
    shards(&mut c).await;
    tenants(&mut c).await;
    context(&mut c).await;
    c.out
}
