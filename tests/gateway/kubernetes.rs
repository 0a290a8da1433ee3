//! `deploy/kubernetes/`: every manifest parses, and what refers to something else finds it:
//! selectors and pod labels, named ports, the ConfigMap keys the Deployment mounts and the
//! paths `gateway.toml` reads them from, the headless Service behind the `dns://` upstream,
//! the shutdown timings; the protos are the demo's own and `h2gate check` accepts the
//! configuration as the pod holds it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_yaml_ng::Value as Yaml;

use crate::support::h2gate_command;

fn manifests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kubernetes")
}

/// The manifest files, in name order.
fn manifest_files() -> Vec<PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(manifests_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 6, "{files:?}");
    files
}

/// Every document of every manifest, by kind then name.
fn manifests() -> BTreeMap<(String, String), Yaml> {
    let mut all = BTreeMap::new();
    for file in manifest_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        for document in serde_yaml_ng::Deserializer::from_str(&text) {
            let doc = Yaml::deserialize(document)
                .unwrap_or_else(|err| panic!("{}: {err}", file.display()));
            let kind = doc["kind"].as_str().expect("kind").to_owned();
            let name = doc["metadata"]["name"].as_str().expect("name").to_owned();
            assert!(doc["apiVersion"].is_string(), "{kind} {name}: apiVersion");
            let previous = all.insert((kind.clone(), name.clone()), doc);
            assert!(previous.is_none(), "{kind} {name} defined twice");
        }
    }
    all
}

fn get<'a>(all: &'a BTreeMap<(String, String), Yaml>, kind: &str, name: &str) -> &'a Yaml {
    all.get(&(kind.to_owned(), name.to_owned()))
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

fn str_of(value: &Yaml) -> &str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("a string: {value:?}"))
}

fn seq(value: &Yaml) -> &Vec<Yaml> {
    value
        .as_sequence()
        .unwrap_or_else(|| panic!("a list: {value:?}"))
}

/// Whether `selector`'s matchLabels (or plain map) all appear in `labels`.
fn selects(selector: &Yaml, labels: &Yaml) -> bool {
    let wanted = selector.get("matchLabels").unwrap_or(selector);
    let wanted = wanted.as_mapping().expect("selector labels");
    !wanted.is_empty() && wanted.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// `64Mi`, `512Ki`, `1Gi` → bytes.
fn quantity_bytes(text: &str) -> u64 {
    let units = [("Ki", 1u64 << 10), ("Mi", 1 << 20), ("Gi", 1 << 30)];
    for (suffix, factor) in units {
        if let Some(number) = text.strip_suffix(suffix) {
            return number.parse::<u64>().expect("a number") * factor;
        }
    }
    text.parse().expect("bytes")
}

#[test]
fn the_gateway_manifests_refer_to_what_exists() {
    let all = manifests();
    let deployment = get(&all, "Deployment", "h2gate");
    let spec = &deployment["spec"];
    assert_eq!(spec["replicas"], Yaml::from(3));
    let pod = &spec["template"];
    let labels = &pod["metadata"]["labels"];
    assert!(
        selects(&spec["selector"], labels),
        "the Deployment selects its pods"
    );

    let containers = seq(&pod["spec"]["containers"]);
    let gateway = &containers[0];
    let ports: BTreeMap<&str, i64> = seq(&gateway["ports"])
        .iter()
        .map(|p| {
            (
                str_of(&p["name"]),
                p["containerPort"].as_i64().expect("port"),
            )
        })
        .collect();
    for (probe, path) in [("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")] {
        let get = &gateway[probe]["httpGet"];
        assert_eq!(str_of(&get["path"]), path, "{probe}");
        let port = str_of(&get["port"]);
        assert!(ports.contains_key(port), "{probe} port {port} is declared");
    }

    // The Service and the disruption budget select the pods; the autoscaler scales the
    // Deployment; the Service's target ports are the container's.
    let service = get(&all, "Service", "h2gate");
    assert!(selects(&service["spec"]["selector"], labels));
    for port in seq(&service["spec"]["ports"]) {
        let target = str_of(&port["targetPort"]);
        assert!(ports.contains_key(target), "Service targetPort {target}");
    }
    let pdb = get(&all, "PodDisruptionBudget", "h2gate");
    assert!(selects(&pdb["spec"]["selector"], labels));
    let hpa = get(&all, "HorizontalPodAutoscaler", "h2gate");
    let target = &hpa["spec"]["scaleTargetRef"];
    assert_eq!(str_of(&target["kind"]), "Deployment");
    assert_eq!(str_of(&target["name"]), "h2gate");
    let min = hpa["spec"]["minReplicas"].as_i64().unwrap();
    assert!(min >= 3 && hpa["spec"]["maxReplicas"].as_i64().unwrap() > min);

    // Memory requested covers the benchmark's peak RSS (about 21 MiB).
    let requested = str_of(&gateway["resources"]["requests"]["memory"]);
    assert!(quantity_bytes(requested) >= 21 << 20, "{requested}");

    // Every mounted ConfigMap key exists; the config file named in the args is mounted.
    let config_map = get(&all, "ConfigMap", "h2gate-config");
    let data = config_map["data"].as_mapping().expect("data");
    let volumes = seq(&pod["spec"]["volumes"]);
    let mut mounted_files = Vec::new();
    for mount in seq(&gateway["volumeMounts"]) {
        let name = str_of(&mount["name"]);
        let at = str_of(&mount["mountPath"]);
        let volume = volumes
            .iter()
            .find(|v| str_of(&v["name"]) == name)
            .unwrap_or_else(|| panic!("volume {name} for the mount at {at}"));
        if let Some(map) = volume.get("configMap") {
            assert_eq!(str_of(&map["name"]), "h2gate-config");
            for item in seq(&map["items"]) {
                let key = str_of(&item["key"]);
                assert!(data.contains_key(key), "ConfigMap key {key}");
                mounted_files.push((format!("{at}/{}", str_of(&item["path"])), key.to_owned()));
            }
        }
    }
    let args: Vec<&str> = seq(&gateway["args"]).iter().map(str_of).collect();
    let config_at = args
        .iter()
        .position(|a| *a == "--config")
        .expect("--config");
    let config_path = args[config_at + 1];
    assert!(
        mounted_files
            .iter()
            .any(|(path, key)| path == config_path && key == "gateway.toml"),
        "{config_path} is the mounted gateway.toml: {mounted_files:?}"
    );

    // Shutdown: the pause, then the gateway's grace, both within the termination period.
    let pause: u64 = seq(&gateway["lifecycle"]["preStop"]["exec"]["command"])
        .iter()
        .map(str_of)
        .collect::<Vec<_>>()
        .windows(2)
        .find(|w| w[0] == "sleep")
        .and_then(|w| w[1].parse().ok())
        .expect("preStop sleeps");
    let toml: toml::Table = str_of(&data[&Yaml::from("gateway.toml")])
        .parse()
        .expect("TOML");
    let grace = toml["server"]["shutdown_grace_secs"].as_integer().unwrap() as u64;
    let period = pod["spec"]["terminationGracePeriodSeconds"]
        .as_u64()
        .unwrap();
    assert!(pause + grace < period, "{pause} + {grace} < {period}");
}

#[test]
fn the_upstream_is_the_headless_service_of_the_demo_backend() {
    let all = manifests();
    let config_map = get(&all, "ConfigMap", "h2gate-config");
    let toml: toml::Table = str_of(&config_map["data"]["gateway.toml"]).parse().unwrap();
    let endpoint = toml["upstreams"][0]["endpoints"][0].as_str().unwrap();
    let host = endpoint.strip_prefix("dns://").expect("a dns:// endpoint");
    let (name, port) = host.rsplit_once(':').unwrap();
    let service_name = name.split('.').next().unwrap();
    let service = get(&all, "Service", service_name);
    assert_eq!(service["spec"]["clusterIP"], Yaml::from("None"), "headless");
    let port: i64 = port.parse().unwrap();
    assert!(
        seq(&service["spec"]["ports"])
            .iter()
            .any(|p| p["port"].as_i64() == Some(port))
    );
    let backend = get(&all, "Deployment", service_name);
    let labels = &backend["spec"]["template"]["metadata"]["labels"];
    assert!(selects(&service["spec"]["selector"], labels));
}

#[test]
fn the_config_map_holds_the_demo_protos_and_a_configuration_check_accepts() {
    let all = manifests();
    let data = &get(&all, "ConfigMap", "h2gate-config")["data"];
    let dir = std::env::temp_dir().join(format!("h2gate-k8s-{}", std::process::id()));
    let protos = dir.join("protos/demo/v1");
    std::fs::create_dir_all(&protos).unwrap();
    std::fs::create_dir_all(dir.join("config")).unwrap();
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("demo/proto/demo/v1");
    for proto in ["user.proto", "greeter.proto", "chat.proto", "media.proto"] {
        let held = str_of(&data[proto]);
        let original = std::fs::read_to_string(demo.join(proto)).unwrap();
        assert_eq!(held, original, "{proto} in the ConfigMap is demo/proto's");
        std::fs::write(protos.join(proto), held).unwrap();
    }
    // As the pod sees it (working directory /app), with a certificate where the Secret's is.
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    std::fs::write(dir.join("tls.crt"), certified.cert.pem()).unwrap();
    std::fs::write(dir.join("tls.key"), certified.signing_key.serialize_pem()).unwrap();
    let text = str_of(&data["gateway.toml"]).replace("/app/certs/", &format!("{}/", dir.display()));
    std::fs::write(dir.join("config/gateway.toml"), text).unwrap();
    let output = h2gate_command(&["check", "--config", "config/gateway.toml"])
        .current_dir(&dir)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{said}");
    assert!(said.contains("ok: 14 routes"), "{said}");
}

/// The manifests against the Kubernetes API's own schemas, unknown fields rejected, by
/// `kubernetes-validate` (PyPI; `.ci/run` installs it).
#[test]
fn every_manifest_follows_the_kubernetes_schemas() {
    let output = match std::process::Command::new("kubernetes-validate")
        .arg("--strict")
        .args(manifest_files())
        .output()
    {
        Ok(output) => output,
        Err(_) => {
            let what = "the Kubernetes schema check";
            let required = "H2GATE_REQUIRE_KUBERNETES_VALIDATE";
            return crate::support::tool_missing("kubernetes-validate", required, what);
        }
    };
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{said}");
    // One "passed" per document: nothing skipped as unknown.
    assert_eq!(said.matches("passed for resource").count(), 7, "{said}");
}
