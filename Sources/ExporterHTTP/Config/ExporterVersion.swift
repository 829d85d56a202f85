import CBuildInfo

/// The version and commit this build reports, in `--version`, on the landing page and in
/// `multiproc_exporter_build_info`.
///
/// Both are set when the binary is built (Package.swift reads `MULTIPROC_EXPORTER_VERSION`
/// and `MULTIPROC_EXPORTER_REVISION` from the environment; `make dist` sets them from git),
/// so that a binary found on a host says which commit it came from.
public enum ExporterVersion {
    /// The version: `0.2.0` from a release tag, `0.2.0~dev+git12.g1a2b3c4` from `make dist`
    /// between releases (a Debian version that sorts before `0.2.0`), `0.2.0-dev` from a plain
    /// `swift build`.
    public static let current = String(cString: multiproc_exporter_build_version())

    /// The full git commit the binary was built from, or `unknown` for a plain `swift build`.
    public static let revision = String(cString: multiproc_exporter_build_revision())
}
