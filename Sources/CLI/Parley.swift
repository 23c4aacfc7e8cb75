import ArgumentParser

/// `parley`: the chat server (`serve`), its terminal client (`connect`) and its load tool.
@main
struct Parley: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parley",
        abstract: "A self-hosted chat server and its terminal client.",
        subcommands: [ServeCommand.self, ConnectCommand.self, BenchCommand.self, MigrateCommand.self]
    )
}
