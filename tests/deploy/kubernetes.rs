//! deploy/kubernetes: a Deployment per service probed where it listens, unprivileged, with
//! resources and time to drain; the ingress behind a Service and a PodDisruptionBudget; the
//! migration Job; a kustomization that lists every file.

use std::collections::{BTreeMap, BTreeSet};

use yaml_rust2::Yaml;

use crate::support::{
    container_configuration, default_port, listen_addr, listen_variable, load_yaml, program_name,
    root, run_if_available, scalar, string_map, strings, text, Dockerfile, CONNECTOR_SERVICES,
    DRAIN_SECS,
};

const DIR: &str = "deploy/kubernetes";
const IMAGE_PREFIX: &str = "bigcommerce-engage-connector/";

/// One object of a manifest, with the file it came from.
struct Object {
    file: String,
    doc: Yaml,
}

impl Object {
    fn kind(&self) -> String {
        text(&self.doc["kind"], &format!("{}: kind", self.file))
    }

    fn name(&self) -> String {
        text(
            &self.doc["metadata"]["name"],
            &format!("{}: metadata.name", self.file),
        )
    }
}

/// The YAML files of the folder (kustomization.yaml included).
fn files() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(root().join(DIR))
        .expect("deploy/kubernetes exists")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml") || n.ends_with(".yml"))
        .collect();
    files.sort();
    files
}

fn objects() -> Vec<Object> {
    files()
        .into_iter()
        .filter(|f| f != "kustomization.yaml")
        .flat_map(|file| {
            load_yaml(&format!("{DIR}/{file}"))
                .into_iter()
                .map(move |doc| Object {
                    file: file.clone(),
                    doc,
                })
        })
        .collect()
}

fn kustomization() -> Yaml {
    load_yaml(&format!("{DIR}/kustomization.yaml")).remove(0)
}

fn of_kind<'a>(objects: &'a [Object], kind: &str) -> Vec<&'a Object> {
    objects.iter().filter(|o| o.kind() == kind).collect()
}

fn deployment<'a>(objects: &'a [Object], name: &str) -> &'a Object {
    of_kind(objects, "Deployment")
        .into_iter()
        .find(|o| o.name() == name)
        .unwrap_or_else(|| panic!("{DIR} has no Deployment `{name}`"))
}

/// The only container of a pod template.
fn container<'a>(pod_spec: &'a Yaml, what: &str) -> &'a Yaml {
    let containers = pod_spec["containers"]
        .as_vec()
        .unwrap_or_else(|| panic!("{what}: no containers"));
    assert_eq!(containers.len(), 1, "{what}: one container per pod");
    &containers[0]
}

/// Every declared port of a container: name → number.
fn container_ports(container: &Yaml, what: &str) -> BTreeMap<String, u16> {
    container["ports"]
        .as_vec()
        .map(|ports| {
            ports
                .iter()
                .map(|p| {
                    let number: u16 = text(&p["containerPort"], what).parse().unwrap();
                    (
                        scalar(&p["name"]).unwrap_or_else(|| number.to_string()),
                        number,
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A probe's or Service's port (a number or a container port's name) as a number.
fn resolve_port(port: &Yaml, ports: &BTreeMap<String, u16>, what: &str) -> u16 {
    match port {
        Yaml::Integer(n) => {
            let n = u16::try_from(*n).unwrap();
            assert!(
                ports.values().any(|p| *p == n),
                "{what}: port {n} is not declared by the container ({ports:?})"
            );
            n
        }
        other => {
            let name = text(other, what);
            *ports
                .get(&name)
                .unwrap_or_else(|| panic!("{what}: no container port named {name} ({ports:?})"))
        }
    }
}

/// A container's explicit `env:` (name → value).
fn container_env(container: &Yaml) -> BTreeMap<String, String> {
    container["env"]
        .as_vec()
        .map(|vars| {
            vars.iter()
                .map(|v| (text(&v["name"], "env.name"), text(&v["value"], "env.value")))
                .collect()
        })
        .unwrap_or_default()
}

/// What a container sees: the image's ENV, the ConfigMaps and Secrets of `envFrom`, then
/// its own `env:`.
fn effective_env(objects: &[Object], container: &Yaml, service: &str) -> BTreeMap<String, String> {
    let mut env = Dockerfile::load().env(service);
    for source in container["envFrom"].as_vec().cloned().unwrap_or_default() {
        if let Some(name) = scalar(&source["configMapRef"]["name"]) {
            let map = of_kind(objects, "ConfigMap")
                .into_iter()
                .find(|o| o.name() == name)
                .unwrap_or_else(|| panic!("{service}: no ConfigMap {name}"));
            env.extend(string_map(&map.doc["data"], &name));
        } else if let Some(name) = scalar(&source["secretRef"]["name"]) {
            let secret = of_kind(objects, "Secret")
                .into_iter()
                .find(|o| o.name() == name)
                .unwrap_or_else(|| panic!("{service}: no Secret {name}"));
            env.extend(string_map(&secret.doc["stringData"], &name));
        } else {
            panic!("{service}: envFrom takes a configMapRef or a secretRef");
        }
    }
    env.extend(container_env(container));
    env
}

fn labels(node: &Yaml) -> BTreeMap<String, String> {
    string_map(node, "labels")
}

/// True when `selector` (matchLabels, or a Service's plain map) selects pods with `labels`.
fn selects(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

fn template_labels(deployment: &Object) -> BTreeMap<String, String> {
    labels(&deployment.doc["spec"]["template"]["metadata"]["labels"])
}

/// Every pod spec: the Deployments' and the Job's.
fn pod_specs(objects: &[Object]) -> Vec<(String, &Yaml)> {
    objects
        .iter()
        .filter(|o| matches!(o.kind().as_str(), "Deployment" | "Job"))
        .map(|o| {
            (
                format!("{} {}", o.kind(), o.name()),
                &o.doc["spec"]["template"]["spec"],
            )
        })
        .collect()
}

#[test]
fn the_kustomization_lists_every_manifest_of_the_folder() {
    let kustomization = kustomization();
    let listed: BTreeSet<String> = strings(&kustomization["resources"]).into_iter().collect();
    let present: BTreeSet<String> = files()
        .into_iter()
        .filter(|f| f != "kustomization.yaml")
        .collect();
    assert_eq!(
        listed, present,
        "kustomization.yaml resources vs the folder"
    );
    let namespace = text(&kustomization["namespace"], "kustomization namespace");
    let objects = objects();
    let declared: Vec<String> = of_kind(&objects, "Namespace")
        .iter()
        .map(|o| o.name())
        .collect();
    assert_eq!(declared, vec![namespace.clone()], "the Namespace object");
    for object in objects.iter().filter(|o| o.kind() != "Namespace") {
        assert_eq!(
            scalar(&object.doc["metadata"]["namespace"]).as_deref(),
            Some(namespace.as_str()),
            "{} {} in {}: metadata.namespace",
            object.kind(),
            object.name(),
            object.file
        );
    }
}

#[test]
fn the_kustomization_can_retag_every_image_it_deploys() {
    let kustomization = kustomization();
    let retaggable: BTreeSet<String> = kustomization["images"]
        .as_vec()
        .expect("kustomization.yaml has images:")
        .iter()
        .map(|i| text(&i["name"], "images[].name"))
        .collect();
    let objects = objects();
    for (what, spec) in pod_specs(&objects) {
        let image = text(&container(spec, &what)["image"], &what);
        let repository = image.rsplit_once(':').map_or(image.as_str(), |(r, _)| r);
        assert!(
            retaggable.contains(repository),
            "{what}: {repository} is not in the kustomization's images"
        );
    }
}

#[test]
fn there_is_a_deployment_for_every_service_running_its_own_image_and_binary() {
    let objects = objects();
    let names: BTreeSet<String> = of_kind(&objects, "Deployment")
        .iter()
        .map(|o| o.name())
        .collect();
    let expected: BTreeSet<String> = CONNECTOR_SERVICES.iter().map(|s| s.to_string()).collect();
    assert_eq!(names, expected, "one Deployment per service");
    for service in CONNECTOR_SERVICES {
        let deployment = deployment(&objects, service);
        let spec = &deployment.doc["spec"];
        let c = container(&spec["template"]["spec"], service);
        let image = text(&c["image"], service);
        assert!(
            image.starts_with(&format!("{IMAGE_PREFIX}{service}:")),
            "{service} runs {image}"
        );
        let command = strings(&c["command"]);
        assert_eq!(command.len(), 1, "{service}: command {command:?}");
        assert_eq!(program_name(&command[0]), *service);
        let selector = labels(&spec["selector"]["matchLabels"]);
        assert!(
            selects(&selector, &template_labels(deployment)),
            "{service}: the selector matches its own pods"
        );
        for other in CONNECTOR_SERVICES.iter().filter(|o| *o != service) {
            assert!(
                !selects(
                    &selector,
                    &template_labels(self::deployment(&objects, other))
                ),
                "{service}'s selector also matches {other}'s pods"
            );
        }
    }
}

#[test]
fn every_deployment_probes_readyz_and_healthz_on_the_port_it_declares_and_listens_on() {
    let objects = objects();
    for service in CONNECTOR_SERVICES {
        let deployment = deployment(&objects, service);
        let c = container(&deployment.doc["spec"]["template"]["spec"], service);
        let ports = container_ports(c, service);
        assert!(!ports.is_empty(), "{service} declares its port");
        for (probe, path) in [("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")] {
            let get = &c[probe]["httpGet"];
            assert_eq!(
                scalar(&get["path"]).as_deref(),
                Some(path),
                "{service}: {probe} asks {path}"
            );
            let port = resolve_port(&get["port"], &ports, &format!("{service} {probe}"));
            let env = container_env(c);
            let variable = listen_variable(service);
            let listen = listen_addr(
                env.get(variable)
                    .unwrap_or_else(|| panic!("{service}: set {variable} in env")),
            );
            assert!(
                listen.ip().is_unspecified(),
                "{service} listens on {listen}"
            );
            assert_eq!(port, listen.port(), "{service}: {probe} port vs {variable}");
            assert_eq!(
                port,
                default_port(service),
                "{service}: the configured port"
            );
        }
    }
}

#[test]
fn every_container_requests_and_limits_cpu_and_memory() {
    let objects = objects();
    for (what, spec) in pod_specs(&objects) {
        let resources = &container(spec, &what)["resources"];
        for (section, key) in [
            ("requests", "cpu"),
            ("requests", "memory"),
            ("limits", "cpu"),
            ("limits", "memory"),
        ] {
            assert!(
                scalar(&resources[section][key]).is_some(),
                "{what}: resources.{section}.{key}"
            );
        }
    }
}

#[test]
fn every_pod_runs_as_the_images_unprivileged_user() {
    let (uid, gid) = Dockerfile::load().user("ingress");
    let objects = objects();
    for (what, spec) in pod_specs(&objects) {
        let pod = &spec["securityContext"];
        assert_eq!(
            pod["runAsNonRoot"].as_bool(),
            Some(true),
            "{what}: runAsNonRoot"
        );
        assert_eq!(
            scalar(&pod["runAsUser"]),
            Some(uid.clone()),
            "{what}: the image's uid"
        );
        if let Some(gid) = &gid {
            assert_eq!(
                scalar(&pod["runAsGroup"]).as_ref(),
                Some(gid),
                "{what}: gid"
            );
        }
        let c = &container(spec, &what)["securityContext"];
        assert_eq!(
            c["allowPrivilegeEscalation"].as_bool(),
            Some(false),
            "{what}: allowPrivilegeEscalation"
        );
        assert_eq!(
            c["readOnlyRootFilesystem"].as_bool(),
            Some(true),
            "{what}: the binaries write nothing to disk"
        );
        assert_eq!(
            strings(&c["capabilities"]["drop"]),
            vec!["ALL"],
            "{what}: capabilities"
        );
        assert_ne!(
            scalar(&c["runAsUser"]).as_deref(),
            Some("0"),
            "{what}: root"
        );
        assert_eq!(
            spec["automountServiceAccountToken"].as_bool(),
            Some(false),
            "{what} does not talk to the Kubernetes API"
        );
    }
}

#[test]
fn every_deployment_gives_its_pods_time_to_drain() {
    let objects = objects();
    for service in CONNECTOR_SERVICES {
        let spec = &deployment(&objects, service).doc["spec"]["template"]["spec"];
        let grace: u64 = text(
            &spec["terminationGracePeriodSeconds"],
            &format!("{service}: terminationGracePeriodSeconds"),
        )
        .parse()
        .unwrap();
        let pre_stop =
            strings(&container(spec, service)["lifecycle"]["preStop"]["exec"]["command"]);
        let pause: u64 = match pre_stop.as_slice() {
            [] => 0,
            [sleep, secs] if sleep == "sleep" => secs.parse().unwrap(),
            other => panic!("{service}: preStop {other:?}"),
        };
        assert!(
            grace > DRAIN_SECS + pause,
            "{service}: {grace} s of grace do not cover the preStop pause ({pause} s) and the \
             {DRAIN_SECS} s drain"
        );
    }
    let ingress = &deployment(&objects, "ingress").doc["spec"]["template"]["spec"];
    assert!(
        !strings(&container(ingress, "ingress")["lifecycle"]["preStop"]["exec"]["command"])
            .is_empty(),
        "the ingress waits for its endpoints to be removed before it stops accepting"
    );
}

#[test]
fn every_deployment_loads_a_valid_production_configuration() {
    let objects = objects();
    for service in CONNECTOR_SERVICES {
        let c = container(
            &deployment(&objects, service).doc["spec"]["template"]["spec"],
            service,
        );
        let env = effective_env(&objects, c, service);
        assert_eq!(
            env.get("CONNECTOR_ENV").map(String::as_str),
            Some("production")
        );
        let settings = container_configuration(&env);
        assert_eq!(
            settings.telemetry.log_format,
            platform::configuration::LogFormat::Json,
            "{service} logs JSON"
        );
        assert!(
            !settings.database.migrate_on_start,
            "{service}: the Job migrates"
        );
    }
}

#[test]
fn the_secret_holds_the_credentials_and_the_configmap_none() {
    let objects = objects();
    let secrets = of_kind(&objects, "Secret");
    assert_eq!(secrets.len(), 1);
    let data = string_map(&secrets[0].doc["stringData"], "Secret stringData");
    for key in ["CONNECTOR__DATABASE__URL", "CONNECTOR__AMQP__URL"] {
        let value = data
            .get(key)
            .unwrap_or_else(|| panic!("the Secret holds {key}"));
        let url = url::Url::parse(value).unwrap();
        assert_eq!(
            url.password(),
            Some("CHANGE-ME"),
            "{key}: committed values are marked placeholders"
        );
    }
    for map in of_kind(&objects, "ConfigMap") {
        let data = &map.doc["data"];
        for (key, value) in data.as_hash().expect("ConfigMap data") {
            let key = text(key, "ConfigMap key");
            assert!(
                matches!(value, Yaml::String(_)),
                "ConfigMap {key}: quote the value, ConfigMap data are strings"
            );
            assert!(
                !key.ends_with("__URL") || !key.starts_with("CONNECTOR__"),
                "ConfigMap {key}: URLs with credentials belong in the Secret"
            );
            if let Ok(url) = url::Url::parse(&text(value, &key)) {
                assert!(
                    url.password().is_none(),
                    "ConfigMap {key} carries a password"
                );
            }
        }
    }
}

#[test]
fn the_pod_disruption_budget_keeps_an_ingress_pod_up() {
    let objects = objects();
    let ingress = deployment(&objects, "ingress");
    let replicas: i64 = ingress.doc["spec"]["replicas"].as_i64().expect("replicas");
    let budgets = of_kind(&objects, "PodDisruptionBudget");
    let budget = budgets
        .iter()
        .find(|b| {
            selects(
                &labels(&b.doc["spec"]["selector"]["matchLabels"]),
                &template_labels(ingress),
            )
        })
        .expect("a PodDisruptionBudget selects the ingress pods");
    let selector = labels(&budget.doc["spec"]["selector"]["matchLabels"]);
    for other in CONNECTOR_SERVICES.iter().filter(|s| **s != "ingress") {
        assert!(
            !selects(&selector, &template_labels(deployment(&objects, other))),
            "the ingress budget also selects {other}"
        );
    }
    let min = budget.doc["spec"]["minAvailable"]
        .as_i64()
        .expect("minAvailable as a number");
    assert!(
        min >= 1 && min < replicas,
        "minAvailable {min} with {replicas} replicas: at least one up, and drains still possible"
    );
}

#[test]
fn the_ingress_service_targets_the_ingress_container_port() {
    let objects = objects();
    let ingress = deployment(&objects, "ingress");
    let ports = container_ports(
        container(&ingress.doc["spec"]["template"]["spec"], "ingress"),
        "ingress",
    );
    let services = of_kind(&objects, "Service");
    let service = services
        .iter()
        .find(|s| {
            selects(
                &labels(&s.doc["spec"]["selector"]),
                &template_labels(ingress),
            )
        })
        .expect("a Service selects the ingress pods");
    let selector = labels(&service.doc["spec"]["selector"]);
    for other in CONNECTOR_SERVICES.iter().filter(|s| **s != "ingress") {
        assert!(
            !selects(&selector, &template_labels(deployment(&objects, other))),
            "the ingress Service also selects {other}"
        );
    }
    let service_ports = service.doc["spec"]["ports"]
        .as_vec()
        .expect("Service ports");
    assert!(!service_ports.is_empty());
    for port in service_ports {
        let target = resolve_port(&port["targetPort"], &ports, "Service targetPort");
        assert_eq!(
            target,
            default_port("ingress"),
            "the Service reaches the ingress' listener"
        );
    }
}

#[test]
fn the_migration_job_runs_connectorctl_migrate() {
    let objects = objects();
    let jobs = of_kind(&objects, "Job");
    assert_eq!(jobs.len(), 1, "one migration Job");
    let spec = &jobs[0].doc["spec"]["template"]["spec"];
    let c = container(spec, "the migration Job");
    let mut argv = strings(&c["command"]);
    argv.extend(strings(&c["args"]));
    assert_eq!(argv.len(), 2, "the Job runs {argv:?}");
    assert_eq!(program_name(&argv[0]), "connectorctl");
    assert_eq!(argv[1], "migrate");
    assert!(
        text(&c["image"], "Job image").starts_with(&format!("{IMAGE_PREFIX}connectorctl:")),
        "the Job runs the connectorctl image"
    );
    let restart = text(&spec["restartPolicy"], "restartPolicy");
    assert!(matches!(restart.as_str(), "Never" | "OnFailure"));
    let env = effective_env(&objects, c, "connectorctl");
    assert!(
        env.contains_key("CONNECTOR__DATABASE__URL"),
        "the Job reaches the database"
    );
    container_configuration(&env);
}

#[test]
fn kubectl_renders_the_kustomization_when_it_is_installed() {
    let Some(output) = run_if_available(
        &["kubectl", "version", "--client"],
        &["kubectl", "kustomize", DIR],
    ) else {
        return;
    };
    assert!(
        output.status.success(),
        "kubectl kustomize {DIR}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rendered = yaml_rust2::YamlLoader::load_from_str(&String::from_utf8_lossy(&output.stdout))
        .expect("kubectl renders YAML");
    let rendered: BTreeSet<(String, String)> = rendered
        .iter()
        .map(|d| {
            (
                text(&d["kind"], "kind"),
                text(&d["metadata"]["name"], "name"),
            )
        })
        .collect();
    let parsed: BTreeSet<(String, String)> =
        objects().iter().map(|o| (o.kind(), o.name())).collect();
    assert_eq!(
        rendered, parsed,
        "kustomize renders exactly the manifests of the folder"
    );
}
