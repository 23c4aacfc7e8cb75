#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `credentials.txt`: one `username password` per line, a single space between (docs/PROTOCOL.md §1.1).
///
/// It is an import source only (accounts live in the store), plus an optional append target for operators who
/// want new accounts to show up in it. Problems name the line number and the reason, never the line's text:
/// a malformed line may well be someone's password.
public enum CredentialsFile {
    /// One usable line.
    struct Entry: Equatable {
        var user: String
        var password: String
        /// 1-based.
        var line: Int
    }

    /// Parses `username password` lines (single space; names/passwords case-sensitive, charset of
    /// docs/PROTOCOL.md §3). Bad lines are reported (line number) and skipped, never fatal.
    ///
    /// Blank lines are skipped silently; CRLF line ends and a leading byte-order mark are accepted. A user listed
    /// twice gets the later line's password (a line appended later is a newer intent) and the earlier line is
    /// reported. Entries keep the order of each user's first line.
    public static func parse(_ text: String) -> (entries: [(user: String, password: String)], problems: [String]) {
        let (entries, problems) = parseLines(text)
        return (entries.map { ($0.user, $0.password) }, problems)
    }

    /// `parse` with the line number of each entry (the import uses it to process only appended lines).
    static func parseLines(_ text: String) -> (entries: [Entry], problems: [String]) {
        var entries: [Entry] = []
        var indexByUser: [String: Int] = [:]
        var problems: [String] = []
        var body = Substring(text)
        if body.first == "\u{FEFF}" { body = body.dropFirst() }
        // Split on "\n" bytes, not Characters: Swift treats "\r\n" as one Character, and line numbers must match
        // what an editor shows.
        let lines = body.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        for (offset, raw) in lines.enumerated() {
            let number = offset + 1
            var bytes = raw[...]
            if bytes.last == UInt8(ascii: "\r") { bytes = bytes.dropLast() }
            if bytes.isEmpty { continue }
            guard let space = bytes.firstIndex(of: UInt8(ascii: " ")) else {
                problems.append("line \(number): expected 'username password' separated by one space")
                continue
            }
            let user = String(decoding: bytes[..<space], as: UTF8.self)
            let password = String(decoding: bytes[bytes.index(after: space)...], as: UTF8.self)
            guard AccountRules.isValidUsername(user) else {
                problems.append("line \(number): the username is not 1–\(AccountRules.maxUsernameLength) allowed characters")
                continue
            }
            guard AccountRules.isValidPassword(password) else {
                problems.append("line \(number): the password for \(user) is not 1–\(AccountRules.maxPasswordLength) allowed characters (no spaces)")
                continue
            }
            let entry = Entry(user: user, password: password, line: number)
            if let index = indexByUser[user] {
                problems.append("line \(entries[index].line): \(user) is listed again on line \(number); the later line wins")
                entries[index] = entry
            } else {
                indexByUser[user] = entries.count
                entries.append(entry)
            }
        }
        return (entries, problems)
    }

    /// Appends `user password` as a new line (creating the file, owner-only, if missing). Adds a line break
    /// first if the file does not end with one, so a hand-edited last line is never glued to the new one.
    /// - Throws: `CredentialsFileError` for an invalid name or password (it would not parse back) or an I/O failure.
    public static func append(user: String, password: String, to path: String) throws {
        guard AccountRules.isValidUsername(user), AccountRules.isValidPassword(password) else {
            throw CredentialsFileError.invalidEntry
        }
        // O_APPEND makes each write land at the end even if another process appends too.
        let fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw CredentialsFileError.io("open", errno) }
        defer { close(fd) }
        var line = Array("\(user) \(password)\n".utf8)
        if try !endsWithNewline(fd) { line.insert(UInt8(ascii: "\n"), at: 0) }
        var written = 0
        while written < line.count {
            let n = line.withUnsafeBytes { write(fd, $0.baseAddress! + written, line.count - written) }
            if n < 0 {
                if errno == EINTR { continue }
                throw CredentialsFileError.io("write", errno)
            }
            written += n
        }
    }

    /// True for an empty file or one whose last byte is "\n".
    private static func endsWithNewline(_ fd: Int32) throws -> Bool {
        let size = lseek(fd, 0, SEEK_END)
        guard size > 0 else { return true }
        var last: UInt8 = 0
        let n = pread(fd, &last, 1, size - 1)
        guard n == 1 else { throw CredentialsFileError.io("read", errno) }
        return last == UInt8(ascii: "\n")
    }
}

/// Why the credentials file could not be written or read.
public enum CredentialsFileError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The name or password breaks `AccountRules`, so the line would not parse back.
    case invalidEntry
    /// A system call failed with this errno.
    case io(String, Int32)

    public var description: String {
        switch self {
        case .invalidEntry: "the username or password has characters a credentials line cannot hold"
        case .io(let call, let code): "\(call) failed: \(String(cString: strerror(code)))"
        }
    }
}
