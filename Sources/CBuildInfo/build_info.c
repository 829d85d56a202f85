#include "build_info.h"

#if !defined(MULTIPROC_EXPORTER_VERSION) || !defined(MULTIPROC_EXPORTER_REVISION)
#error "Package.swift defines MULTIPROC_EXPORTER_VERSION and MULTIPROC_EXPORTER_REVISION"
#endif

const char *multiproc_exporter_build_version(void) { return MULTIPROC_EXPORTER_VERSION; }

const char *multiproc_exporter_build_revision(void) { return MULTIPROC_EXPORTER_REVISION; }
