import ParleySupport

/// Where a Redis server is and who to be there: `redis://[[user]:password@]host[:port][/db]`, the form Redis's own
/// tools accept. The user name and password are percent-decoded; with them the client sends `AUTH` before anything
/// else on both of its connections (a password alone authenticates as Redis's `default` user).
///
/// TLS (`rediss://`) and query options are refused with a clear error rather than ignored: a URL whose part would
/// silently not be honoured is worse than one that does not parse.
public struct RedisURL: Sendable, Hashable, CustomStringConvertible {
    public let host: String
    public let port: Int
    /// The logical database selected on the command connection (`SELECT`); pub/sub ignores it, as Redis does.
    public let database: Int
    /// An ACL user (Redis 6 and later); nil for the `default` user.
    public let username: String?
    public let password: String?

    public init(host: String, port: Int = 6379, database: Int = 0, username: String? = nil, password: String? = nil) {
        self.host = host
        self.port = port
        self.database = database
        self.username = username
        self.password = password
    }

    public init(parsing text: String) throws(RedisError) {
        let scheme = "redis://"
        guard text.hasPrefix(scheme) else {
            if text.hasPrefix("rediss://") { throw .invalidURL("\(Self.withoutCredentials(text)): TLS (rediss://) is not supported") }
            throw .invalidURL("\(Self.withoutCredentials(text)): expected redis://[[user]:password@]host[:port][/db]")
        }
        // Errors name the URL without its credentials: they end up in logs and on terminals.
        let shown = Self.withoutCredentials(text)
        var rest = Substring(text.dropFirst(scheme.count))
        var username: String?
        var password: String?
        if let at = rest.lastIndex(of: "@") {
            let userinfo = rest[..<at]
            rest = rest[rest.index(after: at)...]
            let (user, secret) = userinfo.firstIndex(of: ":").map {
                (userinfo[..<$0], Optional(userinfo[userinfo.index(after: $0)...]))
            } ?? (userinfo, nil)
            guard let secret, !secret.isEmpty else {
                throw .invalidURL("\(shown): a user in the URL needs a password (redis://user:password@host)")
            }
            guard let decodedSecret = PercentDecoding.decoded(secret), let decodedUser = PercentDecoding.decoded(user) else {
                throw .invalidURL("\(shown): the user or password has a malformed %-escape")
            }
            username = decodedUser.isEmpty ? nil : decodedUser
            password = decodedSecret
        }
        var database = 0
        if let slash = rest.firstIndex(of: "/") {
            let path = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
            if !path.isEmpty {
                guard let number = Int(path), number >= 0 else {
                    throw .invalidURL("\(shown): the database must be a number 0 or more, not \"\(path)\"")
                }
                database = number
            }
        }
        if rest.contains("?") || rest.contains("#") { throw .invalidURL("\(shown): query options are not supported") }
        var host = rest
        var port = 6379
        if host.hasPrefix("[") {
            // [IPv6]:port
            guard let close = host.firstIndex(of: "]") else { throw .invalidURL("\(shown): unclosed [ in the host") }
            let after = host[host.index(after: close)...]
            host = host[host.index(after: host.startIndex)..<close]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw .invalidURL("\(shown): expected :port after ]") }
                port = try Self.port(after.dropFirst(), in: shown)
            }
        } else if let colon = host.lastIndex(of: ":") {
            port = try Self.port(host[host.index(after: colon)...], in: shown)
            host = host[..<colon]
        }
        guard !host.isEmpty else { throw .invalidURL("\(shown): the host is missing") }
        self.init(host: String(host), port: port, database: database, username: username, password: password)
    }

    /// The same server and database with `password` (and no user name) when this URL carries no password: a
    /// password kept out of the command line, where every local user could read it.
    public func withPassword(ifNoneGiven password: String?) -> RedisURL {
        guard self.password == nil, let password, !password.isEmpty else { return self }
        return RedisURL(host: host, port: port, database: database, password: password)
    }

    /// `AUTH` with what this URL carries, nil without a password.
    var authentication: [String]? {
        guard let password else { return nil }
        return ["AUTH"] + (username.map { [$0] } ?? []) + [password]
    }

    /// `text` with anything between the scheme and an `@` replaced, for messages.
    private static func withoutCredentials(_ text: String) -> String {
        guard let at = text.lastIndex(of: "@") else { return text }
        let scheme = text.hasPrefix("rediss://") ? "rediss://" : "redis://"
        guard text.hasPrefix(scheme) else { return "***" + String(text[at...]) }
        return scheme + "***" + String(text[at...])
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
