#ifndef PARLEY_CLIBPQ_SHIM_H
#define PARLEY_CLIBPQ_SHIM_H
// libpq: the PostgreSQL store of a cluster node (docs/SCALING.md), driven from the store's own writer thread.
#include <libpq-fe.h>
#endif
