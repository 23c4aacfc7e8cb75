#ifndef PARLEY_CLLHTTP_SHIM_H
#define PARLEY_CLLHTTP_SHIM_H
// llhttp is built from Debian's node-llhttp sources by scripts/bootstrap (see llhttp.pc).
#include <llhttp.h>
#endif
