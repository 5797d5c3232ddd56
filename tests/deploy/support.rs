//! Reading the deployment files: YAML with merge keys, Compose's `${VAR:-default}`, a
//! Dockerfile's instructions, and the configuration a container ends up loading.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use yaml_rust2::{Yaml, YamlLoader};

/// Every value of the Dockerfile's `SERVICE` argument: the binaries of the workspace.
pub const SERVICES: &[&str] = &[
    "ingress",
    "order-processor",
    "tracking-forwarder",
    "webhook-health",
    "connectorctl",
    "sandbox",
];

/// The long-running services of the connector (the sandbox is a test double).
pub const CONNECTOR_SERVICES: &[&str] = &[
    "ingress",
    "order-processor",
    "tracking-forwarder",
    "webhook-health",
];

/// The longest a service takes to drain on SIGTERM: the ingress' `shutdown_timeout(30)` and
/// the consume loop's 30 s drain timeout.
pub const DRAIN_SECS: u64 = 30;

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the repository")
        .to_path_buf()
}

/// A file of the repository as text.
pub fn read(relative: &str) -> String {
    let path = root().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Every YAML document of a file, with merge keys (`<<: *anchor`) applied.
pub fn load_yaml(relative: &str) -> Vec<Yaml> {
    let text = read(relative);
    let docs = YamlLoader::load_from_str(&text)
        .unwrap_or_else(|e| panic!("{relative} is not valid YAML: {e}"));
    docs.into_iter()
        .filter(|d| !d.is_null())
        .map(apply_merges)
        .collect()
}

/// Applies YAML merge keys the way Compose does: keys written in the mapping win over the
/// merged ones.
pub fn apply_merges(node: Yaml) -> Yaml {
    match node {
        Yaml::Hash(hash) => {
            let merge_key = Yaml::String("<<".into());
            let mut out = yaml_rust2::yaml::Hash::new();
            let mut merged = Vec::new();
            for (key, value) in hash {
                if key == merge_key {
                    match apply_merges(value) {
                        Yaml::Hash(h) => merged.push(h),
                        Yaml::Array(items) => {
                            for item in items {
                                match item {
                                    Yaml::Hash(h) => merged.push(h),
                                    other => panic!("merge of a non-mapping: {other:?}"),
                                }
                            }
                        }
                        other => panic!("merge of a non-mapping: {other:?}"),
                    }
                } else {
                    out.insert(key, apply_merges(value));
                }
            }
            for source in merged {
                for (key, value) in source {
                    out.entry(key).or_insert(value);
                }
            }
            Yaml::Hash(out)
        }
        Yaml::Array(items) => Yaml::Array(items.into_iter().map(apply_merges).collect()),
        other => other,
    }
}

/// A scalar as text (strings, numbers and booleans as YAML wrote them).
pub fn scalar(node: &Yaml) -> Option<String> {
    match node {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A scalar that must be there.
pub fn text(node: &Yaml, what: &str) -> String {
    scalar(node).unwrap_or_else(|| panic!("{what}: expected a scalar, found {node:?}"))
}

/// A list of scalars (`["CMD", "x"]`), or nothing when the node is not a list.
pub fn strings(node: &Yaml) -> Vec<String> {
    node.as_vec()
        .map(|items| items.iter().filter_map(scalar).collect())
        .unwrap_or_default()
}

/// The string keys of a mapping.
pub fn keys(node: &Yaml) -> Vec<String> {
    node.as_hash()
        .map(|h| h.keys().filter_map(scalar).collect())
        .unwrap_or_default()
}

/// A mapping of scalars (an `environment:` or a ConfigMap's `data:`).
pub fn string_map(node: &Yaml, what: &str) -> BTreeMap<String, String> {
    let Some(hash) = node.as_hash() else {
        return BTreeMap::new();
    };
    hash.iter()
        .map(|(k, v)| {
            let key = text(k, what);
            let value = text(v, &format!("{what}.{key}"));
            (key, value)
        })
        .collect()
}

/// Compose interpolation with the defaults the file gives: `${NAME:-default}` and
/// `${NAME-default}` become `default`, `$$` a `$`. A variable without a default panics:
/// the file must start with no `.env` at all.
pub fn interpolate(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = body
                .find('}')
                .unwrap_or_else(|| panic!("unclosed ${{ in {value:?}"));
            let inner = &body[..end];
            let default = inner
                .split_once(":-")
                .or_else(|| inner.split_once('-'))
                .map(|(_, d)| d)
                .unwrap_or_else(|| panic!("{value:?}: ${{{inner}}} has no default"));
            out.push_str(default);
            rest = &body[end + 1..];
        } else {
            panic!("{value:?}: use ${{NAME:-default}} (or $$ for a dollar)");
        }
    }
    out.push_str(rest);
    out
}

/// One instruction of a Dockerfile: the keyword (upper case) and the rest of the line,
/// continuation lines joined.
#[derive(Debug, Clone)]
pub struct Instruction {
    pub keyword: String,
    pub args: String,
}

/// A build stage: its name, what it starts `FROM`, and its instructions.
#[derive(Debug, Clone)]
pub struct Stage {
    pub name: Option<String>,
    pub from: String,
    pub instructions: Vec<Instruction>,
}

/// deploy/Dockerfile, parsed.
#[derive(Debug, Clone)]
pub struct Dockerfile {
    /// Instructions before the first `FROM` (global `ARG`s).
    pub preamble: Vec<Instruction>,
    pub stages: Vec<Stage>,
}

impl Dockerfile {
    /// Parses deploy/Dockerfile.
    pub fn load() -> Self {
        Self::parse(&read("deploy/Dockerfile"))
    }

    /// Parses Dockerfile text.
    pub fn parse(text: &str) -> Self {
        let mut logical = Vec::new();
        let mut current = String::new();
        for line in text.lines() {
            let trimmed = line.trim();
            if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
                continue;
            }
            if let Some(head) = trimmed.strip_suffix('\\') {
                current.push_str(head.trim());
                current.push(' ');
            } else {
                current.push_str(trimmed);
                if !current.trim().is_empty() {
                    logical.push(std::mem::take(&mut current));
                }
                current.clear();
            }
        }
        let mut dockerfile = Dockerfile {
            preamble: Vec::new(),
            stages: Vec::new(),
        };
        for line in logical {
            let (keyword, args) = line.split_once(char::is_whitespace).unwrap_or((&line, ""));
            let instruction = Instruction {
                keyword: keyword.to_ascii_uppercase(),
                args: args.trim().to_owned(),
            };
            if instruction.keyword == "FROM" {
                let words: Vec<&str> = instruction.args.split_whitespace().collect();
                let from = words
                    .iter()
                    .find(|w| !w.starts_with("--"))
                    .expect("FROM names an image")
                    .to_string();
                let name = words
                    .iter()
                    .position(|w| w.eq_ignore_ascii_case("as"))
                    .map(|i| words[i + 1].to_owned());
                dockerfile.stages.push(Stage {
                    name,
                    from,
                    instructions: Vec::new(),
                });
            } else if let Some(stage) = dockerfile.stages.last_mut() {
                stage.instructions.push(instruction);
            } else {
                dockerfile.preamble.push(instruction);
            }
        }
        dockerfile
    }

    /// The stage called `name`.
    pub fn stage(&self, name: &str) -> &Stage {
        self.stages
            .iter()
            .find(|s| s.name.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("deploy/Dockerfile has no stage `{name}`"))
    }

    /// The chain of stages `name` is built on, itself last.
    pub fn lineage(&self, name: &str) -> Vec<&Stage> {
        let mut chain = vec![self.stage(name)];
        while let Some(base) = self
            .stages
            .iter()
            .find(|s| s.name.as_deref() == Some(chain[0].from.as_str()))
        {
            chain.insert(0, base);
        }
        chain
    }

    /// The instructions of `keyword` that apply to the stage `name`, inherited ones first.
    pub fn inherited(&self, name: &str, keyword: &str) -> Vec<String> {
        self.lineage(name)
            .into_iter()
            .flat_map(|s| s.instructions.iter())
            .filter(|i| i.keyword == keyword)
            .map(|i| i.args.clone())
            .collect()
    }

    /// The environment the image of `service` starts with (`ENV KEY=VALUE …`, inherited).
    pub fn env(&self, service: &str) -> BTreeMap<String, String> {
        let mut env = BTreeMap::new();
        for args in self.inherited(&format!("svc-{service}"), "ENV") {
            for word in args.split_whitespace() {
                assert!(
                    !word.contains('"') && !word.contains('\''),
                    "keep ENV values unquoted and without spaces: {args}"
                );
                let (key, value) = word
                    .split_once('=')
                    .unwrap_or_else(|| panic!("write ENV as KEY=VALUE: {args}"));
                env.insert(key.to_owned(), value.to_owned());
            }
        }
        env
    }

    /// The last `USER` of the image of `service`, as (uid, gid).
    pub fn user(&self, service: &str) -> (String, Option<String>) {
        let user = self
            .inherited(&format!("svc-{service}"), "USER")
            .pop()
            .unwrap_or_else(|| panic!("the image of {service} sets no USER: it would run as root"));
        match user.split_once(':') {
            Some((u, g)) => (u.to_owned(), Some(g.to_owned())),
            None => (user, None),
        }
    }

    /// The exec-form (JSON) arguments of the last `keyword` of the image of `service`.
    pub fn exec_form(&self, service: &str, keyword: &str) -> Option<Vec<String>> {
        let args = self.inherited(&format!("svc-{service}"), keyword).pop()?;
        Some(json_list(&args))
    }
}

/// A JSON list of strings, as in exec-form `CMD ["a", "b"]`.
pub fn json_list(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{text:?} is not a JSON list: {e}"))
}

/// The variable that sets where a service listens inside a container.
pub fn listen_variable(service: &str) -> &'static str {
    match service {
        "ingress" => "CONNECTOR__INGRESS__LISTEN",
        "sandbox" => "SANDBOX_LISTEN",
        "order-processor" | "tracking-forwarder" | "webhook-health" => {
            "CONNECTOR__HTTP__METRICS_LISTEN"
        }
        other => panic!("{other} listens nowhere"),
    }
}

/// The port each server listens on when nothing overrides it: config/default.toml for the
/// ingress, each consumer's own default for its health listener, the sandbox's `--listen`.
pub fn default_port(service: &str) -> u16 {
    let listen = match service {
        "ingress" => configuration(None, &BTreeMap::new()).ingress.listen,
        "order-processor" => order_processor::DEFAULT_METRICS_LISTEN.to_owned(),
        "tracking-forwarder" => tracking_forwarder::DEFAULT_METRICS_LISTEN.to_owned(),
        "webhook-health" => webhook_health::DEFAULT_METRICS_LISTEN.to_owned(),
        "sandbox" => "127.0.0.1:9000".to_owned(),
        other => panic!("{other} listens nowhere"),
    };
    listen_addr(&listen).port()
}

/// An address like `0.0.0.0:8080`, parsed as the binaries parse it.
pub fn listen_addr(value: &str) -> SocketAddr {
    platform::configuration::parse_listen(value)
        .unwrap_or_else(|e| panic!("listen address {value:?}: {e}"))
}

/// The settings a binary loads with config/ as its directory and `env` as its environment,
/// or the panic message naming the key that is wrong.
pub fn configuration(env_name: Option<&str>, env: &BTreeMap<String, String>) -> platform::Settings {
    let vars = env
        .iter()
        .filter(|(k, _)| k.starts_with("CONNECTOR__"))
        .map(|(k, v)| (k.clone(), v.clone()));
    platform::Settings::load_from(Some(&root().join("config")), env_name, vars)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Loads the settings of a container from its whole environment (`CONNECTOR_ENV`
/// included).
pub fn container_configuration(env: &BTreeMap<String, String>) -> platform::Settings {
    configuration(env.get("CONNECTOR_ENV").map(String::as_str), env)
}

/// Runs a command if its tool is installed; `None` (after saying so) when it is not, or
/// when `probe` shows the tool does not work here.
pub fn run_if_available(probe: &[&str], command: &[&str]) -> Option<std::process::Output> {
    let works = Command::new(probe[0])
        .args(&probe[1..])
        .current_dir(root())
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !works {
        eprintln!(
            "`{}` does not work here: relying on the parsed checks alone",
            probe.join(" ")
        );
        return None;
    }
    Some(
        Command::new(command[0])
            .args(&command[1..])
            .current_dir(root())
            .output()
            .unwrap_or_else(|e| panic!("running {}: {e}", command.join(" "))),
    )
}

/// The last path segment of a program (`/usr/local/bin/ingress` → `ingress`).
pub fn program_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}
