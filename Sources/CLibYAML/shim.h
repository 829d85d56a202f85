#ifndef MULTIPROC_EXPORTER_CLIBYAML_SHIM_H
#define MULTIPROC_EXPORTER_CLIBYAML_SHIM_H

/* Debian's libyaml (libyaml-dev, runtime libyaml-0-2): only its event parser is used, by
   ExporterHTTP's YAMLDocumentReader. yaml.h needs nothing before it but the C library. */
#include <stddef.h>
#include <yaml.h>

#endif
