/// What one run was asked to do (the command line, checked).
struct BenchPlan {
    var host: String
    var port: Int
    var webSocket: Bool
    var path: String
    var clients: Int
    var senders: Int
    var rate: Double
    var directFraction: Double
    var size: Int
    var duration: Double
    var warmup: Double
    var userPrefix: String
    var password: String
    var users: Int
    var loginRate: Double
    var stalled: Int
    var inflight: Int
    var connectTimeout: Double
    /// TLS on every connection (nil: plaintext).
    var tls: TLSClientContext? = nil
    /// Every client joins this room after login and the senders say their messages in it (nil: broadcasts).
    var room: String? = nil
}

/// What a run measured.
struct BenchReport {
    var clientsOnline = 0
    var clientsFailed = 0
    var connectSeconds = 0.0
    var window = 0.0
    /// CPU seconds the tool itself used over the window.
    var driverCPU = 0.0
    var broadcastsSent = 0
    var directsSent = 0
    /// With a room: the messages said in it (each to every other member).
    var saysSent = 0
    /// With a room: clients logged in whose join was refused (they are left out of the run).
    var joinsFailed = 0
    /// The error code of the first refused join.
    var firstJoinFailure: String?
    var acknowledged = 0
    var errors: [String: Int] = [:]
    var deliveries = 0
    var expected = 0
    var latency = LatencyHistogram()
    var loginsOffered = 0
    var loginsServed = 0
    var loginsBusy = 0
    var loginsFailed = 0
    var loginsSkipped = 0
    var loginLatency = LatencyHistogram()
    var stalledOnline = 0
    var stalledDisconnected = 0
    var tlsHandshakesFailed = 0
    /// Why the first TLS handshake failed, for the user to read.
    var firstTLSFailure: String?
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
