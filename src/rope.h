/* Rotary position embeddings, half-split layout (GPT-NeoX, Llama): within each
 * head vector, element i pairs with element i + head_dim/2 and the pair turns
 * by pos * theta^(-2i/head_dim). */
#ifndef VECATTN_ROPE_H
#define VECATTN_ROPE_H

#include <stdint.h>

#include "vecattn.h"

#include <math.h>

/* What one angle (pow, cos and sin in double, scalar: 28 ns on the 2-core
 * EPYC VM) costs in the vector FLOPs threads.c weighs work in (~100 GFLOP/s). */
#define ROPE_ANGLE_FLOPS 3000.0

/* The angle pair i of a head turns by at position pos, formed in double. */
static inline double rope_angle(double pos, int64_t i, int64_t head_dim, double theta) {
  return pos * pow(theta, -2.0 * (double)i / (double)head_dim);
}

/* cos/sin of every (position, pair) for positions [pos0, pos0 + seq): [seq][head_dim/2] each. */
typedef struct {
  float *cos, *sin;
  int64_t seq, half;
} rope_table;

/* VECATTN_ENOMEM or VECATTN_OK. head_dim is even; theta > 0. */
vecattn_status rope_table_init(rope_table *t, int64_t pos0, int64_t seq, int64_t head_dim, double theta,
                               int num_threads);
void rope_table_free(rope_table *t);

/* Rotates x[b * ld_b + s * ld_s + h * head_dim + (0 .. head_dim)] in place for
 * b < batch, s < t->seq, h < heads; token s sits at position pos0 + s. */
void rope_apply(const rope_table *t, float *x, int64_t batch, int64_t ld_b, int64_t ld_s, int64_t heads,
                int num_threads);

/* Token t of each target (n_tokens rows of `heads` head vectors, row t at
 * x + t * ld) turns by positions[t] (validated, >= 0): each angle is formed
 * once per token and pair, for every target (the layer's queries and keys). */
typedef struct {
  float *x;
  int64_t ld, heads;
} rope_target;
void rope_positions_apply(const rope_target *targets, int n_targets, int64_t n_tokens, int64_t head_dim,
                          const int64_t *positions, double theta, int num_threads);

#endif
