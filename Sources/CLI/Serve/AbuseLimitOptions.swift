import ArgumentParser
import ChatCore
import Gateway

/// `--limit NAME=BURST/PERIOD` for `parley serve`: the abuse limits of docs/SECURITY.md, hub and gateway
/// together, so one option spells every rate the same way.
struct AbuseLimitOptions {
    var hub = AbuseLimits()
    var connectionRate: ConnectionRate? = GatewayConfiguration().connectionRatePerAddress

    /// The limit names, what each counts, and its default (for `--help`).
    static let summary = [
        "messages (per user, every door; 10/5s)",
        "login-ip (failed password attempts per address; 20/10m)",
        "login-account (failed password attempts per account; 10/1m)",
        "register-ip (accounts created per address; 5/10m)",
        "connect-ip (new connections per address; 20/5s)",
    ].joined(separator: ", ")

    init(_ specs: [String]) throws {
        for spec in specs {
            let parts = spec.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { throw ValidationError("--limit takes NAME=BURST/PERIOD or NAME=off: \(spec)") }
            let rate: RateLimit?
            if parts[1] == "off" {
                rate = nil
            } else if let parsed = RateLimit(parsing: parts[1]) {
                rate = parsed
            } else {
                throw ValidationError("--limit \(parts[0]): \(parts[1]) is not BURST/PERIOD (e.g. 10/5s, 20/10m) or off")
            }
            switch parts[0] {
            case "messages": hub.messages = rate
            case "login-ip": hub.loginAttemptsPerAddress = rate
            case "login-account": hub.loginAttemptsPerAccount = rate
            case "register-ip": hub.registrationsPerAddress = rate
            case "connect-ip": connectionRate = rate.map { ConnectionRate(burst: $0.burst, per: .milliseconds($0.period)) }
            default: throw ValidationError("--limit: unknown name \(parts[0]); known: \(Self.summary)")
            }
        }
    }
}
