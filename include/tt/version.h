/*
 * version.h - which engine this is. The version string has one source: the Makefile's
 * VERSION, compiled into src/core/version.c as TT_VERSION (and nowhere else, so changing it
 * rebuilds one file).
 */
#ifndef TT_VERSION_H
#define TT_VERSION_H

/* "0.9.0", as given to the build ("unknown" for a build without the Makefile's flag). */
const char *tt_version(void);

/* How this binary was built: the compiler and its version, e.g. "gcc 12.2.0". */
const char *tt_version_compiler(void);

#endif
