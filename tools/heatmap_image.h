/* Renders one attention map (rows = queries, columns = keys, values in
 * [0, vmax]) as a figure: the map (each weight a square block of pixels, so
 * small maps stay readable) with query and key index axes, a colour bar with
 * its scale, and a title. Viridis-like colour ramp. PNG when built with
 * libpng (VECATTN_HAVE_PNG), else binary PGM (grey levels). */
#ifndef VECATTN_HEATMAP_IMAGE_H
#define VECATTN_HEATMAP_IMAGE_H

#include <stdint.h>

/* ".png" or ".pgm": what heatmap_write produces in this build. */
const char *heatmap_extension(void);

/* Pixels per weight along an axis of n entries: short axes are upscaled to
 * about 256 pixels, long ones drawn 1:1. Each axis on its own, so a map of 40
 * queries x 100 keys is not left 80 pixels tall. */
int heatmap_cell_size(int64_t n);

typedef struct {
  const char *title;    /* first line, e.g. which head */
  const char *subtitle; /* second line (the masks), or NULL */
} heatmap_labels;

/* w[r * ld + c]; values are divided by vmax (> 0) before colouring, and the
 * colour bar is labelled 0 .. vmax. Returns 0, or -1 on failure (message
 * printed by the caller). */
int heatmap_write(const char *path, const float *w, int64_t rows, int64_t cols, int64_t ld, float vmax, int cell_w,
                  int cell_h, const heatmap_labels *labels);

/* Tick spacing in indices for an axis of n entries drawn `cell` pixels each,
 * so that labels `label_px` wide (plus a gap) never touch: 1, 2, 5, 10, ... */
int64_t heatmap_tick_step(int64_t n, int cell, int label_px);

#endif
