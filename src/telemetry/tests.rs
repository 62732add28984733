use super::*;

/// `stream="sign_ins.interactiveUser"` could not be selected by the stream's name.
#[test]
fn labels_hold_one_dimension_each() {
    let m = Metrics::new();
    m.poll_done(
        "t",
        "sign_ins.interactiveUser",
        Health::Ok,
        Some(Utc::now()),
        None,
    );
    m.events
        .get_or_create(&EventLabels::new(
            "t",
            "sign_ins.nonInteractiveUser",
            "native",
        ))
        .inc();
    let text = m.render();
    assert!(!text.contains("sign_ins."), "{text}");
    assert!(
        text.contains(r#"stream="sign_ins",sign_in_type="interactiveUser""#),
        "{text}"
    );
    assert!(
        text.contains(r#"stream="sign_ins",sign_in_type="nonInteractiveUser",format="native""#),
        "{text}"
    );
    let (_, body) = m.health();
    let s = &body["streams"]["t/sign_ins.interactiveUser"];
    assert_eq!(s["stream"], "sign_ins");
    assert_eq!(s["sign_in_type"], "interactiveUser");
}

#[test]
fn health_allows_two_intervals_before_a_first_success_then_fails() {
    let m = Metrics::new();
    m.set_run(Duration::from_secs(60));
    m.register_stream("t", "directory_audits");
    // Young run, no poll finished yet: healthy ("starting").
    let (ok, body) = m.health();
    assert!(ok, "{body}");
    assert_eq!(body["streams"]["t/directory_audits"]["health"], "starting");
    // A failed poll inside the allowance is degraded but still healthy.
    m.poll_done(
        "t",
        "directory_audits",
        Health::Degraded,
        None,
        Some("boom".into()),
    );
    assert!(m.health().0);
    // Two intervals after the start without a success: failing, naming the error.
    lock(&m.started).0 = Utc::now() - chrono::Duration::seconds(121);
    let (ok, body) = m.health();
    assert!(!ok);
    assert_eq!(body["failing"][0]["last_error"], "boom");
    // A success heals it; an error stops it at once.
    m.poll_done("t", "directory_audits", Health::Ok, None, None);
    assert!(m.health().0);
    m.poll_done(
        "t",
        "directory_audits",
        Health::Error,
        None,
        Some("403".into()),
    );
    assert!(!m.health().0);
}

/// A stream whose last poll succeeded but whose next one runs long (a catch-up) said
/// `"health": "ok"` beside `"healthy": false`: it is lagging, and says so.
#[test]
fn an_overdue_stream_after_a_success_is_lagging_with_the_reason() {
    let m = Metrics::new();
    m.set_run(Duration::from_secs(60));
    m.register_stream("t", "sign_ins");
    let cursor = Utc::now() - chrono::Duration::minutes(30);
    m.poll_done("t", "sign_ins", Health::Ok, Some(cursor), None);
    lock(&m.streams)
        .get_mut(&("t".to_string(), "sign_ins".to_string()))
        .unwrap()
        .last_success = Some(Utc::now() - chrono::Duration::seconds(200));
    let (ok, body) = m.health();
    assert!(!ok);
    let s = &body["streams"]["t/sign_ins"];
    assert_eq!(s["health"], "lagging", "{body}");
    let reason = s["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("lagging: no successful poll for"),
        "{reason}"
    );
    assert!(reason.contains("30 min behind"), "{reason}");
}

#[test]
fn a_stream_behind_its_budget_is_a_metric() {
    let m = Metrics::new();
    m.budget("t", "directory_audits", 300.0, 250.0, true);
    let text = m.render();
    assert!(
        text.contains(
            r#"entra_source_behind_budget{tenant="t",stream="directory_audits",sign_in_type=""} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains("entra_source_budget_sustainable_records_per_second{"),
        "{text}"
    );
    m.budget("t", "directory_audits", 100.0, 250.0, false);
    assert!(m.render().contains(
        r#"entra_source_behind_budget{tenant="t",stream="directory_audits",sign_in_type=""} 0"#
    ));
}
