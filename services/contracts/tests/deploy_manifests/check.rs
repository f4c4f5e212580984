//! The reference checks: every name one manifest uses must exist in another (or in the
//! tracewire sources), with matching ports and protocols.

use yaml_rust2::{Yaml, YamlLoader};

use crate::facts::Facts;
use crate::model::{
    CLUSTER_SCOPED, Object, PortRef, Url, Workload, container_has_port, image_name, list,
    port_protocol, scalar, selects, service_host, string_map,
};

/// Namespaces that exist without these manifests (istioctl creates istio-system).
const EXTERNAL_NAMESPACES: &[&str] = &["istio-system"];

/// A broken reference, naming the objects involved (`Kind/name`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Problem {
    /// A namespaced object without `metadata.namespace`.
    NoNamespace { object: String },
    /// A namespace no Namespace object declares.
    UnknownNamespace { object: String, namespace: String },
    /// A workload whose `spec.selector.matchLabels` does not match its own pods.
    WorkloadSelectsNotItsPods { workload: String },
    /// A Service whose selector matches no workload's pods in its namespace.
    SelectorMatchesNoPods { service: String },
    /// A Service port whose `targetPort` is not a container port of a selected pod.
    TargetPortNotOnPod {
        service: String,
        workload: String,
        target: String,
    },
    /// A Service port Istio cannot classify: no protocol prefix and no `appProtocol`.
    PortProtocolUnknown { service: String, port: String },
    /// A container port name Kubernetes rejects (IANA service name: at most 15
    /// characters of lower-case letters, digits and `-`).
    BadContainerPortName { workload: String, port: String },
    /// A reference to an object the manifests do not define (ConfigMap,
    /// PersistentVolumeClaim, ServiceAccount, governing Service).
    MissingObject {
        workload: String,
        kind: String,
        name: String,
    },
    /// A volumeMount of a volume the pod does not have.
    UnknownVolume { workload: String, volume: String },
    /// A probe on a port the container does not declare.
    ProbePort {
        workload: String,
        probe: String,
        port: String,
    },
    /// A probe GET on a path no service routes (or a route with a path parameter).
    ProbePath {
        workload: String,
        probe: String,
        path: String,
    },
    /// A `tracewire` container without a known subcommand / service / flag.
    UnknownArg { workload: String, arg: String },
    /// An environment variable tracewire does not read (a typo or a stale name) and no
    /// other variable refers to as `$(NAME)`.
    UnknownEnv { workload: String, var: String },
    /// A setting the service cannot run (or cannot run in a cluster) without.
    MissingSetting { workload: String, var: String },
    /// `--broker memory` (the default): separate pods would never see each other's
    /// messages.
    BrokerNotShared { workload: String },
    /// The database is in memory or on a volume that dies with the pod.
    DbNotPersistent { workload: String, db: String },
    /// The listen address's port is not a container port.
    ListenPortNotContainerPort { workload: String, listen: String },
    /// The listen address accepts only loopback connections (the kubelet and, since
    /// Istio 1.10, the sidecar connect to the pod IP).
    ListenLoopback { workload: String, listen: String },
    /// A URL setting whose host is not a Service of the manifests.
    UrlNotAService {
        workload: String,
        var: String,
        url: String,
    },
    /// A URL setting whose port is not a port of that Service.
    UrlPortNotOnService {
        workload: String,
        var: String,
        url: String,
    },
    /// A URL setting that reaches a port of another protocol.
    UrlProtocol {
        workload: String,
        var: String,
        url: String,
        expected: String,
        found: String,
    },
    /// A Telemetry resource (or the mesh default) names a tracing provider that no
    /// IstioOperator `meshConfig.extensionProviders` declares.
    UnknownTracingProvider { object: String, provider: String },
    /// An extension provider's `service`/`port` is not a Service port of the right
    /// protocol.
    ProviderTarget {
        provider: String,
        service: String,
        port: String,
    },
    /// An OpenTelemetry Collector pipeline names a component the config does not define.
    CollectorComponent {
        config_map: String,
        pipeline: String,
        component: String,
    },
    /// A collector receiver/extension listens on a port its pods do not declare.
    CollectorPort {
        config_map: String,
        endpoint: String,
    },
    /// A NATS config without JetStream, or listening on an undeclared port.
    NatsConfig { config_map: String, reason: String },
    /// A container without probes, resource requests/limits or a non-root,
    /// no-privilege-escalation security context.
    Unhardened {
        workload: String,
        container: String,
        missing: String,
    },
}

/// Runs every check over `objects` (all manifest files together).
pub(crate) fn check(objects: &[Object], facts: &Facts) -> Vec<Problem> {
    let mut checker = Checker {
        objects,
        facts,
        problems: Vec::new(),
    };
    checker.namespaces();
    let workloads: Vec<Workload<'_>> = objects.iter().filter_map(Workload::of).collect();
    for service in objects.iter().filter(|o| o.kind == "Service") {
        checker.service(service, &workloads);
    }
    for workload in &workloads {
        checker.workload(*workload);
        for container in workload.containers() {
            checker.hardening(*workload, container);
            checker.probes(*workload, container);
            if image_name(container) == "tracewire" {
                checker.tracewire(*workload, container);
            }
        }
    }
    checker.mesh();
    for config_map in objects.iter().filter(|o| o.kind == "ConfigMap") {
        checker.config_map(config_map, &workloads);
    }
    checker.problems
}

struct Checker<'a> {
    objects: &'a [Object],
    facts: &'a Facts,
    problems: Vec<Problem>,
}

impl<'a> Checker<'a> {
    fn find(&self, kind: &str, namespace: &str, name: &str) -> Option<&'a Object> {
        self.objects
            .iter()
            .find(|o| o.kind == kind && o.ns() == namespace && o.name == name)
    }

    fn namespaces(&mut self) {
        let objects = self.objects;
        let declared: Vec<&str> = objects
            .iter()
            .filter(|o| o.kind == "Namespace")
            .map(|o| o.name.as_str())
            .chain(EXTERNAL_NAMESPACES.iter().copied())
            .collect();
        for object in objects {
            if CLUSTER_SCOPED.contains(&object.kind.as_str()) {
                continue;
            }
            match &object.namespace {
                None => self.problems.push(Problem::NoNamespace {
                    object: object.id(),
                }),
                Some(ns) if !declared.contains(&ns.as_str()) => {
                    self.problems.push(Problem::UnknownNamespace {
                        object: object.id(),
                        namespace: ns.clone(),
                    });
                }
                Some(_) => {}
            }
        }
    }

    fn service(&mut self, service: &Object, workloads: &[Workload<'_>]) {
        let spec = &service.doc["spec"];
        for port in list(&spec["ports"]) {
            if port_protocol(port).is_none() {
                self.problems.push(Problem::PortProtocolUnknown {
                    service: service.id(),
                    port: scalar(&port["name"]).unwrap_or_else(|| "(unnamed)".into()),
                });
            }
        }
        let selector = string_map(&spec["selector"]);
        if selector.is_empty() {
            return; // endpoints managed by hand
        }
        let selected: Vec<&Workload<'_>> = workloads
            .iter()
            .filter(|w| w.ns() == service.ns() && selects(&selector, &w.pod_labels()))
            .collect();
        if selected.is_empty() {
            self.problems.push(Problem::SelectorMatchesNoPods {
                service: service.id(),
            });
        }
        for port in list(&spec["ports"]) {
            let target = match &port["targetPort"] {
                Yaml::BadValue => PortRef::of(&port["port"]),
                target => PortRef::of(target),
            };
            let Some(target) = target else { continue };
            for workload in &selected {
                if !workload.has_port(&target) {
                    self.problems.push(Problem::TargetPortNotOnPod {
                        service: service.id(),
                        workload: workload.id(),
                        target: target.to_string(),
                    });
                }
            }
        }
    }

    fn workload(&mut self, workload: Workload<'_>) {
        let id = workload.id();
        let ns = workload.ns();
        let match_labels = string_map(&workload.spec()["selector"]["matchLabels"]);
        if !selects(&match_labels, &workload.pod_labels()) {
            self.problems.push(Problem::WorkloadSelectsNotItsPods {
                workload: id.clone(),
            });
        }
        let pod = workload.pod_spec();
        let mut required = Vec::new();
        if let Some(account) = pod["serviceAccountName"].as_str()
            && account != "default"
        {
            required.push(("ServiceAccount", account));
        }
        if workload.object.kind == "StatefulSet"
            && let Some(service) = workload.spec()["serviceName"].as_str()
        {
            required.push(("Service", service));
        }
        let mut volumes: Vec<&str> = Vec::new();
        for volume in list(&pod["volumes"]) {
            volumes.extend(volume["name"].as_str());
            if let Some(name) = volume["configMap"]["name"].as_str() {
                required.push(("ConfigMap", name));
            }
            if let Some(name) = volume["persistentVolumeClaim"]["claimName"].as_str() {
                required.push(("PersistentVolumeClaim", name));
            }
        }
        for template in list(&workload.spec()["volumeClaimTemplates"]) {
            volumes.extend(template["metadata"]["name"].as_str());
        }
        for (kind, name) in required {
            if self.find(kind, ns, name).is_none() {
                self.problems.push(Problem::MissingObject {
                    workload: id.clone(),
                    kind: kind.to_owned(),
                    name: name.to_owned(),
                });
            }
        }
        for container in workload.containers() {
            for mount in list(&container["volumeMounts"]) {
                let name = mount["name"].as_str().unwrap_or_default();
                if !volumes.contains(&name) {
                    self.problems.push(Problem::UnknownVolume {
                        workload: id.clone(),
                        volume: name.to_owned(),
                    });
                }
            }
            for port in list(&container["ports"]) {
                if let Some(name) = port["name"].as_str() {
                    let valid = name.len() <= 15
                        && name.chars().any(|c| c.is_ascii_lowercase())
                        && name
                            .chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                        && !name.starts_with('-')
                        && !name.ends_with('-')
                        && !name.contains("--");
                    if !valid {
                        self.problems.push(Problem::BadContainerPortName {
                            workload: id.clone(),
                            port: name.to_owned(),
                        });
                    }
                }
            }
        }
    }

    fn hardening(&mut self, workload: Workload<'_>, container: &Yaml) {
        let pod = &workload.pod_spec()["securityContext"];
        let own = &container["securityContext"];
        let missing = [
            ("readinessProbe", !container["readinessProbe"].is_badvalue()),
            ("livenessProbe", !container["livenessProbe"].is_badvalue()),
            (
                "resources.requests",
                !container["resources"]["requests"].is_badvalue(),
            ),
            (
                "resources.limits",
                !container["resources"]["limits"].is_badvalue(),
            ),
            (
                "runAsNonRoot",
                own["runAsNonRoot"]
                    .as_bool()
                    .or(pod["runAsNonRoot"].as_bool())
                    == Some(true),
            ),
            (
                "allowPrivilegeEscalation: false",
                own["allowPrivilegeEscalation"].as_bool() == Some(false),
            ),
        ];
        for (what, present) in missing {
            if !present {
                self.problems.push(Problem::Unhardened {
                    workload: workload.id(),
                    container: container["name"].as_str().unwrap_or_default().to_owned(),
                    missing: what.to_owned(),
                });
            }
        }
    }

    fn probes(&mut self, workload: Workload<'_>, container: &Yaml) {
        let is_tracewire = image_name(container) == "tracewire";
        for probe in ["readinessProbe", "livenessProbe", "startupProbe"] {
            let spec = &container[probe];
            for action in ["httpGet", "tcpSocket", "grpc"] {
                let Some(port) = PortRef::of(&spec[action]["port"]) else {
                    continue;
                };
                if !container_has_port(container, &port) {
                    self.problems.push(Problem::ProbePort {
                        workload: workload.id(),
                        probe: probe.to_owned(),
                        port: port.to_string(),
                    });
                }
            }
            if let (true, Some(path)) = (is_tracewire, spec["httpGet"]["path"].as_str()) {
                let route = path.split('?').next().unwrap_or(path);
                if !self.facts.fixed_routes.contains(route) {
                    self.problems.push(Problem::ProbePath {
                        workload: workload.id(),
                        probe: probe.to_owned(),
                        path: path.to_owned(),
                    });
                }
            }
        }
    }

    /// A container running the `tracewire` binary.
    fn tracewire(&mut self, workload: Workload<'_>, container: &Yaml) {
        let id = workload.id();
        let args: Vec<String> = list(&container["args"]).iter().filter_map(scalar).collect();
        let flags = self.args(&id, &args);
        let env: Vec<(&str, Option<&str>)> = list(&container["env"])
            .iter()
            .filter_map(|e| Some((e["name"].as_str()?, e["value"].as_str())))
            .collect();
        let referenced: String = env.iter().filter_map(|(_, v)| *v).collect();
        for (name, _) in &env {
            if !self.facts.env.contains(*name) && !referenced.contains(&format!("$({name})")) {
                self.problems.push(Problem::UnknownEnv {
                    workload: id.clone(),
                    var: (*name).to_owned(),
                });
            }
        }
        // clap: a flag on the command line beats its environment variable.
        let setting = |flag: &str, var: &str| -> Option<String> {
            flags
                .iter()
                .find(|(f, _)| f == flag)
                .map(|(_, v)| v.clone())
                .or_else(|| {
                    env.iter()
                        .find(|(n, _)| *n == var)
                        .and_then(|(_, v)| v.map(str::to_owned))
                })
        };

        let listen =
            setting("--listen", "TRACEWIRE_LISTEN").unwrap_or_else(|| "127.0.0.1:0".into());
        self.listen(workload, container, &listen);

        match setting("--broker", "TRACEWIRE_BROKER").as_deref() {
            None | Some("memory" | "memory://") => {
                self.problems.push(Problem::BrokerNotShared {
                    workload: id.clone(),
                });
            }
            Some(url) => self.url(workload, "TRACEWIRE_BROKER", url, &["tcp"]),
        }

        let db = setting("--db", "TRACEWIRE_DB").unwrap_or_else(|| "memory".into());
        if !persistent_path(workload, container, &db) {
            self.problems.push(Problem::DbNotPersistent {
                workload: id.clone(),
                db,
            });
        }

        let runs_order = args.get(1).is_some_and(|s| s == "order");
        match setting("--inventory-url", "TRACEWIRE_INVENTORY_URL") {
            Some(url) => {
                self.url(
                    workload,
                    "TRACEWIRE_INVENTORY_URL",
                    &url,
                    &["grpc", "http2"],
                );
            }
            None if runs_order => self.problems.push(Problem::MissingSetting {
                workload: id.clone(),
                var: "TRACEWIRE_INVENTORY_URL".into(),
            }),
            None => {}
        }

        let exporter = setting("", "OTEL_TRACES_EXPORTER").unwrap_or_else(|| "otlp".into());
        let protocol = setting("", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
            .or_else(|| setting("", "OTEL_EXPORTER_OTLP_PROTOCOL"))
            .unwrap_or_else(|| "http/protobuf".into()); // what the binary defaults to
        let expected: &[&str] = if protocol == "grpc" {
            &["grpc", "http2"]
        } else {
            &["http"]
        };
        match setting("--otlp-endpoint", "OTEL_EXPORTER_OTLP_ENDPOINT") {
            Some(url) => self.url(workload, "OTEL_EXPORTER_OTLP_ENDPOINT", &url, expected),
            None if exporter == "otlp" => self.problems.push(Problem::MissingSetting {
                workload: id,
                var: "OTEL_EXPORTER_OTLP_ENDPOINT".into(),
            }),
            None => {}
        }
    }

    /// Checks `tracewire serve SERVICE --flag value …`; returns the flags with values.
    fn args(&mut self, id: &str, args: &[String]) -> Vec<(String, String)> {
        let facts = self.facts;
        let mut unknown: Vec<&str> = Vec::new();
        let mut flags = Vec::new();
        match args {
            [] => unknown.push("(no subcommand)"),
            [command, ..] if !facts.subcommands.contains(command) => unknown.push(command),
            [command, rest @ ..] if command == "serve" => {
                match rest.first() {
                    Some(service) if facts.services.contains(service) => {}
                    Some(other) => unknown.push(other),
                    None => unknown.push("(no service)"),
                }
                let mut rest = rest.iter().skip(1);
                while let Some(arg) = rest.next() {
                    let (flag, value) = match arg.split_once('=') {
                        Some((flag, value)) => (flag.to_owned(), Some(value.to_owned())),
                        None => (arg.clone(), None),
                    };
                    if !facts.serve_flags.contains(&flag) {
                        unknown.push(arg);
                        continue;
                    }
                    let value = value.or_else(|| rest.next().cloned()).unwrap_or_default();
                    flags.push((flag, value));
                }
            }
            _ => {}
        }
        self.problems
            .extend(unknown.into_iter().map(|arg| Problem::UnknownArg {
                workload: id.to_owned(),
                arg: arg.to_owned(),
            }));
        flags
    }

    fn listen(&mut self, workload: Workload<'_>, container: &Yaml, listen: &str) {
        let (host, port) = listen.rsplit_once(':').unwrap_or((listen, ""));
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host == "localhost" || host.starts_with("127.") || host == "::1" {
            self.problems.push(Problem::ListenLoopback {
                workload: workload.id(),
                listen: listen.to_owned(),
            });
        }
        let declared = port
            .parse()
            .is_ok_and(|n: i64| n != 0 && container_has_port(container, &PortRef::Number(n)));
        if !declared {
            self.problems.push(Problem::ListenPortNotContainerPort {
                workload: workload.id(),
                listen: listen.to_owned(),
            });
        }
    }

    /// `url` (from `var`) must name a Service port of one of the `expected` protocols.
    fn url(&mut self, workload: Workload<'_>, var: &str, url: &str, expected: &[&str]) {
        let problem_url = || (workload.id(), var.to_owned(), url.to_owned());
        let target = Url::parse(url).and_then(|u| {
            let (name, ns) = service_host(&u.host, workload.ns())?;
            Some((self.find("Service", ns, name)?, u.port))
        });
        let Some((service, port)) = target else {
            let (workload, var, url) = problem_url();
            self.problems
                .push(Problem::UrlNotAService { workload, var, url });
            return;
        };
        let service_port = list(&service.doc["spec"]["ports"])
            .iter()
            .find(|p| p["port"].as_i64() == port);
        let Some(service_port) = service_port else {
            let (workload, var, url) = problem_url();
            self.problems
                .push(Problem::UrlPortNotOnService { workload, var, url });
            return;
        };
        let found = port_protocol(service_port).unwrap_or_default();
        if !expected.contains(&found.as_str()) {
            let (workload, var, url) = problem_url();
            self.problems.push(Problem::UrlProtocol {
                workload,
                var,
                url,
                expected: expected.join("|"),
                found,
            });
        }
    }

    /// Istio: Telemetry providers and extension providers.
    fn mesh(&mut self) {
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
    fn config_map(&mut self, config_map: &Object, workloads: &[Workload<'_>]) {
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

fn runs_image(workload: &Workload<'_>, image: &str) -> bool {
    workload.containers().any(|c| image_name(c) == image)
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

/// Whether `db` is a file on a volume that outlives the pod (a PersistentVolumeClaim
/// or a StatefulSet volume claim template).
fn persistent_path(workload: Workload<'_>, container: &Yaml, db: &str) -> bool {
    let pod = workload.pod_spec();
    let persistent = |volume: &str| {
        list(&pod["volumes"]).iter().any(|v| {
            v["name"].as_str() == Some(volume) && !v["persistentVolumeClaim"].is_badvalue()
        }) || list(&workload.spec()["volumeClaimTemplates"])
            .iter()
            .any(|t| t["metadata"]["name"].as_str() == Some(volume))
    };
    list(&container["volumeMounts"]).iter().any(|mount| {
        let path = mount["mountPath"].as_str().unwrap_or_default();
        let path = path.trim_end_matches('/');
        !path.is_empty()
            && db
                .strip_prefix(path)
                .is_some_and(|rest| rest.starts_with('/'))
            && mount["name"].as_str().is_some_and(persistent)
    })
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
