//! The checker's fixture: a small valid manifest set (namespaces, NATS, inventory,
//! order, a collector and Istio) and what its `tracewire` understands, independent of
//! the real sources. Tests break one reference at a time and expect that problem.

use crate::facts::Facts;

/// What the fixture's `tracewire` understands (independent of the real sources).
pub(crate) fn fixture_facts() -> Facts {
    let set = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect();
    Facts {
        subcommands: set(&["demo", "serve", "view"]),
        services: set(&["order", "inventory", "payment"]),
        serve_flags: set(&[
            "--broker",
            "--db",
            "--listen",
            "--inventory-url",
            "--otlp-endpoint",
        ]),
        env: set(&[
            "TRACEWIRE_BROKER",
            "TRACEWIRE_DB",
            "TRACEWIRE_LISTEN",
            "TRACEWIRE_INVENTORY_URL",
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            "OTEL_RESOURCE_ATTRIBUTES",
        ]),
        fixed_routes: set(&["/stock"]),
    }
}

const HARDENED: &str = "resources: { requests: { cpu: 10m }, limits: { cpu: 100m } }
          securityContext: { runAsNonRoot: true, allowPrivilegeEscalation: false }";

/// A valid set: namespaces, NATS, inventory, order, a collector and Istio.
pub(crate) fn fixture() -> String {
    r#"
apiVersion: v1
kind: Namespace
metadata: { name: shop }
---
apiVersion: v1
kind: Namespace
metadata: { name: obs }
---
apiVersion: v1
kind: ConfigMap
metadata: { name: nats-config, namespace: shop }
data:
  nats.conf: |
    port: 4222
    http_port: 8222
    jetstream { store_dir: /data }
---
apiVersion: apps/v1
kind: StatefulSet
metadata: { name: nats, namespace: shop }
spec:
  serviceName: nats
  selector: { matchLabels: { app: nats } }
  template:
    metadata: { labels: { app: nats } }
    spec:
      containers:
        - name: nats
          image: nats:2.10-alpine
          ports: [{ name: tcp-client, containerPort: 4222 }, { name: http-monitor, containerPort: 8222 }]
          readinessProbe: { httpGet: { path: /healthz, port: http-monitor } }
          livenessProbe: { httpGet: { path: /healthz, port: http-monitor } }
          HARDENED
          volumeMounts: [{ name: config, mountPath: /etc/nats }, { name: data, mountPath: /data }]
      volumes: [{ name: config, configMap: { name: nats-config } }]
  volumeClaimTemplates: [{ metadata: { name: data } }]
---
apiVersion: v1
kind: Service
metadata: { name: nats, namespace: shop }
spec:
  selector: { app: nats }
  ports: [{ name: tcp-client, port: 4222, targetPort: tcp-client }]
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: { name: inventory-data, namespace: shop }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: inventory, namespace: shop }
spec:
  selector: { matchLabels: { app: inventory } }
  template:
    metadata: { labels: { app: inventory } }
    spec:
      containers:
        - name: inventory
          image: registry.example/team/tracewire:1.0
          args: [serve, inventory, --listen, "0.0.0.0:50051"]
          env:
            - { name: TRACEWIRE_DB, value: /data/inventory.db }
            - { name: TRACEWIRE_BROKER, value: "nats://nats:4222" }
            - { name: OTEL_EXPORTER_OTLP_ENDPOINT, value: "http://collector.obs:4317" }
            - { name: OTEL_EXPORTER_OTLP_PROTOCOL, value: grpc }
          ports: [{ name: grpc-api, containerPort: 50051 }]
          readinessProbe: { httpGet: { path: /stock, port: grpc-api } }
          livenessProbe: { tcpSocket: { port: 50051 } }
          HARDENED
          volumeMounts: [{ name: data, mountPath: /data }]
      volumes: [{ name: data, persistentVolumeClaim: { claimName: inventory-data } }]
---
apiVersion: v1
kind: Service
metadata: { name: inventory, namespace: shop }
spec:
  selector: { app: inventory }
  ports: [{ name: grpc-api, port: 50051, targetPort: grpc-api }]
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: order, namespace: shop }
spec:
  selector: { matchLabels: { app: order } }
  template:
    metadata: { labels: { app: order, version: v1 } }
    spec:
      containers:
        - name: order
          image: tracewire:latest
          args: [serve, order]
          env:
            - { name: TRACEWIRE_LISTEN, value: "0.0.0.0:8080" }
            - { name: TRACEWIRE_DB, value: /var/lib/tracewire/order.db }
            - { name: TRACEWIRE_BROKER, value: "nats://nats.shop.svc.cluster.local:4222" }
            - { name: TRACEWIRE_INVENTORY_URL, value: "http://inventory:50051" }
            - { name: OTEL_EXPORTER_OTLP_ENDPOINT, value: "http://collector.obs.svc:4318" }
            - name: POD_NAME
              valueFrom: { fieldRef: { fieldPath: metadata.name } }
            - { name: OTEL_RESOURCE_ATTRIBUTES, value: "k8s.pod.name=$(POD_NAME)" }
          ports: [{ name: http-api, containerPort: 8080 }]
          readinessProbe: { tcpSocket: { port: http-api } }
          livenessProbe: { tcpSocket: { port: http-api } }
          HARDENED
          volumeMounts: [{ name: data, mountPath: /var/lib/tracewire/ }]
      volumes: [{ name: data, persistentVolumeClaim: { claimName: order-data } }]
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: { name: order-data, namespace: shop }
---
apiVersion: v1
kind: Service
metadata: { name: order, namespace: shop }
spec:
  selector: { app: order }
  ports: [{ name: web, appProtocol: http, port: 80, targetPort: 8080 }]
---
apiVersion: v1
kind: ConfigMap
metadata: { name: collector-config, namespace: obs }
data:
  config.yaml: |
    receivers:
      otlp:
        protocols:
          grpc: { endpoint: "0.0.0.0:4317" }
          http: { endpoint: "0.0.0.0:4318" }
    processors: { batch: {} }
    exporters: { debug: {} }
    service:
      pipelines:
        traces: { receivers: [otlp], processors: [batch], exporters: [debug] }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: collector, namespace: obs }
spec:
  selector: { matchLabels: { app: collector } }
  template:
    metadata: { labels: { app: collector } }
    spec:
      containers:
        - name: collector
          image: otel/opentelemetry-collector-contrib:0.115.0
          ports: [{ name: otlp-grpc, containerPort: 4317 }, { name: otlp-http, containerPort: 4318 }]
          readinessProbe: { tcpSocket: { port: 4317 } }
          livenessProbe: { tcpSocket: { port: 4317 } }
          HARDENED
          volumeMounts: [{ name: config, mountPath: /conf }]
      volumes: [{ name: config, configMap: { name: collector-config } }]
---
apiVersion: v1
kind: Service
metadata: { name: collector, namespace: obs }
spec:
  selector: { app: collector }
  ports:
    - { name: grpc-otlp, port: 4317, targetPort: 4317 }
    - { name: http-otlp, port: 4318, targetPort: otlp-http }
---
apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
metadata: { name: mesh, namespace: istio-system }
spec:
  meshConfig:
    extensionProviders:
      - { name: otel, opentelemetry: { service: collector.obs.svc.cluster.local, port: 4317 } }
    defaultProviders: { tracing: [otel] }
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: { name: shop-tracing, namespace: shop }
spec:
  tracing:
    - providers: [{ name: otel }]
      randomSamplingPercentage: 100.0
"#
    .replace("HARDENED", HARDENED)
}
