import Gateway

/// The gateway's output counters in the Prometheus text format, appended to `/metrics`: they explain throughput
/// and latency. Frames per write syscall is the batching health number: near 1 at light load (each delivery is its
/// own write), rising under load as several frames queued for one connection leave in one gather write.
enum OutputMetricsPage {
    static func render(_ stats: GatewayOutputStatistics) -> String {
        var out = ""
        func metric(_ name: String, _ type: String, _ help: String, _ value: String) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n\(name) \(value)\n"
        }
        metric("parley_frames_written_total", "counter",
               "Messages written completely to sockets: WebSocket frames, JSON or text lines, HTTP responses.",
               String(stats.framesWritten))
        metric("parley_write_syscalls_total", "counter",
               "Gather writes (sendmsg) made, including those the kernel refused for a full buffer.",
               String(stats.writeCalls))
        metric("parley_frames_per_write_syscall", "gauge",
               "frames_written_total / write_syscalls_total since start: how well output is batched per connection.",
               stats.writeCalls > 0 ? String(Double(stats.framesWritten) / Double(stats.writeCalls)) : "0")
        metric("parley_written_bytes_total", "counter", "Bytes the kernel accepted from the gateway.",
               String(stats.bytesWritten))
        metric("parley_output_queued_bytes", "gauge", "Bytes waiting in connections' output queues now.",
               String(stats.queuedBytes))
        metric("parley_output_queue_high_water_bytes", "gauge",
               "The most bytes any one connection has had queued since start (the slow-consumer limit caps it).",
               String(stats.queueHighWaterBytes))
        if let tls = stats.tls { out += renderTLS(tls) }
        return out
    }

    /// Present only when TLS is on: handshakes by outcome (one labelled counter, every outcome always listed),
    /// TLS connections open, and certificate reloads.
    static func renderTLS(_ tls: GatewayTLSStatistics) -> String {
        var out = "# HELP parley_tls_handshakes_total TLS handshakes by outcome: completed, failed (bad records, "
            + "no shared protocol or cipher, peer gone), timed_out (not done by the head deadline), "
            + "plaintext_refused (plaintext while --require-tls).\n# TYPE parley_tls_handshakes_total counter\n"
        for (outcome, value) in [("completed", tls.handshakesCompleted), ("failed", tls.handshakesFailed),
                                 ("timed_out", tls.handshakesTimedOut), ("plaintext_refused", tls.plaintextRefused)] {
            out += "parley_tls_handshakes_total{outcome=\"\(outcome)\"} \(value)\n"
        }
        out += "# HELP parley_tls_connections_open TLS connections open now (handshaking or established).\n"
            + "# TYPE parley_tls_connections_open gauge\nparley_tls_connections_open \(tls.connectionsOpen)\n"
        out += "# HELP parley_tls_certificate_reloads_total Certificate and key reloads (SIGHUP) that succeeded.\n"
            + "# TYPE parley_tls_certificate_reloads_total counter\nparley_tls_certificate_reloads_total \(tls.reloads)\n"
        return out
    }
}
