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
        return out
    }
}
