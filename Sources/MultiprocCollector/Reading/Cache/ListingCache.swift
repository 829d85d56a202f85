// MARK: - The directory listing, reused while the directory stands still

/// The metric files of the directory, listed again only when its mtime moved.
///
/// Listing thousands of names costs more than everything else a warm scrape does, and the
/// kernel bumps a directory's mtime on every create, unlink and rename in it. But mtimes tick
/// with the kernel's coarse clock, so a change made in the same tick as a listing could leave
/// the mtime unchanged: a listing is therefore kept only if it was started in a later tick
/// than the mtime it saw (the "racy git" rule), after which any change carries a later mtime.
struct ListingCache {
    /// The last listing and the directory version it is valid for.
    private var kept: (version: MetricDirectory.Version, files: [MetricDirectory.ListedFile])?
    /// Whether the last call returned the kept listing (nothing changed since it was made).
    private(set) var lastWasKept = false

    /// The metric files of `directory`, in `readdir` order; `version` is its version now.
    mutating func files(of directory: borrowing MetricDirectory, version: MetricDirectory.Version?) -> [MetricDirectory.ListedFile] {
        lastWasKept = false
        if let version, let kept, kept.version == version {
            lastWasKept = true
            return kept.files
        }
        let started = MetricDirectory.coarseNow()
        let files = directory.metricFiles()
        if let version, (version.mtimeSeconds, version.mtimeNanoseconds) < started {
            kept = (version, files)
        } else {
            kept = nil
        }
        return files
    }

    /// Forgets the listing (the directory could not be opened).
    mutating func forget() { kept = nil }
}
