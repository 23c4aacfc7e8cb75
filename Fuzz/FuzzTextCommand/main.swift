// libFuzzer target for the text mode: the typed-command parser (TypedCommand, shared with `parley connect`)
// and the server's terminal dialogue (username, password or new-user prompts, then commands), driven through a
// real hub with in-memory doubles (no sockets, no threads).
//
// Input layout: lines ("\n"-separated). Each line's first byte picks who types it: two text-mode clients, one
// logged-in JSON client, or a clock jump followed by the hub's sweep (idle logouts, lockout expiry). Oracles:
// parsed commands keep their shape (a user is one word, a text is never blank), every JSON reply parses and
// carries a type, and nothing traps or deadlocks. Build and run: see Fuzz/README.md.
import ChatCore
import ChatCoreTestSupport
import FuzzSupport

private func isWord(_ s: String) -> Bool {
    !s.isEmpty && !s.contains(" ") && !s.contains("\t")
}

private func isBlank(_ s: String) -> Bool {
    s.allSatisfy { $0 == " " || $0 == "\t" }
}

private func checkShape(_ command: TypedCommand) {
    switch command {
    case .server(.message(let to, let text)), .privateMessage(let to, let text):
        Fuzzer.check(isWord(to) && !isBlank(text), "message needs one-word user and non-blank text")
    case .server(.broadcast(let text)):
        Fuzzer.check(!isBlank(text), "broadcast text is blank")
    case .server(.whoelsesince(let seconds)):
        Fuzzer.check(seconds >= 0 && seconds <= Int(Int32.max), "whoelsesince out of range")
    case .server(.block(let user)), .server(.unblock(let user)), .server(.startprivate(let user)),
         .stopPrivate(let user):
        Fuzzer.check(isWord(user), "user must be one word")
    case .server(.whoelse), .server(.logout), .server(.rooms):
        break
    case .server(.join(let room)), .server(.leave(let room)), .server(.members(let room)):
        Fuzzer.check(isWord(room), "room must be one word")
    case .server(.say(let room, let text)):
        Fuzzer.check(isWord(room) && !isBlank(text), "say needs one-word room and non-blank text")
    case .server(.kick(let room, let user)), .server(.ban(let room, let user)), .server(.unban(let room, let user)):
        Fuzzer.check(isWord(room) && isWord(user), "moderation needs one-word room and user")
    case .server(let other):
        fatalError("typed command produced a request the prompt has no word for: \(other)")
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    let input = Array(UnsafeBufferPointer(start: data, count: size))

    let clock = ManualClock()
    let store = MemoryStore()
    let hasher = QueuedHasher()
    let output = RecordingOutput()
    let accounts = [("hans", "solo"), ("luke", "sky")].map {
        AccountRecord(name: $0.0, passwordHash: QueuedHasher.encode($0.1), createdAt: 0)
    }
    for account in accounts { store.perform([.createAccount(account)]) { _ in } }
    store.runPending()
    let snapshot = StoreSnapshot(accounts: accounts, blocks: [:], tokens: [], lastMessageID: 0)
    var configuration = HubConfiguration(blockDuration: 5_000, idleTimeout: 60_000)
    configuration.limits.limitLoopback = true
    let hub = ChatService(configuration: configuration, snapshot: snapshot, store: store, hasher: hasher,
                          output: output, clock: clock)
    func settle() {
        while hasher.backlog > 0 || store.queuedCount > 0 {
            hasher.runPending()
            store.runPending()
        }
    }
    let text = [ClientID(1), ClientID(2)]
    let json = ClientID(3)
    hub.connect(text[0], kind: .text, peerHost: "127.0.0.1")
    hub.connect(text[1], kind: .text, peerHost: "203.0.113.9")
    hub.connect(json, kind: .json, peerHost: "::1")
    hub.receive(Array(#"{"type":"login","user":"luke","password":"sky"}"#.utf8), from: json)
    settle()

    for line in input.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
        guard let selector = line.first else { continue }
        let body = line.dropFirst()
        switch selector % 4 {
        case 0, 1:
            if let command = TypedCommand.parse(String(decoding: body, as: UTF8.self)) { checkShape(command) }
            hub.receive(body, from: text[Int(selector % 4)])
        case 2:
            hub.receive(body, from: json)
        default:
            clock.advance(seconds: Double(selector >> 2))
            hub.sweep()
        }
        settle()
        for payload in output.take(json) {
            guard let value = try? JSONParser.parse(payload), value["type"]?.stringValue != nil else {
                fatalError("a JSON client got something that is not a typed JSON object")
            }
        }
        for client in text { _ = output.take(client) }
    }
    for client in text + [json] { hub.disconnected(client) }
    settle()
    return 0
}

Fuzzer.run(fuzzOne)
