//! Checks of one container: hardening, probes, and the `tracewire serve` command line
//! (flags, listen address, URLs to other Services, where the database lives).

use yaml_rust2::Yaml;

use super::{Checker, Problem};
use crate::model::{
    PortRef, Url, Workload, container_has_port, image_name, list, port_protocol, scalar,
    service_host,
};

impl Checker<'_> {
    pub(super) fn hardening(&mut self, workload: Workload<'_>, container: &Yaml) {
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

    pub(super) fn probes(&mut self, workload: Workload<'_>, container: &Yaml) {
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
    pub(super) fn tracewire(&mut self, workload: Workload<'_>, container: &Yaml) {
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
