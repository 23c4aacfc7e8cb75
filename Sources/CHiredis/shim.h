#ifndef PARLEY_CHIREDIS_SHIM_H
#define PARLEY_CHIREDIS_SHIM_H
// hiredis: the bus and presence of a cluster node (docs/SCALING.md). The async API, driven by a loop of our own.
#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#endif
