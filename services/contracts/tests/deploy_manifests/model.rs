//! Manifests as objects: multi-document YAML files split into Kubernetes/Istio objects,
//! and the small readers the checks share (workloads, containers, ports, URLs).

use yaml_rust2::{Yaml, YamlLoader};

/// One object (one YAML document) of a manifest file.
#[derive(Debug)]
pub(crate) struct Object {
    pub(crate) kind: String,
    pub(crate) name: String,
    /// `metadata.namespace`; `None` for cluster-scoped objects (and mistakes).
    pub(crate) namespace: Option<String>,
    pub(crate) doc: Yaml,
}

impl Object {
    /// `Kind/name`, how problems name objects.
    pub(crate) fn id(&self) -> String {
        format!("{}/{}", self.kind, self.name)
    }

    /// The namespace, `default` when unset (what `kubectl apply` would use).
    pub(crate) fn ns(&self) -> &str {
        self.namespace.as_deref().unwrap_or("default")
    }
}

/// Kinds that are not namespaced.
pub(crate) const CLUSTER_SCOPED: &[&str] = &["Namespace", "ClusterRole", "ClusterRoleBinding"];

/// Why a file could not be read as manifests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ParseError {
    /// Not YAML.
    Yaml { file: String, error: String },
    /// A document without `kind` or `metadata.name`.
    Incomplete { file: String, document: usize },
}

/// Splits `text` (one file, `---`-separated documents) into objects; empty documents
/// (a leading `---`, comments only) are skipped.
pub(crate) fn parse(file: &str, text: &str) -> Result<Vec<Object>, ParseError> {
    let docs = YamlLoader::load_from_str(text).map_err(|e| ParseError::Yaml {
        file: file.to_owned(),
        error: e.to_string(),
    })?;
    let mut objects = Vec::new();
    for (index, doc) in docs.into_iter().enumerate() {
        if doc.is_null() {
            continue;
        }
        let (Some(kind), Some(name)) = (doc["kind"].as_str(), doc["metadata"]["name"].as_str())
        else {
            return Err(ParseError::Incomplete {
                file: file.to_owned(),
                document: index,
            });
        };
        objects.push(Object {
            kind: kind.to_owned(),
            name: name.to_owned(),
            namespace: doc["metadata"]["namespace"].as_str().map(str::to_owned),
            doc,
        });
    }
    Ok(objects)
}

/// The elements of a sequence (none when absent).
pub(crate) fn list(y: &Yaml) -> &[Yaml] {
    y.as_vec().map_or(&[], Vec::as_slice)
}

/// A scalar as text (`8080`, `true`, `"x"`).
pub(crate) fn scalar(y: &Yaml) -> Option<String> {
    match y {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A string-to-string map (labels, selectors).
pub(crate) fn string_map(y: &Yaml) -> Vec<(String, String)> {
    y.as_hash()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((scalar(k)?, scalar(v)?)))
        .collect()
}

/// Whether every pair of `selector` is among `labels` (an empty selector matches nothing
/// here: a Service without a selector is managed by hand).
pub(crate) fn selects(selector: &[(String, String)], labels: &[(String, String)]) -> bool {
    !selector.is_empty() && selector.iter().all(|pair| labels.contains(pair))
}

/// A workload: an object with a pod template.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Workload<'a> {
    pub(crate) object: &'a Object,
}

impl<'a> Workload<'a> {
    /// Kinds with `spec.template` (a pod template).
    pub(crate) const KINDS: &'static [&'static str] =
        &["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"];

    pub(crate) fn of(object: &'a Object) -> Option<Self> {
        Self::KINDS
            .contains(&object.kind.as_str())
            .then_some(Self { object })
    }

    pub(crate) fn id(&self) -> String {
        self.object.id()
    }

    pub(crate) fn ns(&self) -> &'a str {
        self.object.ns()
    }

    pub(crate) fn spec(&self) -> &'a Yaml {
        &self.object.doc["spec"]
    }

    pub(crate) fn pod_labels(&self) -> Vec<(String, String)> {
        string_map(&self.spec()["template"]["metadata"]["labels"])
    }

    pub(crate) fn pod_spec(&self) -> &'a Yaml {
        &self.spec()["template"]["spec"]
    }

    pub(crate) fn containers(&self) -> impl Iterator<Item = &'a Yaml> {
        list(&self.pod_spec()["containers"]).iter()
    }

    /// Whether any container declares `port`.
    pub(crate) fn has_port(&self, port: &PortRef) -> bool {
        self.containers().any(|c| container_has_port(c, port))
    }
}

/// A port named or numbered (Kubernetes `IntOrString`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PortRef {
    Name(String),
    Number(i64),
}

impl PortRef {
    pub(crate) fn of(y: &Yaml) -> Option<Self> {
        match y {
            Yaml::Integer(n) => Some(Self::Number(*n)),
            Yaml::String(s) => Some(Self::Name(s.clone())),
            _ => None,
        }
    }
}

impl std::fmt::Display for PortRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Name(name) => f.write_str(name),
            Self::Number(n) => write!(f, "{n}"),
        }
    }
}

pub(crate) fn container_has_port(container: &Yaml, port: &PortRef) -> bool {
    list(&container["ports"]).iter().any(|p| match port {
        PortRef::Name(name) => p["name"].as_str() == Some(name),
        PortRef::Number(n) => p["containerPort"].as_i64() == Some(*n),
    })
}

/// The container's image name without registry, path and tag (`tracewire`).
pub(crate) fn image_name(container: &Yaml) -> &str {
    let image = container["image"].as_str().unwrap_or_default();
    let last = image.rsplit('/').next().unwrap_or(image);
    last.split([':', '@']).next().unwrap_or(last)
}

/// `scheme://host:port/…` split up; the port defaults by scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Url {
    pub(crate) scheme: String,
    pub(crate) host: String,
    pub(crate) port: Option<i64>,
}

impl Url {
    pub(crate) fn parse(url: &str) -> Option<Self> {
        let (scheme, rest) = url.split_once("://")?;
        let authority = rest.split('/').next().unwrap_or(rest);
        let authority = authority.rsplit('@').next().unwrap_or(authority);
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port.parse().ok()?)),
            None => (authority, None),
        };
        let port = port.or(match scheme {
            "http" => Some(80),
            "https" => Some(443),
            "nats" => Some(4222),
            "amqp" => Some(5672),
            _ => None,
        });
        (!host.is_empty()).then(|| Self {
            scheme: scheme.to_owned(),
            host: host.to_owned(),
            port,
        })
    }
}

/// The Service a cluster DNS name denotes: `name`, `name.ns`, `name.ns.svc`,
/// `name.ns.svc.cluster.local` → (name, namespace); anything else is not a Service name.
pub(crate) fn service_host<'h>(
    host: &'h str,
    own_namespace: &'h str,
) -> Option<(&'h str, &'h str)> {
    let labels: Vec<&str> = host.split('.').collect();
    match labels.as_slice() {
        [name] => Some((name, own_namespace)),
        [name, ns] | [name, ns, "svc"] | [name, ns, "svc", "cluster", "local"] => Some((name, ns)),
        _ => None,
    }
}

/// The protocol Istio gives a Service port: `appProtocol`, else the name's prefix
/// (`grpc-api` → `grpc`); `None` when neither says (Istio would sniff).
pub(crate) fn port_protocol(port: &Yaml) -> Option<String> {
    if let Some(protocol) = port["appProtocol"].as_str() {
        return Some(protocol.to_ascii_lowercase());
    }
    let name = port["name"].as_str()?;
    let prefix = name.split('-').next().unwrap_or(name);
    ISTIO_PROTOCOLS.contains(&prefix).then(|| prefix.to_owned())
}

/// Istio's protocol names for explicit protocol selection.
pub(crate) const ISTIO_PROTOCOLS: &[&str] = &[
    "http", "http2", "https", "grpc", "grpc-web", "tcp", "tls", "mongo", "mysql", "redis", "udp",
];
