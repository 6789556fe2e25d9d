/* A small .npy reader and writer for float32 arrays in C order (format
 * versions 1.0, 2.0 and 3.0). Malformed files are reported, never trusted:
 * the header is parsed strictly, the shape is checked for overflow and
 * against the bytes actually present before anything is allocated. */
#ifndef VECATTN_NPY_H
#define VECATTN_NPY_H

#include <stddef.h>
#include <stdint.h>

#define NPY_MAX_DIMS 8

typedef struct {
  int ndim;
  int64_t shape[NPY_MAX_DIMS];
  size_t count; /* product of shape (1 for a 0-d array) */
  float *data;  /* count floats, malloc'd */
} npy_array;

/* 0 on success; -1 with a one-line reason in err (always terminated). */
int npy_read(const char *path, npy_array *a, char *err, size_t errlen);
/* The same from a buffer holding a whole file. */
int npy_parse(const unsigned char *buf, size_t len, npy_array *a, char *err, size_t errlen);
/* Writes data (C order) as '<f4', format 1.0 (a header of <= 8 dims always fits). */
int npy_write(const char *path, const float *data, int ndim, const int64_t *shape, char *err, size_t errlen);
void npy_free(npy_array *a);

#endif
