#ifndef MULTIPROC_EXPORTER_BUILD_INFO_H
#define MULTIPROC_EXPORTER_BUILD_INFO_H

/* The version and git revision this binary was built with: functions rather than macros, so
   that only build_info.c sees the -D definitions (Package.swift) and a new version recompiles
   that one file. */

/** The version, e.g. "0.2.0-dev", "0.2.0~dev+git12.g1a2b3c4" or "0.2.0". */
const char *multiproc_exporter_build_version(void);

/** The full git commit the binary was built from, or "unknown". */
const char *multiproc_exporter_build_revision(void);

#endif
