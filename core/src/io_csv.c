/* CSV files (RFC 4180): fields split by a separator, quoted with '"' when they
 * hold a separator, a quote ("" inside quotes) or a line break; lines end in
 * LF or CRLF. The whole file is read into memory (the memory is bounded by the
 * real file) and split in place: unquoting never makes a field longer, so the
 * fields are written back into the buffer they were read from. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dnn/io.h"

#define FN "read_csv"

/* The split file: every field of every row, in order. */
typedef struct csv_rows {
  char *buf;
  char **fields;
  int64_t n_fields, cap_fields;
  int64_t *row_start; /* index of each row's first field; one extra entry at the end */
  int64_t *row_line; /* the file line each row starts on (1-based) */
  int64_t n_rows, cap_rows;
} csv_rows;

static void rows_free(csv_rows *r) {
  free(r->buf);
  free(r->fields);
  free(r->row_start);
  free(r->row_line);
}

static int grow(void **p, int64_t *cap, int64_t need, size_t elem) {
  if (need <= *cap) return 1;
  int64_t n = *cap ? *cap * 2 : 64;
  while (n < need) n *= 2;
  void *q = realloc(*p, (size_t)n * elem);
  if (!q) return 0;
  *p = q;
  *cap = n;
  return 1;
}

static dnn_status nomem(void) { return dnn_error(DNN_ENOMEM, FN, "out of memory"); }

static dnn_status add_field(csv_rows *r, char *s) {
  if (!grow((void **)&r->fields, &r->cap_fields, r->n_fields + 1, sizeof *r->fields)) return nomem();
  r->fields[r->n_fields++] = s;
  return DNN_OK;
}

/* Opens a row at line; the extra row_start slot is kept for the end mark. */
static dnn_status add_row(csv_rows *r, int64_t line) {
  int64_t cap = r->cap_rows;
  if (!grow((void **)&r->row_start, &cap, r->n_rows + 2, sizeof *r->row_start)) return nomem();
  cap = r->cap_rows;
  if (!grow((void **)&r->row_line, &cap, r->n_rows + 2, sizeof *r->row_line)) return nomem();
  r->cap_rows = cap;
  r->row_start[r->n_rows] = r->n_fields;
  r->row_line[r->n_rows] = line;
  r->n_rows++;
  return DNN_OK;
}

static dnn_status read_file(const char *path, char **out, size_t *len) {
  errno = 0;
  FILE *f = fopen(path, "rb");
  if (!f) return dnn_error(DNN_EIO, FN, "%s: cannot open: %s", path, strerror(errno));
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap + 1);
  if (!buf) {
    fclose(f);
    return nomem();
  }
  for (;;) {
    if (n == cap) {
      char *b = realloc(buf, cap * 2 + 1);
      if (!b) {
        free(buf);
        fclose(f);
        return nomem();
      }
      buf = b;
      cap *= 2;
    }
    size_t got = fread(buf + n, 1, cap - n, f);
    n += got;
    if (got == 0) break;
  }
  int failed = ferror(f);
  fclose(f);
  if (failed) {
    free(buf);
    return dnn_error(DNN_EIO, FN, "%s: error reading the file", path);
  }
  buf[n] = '\0';
  *out = buf;
  *len = n;
  return DNN_OK;
}

/* Splits buf into rows of fields. Blank lines are skipped. */
static dnn_status split(const char *path, char sep, csv_rows *r, size_t len) {
  char *p = r->buf, *end = r->buf + len;
  int64_t line = 1;
  if (len >= 3 && (unsigned char)p[0] == 0xEF && (unsigned char)p[1] == 0xBB && (unsigned char)p[2] == 0xBF) p += 3;
  while (p < end) {
    if (*p == '\n' || (*p == '\r' && p + 1 < end && p[1] == '\n')) { /* a blank line */
      p += *p == '\r' ? 2 : 1;
      line++;
      continue;
    }
    dnn_status st = add_row(r, line);
    if (st != DNN_OK) return st;
    for (;;) { /* one field per turn */
      char *w = p, *start = p;
      if (*p == '"') {
        int64_t quote_line = line;
        p++;
        for (;;) {
          if (p >= end)
            return dnn_error(DNN_EFORMAT, FN, "%s: line %" PRId64 ": a quoted field is never closed", path, quote_line);
          if (*p == '"') {
            if (p + 1 < end && p[1] == '"') {
              *w++ = '"';
              p += 2;
              continue;
            }
            p++;
            break;
          }
          if (*p == '\n') line++;
          *w++ = *p++;
        }
        if (p < end && *p != sep && *p != '\n' && !(*p == '\r' && p + 1 < end && p[1] == '\n'))
          return dnn_error(DNN_EFORMAT, FN, "%s: line %" PRId64 ": unexpected '%c' after a closing quote", path, line,
                           *p);
      } else {
        while (p < end && *p != sep && *p != '\n' && !(*p == '\r' && p + 1 < end && p[1] == '\n')) {
          if (*p == '"')
            return dnn_error(DNN_EFORMAT, FN, "%s: line %" PRId64 ": a quote inside an unquoted field", path, line);
          p++;
        }
        w = p;
      }
      char stop = p < end ? *p : '\n';
      *w = '\0'; /* w <= p: the separator or line end is already read */
      st = add_field(r, start);
      if (st != DNN_OK) return st;
      if (stop == sep) {
        p++;
        continue;
      }
      p += stop == '\r' ? 2 : 1;
      line++;
      break;
    }
  }
  r->row_start[r->n_rows] = r->n_fields;
  return DNN_OK;
}

static int is_missing(const char *s) {
  while (*s == ' ' || *s == '\t') s++;
  if (*s == '\0') return 1;
  static const char *const na[] = {"NA", "N/A", "NaN", "nan", "null", "NULL"};
  for (size_t i = 0; i < sizeof na / sizeof na[0]; i++)
    if (strcmp(s, na[i]) == 0) return 1;
  return 0;
}

/* A number with optional blanks around it. */
static int parse_number(const char *s, float *out) {
  char *e;
  errno = 0;
  double v = strtod(s, &e);
  if (e == s) return 0;
  while (*e == ' ' || *e == '\t') e++;
  if (*e != '\0') return 0;
  *out = (float)v;
  return 1;
}

void dnn_csv_free(dnn_csv *csv) {
  if (!csv) return;
  for (int j = 0; j < csv->n_cols; j++) {
    if (csv->names) free(csv->names[j]);
    if (csv->strings && csv->strings[j]) {
      for (int64_t i = 0; i < csv->n_rows; i++) free(csv->strings[j][i]);
      free(csv->strings[j]);
    }
  }
  free(csv->names);
  free(csv->strings);
  free(csv->kinds);
  free(csv->missing);
  free(csv->missing_rows);
  dnn_tensor_release(csv->numbers);
  free(csv);
}

static char *dup_string(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

/* Column kinds: by name, then by position, else the first non-missing value
 * decides ('n' when it reads as a number). */
static dnn_status decide_kinds(const char *path, const csv_rows *r, int64_t first, const dnn_csv_options *o,
                               dnn_csv *csv) {
  for (int i = 0; i < o->n_named; i++) {
    int found = 0;
    for (int j = 0; j < csv->n_cols; j++)
      if (strcmp(csv->names[j], o->named[i]) == 0) csv->kinds[j] = o->named_kinds[i], found = 1;
    if (!found) return dnn_error(DNN_EARG, FN, "%s: no column named '%s' in the header", path, o->named[i]);
  }
  for (int j = 0; j < csv->n_cols; j++) {
    if (csv->kinds[j] != 'a') continue;
    char k = 'n';
    for (int64_t i = first; i < r->n_rows; i++) {
      const char *s = r->fields[r->row_start[i] + j];
      float v;
      if (is_missing(s)) continue;
      k = parse_number(s, &v) ? 'n' : 's';
      break;
    }
    csv->kinds[j] = k;
  }
  return DNN_OK;
}

static dnn_status convert_rows(const char *path, const csv_rows *r, int64_t first, const dnn_csv_options *o,
                               dnn_csv *csv) {
  int n_num = 0;
  for (int j = 0; j < csv->n_cols; j++) n_num += csv->kinds[j] == 'n';
  int64_t shape[2] = {csv->n_rows, n_num};
  csv->numbers = dnn_empty(2, shape);
  if (!csv->numbers) return DNN_ENOMEM;
  float *x = dnn_data(csv->numbers);
  for (int j = 0; j < csv->n_cols; j++) {
    if (csv->kinds[j] != 's') continue;
    csv->strings[j] = calloc((size_t)(csv->n_rows ? csv->n_rows : 1), sizeof(char *));
    if (!csv->strings[j]) return nomem();
  }
  for (int64_t i = 0; i < csv->n_rows; i++) {
    int64_t row = first + i, line = r->row_line[row];
    int row_missing = 0;
    for (int j = 0, c = 0; j < csv->n_cols; j++) {
      const char *s = r->fields[r->row_start[row] + j];
      int missing = is_missing(s);
      if (missing) {
        if (o->missing_error)
          return dnn_error(DNN_EFORMAT, FN, "%s: row %" PRId64 " (line %" PRId64 "), column '%s' (%d): missing value",
                           path, i + 1, line, csv->names[j], j + 1);
        csv->missing[j]++;
        row_missing = 1;
      }
      if (csv->kinds[j] == 's') {
        if (!(csv->strings[j][i] = dup_string(missing ? "" : s))) return nomem();
        continue;
      }
      float v = NAN;
      if (!missing && !parse_number(s, &v))
        return dnn_error(DNN_EFORMAT, FN,
                         "%s: row %" PRId64 " (line %" PRId64 "), column '%s' (%d): expected a number, got '%.40s'",
                         path, i + 1, line, csv->names[j], j + 1, s);
      x[i * n_num + c++] = v;
    }
    if (row_missing) csv->missing_rows[csv->n_missing_rows++] = i + 1;
  }
  return DNN_OK;
}

static dnn_status build(const char *path, const csv_rows *r, const dnn_csv_options *o, dnn_csv *csv) {
  if (r->n_rows == 0) return dnn_error(DNN_EFORMAT, FN, "%s: the file holds no rows", path);
  csv->n_cols = (int)(r->row_start[1] - r->row_start[0]);
  for (int64_t i = 1; i < r->n_rows; i++) {
    int64_t n = r->row_start[i + 1] - r->row_start[i];
    if (n != csv->n_cols)
      return dnn_error(DNN_EFORMAT, FN, "%s: row %" PRId64 " (line %" PRId64 ") has %" PRId64 " fields, expected %d%s",
                       path, o->header ? i : i + 1, r->row_line[i], n, csv->n_cols,
                       o->header ? " (as the header)" : " (as the first row)");
  }
  int64_t first = o->header ? 1 : 0;
  csv->n_rows = r->n_rows - first;
  size_t nc = (size_t)csv->n_cols;
  csv->names = calloc(nc, sizeof *csv->names);
  csv->kinds = malloc(nc);
  csv->strings = calloc(nc, sizeof *csv->strings);
  csv->missing = calloc(nc, sizeof *csv->missing);
  csv->missing_rows = malloc((size_t)(csv->n_rows ? csv->n_rows : 1) * sizeof *csv->missing_rows);
  if (!csv->names || !csv->kinds || !csv->strings || !csv->missing || !csv->missing_rows) return nomem();
  for (int j = 0; j < csv->n_cols; j++) {
    char generated[32];
    snprintf(generated, sizeof generated, "column_%d", j + 1);
    if (!(csv->names[j] = dup_string(o->header ? r->fields[j] : generated))) return nomem();
    char k = o->kinds && j < (int)strlen(o->kinds) ? o->kinds[j] : 'a';
    if (k != 'n' && k != 's' && k != 'a')
      return dnn_argerror(2, FN, "expected column kinds 'n', 's' or 'a', got '%c'", k);
    csv->kinds[j] = k;
  }
  if (o->kinds && (int)strlen(o->kinds) > csv->n_cols)
    return dnn_error(DNN_EARG, FN, "%s: %d column types given for %d columns", path, (int)strlen(o->kinds),
                     csv->n_cols);
  dnn_status st = decide_kinds(path, r, first, o, csv);
  if (st != DNN_OK) return st;
  return convert_rows(path, r, first, o, csv);
}

/* The options, defaulted and checked; false with the error set. */
static bool take_options(const dnn_csv_options *options, dnn_csv_options *o) {
  *o = options ? *options : (dnn_csv_options){.header = 1, .separator = ','};
  if (o->separator == '"' || o->separator == '\n' || o->separator == '\r' || o->separator == '\0') {
    dnn_argerror(2, FN, "expected a separator other than a quote or a line break");
    return false;
  }
  return true;
}

/* Parses buf (len bytes and a terminating NUL), which it takes over. */
static dnn_csv *parse(const char *path, const dnn_csv_options *o, char *buf, size_t len) {
  csv_rows r = {.buf = buf};
  dnn_csv *csv = calloc(1, sizeof *csv);
  if (!csv) {
    nomem();
    rows_free(&r);
    return NULL;
  }
  dnn_status st = add_row(&r, 0); /* reserve, then forget: keeps row_start non-NULL for an empty file */
  r.n_rows = 0;
  if (st == DNN_OK) st = split(path, o->separator, &r, len);
  if (st == DNN_OK) st = build(path, &r, o, csv);
  rows_free(&r);
  if (st != DNN_OK) {
    dnn_csv_free(csv);
    return NULL;
  }
  return csv;
}

dnn_csv *dnn_read_csv(const char *path, const dnn_csv_options *options) {
  if (!path) {
    dnn_argerror(1, FN, "expected a path, got NULL");
    return NULL;
  }
  dnn_csv_options o;
  if (!take_options(options, &o)) return NULL;
  char *buf = NULL;
  size_t len = 0;
  if (read_file(path, &buf, &len) != DNN_OK) return NULL;
  return parse(path, &o, buf, len);
}

dnn_csv *dnn_read_csv_memory(const void *bytes, size_t size, const char *name, const dnn_csv_options *options) {
  if (!name) name = "(memory)";
  if (!bytes && size) return dnn_argerror(1, FN, "expected bytes, got NULL"), NULL;
  dnn_csv_options o;
  if (!take_options(options, &o)) return NULL;
  char *buf = malloc(size + 1);
  if (!buf) return nomem(), NULL;
  if (size) memcpy(buf, bytes, size);
  buf[size] = '\0';
  return parse(name, &o, buf, size);
}
