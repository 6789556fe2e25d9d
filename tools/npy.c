#include "npy.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "npy.c reads and writes '<f4' by memcpy: little-endian hosts only"
#endif

static const unsigned char MAGIC[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};

static int fail(char *err, size_t errlen, const char *fmt, ...) {
  if (errlen) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
  }
  return -1;
}

/* ---- the header: a Python dict literal with exactly three keys ---- */
typedef struct {
  const char *p, *end;
} cursor;

static void skip_space(cursor *c) {
  while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) ++c->p;
}

static int accept(cursor *c, char ch) {
  skip_space(c);
  if (c->p < c->end && *c->p == ch) return ++c->p, 1;
  return 0;
}

/* A quoted string ('...' or "..."), no escapes (none occur in valid headers). */
static int parse_string(cursor *c, char *out, size_t cap) {
  skip_space(c);
  if (c->p >= c->end || (*c->p != '\'' && *c->p != '"')) return 0;
  const char q = *c->p++;
  size_t n = 0;
  while (c->p < c->end && *c->p != q) {
    if (n + 1 >= cap) return 0;
    out[n++] = *c->p++;
  }
  if (c->p >= c->end) return 0;
  ++c->p;
  out[n] = '\0';
  return 1;
}

static int parse_word(cursor *c, const char *w) {
  skip_space(c);
  const size_t n = strlen(w);
  if ((size_t)(c->end - c->p) < n || memcmp(c->p, w, n) != 0) return 0;
  c->p += n;
  return 1;
}

/* Non-negative decimal, at most 2^62 so products can be checked in int64. */
static int parse_dim(cursor *c, int64_t *v) {
  skip_space(c);
  int64_t x = 0;
  const char *start = c->p;
  while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
    const int digit = *c->p++ - '0';
    if (x > ((INT64_C(1) << 62) - digit) / 10) return 0; /* checked before it can overflow */
    x = x * 10 + digit;
  }
  if (c->p < c->end && *c->p == 'L') ++c->p; /* Python 2 longs */
  *v = x;
  return c->p > start;
}

static int parse_shape(cursor *c, npy_array *a, char *err, size_t errlen) {
  if (!accept(c, '(')) return fail(err, errlen, "shape is not a tuple");
  a->ndim = 0;
  if (accept(c, ')')) return 0;
  for (;;) {
    if (a->ndim == NPY_MAX_DIMS) return fail(err, errlen, "more than %d dimensions", NPY_MAX_DIMS);
    if (!parse_dim(c, &a->shape[a->ndim])) return fail(err, errlen, "bad dimension in shape");
    ++a->ndim;
    const int comma = accept(c, ',');
    if (accept(c, ')')) return 0;
    if (!comma) return fail(err, errlen, "bad shape tuple");
  }
}

static int parse_header(const char *h, size_t len, npy_array *a, char *err, size_t errlen) {
  cursor c = {h, h + len};
  int have_descr = 0, have_order = 0, have_shape = 0;
  if (!accept(&c, '{')) return fail(err, errlen, "header is not a dict");
  while (!accept(&c, '}')) {
    char key[32];
    if (!parse_string(&c, key, sizeof key) || !accept(&c, ':')) return fail(err, errlen, "bad header dict");
    if (strcmp(key, "descr") == 0 && !have_descr) {
      char descr[32];
      if (!parse_string(&c, descr, sizeof descr)) return fail(err, errlen, "bad 'descr'");
      if (strcmp(descr, "<f4") != 0)
        return fail(err, errlen, "dtype '%s' is not supported: need little-endian float32 ('<f4')", descr);
      have_descr = 1;
    } else if (strcmp(key, "fortran_order") == 0 && !have_order) {
      if (parse_word(&c, "True")) return fail(err, errlen, "Fortran-order arrays are not supported: need C order");
      if (!parse_word(&c, "False")) return fail(err, errlen, "bad 'fortran_order'");
      have_order = 1;
    } else if (strcmp(key, "shape") == 0 && !have_shape) {
      if (parse_shape(&c, a, err, errlen) != 0) return -1;
      have_shape = 1;
    } else {
      return fail(err, errlen, "unexpected or repeated header key '%s'", key);
    }
    if (!accept(&c, ',')) {
      if (!accept(&c, '}')) return fail(err, errlen, "bad header dict");
      break;
    }
  }
  if (!have_descr || !have_order || !have_shape)
    return fail(err, errlen, "header lacks %s", !have_descr ? "'descr'" : !have_order ? "'fortran_order'" : "'shape'");
  skip_space(&c);
  if (c.p != c.end) return fail(err, errlen, "trailing bytes after the header dict");
  return 0;
}

int npy_parse(const unsigned char *buf, size_t len, npy_array *a, char *err, size_t errlen) {
  memset(a, 0, sizeof *a);
  if (len < 10 || memcmp(buf, MAGIC, sizeof MAGIC) != 0) return fail(err, errlen, "not a .npy file (bad magic)");
  const int major = buf[6];
  size_t hlen, hstart;
  if (major == 1) {
    hlen = (size_t)buf[8] | (size_t)buf[9] << 8, hstart = 10;
  } else if (major == 2 || major == 3) {
    if (len < 12) return fail(err, errlen, "truncated header");
    hlen = (size_t)buf[8] | (size_t)buf[9] << 8 | (size_t)buf[10] << 16 | (size_t)buf[11] << 24, hstart = 12;
  } else {
    return fail(err, errlen, "unsupported .npy version %d.%d", major, buf[7]);
  }
  if (hlen > len - hstart) return fail(err, errlen, "truncated header (%zu bytes announced)", hlen);
  if (parse_header((const char *)buf + hstart, hlen, a, err, errlen) != 0) return -1;

  size_t count = 1;
  /* int64 dims multiplied exactly: a (size_t) cast would wrap them on 32-bit targets */
  for (int d = 0; d < a->ndim; ++d)
    if (__builtin_mul_overflow(count, a->shape[d], &count))
      return fail(err, errlen, "shape too large (element count overflows)");
  const size_t have = len - hstart - hlen;
  if (count > have / sizeof(float) || count * sizeof(float) != have)
    return fail(err, errlen, "data size mismatch: shape needs %zu float32 values, file holds %zu data bytes", count,
                have);
  a->count = count;
  a->data = malloc(count ? count * sizeof(float) : 1);
  if (!a->data) return fail(err, errlen, "out of memory");
  memcpy(a->data, buf + hstart + hlen, count * sizeof(float));
  return 0;
}

int npy_read(const char *path, npy_array *a, char *err, size_t errlen) {
  memset(a, 0, sizeof *a);
  FILE *f = fopen(path, "rb");
  if (!f) return fail(err, errlen, "%s: %s", path, strerror(errno));
  unsigned char *buf = NULL;
  size_t len = 0, cap = 0;
  for (;;) { /* read to the end: works on pipes too */
    if (len == cap) {
      cap = cap ? cap * 2 : 1 << 16;
      unsigned char *nb = realloc(buf, cap);
      if (!nb) {
        free(buf), fclose(f);
        return fail(err, errlen, "%s: out of memory", path);
      }
      buf = nb;
    }
    const size_t got = fread(buf + len, 1, cap - len, f);
    len += got;
    if (got == 0) break;
  }
  const int bad = ferror(f);
  fclose(f);
  int rc = bad ? fail(err, errlen, "%s: read error", path) : npy_parse(buf, len, a, err, errlen);
  free(buf);
  if (rc != 0 && !bad && errlen) { /* prefix the file name */
    char tmp[256];
    snprintf(tmp, sizeof tmp, "%s", err);
    snprintf(err, errlen, "%s: %s", path, tmp);
  }
  return rc;
}

int npy_write(const char *path, const float *data, int ndim, const int64_t *shape, char *err, size_t errlen) {
  if (ndim < 0 || ndim > NPY_MAX_DIMS) return fail(err, errlen, "bad ndim %d", ndim);
  char dict[512];
  int n = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
  size_t count = 1;
  for (int d = 0; d < ndim; ++d) {
    if (shape[d] < 0 || __builtin_mul_overflow(count, shape[d], &count))
      return fail(err, errlen, "bad shape");
    n += snprintf(dict + n, sizeof dict - (size_t)n, "%lld%s", (long long)shape[d],
                  ndim == 1 ? "," : d + 1 < ndim ? ", " : "");
  }
  n += snprintf(dict + n, sizeof dict - (size_t)n, "), }");
  /* Pad with spaces and a newline so the data starts on a 64-byte boundary. */
  const size_t pre = 10, total = (pre + (size_t)n + 1 + 63) / 64 * 64, hlen = total - pre;
  FILE *f = fopen(path, "wb");
  if (!f) return fail(err, errlen, "%s: %s", path, strerror(errno));
  unsigned char head[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hlen & 0xff),
                            (unsigned char)(hlen >> 8)};
  int ok = fwrite(head, 1, sizeof head, f) == sizeof head && fwrite(dict, 1, (size_t)n, f) == (size_t)n;
  for (size_t i = pre + (size_t)n; ok && i + 1 < total; ++i) ok = fputc(' ', f) != EOF;
  ok = ok && fputc('\n', f) != EOF && fwrite(data, sizeof(float), count, f) == count;
  ok = (fclose(f) == 0) && ok;
  return ok ? 0 : fail(err, errlen, "%s: write error", path);
}

void npy_free(npy_array *a) {
  free(a->data);
  a->data = NULL;
}
