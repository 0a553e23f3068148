#include "tt/version.h"

#ifndef TT_VERSION
#define TT_VERSION "unknown"
#endif

#define TT_STR_(x) #x
#define TT_STR(x) TT_STR_(x)

const char *tt_version(void)
{
    return TT_VERSION;
}

const char *tt_version_compiler(void)
{
#if defined(__clang__)
    return "clang " __clang_version__;
#elif defined(__GNUC__)
    return "gcc " TT_STR(__GNUC__) "." TT_STR(__GNUC_MINOR__) "." TT_STR(__GNUC_PATCHLEVEL__);
#else
    return "an unknown C compiler";
#endif
}
