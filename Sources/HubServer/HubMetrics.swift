public import Prometheus

/// The hub's Prometheus metrics (`GET /metrics`), in a registry of its own so that every
/// hub instance, in production or in a test, counts for itself.
public final class HubMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()

    public init() {}

    private static func name(_ metric: String, unit: String, help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "wirsync", subsystem: "hub", metricName: metric, unitName: unit, helpText: help)
    }

    private static var requests: MetricNameDescriptor { name("requests", unit: "total", help: "HTTP requests by route, method and status") }
    private static var applied: MetricNameDescriptor { name("changes_applied", unit: "total", help: "Changes merged into the hub") }
    private static var refused: MetricNameDescriptor { name("changes_refused", unit: "total", help: "Changes refused (scope, constraints)") }
    private static var conflicts: MetricNameDescriptor { name("conflicts_recorded", unit: "total", help: "Conflict records written") }
    private static var lastSync: MetricNameDescriptor { name("last_sync_timestamp", unit: "seconds", help: "Unix time of each centre's last push or pull") }

    func request(route: String, method: String, status: Int) {
        registry.makeCounter(descriptor: Self.requests, labels: [("route", route), ("method", method), ("status", String(status))])
            .increment()
    }

    func pushed(applied: Int, refused: Int, conflicts: Int) {
        registry.makeCounter(descriptor: Self.applied).increment(by: Int64(applied))
        registry.makeCounter(descriptor: Self.refused).increment(by: Int64(refused))
        registry.makeCounter(descriptor: Self.conflicts).increment(by: Int64(conflicts))
    }

    func synced(node: String, atMillis: Int64) {
        registry.makeGauge(descriptor: Self.lastSync, labels: [("centre", node)]).set(Double(atMillis) / 1000)
    }

    /// The metrics in Prometheus text format.
    public func text() -> [UInt8] { registry.emitToBuffer() }
}
