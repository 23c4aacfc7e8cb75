/// Accounts with their password hashes, and the bearer tokens handed out (by SHA-256 digest, never the token).
///
/// The store is the durable copy; this directory is what the hub reads while deciding, loaded from the store's
/// snapshot at start and changed by the hub only after (accounts) or alongside (tokens) the store write. A
/// PostgreSQL-backed cluster would keep it as a replica updated through the bus, so lookups stay synchronous.
protocol AccountDirectory: AnyObject {
    /// The encoded password hash of `user`, or nil if there is no such account.
    func passwordHash(of user: String) -> String?
    func addAccount(_ user: String, passwordHash: String)

    func token(digest: String) -> TokenRecord?
    func addToken(_ record: TokenRecord)
    /// Revokes a token; false if it was not there.
    func removeToken(digest: String) -> Bool
    /// Drops every token expired at `now`; returns how many went.
    func removeTokens(expiredAt now: Int64) -> Int
    /// Everything, as the store has it (a cluster node resyncing after it may have missed notices).
    func replaceAll(accounts: [AccountRecord], tokens: [TokenRecord])
}

extension AccountDirectory {
    func exists(_ user: String) -> Bool { passwordHash(of: user) != nil }

    /// The user a token stands for, if it is known and not yet expired.
    func user(forToken digest: String, now: Int64) -> String? {
        guard let record = token(digest: digest), record.expiresAt > now else { return nil }
        return record.user
    }
}

/// The single-node account directory.
final class LocalAccounts: AccountDirectory {
    private var hashes: [String: String] = [:]
    private var tokens: [String: TokenRecord] = [:]

    init(accounts: [AccountRecord] = [], tokens: [TokenRecord] = []) {
        for account in accounts { hashes[account.name] = account.passwordHash }
        for token in tokens { self.tokens[token.digest] = token }
    }

    func passwordHash(of user: String) -> String? { hashes[user] }

    func addAccount(_ user: String, passwordHash: String) { hashes[user] = passwordHash }

    func token(digest: String) -> TokenRecord? { tokens[digest] }

    func addToken(_ record: TokenRecord) { tokens[record.digest] = record }

    func removeToken(digest: String) -> Bool { tokens.removeValue(forKey: digest) != nil }

    func replaceAll(accounts: [AccountRecord], tokens: [TokenRecord]) {
        hashes = Dictionary(accounts.map { ($0.name, $0.passwordHash) }, uniquingKeysWith: { $1 })
        self.tokens = Dictionary(tokens.map { ($0.digest, $0) }, uniquingKeysWith: { $1 })
    }

    func removeTokens(expiredAt now: Int64) -> Int {
        let before = tokens.count
        tokens = tokens.filter { $0.value.expiresAt > now }
        return before - tokens.count
    }
}
