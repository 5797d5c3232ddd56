//! docker-compose.yml: every part of the connector, built from the one Dockerfile, started
//! in order, health-checked where it listens, configured validly.

use std::collections::BTreeMap;

use yaml_rust2::Yaml;

use crate::support::{
    container_configuration, default_port, interpolate, keys, listen_addr, listen_variable,
    load_yaml, program_name, root, run_if_available, scalar, string_map, strings, text, Dockerfile,
    CONNECTOR_SERVICES, DRAIN_SECS, SERVICES,
};

const IMAGE_PREFIX: &str = "bigcommerce-engage-connector/";

fn compose() -> Yaml {
    let mut docs = load_yaml("docker-compose.yml");
    assert_eq!(docs.len(), 1, "docker-compose.yml is one document");
    docs.remove(0)
}

fn service<'a>(compose: &'a Yaml, name: &str) -> &'a Yaml {
    let node = &compose["services"][name];
    assert!(
        node.as_hash().is_some(),
        "docker-compose.yml has no service `{name}`"
    );
    node
}

/// A service's `environment:` with Compose's defaults filled in.
fn environment(service: &Yaml, name: &str) -> BTreeMap<String, String> {
    let env = &service["environment"];
    assert!(
        env.as_vec().is_none(),
        "{name}: write `environment:` as a mapping, so the shared anchor can be merged"
    );
    string_map(env, name)
        .into_iter()
        .map(|(k, v)| (k, interpolate(&v)))
        .collect()
}

/// What the container of a connector service sees: the image's ENV, then Compose's.
fn container_env(compose: &Yaml, name: &str, service_arg: &str) -> BTreeMap<String, String> {
    let mut env = Dockerfile::load().env(service_arg);
    env.extend(environment(service(compose, name), name));
    env
}

/// The `SERVICE` a Compose service builds the image with.
fn service_arg(service: &Yaml, name: &str) -> String {
    text(
        &service["build"]["args"]["SERVICE"],
        &format!("{name}: build.args.SERVICE"),
    )
}

/// (host address, host port, container port) of every `ports:` entry.
fn published(service: &Yaml, name: &str) -> Vec<(Option<String>, u16, u16)> {
    strings(&service["ports"])
        .iter()
        .map(|entry| {
            let parts: Vec<&str> = entry.split(':').collect();
            let port = |s: &str| -> u16 {
                s.parse()
                    .unwrap_or_else(|_| panic!("{name}: port {entry:?} is not HOST:CONTAINER"))
            };
            match parts.as_slice() {
                [host, container] => (None, port(host), port(container)),
                [address, host, container] => {
                    (Some((*address).to_owned()), port(host), port(container))
                }
                _ => panic!("{name}: write ports as \"[ADDRESS:]HOST:CONTAINER\", not {entry:?}"),
            }
        })
        .collect()
}

fn condition(service: &Yaml, dependency: &str) -> Option<String> {
    scalar(&service["depends_on"][dependency]["condition"])
}

fn seconds(duration: &str) -> u64 {
    let (number, unit) = duration.split_at(duration.trim_end_matches(char::is_alphabetic).len());
    let n: u64 = number
        .parse()
        .unwrap_or_else(|_| panic!("{duration:?} is not a duration like 45s"));
    match unit {
        "s" => n,
        "m" => n * 60,
        _ => panic!("{duration:?}: use s or m"),
    }
}

#[test]
fn compose_runs_every_part_of_the_connector() {
    let compose = compose();
    let names = keys(&compose["services"]);
    for name in [
        "rabbitmq",
        "postgres",
        "migrate",
        "ingress",
        "order-processor",
        "tracking-forwarder",
        "webhook-health",
        "sandbox",
        "jaeger",
        "connectorctl",
    ] {
        assert!(
            names.iter().any(|n| n == name),
            "docker-compose.yml has no service `{name}` (has {names:?})"
        );
    }
}

#[test]
fn every_connector_image_is_built_from_the_one_dockerfile_with_its_service() {
    let compose = compose();
    assert!(root().join("deploy/Dockerfile").is_file());
    let mut built = 0;
    for name in keys(&compose["services"]) {
        let svc = service(&compose, &name);
        let image = scalar(&svc["image"]).unwrap_or_default();
        let has_build = svc["build"].as_hash().is_some();
        if !image.starts_with(IMAGE_PREFIX) {
            assert!(!has_build, "{name}: a built image is named {IMAGE_PREFIX}…");
            continue;
        }
        assert!(
            has_build,
            "{name}: {image} is not on any registry; give it a build section"
        );
        built += 1;
        assert_eq!(
            scalar(&svc["build"]["context"]).as_deref(),
            Some("."),
            "{name}: context"
        );
        assert_eq!(
            scalar(&svc["build"]["dockerfile"]).as_deref(),
            Some("deploy/Dockerfile"),
            "{name}: dockerfile"
        );
        let arg = service_arg(svc, &name);
        assert!(
            SERVICES.contains(&arg.as_str()),
            "{name}: SERVICE={arg} is not a binary"
        );
        let expected = match name.as_str() {
            "migrate" | "connectorctl" => "connectorctl",
            other => other,
        };
        assert_eq!(arg, expected, "{name} builds the wrong binary");
        let repository = image.split(':').next().unwrap_or_default();
        assert_eq!(
            repository,
            format!("{IMAGE_PREFIX}{arg}"),
            "{name}: the image is named after its SERVICE"
        );
    }
    assert_eq!(
        built, 7,
        "the four services, the sandbox, migrate and connectorctl"
    );
}

#[test]
fn every_service_waits_for_the_migration_the_broker_and_the_database() {
    let compose = compose();
    for name in CONNECTOR_SERVICES {
        let svc = service(&compose, name);
        assert_eq!(
            condition(svc, "migrate").as_deref(),
            Some("service_completed_successfully"),
            "{name} must start only after the migration succeeded"
        );
        for dependency in ["rabbitmq", "postgres"] {
            assert_eq!(
                condition(svc, dependency).as_deref(),
                Some("service_healthy"),
                "{name} must wait for a healthy {dependency}"
            );
        }
    }
    for name in ["rabbitmq", "postgres"] {
        let test = strings(&service(&compose, name)["healthcheck"]["test"]);
        assert!(
            test.first().is_some_and(|t| t == "CMD" || t == "CMD-SHELL") && test.len() > 1,
            "{name} needs a health check for the others to wait on, found {test:?}"
        );
    }
}

#[test]
fn the_migration_runs_connectorctl_migrate_once_the_database_is_healthy() {
    let compose = compose();
    let migrate = service(&compose, "migrate");
    let mut argv = strings(&migrate["entrypoint"]);
    if argv.is_empty() {
        argv = Dockerfile::load()
            .exec_form("connectorctl", "ENTRYPOINT")
            .expect("connectorctl's image has an ENTRYPOINT");
    }
    argv.extend(strings(&migrate["command"]));
    assert_eq!(argv.len(), 2, "migrate runs {argv:?}");
    assert_eq!(program_name(&argv[0]), "connectorctl");
    assert_eq!(argv[1], "migrate");
    assert_eq!(
        scalar(&migrate["restart"]).as_deref(),
        Some("no"),
        "a one-shot job"
    );
    assert_eq!(
        condition(migrate, "postgres").as_deref(),
        Some("service_healthy")
    );
    let env = container_env(&compose, "migrate", "connectorctl");
    container_configuration(&env);
}

#[test]
fn the_cli_service_is_left_out_of_compose_up() {
    let compose = compose();
    let cli = service(&compose, "connectorctl");
    assert!(
        !strings(&cli["profiles"]).is_empty(),
        "connectorctl exits at once: keep it behind a profile, for `docker compose run`"
    );
    assert_eq!(
        program_name(&strings(&cli["entrypoint"])[0]),
        "connectorctl"
    );
}

#[test]
fn every_server_is_health_checked_and_published_where_it_listens() {
    let compose = compose();
    for name in CONNECTOR_SERVICES.iter().chain(&["sandbox"]) {
        let svc = service(&compose, name);
        let env = container_env(&compose, name, name);
        let variable = listen_variable(name);
        let listen = env
            .get(variable)
            .unwrap_or_else(|| panic!("{name}: {variable} is not set"));
        let addr = listen_addr(listen);
        assert!(
            addr.ip().is_unspecified(),
            "{name} must listen on 0.0.0.0 inside its container, not {addr}"
        );
        assert_eq!(
            addr.port(),
            default_port(name),
            "{name}: keep the port of the configuration's default"
        );
        let test = strings(&svc["healthcheck"]["test"]);
        let expected_path = if *name == "sandbox" {
            "/_sandbox/health"
        } else {
            "/readyz"
        };
        assert_eq!(
            test,
            vec![
                "CMD".to_owned(),
                "connector-healthcheck".to_owned(),
                addr.port().to_string(),
                expected_path.to_owned()
            ],
            "{name}: the health check asks {expected_path} on the port the service listens on"
        );
        let ports = published(svc, name);
        assert!(
            ports
                .iter()
                .any(|(_, _, container)| *container == addr.port()),
            "{name}: publish the port it listens on ({}), found {ports:?}",
            addr.port()
        );
    }
}

#[test]
fn only_the_ingress_is_published_beyond_the_host() {
    let compose = compose();
    for name in keys(&compose["services"]) {
        for (address, host, container) in published(service(&compose, &name), &name) {
            if name == "ingress" {
                assert_eq!(
                    (host, container),
                    (8080, 8080),
                    "the ingress is published on 8080"
                );
            } else {
                assert_eq!(
                    address.as_deref(),
                    Some("127.0.0.1"),
                    "{name}: bind {host}:{container} to 127.0.0.1; only the ingress faces the network"
                );
            }
        }
    }
}

#[test]
fn every_service_loads_a_valid_production_configuration_from_its_environment() {
    let compose = compose();
    for name in CONNECTOR_SERVICES {
        let env = container_env(&compose, name, name);
        assert_eq!(
            env.get("CONNECTOR_ENV").map(String::as_str),
            Some("production"),
            "{name}"
        );
        let settings = container_configuration(&env);
        assert_eq!(
            settings.telemetry.log_format,
            platform::configuration::LogFormat::Json,
            "{name} logs JSON"
        );
        assert!(
            settings.telemetry.otlp_endpoint.is_some(),
            "{name} exports traces"
        );
        assert_eq!(
            settings.amqp.namespace, "",
            "{name}: production queue names have no namespace"
        );
    }
}

#[test]
fn the_database_and_broker_urls_point_at_the_containers_and_their_credentials() {
    let compose = compose();
    let postgres = environment(service(&compose, "postgres"), "postgres");
    let rabbitmq = environment(service(&compose, "rabbitmq"), "rabbitmq");
    for name in CONNECTOR_SERVICES.iter().chain(&["migrate"]) {
        let env = environment(service(&compose, name), name);
        let db = url::Url::parse(&env["CONNECTOR__DATABASE__URL"]).expect("database URL");
        assert_eq!(db.host_str(), Some("postgres"), "{name}");
        assert_eq!(db.port(), Some(5432), "{name}");
        assert_eq!(
            db.username(),
            postgres["POSTGRES_USER"],
            "{name}: database user"
        );
        assert_eq!(
            db.password(),
            Some(postgres["POSTGRES_PASSWORD"].as_str()),
            "{name}: database password"
        );
        assert_eq!(
            db.path().trim_start_matches('/'),
            postgres["POSTGRES_DB"],
            "{name}: database name"
        );
        let amqp = url::Url::parse(&env["CONNECTOR__AMQP__URL"]).expect("AMQP URL");
        assert_eq!(amqp.host_str(), Some("rabbitmq"), "{name}");
        assert_eq!(amqp.port(), Some(5672), "{name}");
        assert_eq!(
            amqp.username(),
            rabbitmq["RABBITMQ_DEFAULT_USER"],
            "{name}: broker user"
        );
        assert_eq!(
            amqp.password(),
            Some(rabbitmq["RABBITMQ_DEFAULT_PASS"].as_str()),
            "{name}: broker password"
        );
    }
}

#[test]
fn traces_go_to_the_jaeger_of_the_compose_file() {
    let compose = compose();
    let jaeger = service(&compose, "jaeger");
    assert!(text(&jaeger["image"], "jaeger.image").contains("jaeger"));
    let ports: Vec<u16> = published(jaeger, "jaeger").iter().map(|p| p.2).collect();
    assert!(
        ports.contains(&16686),
        "the Jaeger UI is published on 16686"
    );
    assert!(ports.contains(&4318), "OTLP/HTTP is published on 4318");
    for name in CONNECTOR_SERVICES {
        let env = environment(service(&compose, name), name);
        let endpoint = url::Url::parse(&env["CONNECTOR__TELEMETRY__OTLP_ENDPOINT"])
            .unwrap_or_else(|e| panic!("{name}: OTLP endpoint: {e}"));
        assert_eq!(endpoint.host_str(), Some("jaeger"), "{name}");
        assert_eq!(endpoint.port(), Some(4318), "{name}: OTLP/HTTP port");
        assert!(
            condition(service(&compose, name), "jaeger").is_some(),
            "{name} starts after the collector"
        );
    }
}

#[test]
fn every_service_gets_time_to_drain_when_stopped() {
    let compose = compose();
    for name in CONNECTOR_SERVICES {
        let grace = text(
            &service(&compose, name)["stop_grace_period"],
            &format!("{name}: stop_grace_period"),
        );
        assert!(
            seconds(&grace) > DRAIN_SECS,
            "{name}: {grace} is not longer than the {DRAIN_SECS} s drain"
        );
    }
}

#[test]
fn docker_compose_accepts_the_file_when_it_is_installed() {
    let Some(output) = run_if_available(
        &["docker", "compose", "version"],
        &[
            "docker",
            "compose",
            "-f",
            "docker-compose.yml",
            "config",
            "--quiet",
        ],
    ) else {
        return;
    };
    assert!(
        output.status.success(),
        "docker compose config: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}
