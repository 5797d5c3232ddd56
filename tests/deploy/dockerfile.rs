//! deploy/Dockerfile and .dockerignore: one image per binary, unprivileged, configured,
//! listening where its health check looks.

use std::collections::BTreeMap;

use crate::support::{
    container_configuration, default_port, json_list, listen_addr, listen_variable, program_name,
    read, root, Dockerfile, CONNECTOR_SERVICES, SERVICES,
};

/// The `CMD [...]` of a `HEALTHCHECK [options] CMD [...]`, or `None` for `HEALTHCHECK NONE`.
fn healthcheck(dockerfile: &Dockerfile, service: &str) -> Option<Vec<String>> {
    let args = dockerfile
        .inherited(&format!("svc-{service}"), "HEALTHCHECK")
        .pop()
        .unwrap_or_else(|| panic!("the image of {service} says nothing about health checks"));
    if args.trim() == "NONE" {
        return None;
    }
    let (_, cmd) = args
        .split_once("CMD ")
        .unwrap_or_else(|| panic!("{service}: HEALTHCHECK … CMD [\"…\"], found {args:?}"));
    Some(json_list(cmd.trim()))
}

#[test]
fn the_dockerfile_has_a_stage_per_service_and_ends_on_the_chosen_one() {
    let dockerfile = Dockerfile::load();
    assert!(
        dockerfile
            .preamble
            .iter()
            .any(|i| i.keyword == "ARG" && i.args == "SERVICE"),
        "a global `ARG SERVICE` (without a default: an image is always built for a choice)"
    );
    for service in SERVICES {
        let lineage = dockerfile.lineage(&format!("svc-{service}"));
        assert_eq!(
            lineage[0].name.as_deref(),
            Some("runtime"),
            "svc-{service} is built on the runtime stage"
        );
    }
    let last = dockerfile.stages.last().expect("stages");
    assert_eq!(
        last.from, "svc-${SERVICE}",
        "the final image is the chosen service's"
    );
    for stage in ["build", "runtime"] {
        assert!(
            dockerfile
                .stage(stage)
                .instructions
                .iter()
                .any(|i| i.keyword == "ARG" && i.args == "SERVICE"),
            "the {stage} stage redeclares ARG SERVICE to see its value"
        );
    }
}

#[test]
fn the_build_compiles_only_the_chosen_package_with_the_lock_file_and_cached_mounts() {
    let dockerfile = Dockerfile::load();
    let build = dockerfile.stage("build");
    let run = build
        .instructions
        .iter()
        .find(|i| i.keyword == "RUN" && i.args.contains("cargo build"))
        .expect("the build stage runs cargo build");
    assert!(
        run.args
            .contains("cargo build --release --locked -p \"${SERVICE}\""),
        "cargo build --release --locked -p \"${{SERVICE}}\", found {}",
        run.args
    );
    for target in [
        "/usr/local/cargo/registry",
        "/usr/local/cargo/git",
        "/src/target",
    ] {
        assert!(
            run.args.contains("--mount=type=cache")
                && run.args.contains(&format!("target={target}")),
            "{target} is a BuildKit cache mount"
        );
    }
    assert!(
        run.args.contains("\"/out/${SERVICE}\""),
        "the binary is copied out of the cached target/ to /out"
    );
    let runtime = dockerfile.stage("runtime");
    assert!(
        runtime.instructions.iter().any(|i| i.keyword == "COPY"
            && i.args == "--from=build /out/${SERVICE} /usr/local/bin/${SERVICE}"),
        "the runtime stage installs the one binary in /usr/local/bin"
    );
    assert!(
        runtime.from.contains("-slim") || runtime.from.contains("distroless"),
        "a small runtime base, found {}",
        runtime.from
    );
}

#[test]
fn every_image_runs_as_an_unprivileged_numeric_user() {
    let dockerfile = Dockerfile::load();
    for service in SERVICES {
        let (uid, gid) = dockerfile.user(service);
        let uid: u32 = uid
            .parse()
            .unwrap_or_else(|_| panic!("{service}: USER {uid} must be numeric for runAsNonRoot"));
        assert_ne!(uid, 0, "{service} runs as root");
        if let Some(gid) = gid {
            assert_ne!(gid.parse::<u32>().ok(), Some(0), "{service}: group root");
        }
    }
}

#[test]
fn the_image_carries_the_configuration_where_it_tells_the_binaries_to_look() {
    let dockerfile = Dockerfile::load();
    let copies = dockerfile.inherited("svc-ingress", "COPY");
    let target = copies
        .iter()
        .find_map(|c| c.strip_prefix("config/ "))
        .unwrap_or_else(|| panic!("config/ is copied into the image, found {copies:?}"));
    for service in SERVICES {
        let env = dockerfile.env(service);
        assert_eq!(
            env.get("CONNECTOR_CONFIG_DIR")
                .map(|d| format!("{}/", d.trim_end_matches('/'))),
            Some(target.to_owned()),
            "{service}: CONNECTOR_CONFIG_DIR is where config/ is copied"
        );
    }
}

#[test]
fn every_server_image_listens_on_all_interfaces_and_checks_that_port() {
    let dockerfile = Dockerfile::load();
    for service in CONNECTOR_SERVICES.iter().chain(&["sandbox"]) {
        let env = dockerfile.env(service);
        let variable = listen_variable(service);
        let addr = listen_addr(
            env.get(variable)
                .unwrap_or_else(|| panic!("svc-{service} sets no {variable}")),
        );
        assert!(addr.ip().is_unspecified(), "{service} listens on {addr}");
        assert_eq!(
            addr.port(),
            default_port(service),
            "{service}: the configured port"
        );
        let exposed = dockerfile.inherited(&format!("svc-{service}"), "EXPOSE");
        assert_eq!(
            exposed,
            vec![addr.port().to_string()],
            "{service} exposes the port it listens on, and only that"
        );
        let check = healthcheck(&dockerfile, service)
            .unwrap_or_else(|| panic!("{service} serves HTTP: give it a HEALTHCHECK"));
        assert_eq!(check[0], "connector-healthcheck");
        assert_eq!(
            check[1],
            addr.port().to_string(),
            "{service}: health check port"
        );
        assert!(
            matches!(
                check[2].as_str(),
                "/readyz" | "/healthz" | "/_sandbox/health"
            ),
            "{service}: health check path {}",
            check[2]
        );
    }
}

#[test]
fn every_image_runs_its_own_binary_as_pid_one() {
    let dockerfile = Dockerfile::load();
    for service in SERVICES {
        let entrypoint = dockerfile
            .exec_form(service, "ENTRYPOINT")
            .unwrap_or_else(|| panic!("svc-{service} has no exec-form ENTRYPOINT"));
        assert_eq!(
            entrypoint,
            vec![format!("/usr/local/bin/{service}")],
            "{service}: the binary itself, so SIGTERM reaches it and it drains"
        );
        assert_eq!(program_name(&entrypoint[0]), *service);
    }
    assert!(
        healthcheck(&dockerfile, "connectorctl").is_none(),
        "connectorctl serves nothing: HEALTHCHECK NONE"
    );
}

#[test]
fn every_service_image_loads_a_valid_production_configuration_on_its_own() {
    let dockerfile = Dockerfile::load();
    for service in CONNECTOR_SERVICES.iter().chain(&["connectorctl"]) {
        let env: BTreeMap<String, String> = dockerfile.env(service);
        let settings = container_configuration(&env);
        assert_eq!(
            settings.telemetry.log_format,
            platform::configuration::LogFormat::Json,
            "{service}: the image is production (JSON logs) unless told otherwise"
        );
    }
}

#[test]
fn the_healthcheck_script_is_executable_and_needs_only_bash() {
    let path = root().join("deploy/healthcheck.sh");
    let script = read("deploy/healthcheck.sh");
    assert!(
        script.starts_with("#!/bin/bash\n"),
        "bash is in debian-slim"
    );
    for tool in ["curl", "wget"] {
        assert!(
            !script
                .lines()
                .any(|l| !l.trim_start().starts_with('#') && l.contains(tool)),
            "the runtime image has no {tool}"
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert!(mode & 0o111 != 0, "deploy/healthcheck.sh is executable");
    }
    let dockerfile = Dockerfile::load();
    assert!(
        dockerfile
            .inherited("svc-ingress", "COPY")
            .iter()
            .any(|c| c.ends_with("deploy/healthcheck.sh /usr/local/bin/connector-healthcheck")),
        "the runtime image installs the script as connector-healthcheck"
    );
}

/// A .dockerignore pattern against a path of the context: exact, a directory prefix, or
/// a `*` / `**/` glob.
fn ignored(pattern: &str, path: &str) -> bool {
    fn glob(pattern: &[u8], text: &[u8]) -> bool {
        match (pattern.first(), text.first()) {
            (None, None) => true,
            (Some(b'*'), _) if pattern.get(1) == Some(&b'*') => {
                let rest = pattern[2..].strip_prefix(b"/").unwrap_or(&pattern[2..]);
                (0..=text.len())
                    .filter(|&i| i == 0 || text[i - 1] == b'/')
                    .any(|i| glob(rest, &text[i..]))
            }
            (Some(b'*'), _) => (0..=text.len())
                .any(|i| !text[..i].contains(&b'/') && glob(&pattern[1..], &text[i..])),
            (Some(p), Some(t)) if p == t => glob(&pattern[1..], &text[1..]),
            _ => false,
        }
    }
    let pattern = pattern.trim_start_matches('/').trim_end_matches('/');
    let mut prefix = String::new();
    for part in path.split('/') {
        if !prefix.is_empty() {
            prefix.push('/');
        }
        prefix.push_str(part);
        if glob(pattern.as_bytes(), prefix.as_bytes()) {
            return true;
        }
    }
    false
}

#[test]
fn the_dockerignore_pattern_matcher_understands_the_patterns_in_use() {
    assert!(ignored("target", "target/release/ingress"));
    assert!(ignored("**/*.log", "crates/x/run.log"));
    assert!(ignored("**/*.log", "run.log"));
    assert!(!ignored("**/*.log", "crates/x/run.logs"));
    assert!(ignored(
        "deploy/kubernetes",
        "deploy/kubernetes/ingress.yaml"
    ));
    assert!(!ignored("deploy/kubernetes", "deploy/Dockerfile"));
    assert!(!ignored("target", "crates/target-x/src/lib.rs"));
}

#[test]
fn the_build_context_keeps_what_cargo_needs_and_drops_the_rest() {
    let patterns: Vec<String> = read(".dockerignore")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect();
    assert!(
        patterns.iter().all(|p| !p.starts_with('!')),
        "no exceptions: keep the rules readable"
    );
    for dropped in ["target/release/ingress", ".git/HEAD"] {
        assert!(
            patterns.iter().any(|p| ignored(p, dropped)),
            "{dropped} must stay out of the build context"
        );
    }
    // Every workspace member (Cargo reads all their manifests), the lock file, what the
    // images copy and what the sources embed.
    let manifest = read("Cargo.toml");
    let members: Vec<String> = manifest
        .split_once("members = [")
        .and_then(|(_, rest)| rest.split_once(']'))
        .expect("the workspace lists its members")
        .0
        .split(',')
        .map(|m| m.trim().trim_matches('"').to_owned())
        .filter(|m| !m.is_empty())
        .collect();
    assert!(members.len() >= 8, "members: {members:?}");
    let mut needed: Vec<String> = vec![
        "Cargo.toml".into(),
        "Cargo.lock".into(),
        "config/default.toml".into(),
        "config/production.toml".into(),
        "deploy/Dockerfile".into(),
        "deploy/healthcheck.sh".into(),
        "fixtures/bigcommerce/webhooks/order_created.json".into(),
        "crates/platform/migrations".into(),
    ];
    for member in members {
        assert!(
            root().join(&member).join("Cargo.toml").is_file(),
            "{member}"
        );
        needed.push(format!("{member}/Cargo.toml"));
        needed.push(format!("{member}/src"));
    }
    for path in needed {
        if let Some(p) = patterns.iter().find(|p| ignored(p, &path)) {
            panic!(".dockerignore pattern {p:?} drops {path}, which the build needs");
        }
    }
}
