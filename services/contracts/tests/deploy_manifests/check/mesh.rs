//! Checks of the mesh and of configuration files: Istio tracing providers, the
//! OpenTelemetry Collector's config, the NATS server config.

use yaml_rust2::{Yaml, YamlLoader};

use super::{Checker, Problem, runs_image};
use crate::model::{Object, PortRef, Workload, list, port_protocol, service_host};

impl Checker<'_> {
    /// Istio: Telemetry providers and extension providers.
    pub(super) fn mesh(&mut self) {
        let objects = self.objects;
        let mut declared = Vec::new();
        for operator in objects.iter().filter(|o| o.kind == "IstioOperator") {
            let mesh = &operator.doc["spec"]["meshConfig"];
            for provider in list(&mesh["extensionProviders"]) {
                let name = provider["name"].as_str().unwrap_or_default();
                declared.push(name.to_owned());
                let otel = &provider["opentelemetry"];
                let (Some(service), Some(port)) = (otel["service"].as_str(), otel["port"].as_i64())
                else {
                    continue;
                };
                // Envoy's OpenTelemetry tracer speaks OTLP/gRPC unless `http` is set.
                let expected: &[&str] = if otel["http"].is_badvalue() {
                    &["grpc", "http2"]
                } else {
                    &["http"]
                };
                let reaches = service_host(service, "default")
                    .and_then(|(name, ns)| self.find("Service", ns, name))
                    .is_some_and(|svc| {
                        list(&svc.doc["spec"]["ports"]).iter().any(|p| {
                            p["port"].as_i64() == Some(port)
                                && port_protocol(p).is_some_and(|f| expected.contains(&f.as_str()))
                        })
                    });
                if !reaches {
                    self.problems.push(Problem::ProviderTarget {
                        provider: name.to_owned(),
                        service: service.to_owned(),
                        port: port.to_string(),
                    });
                }
            }
            for provider in list(&mesh["defaultProviders"]["tracing"]) {
                self.provider_declared(operator, provider.as_str(), &declared);
            }
        }
        for telemetry in objects.iter().filter(|o| o.kind == "Telemetry") {
            for tracing in list(&telemetry.doc["spec"]["tracing"]) {
                for provider in list(&tracing["providers"]) {
                    self.provider_declared(telemetry, provider["name"].as_str(), &declared);
                }
            }
        }
    }

    fn provider_declared(&mut self, object: &Object, provider: Option<&str>, declared: &[String]) {
        let provider = provider.unwrap_or_default();
        if !declared.iter().any(|d| d == provider) {
            self.problems.push(Problem::UnknownTracingProvider {
                object: object.id(),
                provider: provider.to_owned(),
            });
        }
    }

    /// Configuration files inside ConfigMaps: an OpenTelemetry Collector config (YAML)
    /// or a NATS config, checked against the pods that mount them.
    pub(super) fn config_map(&mut self, config_map: &Object, workloads: &[Workload<'_>]) {
        let mounted_by: Vec<&Workload<'_>> = workloads
            .iter()
            .filter(|w| {
                w.ns() == config_map.ns()
                    && list(&w.pod_spec()["volumes"])
                        .iter()
                        .any(|v| v["configMap"]["name"].as_str() == Some(&config_map.name))
            })
            .collect();
        let declared = |port: i64| {
            mounted_by
                .iter()
                .any(|w| w.has_port(&PortRef::Number(port)))
        };
        let data = config_map.doc["data"].as_hash().into_iter().flatten();
        for (key, value) in data {
            let (Some(key), Some(text)) = (key.as_str(), value.as_str()) else {
                continue;
            };
            if key.ends_with(".conf") && mounted_by.iter().any(|w| runs_image(w, "nats")) {
                for problem in nats_config(text, &declared) {
                    self.problems.push(Problem::NatsConfig {
                        config_map: config_map.id(),
                        reason: problem,
                    });
                }
            } else if key.ends_with(".yaml") || key.ends_with(".yml") {
                let Ok(docs) = YamlLoader::load_from_str(text) else {
                    continue;
                };
                if let Some(config) = docs
                    .first()
                    .filter(|d| !d["service"]["pipelines"].is_badvalue())
                {
                    self.collector(config_map, config, &declared);
                }
            }
        }
    }

    fn collector(&mut self, config_map: &Object, config: &Yaml, declared: &dyn Fn(i64) -> bool) {
        let defined = |section: &str, name: &str| {
            config[section]
                .as_hash()
                .is_some_and(|h| h.contains_key(&Yaml::String(name.into())))
        };
        let pipelines = config["service"]["pipelines"]
            .as_hash()
            .into_iter()
            .flatten();
        for (pipeline, spec) in pipelines {
            let pipeline = pipeline.as_str().unwrap_or_default();
            for (role, sections) in [
                ("receivers", &["receivers", "connectors"][..]),
                ("processors", &["processors"][..]),
                ("exporters", &["exporters", "connectors"][..]),
            ] {
                for component in list(&spec[role]).iter().filter_map(Yaml::as_str) {
                    if !sections.iter().any(|s| defined(s, component)) {
                        self.problems.push(Problem::CollectorComponent {
                            config_map: config_map.id(),
                            pipeline: pipeline.to_owned(),
                            component: component.to_owned(),
                        });
                    }
                }
            }
        }
        for extension in list(&config["service"]["extensions"])
            .iter()
            .filter_map(Yaml::as_str)
        {
            if !defined("extensions", extension) {
                self.problems.push(Problem::CollectorComponent {
                    config_map: config_map.id(),
                    pipeline: "service.extensions".into(),
                    component: extension.to_owned(),
                });
            }
        }
        // Everything the collector listens on must be a declared container port.
        let mut endpoints = Vec::new();
        listening_endpoints(&config["receivers"], &mut endpoints);
        listening_endpoints(&config["extensions"], &mut endpoints);
        for endpoint in endpoints {
            let port = endpoint.rsplit_once(':').and_then(|(_, p)| p.parse().ok());
            if !port.is_some_and(declared) {
                self.problems.push(Problem::CollectorPort {
                    config_map: config_map.id(),
                    endpoint,
                });
            }
        }
    }
}

/// Every `endpoint: host:port` value under `node`.
fn listening_endpoints(node: &Yaml, out: &mut Vec<String>) {
    if let Some(hash) = node.as_hash() {
        for (key, value) in hash {
            match (key.as_str(), value.as_str()) {
                (Some("endpoint"), Some(endpoint)) => out.push(endpoint.to_owned()),
                _ => listening_endpoints(value, out),
            }
        }
    }
}

/// Problems of a NATS server config (the `key: value` / `block { }` format): JetStream
/// must be on, and the client and monitoring ports must be declared on the pod.
fn nats_config(text: &str, declared: &dyn Fn(i64) -> bool) -> Vec<String> {
    let mut problems = Vec::new();
    let mut depth = 0usize;
    let mut jetstream = false;
    for line in text
        .lines()
        .map(|l| l.split('#').next().unwrap_or(l).trim())
    {
        if depth == 0 {
            if let Some(rest) = line.strip_prefix("jetstream")
                && rest.starts_with([' ', '\t', '{', ':', '='])
            {
                jetstream = !rest.contains("false") && !rest.contains("disabled");
            }
            for key in ["port", "http_port", "http"] {
                let value = line
                    .strip_prefix(key)
                    .and_then(|rest| rest.trim_start().strip_prefix([':', '=']))
                    .map(str::trim);
                let Some(value) = value else { continue };
                let port = value.rsplit(':').next().unwrap_or(value);
                match port.parse::<i64>() {
                    Ok(port) if declared(port) => {}
                    _ => problems.push(format!("{key}: {value} is not a container port")),
                }
            }
        }
        depth += line.matches('{').count();
        depth = depth.saturating_sub(line.matches('}').count());
    }
    if !jetstream {
        problems.push("JetStream is not enabled (no `jetstream { … }` block)".to_owned());
    }
    problems
}
