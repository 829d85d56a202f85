import ArgumentParser
import ExporterHTTP
import MultiprocCollector
import Glibc

struct Push: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Read the directory once and push the merged metrics to a Prometheus Pushgateway (batch jobs).",
        discussion: """
            For batch jobs that use process pools and end before any scrape: run it after the \
            pool has finished. PUTs what `dump` prints (text format 0.0.4) to \
            <gateway>/metrics/job/<job>/<label>/<value>..., replacing that group, as \
            prometheus_client's push_to_gateway does. Connection failures, timeouts and 502/503/504 \
            answers are retried (--gateway.retries, with backoff); other refusals are not. \
            Exit status: 0 pushed, 1 the gateway refused the push (its message is printed), \
            2 bad flags, configuration or directory, 3 the gateway could not be reached.
            """)

    @Option(name: .customLong("gateway"), help: ArgumentHelp(
        "The Pushgateway: http://host:9091, https://host:9091/prefix, or host:port (http).", valueName: "url"))
    var gateway: String

    @Option(name: .customLong("job"), help: "The job label of the group to replace.")
    var job: String

    @Option(name: .customLong("grouping-key"), help: ArgumentHelp(
        "A further grouping label, name=value (repeatable), e.g. --grouping-key instance=$(hostname).", valueName: "name=value"))
    var groupingKey: [String] = []

    @Option(name: .customLong("gateway.config.file"), help: ArgumentHelp(
        "Credentials and TLS for the gateway connection: basic_auth, authorization and tls_config, as in Prometheus' HTTP client configuration (see the README, Push).",
        valueName: "file"))
    var gatewayConfigFile: String?

    @Option(name: .customLong("gateway.timeout"), help: ArgumentHelp("Time one attempt may take (e.g. 30s).", valueName: "duration"))
    var timeout = "30s"

    @Option(name: .customLong("gateway.retries"), help: ArgumentHelp(
        "Attempts after the first when the gateway cannot be reached or answers 502/503/504.", valueName: "n"))
    var retries = 3

    @OptionGroup var directory: DirectoryOption

    @OptionGroup var textfiles: TextfileOption

    func run() throws {
        var pusher: Pusher!
        try reportingFailures {
            pusher = try makePusher()
        }
        let outcome = try pushOnce(pusher)
        switch outcome {
        case .pushed(let status, let attempts):
            print("pushed to \(pusher.url) (\(status)\(attempts > 1 ? ", attempt \(attempts)" : ""))")
        case .refused(let status, let reason, let message, _):
            Output.stderr("multiproc-exporter: the Pushgateway refused the push to \(pusher.url): \(status) \(reason)\(message.isEmpty ? "" : ": " + message)\n")
            throw ExitCode(1)
        case .unreachable(let why, let attempts):
            Output.stderr("multiproc-exporter: cannot push to \(pusher.url) (\(attempts) attempt\(attempts == 1 ? "" : "s")): \(why)\n")
            throw ExitCode(3)
        }
    }

    private func makePusher() throws(CommandFailure) -> Pusher {
        do throws(ConfigurationError) {
            var settings = Pusher.Settings(gateway: try GatewayURL(parsing: gateway), grouping: try GroupingKey(job: job, pairs: groupingKey))
            if let gatewayConfigFile { settings.client = try GatewayClientConfig.load(path: gatewayConfigFile) }
            settings.timeout = try DurationParser.seconds(timeout)
            guard settings.timeout > 0 else { throw ConfigurationError("--gateway.timeout must be positive") }
            guard (0...20).contains(retries) else { throw ConfigurationError("--gateway.retries must be 0 to 20") }
            settings.retries = retries
            return try Pusher(settings)
        } catch {
            throw CommandFailure(error.description)
        }
    }

    /// Reads the directory (and textfiles) once, warns about what was left out, pushes.
    private func pushOnce(_ pusher: Pusher) throws -> Pusher.Outcome {
        var body: [UInt8] = []
        try reportingFailures {
            let snapshot = try directory.collector(options: textfiles.options()).collect()
            for problem in snapshot.problems { Output.stderr("multiproc-exporter: warning: \(problem)\n") }
            for problem in snapshot.textfiles?.problems ?? [] { Output.stderr("multiproc-exporter: warning: textfile \(problem)\n") }
            body = snapshot.body(.prometheusText004)
            if body.isEmpty { Output.stderr("multiproc-exporter: warning: no metrics: the push empties the group\n") }
        }
        return pusher.push(body) { attempt, why, pause in
            Output.stderr("multiproc-exporter: push attempt \(attempt) failed: \(why); retrying in \(format1(pause))s\n")
        }
    }

    private func format1(_ seconds: Double) -> String {
        let tenths = Int((seconds * 10).rounded())
        return "\(tenths / 10).\(tenths % 10)"
    }
}
