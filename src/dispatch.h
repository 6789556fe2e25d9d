/* The one piece of global state: which kernel table calls use. */
#ifndef VECATTN_DISPATCH_H
#define VECATTN_DISPATCH_H

#include "kernels.h"

/* The table in force now; never NULL. Each public call reads it once. */
const struct vecattn_kernels *dispatch_active(void);
/* The table for an ISA if compiled in and supported by CPU+OS, else NULL. */
const struct vecattn_kernels *dispatch_table(vecattn_isa isa);

#endif
