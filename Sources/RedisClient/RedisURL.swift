/// Where a Redis server is: `redis://host[:port][/db]`, the form Redis's own tools accept.
///
/// Passwords and TLS (`rediss://`) are refused with a clear error rather than ignored: the cluster runs Redis on
/// a private network, and a URL whose password would silently not be sent is worse than one that does not parse.
public struct RedisURL: Sendable, Hashable, CustomStringConvertible {
    public let host: String
    public let port: Int
    /// The logical database selected on the command connection (`SELECT`); pub/sub ignores it, as Redis does.
    public let database: Int

    public init(host: String, port: Int = 6379, database: Int = 0) {
        self.host = host
        self.port = port
        self.database = database
    }

    public init(parsing text: String) throws(RedisError) {
        let scheme = "redis://"
        guard text.hasPrefix(scheme) else {
            if text.hasPrefix("rediss://") { throw .invalidURL("\(text): TLS (rediss://) is not supported") }
            throw .invalidURL("\(text): expected redis://host[:port][/db]")
        }
        var rest = Substring(text.dropFirst(scheme.count))
        var database = 0
        if let slash = rest.firstIndex(of: "/") {
            let path = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
            if !path.isEmpty {
                guard let number = Int(path), number >= 0 else {
                    throw .invalidURL("\(text): the database must be a number 0 or more, not \"\(path)\"")
                }
                database = number
            }
        }
        if rest.contains("@") { throw .invalidURL("\(text): passwords in the URL are not supported") }
        if rest.contains("?") || rest.contains("#") { throw .invalidURL("\(text): query options are not supported") }
        var host = rest
        var port = 6379
        if host.hasPrefix("[") {
            // [IPv6]:port
            guard let close = host.firstIndex(of: "]") else { throw .invalidURL("\(text): unclosed [ in the host") }
            let after = host[host.index(after: close)...]
            host = host[host.index(after: host.startIndex)..<close]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw .invalidURL("\(text): expected :port after ]") }
                port = try Self.port(after.dropFirst(), in: text)
            }
        } else if let colon = host.lastIndex(of: ":") {
            port = try Self.port(host[host.index(after: colon)...], in: text)
            host = host[..<colon]
        }
        guard !host.isEmpty else { throw .invalidURL("\(text): the host is missing") }
        self.init(host: String(host), port: port, database: database)
    }

    private static func port(_ text: Substring, in url: String) throws(RedisError) -> Int {
        guard let port = Int(text), (1...65535).contains(port) else {
            throw .invalidURL("\(url): the port must be a number from 1 to 65535, not \"\(text)\"")
        }
        return port
    }

    public var description: String {
        let shownHost = host.contains(":") ? "[\(host)]" : host
        return "redis://\(shownHost):\(port)" + (database == 0 ? "" : "/\(database)")
    }
}
