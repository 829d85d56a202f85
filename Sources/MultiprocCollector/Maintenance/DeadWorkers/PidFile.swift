// MARK: - One metric file, as the dead-worker rule sees it

/// One metric file of a pid, as ``DeadWorkerRule`` sees it.
public struct PidFile: Sendable, Equatable {
    /// The file name (`gauge_livesum_123.db`).
    public var name: String
    /// A `gauge_live*` file: what mark-dead removes.
    public var isLiveGauge: Bool
    /// Device and inode, to find the file in `/proc/<pid>/maps`.
    public var identity: DeviceInode
    /// The file's owner: the user its writer ran as.
    public var owner: UInt32
    /// Boot-clock seconds by which the file certainly existed (see ``DeadWorkerFinder``).
    public var bornBy: Double

    /// A file from its facts.
    public init(name: String, isLiveGauge: Bool, identity: DeviceInode, owner: UInt32, bornBy: Double) {
        self.name = name
        self.isLiveGauge = isLiveGauge
        self.identity = identity
        self.owner = owner
        self.bornBy = bornBy
    }

    /// A file from its status: `firstSeen` is when a listing first showed it and `now` the
    /// time now (boot-clock seconds). It existed by its creation (birth time where the file
    /// system records one, else its last status change) plus ``BootClock/margin(age:)``, and
    /// certainly when it was first seen, which needs no clock conversion.
    init(name: String, parsed: MetricFileName, status: FileStatus, firstSeen: Double, now: Double, clock: BootClock) {
        let created = clock.bootTime(ofWallTime: status.birth ?? status.statusChange)
        self.init(name: name, isLiveGauge: parsed.gaugeMode?.isLive == true, identity: status.identity,
                  owner: status.owner, bornBy: min(firstSeen, created + BootClock.margin(age: now - created)))
    }
}
