/* File formats: IDX (the MNIST family), gzip'd or plain; safetensors. */
#ifndef DNN_IO_H
#define DNN_IO_H

#include "dnn/tensor.h"

/* Reads an IDX file (gzip'd or plain) into a float tensor of its dims, the
 * values as stored (0..255 for ubyte). Magic, dims and sizes are checked
 * against the file; errors name the path. */
dnn_tensor *dnn_read_idx(const char *path);
/* The same from `size` bytes in memory (plain or gzip'd); `name` (may be
 * NULL) stands for the path in errors. Readers of bytes in memory, here and
 * below, only read them: for embedders and the fuzz targets (tests/fuzz). */
dnn_tensor *dnn_read_idx_memory(const void *bytes, size_t size, const char *name);

/* ---- safetensors (https://github.com/huggingface/safetensors) ----
 * An 8-byte little-endian header length N, N bytes of JSON header
 * {"__metadata__": {"k": "v", ...}, "name": {"dtype": "F32", "shape": [..],
 * "data_offsets": [begin, end]}, ...}, then the tensors' little-endian bytes,
 * offsets relative to the end of the header. Readable by PyTorch and the
 * Hugging Face tools. */

/* A loaded file: tensors and metadata in the order of the file's header. */
typedef struct dnn_safetensors {
  int n;
  char **names;
  dnn_tensor **tensors;
  int n_meta;
  char **meta_keys;
  char **meta_values;
} dnn_safetensors;

/* Writes n float32 tensors (any layout) under names, in that order, and
 * n_meta string pairs as __metadata__. Atomic: the bytes go to
 * "<path>.tmp.<pid>", are fsync'd and renamed over path, so a failed write
 * leaves an old file as it was. Names must be distinct and not
 * "__metadata__". Errors name the path. */
dnn_status dnn_safetensors_save(const char *path, int n, const char *const *names, dnn_tensor *const *tensors,
                                int n_meta, const char *const *meta_keys, const char *const *meta_values);

/* Reads a safetensors file. Everything the header says (its length, the
 * JSON, dtypes, shapes, offsets: in bounds, no overlap, no hole) is checked
 * against the file before any tensor is allocated. F32 is read as is; F16,
 * BF16 and F64 are converted to float32; other dtypes are refused. NULL and
 * a message naming the path and the problem on error. */
dnn_safetensors *dnn_safetensors_load(const char *path);
dnn_safetensors *dnn_safetensors_load_memory(const void *bytes, size_t size, const char *name);
void dnn_safetensors_free(dnn_safetensors *st); /* NULL is fine; releases the tensors still held */

/* ---- CSV (RFC 4180) and the CIFAR-10 binary batches ---- */

/* read_csv's options. Column kinds: 'n' numbers, 's' strings, 'a' decided by
 * the column's first non-missing value. */
typedef struct dnn_csv_options {
  int header; /* the first row holds the column names */
  char separator; /* ',' by default */
  const char *kinds; /* kinds by position ("nns"); NULL or shorter than the row: 'a' */
  int n_named; /* kinds by name: named[i] gets named_kinds[i] (overrides kinds) */
  const char *const *named;
  const char *named_kinds;
  int missing_error; /* a missing field is an error naming its row and column */
} dnn_csv_options;

/* A read CSV file. Missing fields (empty, NA, N/A, NaN, nan, null, NULL) are
 * NaN in numbers and "" in strings, counted per column and listed by row. */
typedef struct dnn_csv {
  int64_t n_rows; /* data rows, the header excluded */
  int n_cols;
  char **names; /* the header's names, or column_1, column_2, ... */
  char *kinds; /* 'n' or 's' per column */
  dnn_tensor *numbers; /* (n_rows, number of 'n' columns), the 'n' columns in file order */
  char ***strings; /* per column: n_rows strings for an 's' column, NULL for an 'n' one */
  int64_t *missing; /* per column: missing fields */
  int64_t *missing_rows; /* the 1-based data rows holding a missing field, in order */
  int64_t n_missing_rows;
} dnn_csv;

/* Reads a CSV file: quoted fields (with "" for a quote, separators and line
 * breaks inside), LF or CRLF lines, a UTF-8 BOM, blank lines skipped. A row
 * of another width, a non-number in a number column or an unclosed quote is
 * an error naming the path, the row (and line) and the column. */
dnn_csv *dnn_read_csv(const char *path, const dnn_csv_options *options);
dnn_csv *dnn_read_csv_memory(const void *bytes, size_t size, const char *name, const dnn_csv_options *options);
void dnn_csv_free(dnn_csv *csv); /* NULL is fine */

/* Reads a CIFAR-10 binary batch (data_batch_1.bin...): records of 1 label
 * byte and 3072 pixel bytes (the 1024 red, then green, then blue values of a
 * 32x32 image, rows first). x gets (N, 32, 32, 3) in [0, 1] (channels last),
 * y gets (N) class ids 1..10. The size must be a multiple of 3073 bytes and
 * labels at most 9. */
dnn_status dnn_read_cifar10(const char *path, dnn_tensor **x, dnn_tensor **y);
dnn_status dnn_read_cifar10_memory(const void *bytes, size_t size, const char *name, dnn_tensor **x, dnn_tensor **y);

#endif
