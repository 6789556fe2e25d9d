/* Renders one attention map (rows = queries, columns = keys, values in
 * [0, 1]) as an image: a viridis-like colour ramp, each weight drawn as a
 * square block of pixels so small maps stay readable. PNG when built with
 * libpng (VECATTN_HAVE_PNG), else binary PGM (grey levels). */
#ifndef VECATTN_HEATMAP_IMAGE_H
#define VECATTN_HEATMAP_IMAGE_H

#include <stdint.h>

/* ".png" or ".pgm": what heatmap_write produces in this build. */
const char *heatmap_extension(void);

/* Pixels per weight for an rows x cols map: small maps are upscaled to
 * about 256 pixels, large ones drawn 1:1. */
int heatmap_cell_size(int64_t rows, int64_t cols);

/* w[r * ld + c]; values are divided by vmax (> 0) before colouring. Returns 0,
 * or -1 with errno-style failure (message printed by the caller). */
int heatmap_write(const char *path, const float *w, int64_t rows, int64_t cols, int64_t ld, float vmax, int cell);

#endif
