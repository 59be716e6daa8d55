/* File formats: IDX (the MNIST family), gzip'd or plain; safetensors. */
#ifndef DNN_IO_H
#define DNN_IO_H

#include "dnn/tensor.h"

/* Reads an IDX file (gzip'd or plain) into a float tensor of its dims, the
 * values as stored (0..255 for ubyte). Magic, dims and sizes are checked
 * against the file; errors name the path. */
dnn_tensor *dnn_read_idx(const char *path);

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
void dnn_safetensors_free(dnn_safetensors *st); /* NULL is fine; releases the tensors still held */

#endif
