//! The manifests agree with each other and with the configs they mount: names, ports, paths,
//! the shard count copied from replicas, the Secret's variables (and the Secret kept out of the
//! kustomization), the sidecar's address, Pod Security "restricted", the Job's volumes.

use super::*;

#[test]
fn the_manifests_agree_with_each_other_and_with_the_configs() {
    let set = doc("statefulset.yaml", "StatefulSet");
    let pod = &set["spec"]["template"]["spec"];
    let es = named(&pod["containers"], "entra-source");
    let vector_c = named(&pod["initContainers"], "vector");
    let toml = toml_example();
    let vector: Value = yaml_serde::from_str(&text("vector.yaml")).unwrap();
    let kustomize: Value = yaml_serde::from_str(&text("kustomization.yaml")).unwrap();

    // The entra-source config every pod reads is valid.
    let config = entra_source::config::Config::load(&dir().join("entra-source.toml")).unwrap();
    assert!(config.tenants.len() >= 2 && config.metrics_listen.is_some());

    // One shard per pod: the pod's ordinal is the shard, and the count is the replica count,
    // copied there by the kustomization (one value).
    let replicas = set["spec"]["replicas"].as_u64().unwrap();
    let argv = pod_args(&set);
    assert!(argv.contains(&"--shard-from-hostname".into()), "{argv:?}");
    assert!(
        argv.windows(2).any(|w| w == ["--log-format", "json"]),
        "{argv:?}"
    );
    let at = argv
        .iter()
        .position(|a| a.starts_with("--shard-count="))
        .expect("--shard-count=N in the pod's arguments");
    assert_eq!(argv[at], format!("--shard-count={replicas}"));
    let r = &kustomize["replacements"][0];
    assert_eq!(
        (
            &r["source"]["kind"],
            &r["source"]["name"],
            &r["source"]["fieldPath"]
        ),
        (
            &set["kind"],
            &set["metadata"]["name"],
            &Value::from("spec.replicas")
        )
    );
    let target = &r["targets"][0];
    assert_eq!(target["select"]["name"], set["metadata"]["name"]);
    assert_eq!(
        strings(&target["fieldPaths"]),
        [format!(
            "spec.template.spec.containers.[name=entra-source].args.{at}"
        )]
    );
    assert_eq!(
        (&target["options"]["delimiter"], &target["options"]["index"]),
        (&Value::from("="), &Value::from(1))
    );
    assert!(
        std::env::var_os("ENTRA_SOURCE_SHARD_COUNT").is_none()
            && es["env"]
                .as_array()
                .is_none_or(|e| e.iter().all(|v| v["name"] != "ENTRA_SOURCE_SHARD_COUNT")),
        "a second place for the count"
    );
    assert_eq!(
        set["spec"]["serviceName"],
        doc("service.yaml", "Service")["metadata"]["name"]
    );
    assert_eq!(doc("service.yaml", "Service")["spec"]["clusterIP"], "None");
    assert_eq!(
        set["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"],
        set["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"]
    );

    // Pod Security "restricted" for the pods and the re-shard Job.
    assert_restricted("StatefulSet", pod);
    assert_restricted(
        "re-shard Job",
        &doc("reshard-job.yaml", "Job")["spec"]["template"]["spec"],
    );

    // The config the command names is the ConfigMap's entra-source.toml; the Vector config too.
    let config_path = &argv[argv.iter().position(|a| a == "--config").unwrap() + 1];
    let cm = mount_at(pod, es, config_path);
    let generated = named(
        &kustomize["configMapGenerator"],
        cm["configMap"]["name"].as_str().unwrap(),
    );
    assert!(strings(&generated["files"]).contains(&"entra-source.toml".into()));
    assert!(strings(&generated["files"]).contains(&"vector.yaml".into()));
    let vector_args = strings(&vector_c["args"]);
    mount_at(pod, vector_c, &vector_args[1]);
    for f in strings(&kustomize["resources"]) {
        assert!(dir().join(&f).exists(), "{f}");
        // `kubectl apply -k` must never replace the real credentials with placeholders.
        assert!(
            docs(&f).iter().all(|d| d["kind"] != "Secret"),
            "{f}: a Secret in the kustomization's resources"
        );
    }

    // State and Vector's disk buffer on the pod's own volume.
    let state = toml["state"]["path"].as_str().unwrap();
    let state_dir = Path::new(state).parent().unwrap().to_str().unwrap();
    let claim = &set["spec"]["volumeClaimTemplates"][0];
    for c in [es, vector_c] {
        let data = c["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["mountPath"] == state_dir)
            .unwrap_or_else(|| panic!("{}: no volume at {state_dir}", c["name"]));
        assert_eq!(data["name"], claim["metadata"]["name"]);
    }
    assert!(vector["data_dir"].as_str().unwrap().starts_with(state_dir));

    // Metrics: the annotated port is the one entra-source listens on and the probes use.
    let listen = toml["metrics"]["listen"].as_str().unwrap();
    let port = listen.rsplit(':').next().unwrap();
    let annotations = &set["spec"]["template"]["metadata"]["annotations"];
    assert_eq!(annotations["prometheus.io/scrape"], "true");
    assert_eq!(annotations["prometheus.io/port"], port);
    assert_eq!(annotations["prometheus.io/path"], "/metrics");
    let metrics_port = named(&es["ports"], "metrics");
    assert_eq!(metrics_port["containerPort"].to_string(), port);
    let monitor = doc("podmonitor.yaml", "PodMonitor");
    assert_eq!(
        monitor["spec"]["selector"]["matchLabels"],
        set["spec"]["template"]["metadata"]["labels"]
    );
    assert_eq!(monitor["spec"]["podMetricsEndpoints"][0]["port"], "metrics");
    assert_eq!(
        monitor["spec"]["podMetricsEndpoints"][0]["path"],
        "/metrics"
    );
    assert_eq!(es["livenessProbe"]["httpGet"]["path"], "/health/live");
    assert_eq!(es["livenessProbe"]["httpGet"]["port"], "metrics");
    // Readiness that one failing tenant does not flip.
    assert_eq!(es["readinessProbe"]["httpGet"]["path"], "/health/ready");

    // Every secret variable the config names comes from the Secret, which is an example to
    // create out of band.
    let secret = doc("secret.example.yaml", "Secret");
    let secret_name = secret["metadata"]["name"].as_str().unwrap();
    assert!(
        es["envFrom"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["secretRef"]["name"] == secret_name),
        "the pod reads {secret_name}"
    );
    for app in toml["apps"].as_array().unwrap() {
        let var = app["client_secret_env"].as_str().unwrap();
        assert!(
            secret["stringData"].get(var).is_some(),
            "{var} not in the Secret"
        );
    }
    assert_eq!(
        pod["serviceAccountName"],
        doc("serviceaccount.yaml", "ServiceAccount")["metadata"]["name"]
    );

    // Acknowledged delivery: entra-source pushes to the sidecar's http_server source on
    // loopback, which Vector answers once the Kafka sink's disk buffer has the events.
    let endpoint = url::Url::parse(toml["output"]["http_endpoint"].as_str().unwrap()).unwrap();
    let kafka = &vector["sinks"]["kafka"];
    assert_eq!(kafka["type"], "kafka");
    assert_acknowledged_push(&vector["sources"]["entra"], kafka, endpoint.as_str());
    assert_eq!(endpoint.host_str(), Some("127.0.0.1"));
    assert_eq!(
        vector_c["startupProbe"]["tcpSocket"]["port"].as_u64(),
        endpoint.port().map(u64::from),
        "entra-source starts once the sidecar listens"
    );
    assert_eq!(vector_c["restartPolicy"], "Always", "a native sidecar");
    assert_eq!(strings(&kafka["inputs"]), ["entra_events"]);
    assert_eq!(
        strings(&vector["transforms"]["entra_events"]["inputs"]),
        ["entra"]
    );
    assert_eq!(
        vector["sources"].as_object().unwrap().len()
            + vector["transforms"].as_object().unwrap().len(),
        2,
        "every source and transform has a consumer"
    );

    // The re-shard Job: a volume per shard of the larger count, named as the StatefulSet names
    // them, each mounted where STATE_PATTERN puts that shard's state file.
    let job = doc("reshard-job.yaml", "Job");
    let jc = &job["spec"]["template"]["spec"]["containers"][0];
    let jpod = &job["spec"]["template"]["spec"];
    let args = strings(&jc["args"]);
    let (old, new): (u32, u32) = (args[0].parse().unwrap(), args[1].parse().unwrap());
    assert_eq!(
        u64::from(old),
        replicas,
        "the Job starts from the StatefulSet's count"
    );
    let pattern = env_value(jc, "STATE_PATTERN");
    assert_eq!(
        Path::new(&pattern).file_name(),
        Path::new(state).file_name(),
        "the state file's name on each volume"
    );
    let set_name = set["metadata"]["name"].as_str().unwrap();
    let claim_name = claim["metadata"]["name"].as_str().unwrap();
    for i in 0..old.max(new) {
        let file = pattern.replace("%d", &i.to_string());
        let at = Path::new(&file).parent().unwrap().to_str().unwrap();
        let v = mount_at(jpod, jc, at);
        assert_eq!(
            v["persistentVolumeClaim"]["claimName"],
            format!("{claim_name}-{set_name}-{i}")
        );
    }
    let pvc = doc("reshard-job.yaml", "PersistentVolumeClaim");
    assert_eq!(
        pvc["metadata"]["name"],
        format!("{claim_name}-{set_name}-{}", new - 1)
    );
    assert_eq!(
        mount_at(jpod, jc, &env_value(jc, "CONFIG"))["configMap"]["name"],
        cm["configMap"]["name"]
    );
    let script = strings(&jc["command"]);
    let script_dir = Path::new(&script[1]).parent().unwrap().to_str().unwrap();
    let script_cm = mount_at(jpod, jc, script_dir)["configMap"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        strings(&named(&kustomize["configMapGenerator"], &script_cm)["files"])
            .contains(&"reshard.sh".into())
    );
    assert_eq!(jc["image"], es["image"], "the Job runs the pods' image");
    let dockerfile =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("Dockerfile"))
            .unwrap();
    assert!(
        dockerfile.contains(&format!(
            "ENTRYPOINT [\"{}\"]",
            env_value(jc, "ENTRA_SOURCE")
        )),
        "the Job runs the image's binary"
    );
}

/// `kubectl kustomize` (where kubectl is installed) renders the count from replicas, as a
/// string argument the API server accepts, whatever replicas says.
#[test]
fn the_kustomization_gives_every_pod_the_replica_count_as_its_shard_count() {
    if std::process::Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .is_err()
    {
        eprintln!("skipped: no kubectl on PATH to render the kustomization (the manifest test checks its replacement)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(dir()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), tmp.path().join(entry.file_name())).unwrap();
    }
    let sts = tmp.path().join("statefulset.yaml");
    let text = std::fs::read_to_string(&sts).unwrap();
    std::fs::write(&sts, text.replacen("replicas: 3", "replicas: 7", 1)).unwrap();
    let out = std::process::Command::new("kubectl")
        .arg("kustomize")
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rendered = String::from_utf8(out.stdout).unwrap();
    let set = yaml_serde::Deserializer::from_str(&rendered)
        .map(|d| Value::deserialize(d).unwrap())
        .find(|d| d["kind"] == "StatefulSet")
        .unwrap();
    assert_eq!(set["spec"]["replicas"], 7);
    let args = &set["spec"]["template"]["spec"]["containers"][0]["args"];
    assert!(
        args.as_array()
            .unwrap()
            .iter()
            .any(|a| a == "--shard-count=7"),
        "{args}"
    );
    assert!(
        !rendered.contains("kind: Secret"),
        "the kustomization applies a Secret"
    );
}
