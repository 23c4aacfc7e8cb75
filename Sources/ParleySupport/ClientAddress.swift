import Glibc

/// The rules about a client's numeric address that both the gateway (connections per address) and the hub
/// (login and registration limits per address) apply, so that both count the same client the same way.
///
/// Hosts are numeric: a dotted quad, or IPv6 text as `getnameinfo` or `inet_ntop` writes it.
public enum ClientAddress {
    /// True for 127.0.0.0/8, ::1 and IPv4-mapped loopback (::ffff:127.x.y.z): a proxy or a local script on the
    /// same machine, which per-address limits trust unless told otherwise.
    public static func isLoopback(_ host: String) -> Bool {
        host.hasPrefix("127.") || host == "::1" || host.lowercased().hasPrefix("::ffff:127.")
    }

    /// The key per-address limits count under: the IPv4 address (an IPv4-mapped IPv6 address counts as its IPv4
    /// form), or the /64 prefix of an IPv6 address, since one subscriber usually holds a whole /64 (Ergo keys
    /// IPv6 the same way). Text that is not an address is its own (lower-cased) key.
    public static func limitKey(_ host: String) -> String {
        let lower = host.lowercased()
        if lower.hasPrefix("::ffff:"), lower.contains(".") { return String(lower.dropFirst(7)) }
        guard lower.contains(":") else { return lower }
        var address = in6_addr()
        guard inet_pton(AF_INET6, lower, &address) == 1 else { return lower }
        let bytes = withUnsafeBytes(of: &address) { Array($0.prefix(8)) }
        var groups: [String] = []
        for index in stride(from: 0, to: 8, by: 2) {
            groups.append(String(UInt16(bytes[index]) << 8 | UInt16(bytes[index + 1]), radix: 16))
        }
        return groups.joined(separator: ":") + "::/64"
    }
}
