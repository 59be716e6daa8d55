/* safetensors files (https://github.com/huggingface/safetensors): the weight
 * format of the Hugging Face tools, readable by PyTorch and by us.
 *
 * Layout: an 8-byte little-endian header length N; N bytes of JSON (an
 * object: "__metadata__" maps strings to strings, every other key names a
 * tensor {"dtype", "shape", "data_offsets": [begin, end]}); then the data
 * section, each tensor's little-endian bytes at [begin, end) from its start.
 * The tensors must tile the data section exactly: no overlap, no hole.
 *
 * A file is untrusted input: the header is parsed by a strict parser of just
 * the JSON this format uses (objects, arrays, strings, non-negative integers)
 * and every size in it is checked against the file before a tensor is
 * allocated. Writing goes through atomic_file.h (an unnamed or temporary
 * file, fsync'd and renamed into place), so a crash or a failed write never
 * leaves half a file. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic_file.h"
#include "dnn/io.h"

#define SAVE_FN "save_safetensors"
#define LOAD_FN "load_safetensors"
/* The reference implementation refuses headers above 100 MB; so do we. */
#define MAX_HEADER_BYTES ((uint64_t)100000000)
#define IO_CHUNK 65536

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define HOST_LITTLE_ENDIAN 1
#else
#define HOST_LITTLE_ENDIAN 0
#endif

/* ---- shared helpers ---- */

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0 when the
 * bytes are not one: JSON text must be UTF-8, and Lua strings may hold any
 * bytes. Overlong forms, surrogates and code points above U+10FFFF are
 * invalid. */
static size_t utf8_sequence(const unsigned char *s, size_t n) {
  if (n == 0) return 0;
  unsigned c = s[0];
  if (c < 0x80) return 1;
  size_t len;
  uint32_t cp, min;
  if ((c & 0xE0) == 0xC0) {
    len = 2, cp = c & 0x1F, min = 0x80;
  } else if ((c & 0xF0) == 0xE0) {
    len = 3, cp = c & 0x0F, min = 0x800;
  } else if ((c & 0xF8) == 0xF0) {
    len = 4, cp = c & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (n < len) return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xC0) != 0x80) return 0;
    cp = cp << 6 | (s[i] & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

static bool valid_utf8(const char *s) {
  size_t n = strlen(s);
  for (size_t i = 0; i < n;) {
    size_t k = utf8_sequence((const unsigned char *)s + i, n - i);
    if (k == 0) return false;
    i += k;
  }
  return true;
}

static int compare_strings(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The first name that occurs twice among n (sorted copies: O(n log n), a
 * hostile header may hold a million names), or NULL. */
static const char *find_duplicate(int n, const char *const *names, dnn_status *oom) {
  *oom = DNN_OK;
  if (n < 2) return NULL;
  const char **sorted = malloc((size_t)n * sizeof *sorted);
  if (!sorted) {
    *oom = DNN_ENOMEM;
    return NULL;
  }
  memcpy(sorted, names, (size_t)n * sizeof *sorted);
  qsort(sorted, (size_t)n, sizeof *sorted, compare_strings);
  const char *dup = NULL;
  for (int i = 1; i < n && !dup; i++)
    if (strcmp(sorted[i - 1], sorted[i]) == 0) dup = sorted[i];
  free(sorted);
  return dup;
}

static void store_le64(unsigned char *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t load_le(const unsigned char *p, int size) {
  uint64_t v = 0;
  for (int i = size - 1; i >= 0; i--) v = v << 8 | p[i];
  return v;
}

/* ---- writing ---- */

/* A growing byte buffer for the JSON header; a failed allocation sticks. */
typedef struct text {
  char *p;
  size_t len, cap;
  bool failed;
} text;

static void put(text *t, const char *s, size_t n) {
  if (t->failed) return;
  if (t->len + n > t->cap) {
    size_t cap = t->cap ? t->cap : 256;
    while (cap < t->len + n) cap *= 2;
    char *p = realloc(t->p, cap);
    if (!p) {
      t->failed = true;
      return;
    }
    t->p = p, t->cap = cap;
  }
  memcpy(t->p + t->len, s, n);
  t->len += n;
}

static void puts_text(text *t, const char *s) { put(t, s, strlen(s)); }

static void put_uint(text *t, uint64_t v) {
  char num[24];
  put(t, num, (size_t)snprintf(num, sizeof num, "%" PRIu64, v));
}

/* A JSON string: quotes, backslashes and control characters escaped; the
 * rest is UTF-8 already (checked by the caller). */
static void put_json_string(text *t, const char *s) {
  put(t, "\"", 1);
  for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
    if (*c == '"' || *c == '\\') {
      char esc[2] = {'\\', (char)*c};
      put(t, esc, 2);
    } else if (*c < 0x20) {
      char esc[8];
      put(t, esc, (size_t)snprintf(esc, sizeof esc, "\\u%04x", *c));
    } else {
      put(t, (const char *)c, 1);
    }
  }
  put(t, "\"", 1);
}

static dnn_status check_save_args(const char *path, int n, const char *const *names, dnn_tensor *const *tensors,
                                  int n_meta, const char *const *meta_keys, const char *const *meta_values) {
  if (!path) return dnn_argerror(1, SAVE_FN, "expected a path, got NULL");
  if (n < 0 || (n > 0 && (!names || !tensors)))
    return dnn_argerror(2, SAVE_FN, "expected n >= 0 names and tensors, got n = %d", n);
  if (n_meta < 0 || (n_meta > 0 && (!meta_keys || !meta_values)))
    return dnn_argerror(5, SAVE_FN, "expected n_meta >= 0 keys and values, got n_meta = %d", n_meta);
  for (int i = 0; i < n; i++) {
    if (!names[i] || !tensors[i])
      return dnn_error(DNN_EARG, SAVE_FN, "%s: tensor %d has no %s", path, i + 1, names[i] ? "tensor" : "name");
    if (!valid_utf8(names[i]))
      return dnn_error(DNN_EARG, SAVE_FN, "%s: tensor name %d is not valid UTF-8", path, i + 1);
    if (strcmp(names[i], "__metadata__") == 0)
      return dnn_error(DNN_EARG, SAVE_FN, "%s: '__metadata__' is reserved, not a tensor name", path);
  }
  for (int i = 0; i < n_meta; i++) {
    if (!meta_keys[i] || !meta_values[i])
      return dnn_error(DNN_EARG, SAVE_FN, "%s: metadata entry %d has no %s", path, i + 1,
                       meta_keys[i] ? "value" : "key");
    if (!valid_utf8(meta_keys[i]) || !valid_utf8(meta_values[i]))
      return dnn_error(DNN_EARG, SAVE_FN, "%s: metadata entry '%s' is not valid UTF-8", path, meta_keys[i]);
  }
  dnn_status st;
  const char *dup = find_duplicate(n, names, &st);
  if (st != DNN_OK) return dnn_error(st, SAVE_FN, "%s: out of memory", path);
  if (dup) return dnn_error(DNN_EARG, SAVE_FN, "%s: tensor name '%s' given twice", path, dup);
  dup = find_duplicate(n_meta, meta_keys, &st);
  if (st != DNN_OK) return dnn_error(st, SAVE_FN, "%s: out of memory", path);
  if (dup) return dnn_error(DNN_EARG, SAVE_FN, "%s: metadata key '%s' given twice", path, dup);
  return DNN_OK;
}

/* The header: metadata first, then the tensors in the caller's order, their
 * data back to back; padded with spaces so the data starts 8-byte aligned. */
static void build_header(text *h, int n, const char *const *names, dnn_tensor *const *tensors, int n_meta,
                         const char *const *meta_keys, const char *const *meta_values) {
  puts_text(h, "{");
  if (n_meta > 0) {
    puts_text(h, "\"__metadata__\":{");
    for (int i = 0; i < n_meta; i++) {
      if (i > 0) puts_text(h, ",");
      put_json_string(h, meta_keys[i]);
      puts_text(h, ":");
      put_json_string(h, meta_values[i]);
    }
    puts_text(h, "}");
  }
  uint64_t offset = 0;
  for (int i = 0; i < n; i++) {
    const dnn_tensor *t = tensors[i];
    if (i > 0 || n_meta > 0) puts_text(h, ",");
    put_json_string(h, names[i]);
    puts_text(h, ":{\"dtype\":\"F32\",\"shape\":[");
    for (int d = 0; d < t->ndim; d++) {
      if (d > 0) puts_text(h, ",");
      put_uint(h, (uint64_t)t->shape[d]);
    }
    uint64_t bytes = (uint64_t)dnn_numel(t) * sizeof(float);
    puts_text(h, "],\"data_offsets\":[");
    put_uint(h, offset);
    puts_text(h, ",");
    put_uint(h, offset + bytes);
    puts_text(h, "]}");
    offset += bytes;
  }
  puts_text(h, "}");
  while (h->len % 8 != 0) puts_text(h, " ");
}

static bool write_all(int fd, const void *data, size_t n) {
  const char *p = data;
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w, n -= (size_t)w;
  }
  return true;
}

/* Writes t's values as little-endian float32. A strided view is gathered
 * into one temporary; a big-endian host swaps through a small buffer. */
static bool write_tensor(int fd, const dnn_tensor *t, unsigned char *chunk) {
  int64_t n = dnn_numel(t);
  if (n == 0) return true;
  if (dnn_is_contiguous(t) && HOST_LITTLE_ENDIAN) return write_all(fd, dnn_data(t), (size_t)n * sizeof(float));
  float *all = NULL;
  const float *src = dnn_data(t);
  if (!dnn_is_contiguous(t)) {
    all = malloc((size_t)n * sizeof(float));
    if (!all) {
      errno = ENOMEM;
      return false;
    }
    dnn_gather_to(t, all);
    src = all;
  }
  bool ok = true;
  if (HOST_LITTLE_ENDIAN) {
    ok = write_all(fd, src, (size_t)n * sizeof(float));
  } else {
    int64_t per = IO_CHUNK / (int64_t)sizeof(float);
    for (int64_t i = 0; i < n && ok; i += per) {
      int64_t k = n - i < per ? n - i : per;
      for (int64_t j = 0; j < k; j++) {
        uint32_t bits;
        memcpy(&bits, &src[i + j], sizeof bits);
        for (int b = 0; b < 4; b++) chunk[4 * j + b] = (unsigned char)(bits >> (8 * b));
      }
      ok = write_all(fd, chunk, (size_t)k * sizeof(float));
    }
  }
  free(all);
  return ok;
}

dnn_status dnn_safetensors_save(const char *path, int n, const char *const *names, dnn_tensor *const *tensors,
                                int n_meta, const char *const *meta_keys, const char *const *meta_values) {
  dnn_status st = check_save_args(path, n, names, tensors, n_meta, meta_keys, meta_values);
  if (st != DNN_OK) return st;

  text h = {0};
  build_header(&h, n, names, tensors, n_meta, meta_keys, meta_values);
  unsigned char *chunk = HOST_LITTLE_ENDIAN ? NULL : malloc(IO_CHUNK);
  if (h.failed || (!HOST_LITTLE_ENDIAN && !chunk)) {
    free(h.p), free(chunk);
    return dnn_error(DNN_ENOMEM, SAVE_FN, "%s: out of memory building the header", path);
  }
  atomic_file f;
  st = atomic_open(&f, path, SAVE_FN);
  if (st == DNN_OK) {
    unsigned char len8[8];
    store_le64(len8, h.len);
    bool ok = write_all(f.fd, len8, 8) && write_all(f.fd, h.p, h.len);
    for (int i = 0; ok && i < n; i++) ok = write_tensor(f.fd, tensors[i], chunk);
    if (ok) {
      st = atomic_commit(&f, SAVE_FN);
    } else {
      st = dnn_error(DNN_EIO, SAVE_FN, "%s: error writing %s: %s", path, f.tmp, strerror(errno));
      atomic_abort(&f);
    }
  }
  free(h.p), free(chunk);
  return st;
}

/* ---- reading: the header parser ---- */

enum { DT_F32, DT_F16, DT_BF16, DT_F64 };
static const struct {
  const char *name;
  int size;
} dtypes[] = {{"F32", 4}, {"F16", 2}, {"BF16", 2}, {"F64", 8}};

typedef struct entry {
  char *name;
  char *dtype_name;
  int dtype; /* DT_*, or -1 */
  int ndim;
  uint64_t shape[DNN_MAX_DIMS];
  uint64_t begin, end;
} entry;

typedef struct parser {
  const char *path;
  const char *s; /* the header text */
  size_t len, pos;
  dnn_status status;
  /* results, in header order */
  entry *entries;
  int n, cap;
  char **meta_keys, **meta_values;
  int n_meta, meta_cap;
  bool seen_metadata;
} parser;

/* Records the first error (with the byte of the header where it was seen). */
static bool fail(parser *p, const char *fmt, const char *arg) {
  if (p->status != DNN_OK) return false;
  char what[256];
  snprintf(what, sizeof what, fmt, arg ? arg : "");
  p->status = dnn_error(DNN_EFORMAT, LOAD_FN, "%s: bad header at byte %zu of the JSON: %s", p->path, p->pos, what);
  return false;
}

/* Describes the character at the cursor for messages. */
static const char *found(parser *p) {
  static _Thread_local char buf[32];
  if (p->pos >= p->len) return "the end of the header";
  unsigned char c = (unsigned char)p->s[p->pos];
  if (c >= 0x20 && c < 0x7F)
    snprintf(buf, sizeof buf, "'%c'", c);
  else
    snprintf(buf, sizeof buf, "byte 0x%02x", c);
  return buf;
}

static void skip_ws(parser *p) {
  while (p->pos < p->len) {
    char c = p->s[p->pos];
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
    p->pos++;
  }
}

static bool expect(parser *p, char c) {
  skip_ws(p);
  if (p->pos < p->len && p->s[p->pos] == c) {
    p->pos++;
    return true;
  }
  char fmt[64];
  snprintf(fmt, sizeof fmt, "expected '%c', found %%s", c);
  return fail(p, fmt, found(p));
}

/* After a member: true for ',' (another follows), false for the closer. */
static bool more(parser *p, char closer, bool *ok) {
  skip_ws(p);
  if (p->pos < p->len && p->s[p->pos] == ',') {
    p->pos++;
    return true;
  }
  if (p->pos < p->len && p->s[p->pos] == closer) {
    p->pos++;
    return false;
  }
  char fmt[64];
  snprintf(fmt, sizeof fmt, "expected ',' or '%c', found %%s", closer);
  *ok = fail(p, fmt, found(p));
  return false;
}

static int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static bool read_hex4(parser *p, uint32_t *out) {
  if (p->len - p->pos < 4) return fail(p, "truncated \\u escape", NULL);
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) {
    int d = hex_digit(p->s[p->pos + i]);
    if (d < 0) return fail(p, "bad \\u escape (expected 4 hex digits)", NULL);
    v = v << 4 | (uint32_t)d;
  }
  p->pos += 4;
  *out = v;
  return true;
}

static size_t put_utf8(char *out, uint32_t cp) {
  if (cp < 0x80) {
    out[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = (char)(0xC0 | cp >> 6), out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = (char)(0xE0 | cp >> 12), out[1] = (char)(0x80 | (cp >> 6 & 0x3F)), out[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = (char)(0xF0 | cp >> 18), out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
  out[2] = (char)(0x80 | (cp >> 6 & 0x3F)), out[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

/* A JSON string, unescaped into a new C string. The decoded text is never
 * longer than the source, so the buffer is sized once. */
static bool parse_string(parser *p, char **out) {
  *out = NULL;
  skip_ws(p);
  if (p->pos >= p->len || p->s[p->pos] != '"') return fail(p, "expected a string, found %s", found(p));
  p->pos++;
  size_t start = p->pos;
  char *buf = malloc(p->len - start + 1);
  if (!buf) {
    p->status = dnn_error(DNN_ENOMEM, LOAD_FN, "%s: out of memory parsing the header", p->path);
    return false;
  }
  size_t n = 0;
  for (;;) {
    if (p->pos >= p->len) {
      free(buf);
      return fail(p, "unterminated string", NULL);
    }
    unsigned char c = (unsigned char)p->s[p->pos];
    if (c == '"') {
      p->pos++;
      break;
    }
    if (c < 0x20) {
      free(buf);
      return fail(p, "control character in a string (must be escaped)", NULL);
    }
    if (c != '\\') {
      size_t k = utf8_sequence((const unsigned char *)p->s + p->pos, p->len - p->pos);
      if (k == 0) {
        free(buf);
        return fail(p, "invalid UTF-8 in a string", NULL);
      }
      memcpy(buf + n, p->s + p->pos, k);
      n += k, p->pos += k;
      continue;
    }
    p->pos++;
    char e = p->pos < p->len ? p->s[p->pos++] : '\0';
    char simple = e == '"' ? '"'
        : e == '\\'        ? '\\'
        : e == '/'         ? '/'
        : e == 'b'         ? '\b'
        : e == 'f'         ? '\f'
        : e == 'n'         ? '\n'
        : e == 'r'         ? '\r'
        : e == 't'         ? '\t'
                           : 0;
    if (simple) {
      buf[n++] = simple;
      continue;
    }
    if (e != 'u') {
      free(buf);
      return fail(p, "bad escape in a string", NULL);
    }
    uint32_t cp;
    if (!read_hex4(p, &cp)) {
      free(buf);
      return false;
    }
    if (cp >= 0xD800 && cp <= 0xDBFF) { /* a surrogate pair: \uD8xx\uDCxx */
      uint32_t lo = 0;
      if (p->len - p->pos < 2 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u') {
        free(buf);
        return fail(p, "unpaired UTF-16 surrogate in a \\u escape", NULL);
      }
      p->pos += 2;
      if (!read_hex4(p, &lo)) {
        free(buf);
        return false;
      }
      if (lo < 0xDC00 || lo > 0xDFFF) {
        free(buf);
        return fail(p, "unpaired UTF-16 surrogate in a \\u escape", NULL);
      }
      cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
      free(buf);
      return fail(p, "unpaired UTF-16 surrogate in a \\u escape", NULL);
    }
    if (cp == 0) {
      free(buf);
      return fail(p, "\\u0000 in a string (names and metadata cannot hold NUL)", NULL);
    }
    n += put_utf8(buf + n, cp); /* at most 4 bytes from a 6- or 12-byte escape */
  }
  buf[n] = '\0';
  *out = buf;
  return true;
}

/* A non-negative integer below 2^63, as the format's sizes and offsets are. */
static bool parse_uint(parser *p, uint64_t *out) {
  skip_ws(p);
  size_t start = p->pos;
  if (p->pos >= p->len || p->s[p->pos] < '0' || p->s[p->pos] > '9')
    return fail(p, "expected a non-negative integer, found %s", found(p));
  uint64_t v = 0;
  while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') {
    unsigned d = (unsigned)(p->s[p->pos] - '0');
    if (v > (((uint64_t)1 << 63) - 1 - d) / 10) return fail(p, "integer too large (at most 2^63 - 1)", NULL);
    v = v * 10 + d;
    p->pos++;
  }
  if (p->s[start] == '0' && p->pos - start > 1) {
    p->pos = start;
    return fail(p, "integer with a leading zero", NULL);
  }
  if (p->pos < p->len && (p->s[p->pos] == '.' || p->s[p->pos] == 'e' || p->s[p->pos] == 'E'))
    return fail(p, "expected an integer, found a fraction or exponent", NULL);
  *out = v;
  return true;
}

/* [a, b, ...] of at most max integers. */
static bool parse_uint_array(parser *p, uint64_t *vals, int max, int *count, const char *what) {
  *count = 0;
  if (!expect(p, '[')) return false;
  skip_ws(p);
  if (p->pos < p->len && p->s[p->pos] == ']') {
    p->pos++;
    return true;
  }
  bool ok = true;
  do {
    if (*count == max) {
      char fmt[96];
      snprintf(fmt, sizeof fmt, "%%s has more than %d entries", max);
      return fail(p, fmt, what);
    }
    if (!parse_uint(p, &vals[(*count)++])) return false;
  } while (more(p, ']', &ok));
  return ok;
}

static bool grow(parser *p, void **arr, int *cap, int need, size_t elem) {
  if (need <= *cap) return true;
  int cap2 = *cap ? *cap * 2 : 16;
  void *a = realloc(*arr, (size_t)cap2 * elem);
  if (!a) {
    p->status = dnn_error(DNN_ENOMEM, LOAD_FN, "%s: out of memory parsing the header", p->path);
    return false;
  }
  *arr = a, *cap = cap2;
  return true;
}

/* "__metadata__": {"key": "value", ...}, string values only (the spec). */
static bool parse_metadata(parser *p) {
  if (p->seen_metadata) return fail(p, "'__metadata__' given twice", NULL);
  p->seen_metadata = true;
  if (!expect(p, '{')) return false;
  skip_ws(p);
  if (p->pos < p->len && p->s[p->pos] == '}') {
    p->pos++;
    return true;
  }
  bool ok = true;
  do {
    char *key, *value;
    if (!parse_string(p, &key)) return false;
    if (!expect(p, ':')) {
      free(key);
      return false;
    }
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] != '"') {
      fail(p, "metadata value of '%s' is not a string (the format allows only strings)", key);
      free(key);
      return false;
    }
    if (!parse_string(p, &value)) {
      free(key);
      return false;
    }
    if (p->n_meta == p->meta_cap) {
      int cap = p->meta_cap ? p->meta_cap * 2 : 16;
      char **keys = realloc(p->meta_keys, (size_t)cap * sizeof(char *));
      if (keys) p->meta_keys = keys;
      char **vals = keys ? realloc(p->meta_values, (size_t)cap * sizeof(char *)) : NULL;
      if (vals) p->meta_values = vals, p->meta_cap = cap;
      if (!vals) {
        free(key), free(value);
        p->status = dnn_error(DNN_ENOMEM, LOAD_FN, "%s: out of memory parsing the header", p->path);
        return false;
      }
    }
    p->meta_keys[p->n_meta] = key;
    p->meta_values[p->n_meta++] = value;
  } while (more(p, '}', &ok));
  return ok;
}

/* {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}: each key
 * once, all three present, nothing else. */
static bool parse_tensor_info(parser *p, entry *e) {
  bool has_dtype = false, has_shape = false, has_offsets = false;
  if (!expect(p, '{')) return false;
  skip_ws(p);
  bool ok = true;
  if (p->pos < p->len && p->s[p->pos] == '}') {
    p->pos++;
  } else {
    do {
      char *key;
      if (!parse_string(p, &key)) return false;
      if (!expect(p, ':')) {
        free(key);
        return false;
      }
      bool dup = false;
      if (strcmp(key, "dtype") == 0) {
        dup = has_dtype, has_dtype = true;
        if (!dup && !parse_string(p, &e->dtype_name)) ok = false;
      } else if (strcmp(key, "shape") == 0) {
        dup = has_shape, has_shape = true;
        if (!dup &&
            !parse_uint_array(p, e->shape, DNN_MAX_DIMS, &e->ndim, "shape (dnnlua tensors have at most 8 dims)"))
          ok = false;
      } else if (strcmp(key, "data_offsets") == 0) {
        dup = has_offsets, has_offsets = true;
        uint64_t off[2];
        int count = 0;
        if (!dup && !parse_uint_array(p, off, 2, &count, "data_offsets")) ok = false;
        if (ok && !dup && count != 2) ok = fail(p, "data_offsets must hold 2 integers [begin, end]", NULL);
        if (ok && !dup) e->begin = off[0], e->end = off[1];
      } else {
        ok = fail(p, "unexpected key '%s' in a tensor's entry (expected dtype, shape, data_offsets)", key);
      }
      if (ok && dup) ok = fail(p, "key '%s' given twice in a tensor's entry", key);
      free(key);
      if (!ok) return false;
    } while (more(p, '}', &ok));
    if (!ok) return false;
  }
  const char *missing = !has_dtype ? "dtype" : !has_shape ? "shape" : !has_offsets ? "data_offsets" : NULL;
  if (missing) return fail(p, "a tensor's entry has no '%s'", missing);
  return true;
}

static bool parse_header(parser *p) {
  if (p->len == 0 || p->s[0] != '{') return fail(p, "the header must start with '{', found %s", found(p));
  p->pos = 1;
  skip_ws(p);
  bool ok = true;
  if (p->pos < p->len && p->s[p->pos] == '}') {
    p->pos++;
  } else {
    do {
      char *key;
      if (!parse_string(p, &key)) return false;
      if (!expect(p, ':')) {
        free(key);
        return false;
      }
      if (strcmp(key, "__metadata__") == 0) {
        free(key);
        if (!parse_metadata(p)) return false;
        continue;
      }
      if (!grow(p, (void **)&p->entries, &p->cap, p->n + 1, sizeof(entry))) {
        free(key);
        return false;
      }
      entry *e = &p->entries[p->n++];
      memset(e, 0, sizeof *e);
      e->name = key;
      e->dtype = -1;
      if (!parse_tensor_info(p, e)) return false;
    } while (more(p, '}', &ok));
    if (!ok) return false;
  }
  skip_ws(p); /* the padding */
  if (p->pos != p->len) return fail(p, "unexpected %s after the header's object", found(p));
  return true;
}

/* ---- reading: checks against the file ---- */

static dnn_status format_error(const char *path, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static dnn_status format_error(const char *path, const char *fmt, ...) {
  char what[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  return dnn_error(DNN_EFORMAT, LOAD_FN, "%s: %s", path, what);
}

/* dtype known and supported, shape's bytes equal to its offsets' span, and
 * the span inside the data section. */
static dnn_status check_entry(const char *path, entry *e, uint64_t data_bytes) {
  for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
    if (strcmp(e->dtype_name, dtypes[i].name) == 0) e->dtype = (int)i;
  if (e->dtype < 0)
    return format_error(path, "tensor '%s' has dtype %s; only F32, F16, BF16 and F64 can be read (as float32)", e->name,
                        e->dtype_name);
  if (e->begin > e->end)
    return format_error(path, "tensor '%s' has data_offsets [%" PRIu64 ", %" PRIu64 "] (begin after end)", e->name,
                        e->begin, e->end);
  if (e->end > data_bytes)
    return format_error(path,
                        "truncated file: tensor '%s' ends at byte %" PRIu64 " of the data, which has %" PRIu64 " bytes",
                        e->name, e->end, data_bytes);
  uint64_t bytes = (uint64_t)dtypes[e->dtype].size;
  bool overflow = false;
  for (int d = 0; d < e->ndim; d++) overflow |= __builtin_mul_overflow(bytes, e->shape[d], &bytes);
  if (overflow || bytes != e->end - e->begin) {
    char shape[256], need[64];
    size_t k = (size_t)snprintf(shape, sizeof shape, "(");
    for (int d = 0; d < e->ndim; d++)
      k += (size_t)snprintf(shape + k, sizeof shape - k, d ? ", %" PRIu64 : "%" PRIu64, e->shape[d]);
    snprintf(shape + k, sizeof shape - k, ")");
    if (overflow)
      snprintf(need, sizeof need, "more than 2^64");
    else
      snprintf(need, sizeof need, "%" PRIu64, bytes);
    return format_error(path, "tensor '%s' of shape %s and dtype %s needs %s bytes, but its data_offsets span %" PRIu64,
                        e->name, shape, e->dtype_name, need, e->end - e->begin);
  }
  return DNN_OK;
}

typedef struct span {
  uint64_t begin, end;
  int index;
} span;

static int compare_spans(const void *a, const void *b) {
  const span *x = a, *y = b;
  if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
  if (x->end != y->end) return x->end < y->end ? -1 : 1;
  return 0;
}

/* Sorted by offset, each tensor must start where the previous one ended and
 * the last end with the file: the spec's "no overlap, no hole". */
static dnn_status check_tiling(const char *path, const entry *entries, int n, uint64_t data_bytes) {
  span *order = malloc((n > 0 ? (size_t)n : 1) * sizeof *order);
  if (!order) return dnn_error(DNN_ENOMEM, LOAD_FN, "%s: out of memory", path);
  for (int i = 0; i < n; i++) order[i] = (span){entries[i].begin, entries[i].end, i};
  qsort(order, (size_t)n, sizeof *order, compare_spans);
  uint64_t expected = 0;
  dnn_status st = DNN_OK;
  for (int k = 0; k < n && st == DNN_OK; k++) {
    const entry *e = &entries[order[k].index];
    if (e->begin < expected)
      st = format_error(
          path, "tensor '%s' at data_offsets [%" PRIu64 ", %" PRIu64 "] overlaps '%s' (which ends at %" PRIu64 ")",
          e->name, e->begin, e->end, entries[order[k - 1].index].name, expected);
    else if (e->begin > expected)
      st = format_error(path, "the data section has a hole: bytes [%" PRIu64 ", %" PRIu64 ") belong to no tensor",
                        expected, e->begin);
    expected = e->end;
  }
  if (st == DNN_OK && expected != data_bytes)
    st =
        format_error(path, "%" PRIu64 " bytes after the last tensor's data belong to no tensor", data_bytes - expected);
  free(order);
  return st;
}

/* ---- reading: the data ---- */

static float half_to_float(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = h >> 10 & 0x1F, man = h & 0x3FF, bits;
  if (exp == 0) { /* zero or subnormal: man * 2^-24 */
    float f = (float)man * 0x1p-24f;
    return sign ? -f : f;
  }
  if (exp == 31)
    bits = sign | 0x7F800000u | man << 13; /* inf or NaN */
  else
    bits = sign | (exp + 112) << 23 | man << 13; /* rebias 15 -> 127 */
  float f;
  memcpy(&f, &bits, sizeof f);
  return f;
}

static void convert(int dtype, const unsigned char *restrict src, int64_t n, float *restrict dst) {
  switch (dtype) {
    case DT_F32:
      for (int64_t i = 0; i < n; i++) {
        uint32_t bits = (uint32_t)load_le(src + 4 * i, 4);
        memcpy(&dst[i], &bits, sizeof bits);
      }
      break;
    case DT_F16:
      for (int64_t i = 0; i < n; i++) dst[i] = half_to_float((uint16_t)load_le(src + 2 * i, 2));
      break;
    case DT_BF16:
      for (int64_t i = 0; i < n; i++) {
        uint32_t bits = (uint32_t)load_le(src + 2 * i, 2) << 16; /* bfloat16 is float32's top half */
        memcpy(&dst[i], &bits, sizeof bits);
      }
      break;
    case DT_F64:
      for (int64_t i = 0; i < n; i++) {
        uint64_t bits = load_le(src + 8 * i, 8);
        double d;
        memcpy(&d, &bits, sizeof d);
        dst[i] = (float)d;
      }
      break;
  }
}

static dnn_status read_error(FILE *f, const char *path, const char *name) {
  if (ferror(f)) return dnn_error(DNN_EIO, LOAD_FN, "%s: error reading tensor '%s': %s", path, name, strerror(errno));
  return format_error(path, "truncated file while reading tensor '%s' (the file shrank?)", name);
}

static dnn_status read_tensor(FILE *f, const char *path, uint64_t data_start, const entry *e, dnn_tensor *t,
                              unsigned char *chunk) {
  int64_t n = dnn_numel(t);
  if (n == 0) return DNN_OK;
  if (fseeko(f, (off_t)(data_start + e->begin), SEEK_SET) != 0)
    return dnn_error(DNN_EIO, LOAD_FN, "%s: cannot seek to tensor '%s': %s", path, e->name, strerror(errno));
  float *out = dnn_data(t);
  if (e->dtype == DT_F32 && HOST_LITTLE_ENDIAN) {
    if (fread(out, sizeof(float), (size_t)n, f) != (size_t)n) return read_error(f, path, e->name);
    return DNN_OK;
  }
  int size = dtypes[e->dtype].size;
  int64_t per = IO_CHUNK / size;
  for (int64_t i = 0; i < n; i += per) {
    int64_t k = n - i < per ? n - i : per;
    if (fread(chunk, (size_t)size, (size_t)k, f) != (size_t)k) return read_error(f, path, e->name);
    convert(e->dtype, chunk, k, out + i);
  }
  return DNN_OK;
}

static void free_parser(parser *p) {
  for (int i = 0; i < p->n; i++) free(p->entries[i].name), free(p->entries[i].dtype_name);
  for (int i = 0; i < p->n_meta; i++) free(p->meta_keys[i]), free(p->meta_values[i]);
  free(p->entries), free(p->meta_keys), free(p->meta_values);
}

void dnn_safetensors_free(dnn_safetensors *st) {
  if (!st) return;
  for (int i = 0; i < st->n; i++) {
    if (st->names) free(st->names[i]);
    if (st->tensors) dnn_tensor_release(st->tensors[i]);
  }
  for (int i = 0; i < st->n_meta; i++) free(st->meta_keys[i]), free(st->meta_values[i]);
  free(st->names), free(st->tensors), free(st->meta_keys), free(st->meta_values);
  free(st);
}

/* Reads and parses the header; on success the caller owns p's results. */
static dnn_status read_header(FILE *f, const char *path, uint64_t file_bytes, parser *p, uint64_t *header_bytes) {
  unsigned char len8[8];
  if (file_bytes < 8 || fread(len8, 1, 8, f) != 8)
    return format_error(path, "not a safetensors file: %" PRIu64 " bytes, too short for the 8-byte header length",
                        file_bytes);
  uint64_t n = load_le(len8, 8);
  if (n > file_bytes - 8)
    return format_error(path,
                        "truncated file or not a safetensors file: the header length %" PRIu64
                        " is more than the %" PRIu64 " bytes after it",
                        n, file_bytes - 8);
  if (n > MAX_HEADER_BYTES)
    return format_error(path, "header length %" PRIu64 " is above the limit of %" PRIu64 " bytes", n, MAX_HEADER_BYTES);
  if (n < 2) return format_error(path, "header length %" PRIu64 " is too short for a JSON object", n);
  char *s = malloc(n);
  if (!s) return dnn_error(DNN_ENOMEM, LOAD_FN, "%s: out of memory for a header of %" PRIu64 " bytes", path, n);
  if (fread(s, 1, n, f) != n) {
    free(s);
    return dnn_error(DNN_EIO, LOAD_FN, "%s: error reading the header: %s", path,
                     ferror(f) ? strerror(errno) : "file shorter than its size");
  }
  p->path = path, p->s = s, p->len = n;
  parse_header(p);
  free(s);
  p->s = NULL;
  *header_bytes = n;
  return p->status;
}

static dnn_safetensors *load_stream(FILE *f, const char *path, uint64_t file_bytes);

dnn_safetensors *dnn_safetensors_load(const char *path) {
  if (!path) {
    dnn_argerror(1, LOAD_FN, "expected a path, got NULL");
    return NULL;
  }
  FILE *f = fopen(path, "rb");
  if (!f) {
    dnn_error(DNN_EIO, LOAD_FN, "%s: cannot open: %s", path, strerror(errno));
    return NULL;
  }
  struct stat sb;
  if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
    dnn_error(DNN_EIO, LOAD_FN, "%s: not a regular file", path);
    fclose(f);
    return NULL;
  }
  return load_stream(f, path, (uint64_t)sb.st_size);
}

dnn_safetensors *dnn_safetensors_load_memory(const void *bytes, size_t size, const char *name) {
  if (!name) name = "(memory)";
  if (!bytes && size) return dnn_argerror(1, LOAD_FN, "expected bytes, got NULL"), NULL;
  if (size < 8) {
    format_error(name, "not a safetensors file: %zu bytes, too short for the 8-byte header length", size);
    return NULL;
  }
  FILE *f = fmemopen((void *)bytes, size, "rb"); /* read only: the cast drops const for fmemopen's signature */
  if (!f) return dnn_error(DNN_ENOMEM, LOAD_FN, "%s: cannot read from memory: %s", name, strerror(errno)), NULL;
  return load_stream(f, name, size);
}

/* The loader proper, from an open file of file_bytes bytes (closed here). */
static dnn_safetensors *load_stream(FILE *f, const char *path, uint64_t file_bytes) {
  uint64_t header_bytes = 0;
  parser p = {.path = path};
  dnn_safetensors *st = NULL;
  unsigned char *chunk = NULL;
  if (read_header(f, path, file_bytes, &p, &header_bytes) != DNN_OK) goto fail;

  uint64_t data_bytes = file_bytes - 8 - header_bytes;
  size_t slots = p.n > 0 ? (size_t)p.n : 1;
  for (int i = 0; i < p.n; i++)
    if (check_entry(path, &p.entries[i], data_bytes) != DNN_OK) goto fail;
  const char **names = malloc(slots * sizeof *names);
  if (!names) {
    dnn_error(DNN_ENOMEM, LOAD_FN, "%s: out of memory", path);
    goto fail;
  }
  for (int i = 0; i < p.n; i++) names[i] = p.entries[i].name;
  dnn_status oom;
  const char *dup = find_duplicate(p.n, names, &oom);
  if (dup) format_error(path, "tensor '%s' appears twice in the header", dup);
  if (oom != DNN_OK) dnn_error(DNN_ENOMEM, LOAD_FN, "%s: out of memory", path);
  free(names);
  if (dup || oom != DNN_OK) goto fail;
  if (check_tiling(path, p.entries, p.n, data_bytes) != DNN_OK) goto fail;

  /* Everything checked: allocate and read. */
  st = calloc(1, sizeof *st);
  chunk = malloc(IO_CHUNK);
  if (!st || !chunk || !(st->names = calloc(slots, sizeof(char *))) ||
      !(st->tensors = calloc(slots, sizeof(dnn_tensor *)))) {
    dnn_error(DNN_ENOMEM, LOAD_FN, "%s: out of memory", path);
    goto fail;
  }
  for (int i = 0; i < p.n; i++) {
    entry *e = &p.entries[i];
    int64_t shape[DNN_MAX_DIMS];
    for (int d = 0; d < e->ndim; d++) shape[d] = (int64_t)e->shape[d];
    st->names[i] = e->name, e->name = NULL; /* moved */
    st->n = i + 1;
    st->tensors[i] = dnn_empty(e->ndim, shape);
    if (!st->tensors[i] || read_tensor(f, path, 8 + header_bytes, e, st->tensors[i], chunk) != DNN_OK) goto fail;
  }
  st->n_meta = p.n_meta, st->meta_keys = p.meta_keys, st->meta_values = p.meta_values;
  p.n_meta = 0, p.meta_keys = p.meta_values = NULL; /* moved */
  free_parser(&p);
  free(chunk);
  fclose(f);
  return st;

fail:
  free_parser(&p);
  dnn_safetensors_free(st);
  free(chunk);
  fclose(f);
  return NULL;
}
