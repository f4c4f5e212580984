//! The deployment manifests (`deploy/k8s/`, `deploy/istio/`) are parsed and checked
//! against each other and against the tracewire sources: Service selectors and target
//! ports, the URLs in the environment (broker, inventory, OTLP collector) with their
//! ports and protocols, listen ports, `tracewire` arguments and environment names,
//! probes, volumes, Istio providers, the collector and NATS configs.
//!
//! `checker_catches_*` feed a small valid manifest set with one reference broken at a
//! time and expect exactly that problem, so the checks are known to fail.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "deploy_manifests/check.rs"]
mod check;
#[path = "deploy_manifests/facts.rs"]
mod facts;
#[path = "deploy_manifests/fixture.rs"]
mod fixture;
#[path = "deploy_manifests/model.rs"]
mod model;

use std::fs;
use std::path::{Path, PathBuf};

use check::{Problem, check};
use facts::Facts;
use fixture::{fixture, fixture_facts};
use model::{Object, ParseError, parse};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every `*.yaml` under the given directories of the workspace, parsed.
fn load(dirs: &[&str]) -> Result<Vec<Object>, ParseError> {
    let root = workspace_root();
    let mut files: Vec<PathBuf> = dirs
        .iter()
        .flat_map(|dir| {
            let dir = root.join(dir);
            fs::read_dir(&dir)
                .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
                .flatten()
                .map(|entry| entry.path())
        })
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    let mut objects = Vec::new();
    for path in files {
        let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        let name = path
            .strip_prefix(&root)
            .unwrap_or(&path)
            .display()
            .to_string();
        objects.extend(parse(&name, &text)?);
    }
    Ok(objects)
}

#[test]
fn deploy_manifests_reference_each_other() {
    let objects = load(&["deploy/k8s", "deploy/istio"]).expect("manifests parse");
    let facts = Facts::from_sources(&workspace_root());

    // The set is what the reference system needs (so the checks below are not vacuous).
    for (kind, namespace, name) in [
        ("Namespace", "default", "tracewire"),
        ("Namespace", "default", "observability"),
        ("Deployment", "tracewire", "order"),
        ("Deployment", "tracewire", "inventory"),
        ("Deployment", "tracewire", "payment"),
        ("StatefulSet", "tracewire", "nats"),
        ("Deployment", "observability", "otel-collector"),
        ("Service", "tracewire", "order"),
        ("Service", "tracewire", "inventory"),
        ("Service", "tracewire", "payment"),
        ("Service", "tracewire", "nats"),
        ("Service", "observability", "otel-collector"),
        ("Telemetry", "tracewire", "tracewire-tracing"),
        ("IstioOperator", "istio-system", "tracewire-mesh"),
    ] {
        assert!(
            objects
                .iter()
                .any(|o| o.kind == kind && o.ns() == namespace && o.name == name),
            "{kind} {namespace}/{name} is missing from deploy/"
        );
    }
    let injected = objects.iter().any(|o| {
        o.kind == "Namespace"
            && o.name == "tracewire"
            && o.doc["metadata"]["labels"]["istio-injection"].as_str() == Some("enabled")
    });
    assert!(
        injected,
        "namespace tracewire must enable sidecar injection"
    );

    let problems = check(&objects, &facts);
    assert!(
        problems.is_empty(),
        "broken references in deploy/:\n{}",
        problems
            .iter()
            .map(|p| format!("  {p:?}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn facts_are_read_from_the_sources() {
    let facts = Facts::from_sources(&workspace_root());
    assert!(
        facts.subcommands.contains("serve"),
        "{:?}",
        facts.subcommands
    );
    for service in ["order", "inventory", "payment"] {
        assert!(facts.services.contains(service), "{:?}", facts.services);
    }
    for flag in [
        "--broker",
        "--db",
        "--listen",
        "--inventory-url",
        "--otlp-endpoint",
    ] {
        assert!(facts.serve_flags.contains(flag), "{:?}", facts.serve_flags);
    }
    assert!(
        !facts.serve_flags.contains("--service"),
        "positional, not a flag"
    );
    for var in [
        "TRACEWIRE_BROKER",
        "TRACEWIRE_DB",
        "TRACEWIRE_LISTEN",
        "TRACEWIRE_INVENTORY_URL",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "OTEL_PROPAGATORS",
        "OTEL_RESOURCE_ATTRIBUTES",
    ] {
        assert!(
            facts.env.contains(var),
            "{var} not found in {:?}",
            facts.env
        );
    }
    assert!(
        facts.fixed_routes.contains("/stock"),
        "{:?}",
        facts.fixed_routes
    );
    assert!(
        !facts.fixed_routes.iter().any(|r| r.contains('{')),
        "routes with parameters cannot be probed"
    );
}

// ---------------------------------------------------------------------------------------
// The checker against a small valid manifest set, broken one reference at a time.

fn problems_of(manifests: &str) -> Vec<Problem> {
    let objects = parse("fixture.yaml", manifests).expect("fixture parses");
    check(&objects, &fixture_facts())
}

#[test]
fn checker_accepts_the_valid_fixture() {
    assert_eq!(problems_of(&fixture()), Vec::<Problem>::new());
}

fn s(text: &str) -> String {
    text.to_owned()
}

#[test]
fn checker_catches_each_broken_reference() {
    let inv = || s("Deployment/inventory");
    let order = || s("Deployment/order");
    // (what to replace, with what, the problem that must be reported, why)
    let cases: Vec<(&str, &str, Problem, &str)> = vec![
        (
            "selector: { app: inventory }",
            "selector: { app: inventroy }",
            Problem::SelectorMatchesNoPods {
                service: s("Service/inventory"),
            },
            "Service selector with a typo",
        ),
        (
            "port: 50051, targetPort: grpc-api",
            "port: 50051, targetPort: grpc",
            Problem::TargetPortNotOnPod {
                service: s("Service/inventory"),
                workload: inv(),
                target: s("grpc"),
            },
            "targetPort names no container port",
        ),
        (
            "port: 80, targetPort: 8080",
            "port: 80, targetPort: 8081",
            Problem::TargetPortNotOnPod {
                service: s("Service/order"),
                workload: order(),
                target: s("8081"),
            },
            "targetPort numbers no container port",
        ),
        (
            "http://inventory:50051",
            "http://inventroy:50051",
            Problem::UrlNotAService {
                workload: order(),
                var: s("TRACEWIRE_INVENTORY_URL"),
                url: s("http://inventroy:50051"),
            },
            "inventory URL names no Service",
        ),
        (
            "http://inventory:50051",
            "http://inventory:8080",
            Problem::UrlPortNotOnService {
                workload: order(),
                var: s("TRACEWIRE_INVENTORY_URL"),
                url: s("http://inventory:8080"),
            },
            "inventory URL on a port the Service lacks",
        ),
        (
            "\"nats://nats:4222\"",
            "\"nats://nats.obs:4222\"",
            Problem::UrlNotAService {
                workload: inv(),
                var: s("TRACEWIRE_BROKER"),
                url: s("nats://nats.obs:4222"),
            },
            "broker Service looked up in the wrong namespace",
        ),
        (
            "value: grpc }",
            "value: http/protobuf }",
            Problem::UrlProtocol {
                workload: inv(),
                var: s("OTEL_EXPORTER_OTLP_ENDPOINT"),
                url: s("http://collector.obs:4317"),
                expected: s("http"),
                found: s("grpc"),
            },
            "OTLP/HTTP sent to the collector's gRPC port",
        ),
        (
            "collector.obs.svc:4318",
            "collector.obs.svc:4317",
            Problem::UrlProtocol {
                workload: order(),
                var: s("OTEL_EXPORTER_OTLP_ENDPOINT"),
                url: s("http://collector.obs.svc:4317"),
                expected: s("http"),
                found: s("grpc"),
            },
            "default protocol (http/protobuf) to the gRPC port",
        ),
        (
            "\"0.0.0.0:50051\"",
            "\"0.0.0.0:50052\"",
            Problem::ListenPortNotContainerPort {
                workload: inv(),
                listen: s("0.0.0.0:50052"),
            },
            "--listen port differs from the container port",
        ),
        (
            "\"0.0.0.0:8080\"",
            "\"127.0.0.1:8080\"",
            Problem::ListenLoopback {
                workload: order(),
                listen: s("127.0.0.1:8080"),
            },
            "TRACEWIRE_LISTEN on loopback",
        ),
        (
            "TRACEWIRE_DB, value: /data",
            "TRACEWIRE_DATABASE, value: /data",
            Problem::UnknownEnv {
                workload: inv(),
                var: s("TRACEWIRE_DATABASE"),
            },
            "environment name tracewire does not read",
        ),
        (
            "--listen, \"0.0.0.0:50051\"",
            "--listen-on, \"0.0.0.0:50051\"",
            Problem::UnknownArg {
                workload: inv(),
                arg: s("--listen-on"),
            },
            "flag serve does not have",
        ),
        (
            "args: [serve, inventory",
            "args: [serve, stock",
            Problem::UnknownArg {
                workload: inv(),
                arg: s("stock"),
            },
            "service serve cannot run",
        ),
        (
            "args: [serve, order]",
            "args: [run, order]",
            Problem::UnknownArg {
                workload: order(),
                arg: s("run"),
            },
            "no such subcommand",
        ),
        (
            "\"nats://nats:4222\"",
            "memory",
            Problem::BrokerNotShared { workload: inv() },
            "in-process broker in a pod",
        ),
        (
            "- { name: TRACEWIRE_INVENTORY_URL, value: \"http://inventory:50051\" }",
            "",
            Problem::MissingSetting {
                workload: order(),
                var: s("TRACEWIRE_INVENTORY_URL"),
            },
            "order without inventory's address",
        ),
        (
            "path: /stock",
            "path: /healthz",
            Problem::ProbePath {
                workload: inv(),
                probe: s("readinessProbe"),
                path: s("/healthz"),
            },
            "probe on a route the service does not have",
        ),
        (
            "tcpSocket: { port: 50051 }",
            "tcpSocket: { port: 5051 }",
            Problem::ProbePort {
                workload: inv(),
                probe: s("livenessProbe"),
                port: s("5051"),
            },
            "probe on an undeclared port",
        ),
        (
            "claimName: inventory-data",
            "claimName: inventory-db",
            Problem::MissingObject {
                workload: inv(),
                kind: s("PersistentVolumeClaim"),
                name: s("inventory-db"),
            },
            "volume claims a PVC that does not exist",
        ),
        (
            "persistentVolumeClaim: { claimName: inventory-data }",
            "emptyDir: {}",
            Problem::DbNotPersistent {
                workload: inv(),
                db: s("/data/inventory.db"),
            },
            "database on a volume that dies with the pod",
        ),
        (
            "volumeMounts: [{ name: data, mountPath: /data }]",
            "volumeMounts: [{ name: state, mountPath: /data }]",
            Problem::UnknownVolume {
                workload: inv(),
                volume: s("state"),
            },
            "mount of a volume the pod does not have",
        ),
        (
            "providers: [{ name: otel }]",
            "providers: [{ name: otel-collector }]",
            Problem::UnknownTracingProvider {
                object: s("Telemetry/shop-tracing"),
                provider: s("otel-collector"),
            },
            "Telemetry names an undeclared provider",
        ),
        (
            "svc.cluster.local, port: 4317",
            "svc.cluster.local, port: 4318",
            Problem::ProviderTarget {
                provider: s("otel"),
                service: s("collector.obs.svc.cluster.local"),
                port: s("4318"),
            },
            "mesh provider sends OTLP/gRPC to the HTTP port",
        ),
        (
            "exporters: [debug]",
            "exporters: [otlp]",
            Problem::CollectorComponent {
                config_map: s("ConfigMap/collector-config"),
                pipeline: s("traces"),
                component: s("otlp"),
            },
            "collector pipeline uses an undefined exporter",
        ),
        (
            "\"0.0.0.0:4318\"",
            "\"0.0.0.0:4319\"",
            Problem::CollectorPort {
                config_map: s("ConfigMap/collector-config"),
                endpoint: s("0.0.0.0:4319"),
            },
            "collector receiver on an undeclared port",
        ),
        (
            "jetstream { store_dir: /data }",
            "",
            Problem::NatsConfig {
                config_map: s("ConfigMap/nats-config"),
                reason: s("JetStream is not enabled (no `jetstream { … }` block)"),
            },
            "NATS without JetStream",
        ),
        (
            "jetstream { store_dir: /data }",
            "jetstreams { store_dir: /data }",
            Problem::NatsConfig {
                config_map: s("ConfigMap/nats-config"),
                reason: s("JetStream is not enabled (no `jetstream { … }` block)"),
            },
            "a look-alike key does not enable JetStream",
        ),
        (
            "port: 4222\n",
            "port: 4223\n",
            Problem::NatsConfig {
                config_map: s("ConfigMap/nats-config"),
                reason: s("port: 4223 is not a container port"),
            },
            "NATS listens where the pod declares nothing",
        ),
        (
            "name: tcp-client, port: 4222",
            "name: client, port: 4222",
            Problem::PortProtocolUnknown {
                service: s("Service/nats"),
                port: s("client"),
            },
            "Service port Istio would have to sniff",
        ),
        (
            "{ name: inventory-data, namespace: shop }",
            "{ name: inventory-data, namespace: shopp }",
            Problem::UnknownNamespace {
                object: s("PersistentVolumeClaim/inventory-data"),
                namespace: s("shopp"),
            },
            "object in an undeclared namespace",
        ),
        (
            "name: grpc-api, containerPort",
            "name: grpc-inventory-api, containerPort",
            Problem::BadContainerPortName {
                workload: inv(),
                port: s("grpc-inventory-api"),
            },
            "container port name longer than 15 characters",
        ),
        (
            "livenessProbe: { tcpSocket: { port: http-api } }",
            "",
            Problem::Unhardened {
                workload: order(),
                container: s("order"),
                missing: s("livenessProbe"),
            },
            "container without a liveness probe",
        ),
    ];
    let valid = fixture();
    for (from, to, expected, why) in cases {
        assert_eq!(
            valid.matches(from).count(),
            1,
            "{why}: {from:?} must occur once"
        );
        let broken = valid.replacen(from, to, 1);
        let problems = problems_of(&broken);
        assert!(
            problems.contains(&expected),
            "{why}: expected {expected:?}, got {problems:#?}"
        );
    }
}

#[test]
fn unparsable_manifests_are_reported_with_their_file() {
    let err = parse("bad.yaml", "kind: Service\nmetadata: { name: x\n").unwrap_err();
    assert!(
        matches!(err, ParseError::Yaml { ref file, .. } if file == "bad.yaml"),
        "{err:?}"
    );
    let err = parse("nameless.yaml", "kind: Service\nspec: {}\n").unwrap_err();
    assert_eq!(
        err,
        ParseError::Incomplete {
            file: s("nameless.yaml"),
            document: 0
        }
    );
}
