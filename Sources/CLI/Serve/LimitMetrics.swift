import ChatCore
import Gateway

extension MetricsPage {
    /// `parley_limit_refusals_total{limit=…}`: every abuse limit of docs/SECURITY.md, hub and gateway, always
    /// present (zero included) so a dashboard can alert on any of them from the first scrape.
    static func limitRefusals(hub: HubMetrics, gateway: GatewayLimitCounters?) -> [(String, Int)] {
        let g = gateway ?? GatewayLimitCounters()
        return [
            ("messages", hub.rateLimitedMessages),
            ("login_ip", hub.loginsThrottledAddress),
            ("login_account", hub.loginsThrottledAccount),
            ("register_ip", hub.registrationsThrottled),
            ("connections_ip", g.refusedAddressFull),
            ("connect_rate_ip", g.refusedAddressRate),
            ("connections_server", g.refusedServerFull),
            ("prelogin_size", g.initialLimitExceeded),
        ]
    }
}
