import Gateway
import XCTest
@testable import ChatCore
@testable import CLI

/// `/metrics`: the Prometheus text format, hub counters, doors and the REST latency histogram.
final class RESTMetricsTests: XCTestCase {
    func testMetricsExposeHubCountersDoorsAndLatency() throws {
        let h = RESTHarness()
        h.doors.opened(ConnectionID(rawValue: 1), kind: .jsonLines)
        h.doors.opened(ConnectionID(rawValue: 2), kind: .textLines)
        h.doors.opened(ConnectionID(rawValue: 3), kind: .webSocket)
        h.doors.opened(ConnectionID(rawValue: 4), kind: .webSocket)
        h.doors.closed(ConnectionID(rawValue: 4), reason: .slowConsumer)
        let luke = h.socketLogin("luke", "jedi")
        _ = luke
        let hans = h.bearer("hans", "falcon*solo")
        h.call(.post, "/api/login", json: #"{"user":"yoda","password":"bad"}"#)
        h.call(.post, "/api/messages", headers: hans, json: #"{"to":"luke","text":"hi"}"#)
        h.call(.post, "/api/messages", headers: hans, json: #"{"to":"yoda","text":"later"}"#)
        h.call(.post, "/api/broadcasts", headers: hans, json: #"{"text":"all"}"#)

        let response = try XCTUnwrap(h.call(.get, "/metrics"))
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(response.headers["Content-Type"], "text/plain; version=0.0.4; charset=utf-8")
        let text = String(decoding: response.body, as: UTF8.self)
        let samples = Self.samples(text)
        XCTAssertEqual(samples[#"parley_connections_open{door="tcp"}"#], 1)
        XCTAssertEqual(samples[#"parley_connections_open{door="text"}"#], 1)
        XCTAssertEqual(samples[#"parley_connections_open{door="ws"}"#], 1)
        XCTAssertEqual(samples[#"parley_connections_open{door="http"}"#], 7)
        XCTAssertEqual(samples["parley_slow_consumer_disconnects_total"], 1)
        XCTAssertEqual(samples[#"parley_logins_total{outcome="success"}"#], 2)   // luke's socket login, hans's token
        XCTAssertEqual(samples[#"parley_logins_total{outcome="bad_password"}"#], 1)
        XCTAssertEqual(samples["parley_messages_total"], 2)
        XCTAssertEqual(samples["parley_broadcasts_total"], 1)
        XCTAssertEqual(samples["parley_deliveries_total"], 2)
        XCTAssertEqual(samples["parley_offline_stored_total"], 1)
        XCTAssertEqual(samples["parley_online_users"], 1)
        XCTAssertNotNil(samples["parley_lockouts_total"])
        XCTAssertNotNil(samples["parley_offline_delivered_total"])
        XCTAssertEqual(samples[#"parley_http_requests_total{route="/api/messages",code="201"}"#], 2)
        XCTAssertEqual(samples[#"parley_http_requests_total{route="/api/login",code="401"}"#], 1)
        XCTAssertEqual(samples[#"parley_http_request_duration_seconds_count{route="/api/messages"}"#], 2)
        XCTAssertEqual(samples[#"parley_http_request_duration_seconds_bucket{route="/api/messages",le="+Inf"}"#], 2)
        // Every sample line belongs to a family announced with HELP and TYPE.
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let name = line.prefix { $0 != "{" && $0 != " " }
            let family = ["_bucket", "_sum", "_count"].reduce(String(name)) { name, suffix in
                name.hasPrefix("parley_http_request_duration") && name.hasSuffix(suffix)
                    ? String(name.dropLast(suffix.count)) : name
            }
            XCTAssertTrue(text.contains("# TYPE \(family) "), "TYPE for \(name)")
        }
    }

    func testHistogramBucketsAreCumulative() {
        let metrics = RESTMetrics()
        for seconds in [0.0001, 0.0007, 0.003, 0.003, 7.0] {
            metrics.observe(route: "/x", status: 200, seconds: seconds)
        }
        let text = MetricsPage.render(hub: HubMetrics(), doors: ([:], 0), openSockets: nil, rest: metrics.snapshot())
        let samples = Self.samples(text)
        XCTAssertEqual(samples[#"parley_http_request_duration_seconds_bucket{route="/x",le="0.0005"}"#], 1)
        XCTAssertEqual(samples[#"parley_http_request_duration_seconds_bucket{route="/x",le="0.001"}"#], 2)
        XCTAssertEqual(samples[#"parley_http_request_duration_seconds_bucket{route="/x",le="0.005"}"#], 4)
        XCTAssertEqual(samples[#"parley_http_request_duration_seconds_bucket{route="/x",le="5.0"}"#], 4)
        XCTAssertEqual(samples[#"parley_http_request_duration_seconds_bucket{route="/x",le="+Inf"}"#], 5)
        XCTAssertEqual(samples[#"parley_http_request_duration_seconds_count{route="/x"}"#], 5)
        XCTAssertEqual(samples[#"parley_http_request_duration_seconds_sum{route="/x"}"#] ?? 0, 7.0068, accuracy: 1e-9)
        XCTAssertNil(samples[#"parley_connections_open{door="http"}"#], "left out until the gateway reports it")
    }

    func testUnknownPathsShareOneLabel() {
        let h = RESTHarness()
        h.call(.get, "/api/secret-name-1")
        h.call(.get, "/api/secret-name-2")
        let text = h.router.renderMetrics()
        XCTAssertFalse(text.contains("secret-name"))
        XCTAssertEqual(Self.samples(text)[#"parley_http_requests_total{route="unknown",code="404"}"#], 2)
    }

    /// `name{labels} value` lines as a dictionary.
    static func samples(_ text: String) -> [String: Double] {
        var out: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " ") else { continue }
            out[String(line[..<space])] = Double(line[line.index(after: space)...])
        }
        return out
    }
}
