/// Typed lines from text-mode clients, turned into the same requests JSON clients send.
/// Runs with the hub's `lock` held.
extension ChatService {
    func handleTextLine(_ line: String, _ session: Session) {
        guard var dialogue = session.dialogue else { return }
        defer { session.dialogue = dialogue }
        switch dialogue.phase {
        case .username:
            let user = line.trimmingSpaces()
            if user.isEmpty {
                write(Texts.usernamePrompt, to: session)
            } else if accounts[user] != nil {
                dialogue.phase = .password(user: user)
                write(Texts.passwordPrompt, to: session)
            } else if AccountRules.isValidUsername(user) {
                dialogue.phase = .newPassword(user: user)
                write(Texts.newUserPrompt, to: session)
            } else {
                write(Texts.invalidUser + "\n" + Texts.usernamePrompt, to: session)
            }
        case .password(let user):
            dialogue.phase = .waiting(user: user, isNew: false)
            let request = ClientRequest.login(user: user, credential: .password(line), peer: .none)
            let id = dialogue.track(request)
            session.dialogue = dialogue
            handle(request, re: id, session)
            dialogue = session.dialogue ?? dialogue
        case .newPassword(let user):
            dialogue.phase = .waiting(user: user, isNew: true)
            let request = ClientRequest.register(user: user, password: line, peer: .none)
            let id = dialogue.track(request)
            session.dialogue = dialogue
            handle(request, re: id, session)
            dialogue = session.dialogue ?? dialogue
        case .waiting, .finished:
            break  // typed ahead while a password is checked, or after the end: nothing to do with it
        case .commands:
            guard let command = TypedCommand.parse(line) else {
                return write(Texts.invalidCommand + "\n", to: session)
            }
            switch command {
            case .server(let request):
                let id = dialogue.track(request)
                session.dialogue = dialogue
                handle(request, re: id, session)
                dialogue = session.dialogue ?? dialogue
            case .privateMessage(let user, _):
                session.lastActivity = clock.now()
                write(Texts.privateNotEnabled(user) + "\n", to: session)
            case .stopPrivate(let user):
                session.lastActivity = clock.now()
                write(Texts.noPrivateSession(user) + "\n", to: session)
            }
        }
    }

    func write(_ text: String, to session: Session) {
        output.deliver(Array(text.utf8), to: [session.id])
    }
}

extension String {
    fileprivate func trimmingSpaces() -> String {
        String(drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed())
    }
}
