/// Typed lines from text-mode clients: the session's dialogue decides what a line means, and the hub carries it
/// out through the same dispatch JSON clients use. Runs with the hub's lock held.
extension ChatService {
    func handleTextLine(_ line: String, _ session: Session) {
        guard let action = session.dialogue?.interpret(line, accountExists: { accounts.exists($0) }) else { return }
        switch action {
        case .write(let text):
            write(text, to: session)
        case .send(let request, let id):
            handle(request, re: id, session)
        case .answer(let text):
            session.lastActivity = clock.now()
            write(text, to: session)
        case .none:
            break
        }
    }
}
