/* The attention driver behind vecattn_sdpa, for entry points that build their
 * own validated problem (vecattn_attend's projected or additive scores). */
#ifndef VECATTN_SDPA_H
#define VECATTN_SDPA_H

#include "kernels.h"
#include "problem.h"

/* Runs a validated problem with one kernel table: tiles on OpenMP threads,
 * keys split for decode; writes p->out (and p->lse). */
vecattn_status sdpa_run(const attn_problem *p, const struct vecattn_kernels *kern);

#endif
