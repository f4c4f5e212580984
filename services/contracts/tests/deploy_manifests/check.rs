//! The reference checks: every name one manifest uses must exist in another (or in the
//! tracewire sources), with matching ports and protocols.

use yaml_rust2::Yaml;

use crate::facts::Facts;
use crate::model::{
    CLUSTER_SCOPED, Object, PortRef, Workload, image_name, list, port_protocol, scalar, selects,
    string_map,
};

#[path = "check/container.rs"]
mod container;
#[path = "check/mesh.rs"]
mod mesh;

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
}

fn runs_image(workload: &Workload<'_>, image: &str) -> bool {
    workload.containers().any(|c| image_name(c) == image)
}
